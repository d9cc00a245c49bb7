"""Writers for the padding modules: Zero, Constant, Reflection, Replication and CircularPad,
1-d to 3-d. PyTorch stores `padding` as (left, right, top, bottom, front, back), which is what
model.seq takes (an int when all are equal). Negative values crop, as in PyTorch.

ZeroPad1d, ZeroPad3d and CircularPad1d/2d/3d are PyTorch 2.1 modules: they are written when
this torch has them (writer_table() skips the names torch.nn lacks)."""
from __future__ import annotations

from typing import Any

from seqserve.export.literals import compact
from seqserve.export.writers.call import Call, Writer


def _pad(type_name: str, dims: int, takes_value: bool) -> Writer:
    def write(m: Any) -> Call:
        padding = tuple(m.padding) if isinstance(m.padding, (tuple, list)) else m.padding
        call = Call(type_name, [compact(padding)])
        if takes_value:
            call.positional.append(m.value)
        elif type_name.startswith("ZeroPad") and getattr(m, "value", 0) != 0:
            call.problems.append(f"value {m.value} is not 0; model.seq's {type_name} pads with "
                                 f"zeros (use ConstantPad{dims}d)")
        if isinstance(padding, tuple):
            if len(padding) % 2:
                call.problems.append(f"padding {padding} must have an even length")
            elif not (takes_value or type_name.startswith("ZeroPad")) \
                    and not 2 <= len(padding) <= 6:
                call.problems.append(f"padding {padding} must have 2, 4 or 6 values (F.pad "
                                     f"pads 1 to 3 dims in this mode)")
        return call
    return write


WRITERS: dict[str, Writer] = {}
for _dims in (1, 2, 3):
    for _kind, _takes_value in (("Zero", False), ("Constant", True), ("Reflection", False),
                                ("Replication", False), ("Circular", False)):
        _name = f"{_kind}Pad{_dims}d"
        WRITERS[_name] = _pad(_name, _dims, _takes_value)
