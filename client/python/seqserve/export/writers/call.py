"""Call: one module of the Sequential as model.seq writes it (type, positional and keyword
arguments, the state_dict entries the server will expect, and what seqserve cannot serve
exactly about it), plus the helpers the writers share."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from seqserve.export.literals import Inexpressible, Source, compact, literal, per_axis, \
    same_value

Writer = Callable[[Any], "Call"]


@dataclass
class Call:
    """One module of the Sequential as model.seq writes it, or a problem with it."""
    type_name: str
    positional: list[Any] = field(default_factory=list)
    keywords: list[tuple[str, Any]] = field(default_factory=list)
    # state_dict entries the server will expect for this module (local name -> shape).
    params: dict[str, tuple[int, ...]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def keyword(self, name: str, value: Any, default: Any, axes: int | None = None) -> None:
        """Adds `name=value` unless it equals PyTorch's default (ints and tuples compared
        per axis when `axes` is given, as PyTorch's _single/_pair/_triple expand them)."""
        if axes is not None and per_axis(value, axes) == per_axis(default, axes):
            return
        if axes is None and same_value(value, default):
            return
        self.keywords.append((name, compact(value) if axes is not None else value))

    def source(self) -> str:
        """The call as model.seq source, e.g. "nn.Conv2d(1, 20, 5, stride=2)". Raises
        Inexpressible (naming the keyword argument) for a value without a literal."""
        args = [literal(v) for v in self.positional]
        for name, value in self.keywords:
            try:
                args.append(f"{name}={literal(value)}")
            except Inexpressible as e:
                raise Inexpressible(f"argument '{name}': {e}") from None
        return f"nn.{self.type_name}({', '.join(args)})"

    def nest(self, name: str, module: Any, table: dict[type, Writer],
             param_prefix: str | None = None) -> Source | None:
        """Writes `module`, a module given as argument `name` (TransformerEncoder's norm,
        encoder_layer, ...), as a nested call: its problems become this call's (prefixed
        with the argument), its parameters too (under `param_prefix`, default `name.`).
        Returns its source, or None when it cannot be written."""
        writer = table.get(type(module))
        label = f"argument '{name}' ({type(module).__name__})"
        if writer is None:
            self.problems.append(f"{label}: {type(module).__qualname__} is not a module "
                                 f"seqserve supports")
            return None
        nested = writer(module)
        try:
            text = nested.source()
        except Inexpressible as e:
            nested.problems.append(str(e))
        self.problems.extend(f"{label}: {p}" for p in nested.problems)
        prefix = f"{name}." if param_prefix is None else param_prefix
        for key, shape in nested.params.items():
            self.params[prefix + key] = shape
        return None if nested.problems else Source(text)


def affine_params(call: Call, m: Any, shape: tuple[int, ...]) -> None:
    """weight and bias of `shape`, for those the module has."""
    if m.weight is not None:
        call.params["weight"] = shape
    if m.bias is not None:
        call.params["bias"] = shape


def check_affine_flag(call: Call, m: Any) -> None:
    """affine=True means weight and bias, False neither; anything else came from editing the
    module, and model.seq cannot say it."""
    if (m.weight is not None) != bool(m.affine) or (m.bias is not None) != bool(m.affine):
        call.problems.append(f"affine={bool(m.affine)} but weight/bias are "
                             f"{'absent' if m.weight is None else 'present'}; model.seq "
                             f"cannot express that combination")


def positive(call: Call, name: str, value: Any, reason: str = "") -> None:
    """A problem unless every entry of `value` (an int or a tuple) is positive."""
    values = tuple(value) if isinstance(value, (tuple, list)) else (value,)
    if any(v is None or v < 1 for v in values):
        call.problems.append(f"{name} {compact(value)} must be positive{reason}")
