"""One writer per module type seqserve serves: how a live torch.nn module is written as a
model.seq call (type, positional and keyword arguments, only those that differ from PyTorch's
defaults), which parameters the server will expect for it, and what seqserve cannot serve
exactly about it (each refusal with the engine's reason). WRITERS is the table; its keys, in
SUPPORTED_MODULES, must equal the engine's registry (`seqserve modules`). One file per module
family, as core/modules/; torch is imported only when a writer runs or writer_table() is built.
"""
from __future__ import annotations

from seqserve.export.writers import activations, basic, conv, norms, padding, pooling, sparse, \
    transformer, vision
from seqserve.export.writers.basic import IDENTITIES
from seqserve.export.writers.call import Call, Writer
from seqserve.export.writers.sparse import ID_MODULES

WRITERS: dict[str, Writer] = {}
for _family in (basic, conv, pooling, padding, norms, activations, vision, sparse, transformer):
    for _name, _writer in _family.WRITERS.items():
        assert _name not in WRITERS, f"two writers for {_name}"
        WRITERS[_name] = _writer

#: The module types seqserve serves (SPEC §3), besides Sequential itself.
SUPPORTED_MODULES: tuple[str, ...] = tuple(WRITERS)


def writer_table() -> dict[type, Writer]:
    """torch.nn class -> writer, for the classes this torch has (ZeroPad1d/3d and
    CircularPad1d/2d/3d are PyTorch 2.1's). Built on each call (cheap), so that it reflects
    torch.nn as it is now."""
    from torch import nn
    return {getattr(nn, name): writer for name, writer in WRITERS.items() if hasattr(nn, name)}


__all__ = ["Call", "ID_MODULES", "IDENTITIES", "SUPPORTED_MODULES", "WRITERS", "Writer",
           "writer_table"]
