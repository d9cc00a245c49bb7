"""model.seq literals: the Python values a module's constructor arguments hold, as model.seq
source that model.seq's parser (and Python) read back as the same values."""
from __future__ import annotations

import math
import numbers
from typing import Any


class Inexpressible(Exception):
    """A live value that model.seq has no literal for (inf, nan, an arbitrary object)."""


class Source(str):
    """Text that is already model.seq source (a nested module call such as
    "nn.LayerNorm(256)"), written as it is."""


def same_value(a: Any, b: Any) -> bool:
    """Equality that does not confuse True with 1 or 1.0 with True."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if a is None or b is None:
        return a is b
    if isinstance(a, numbers.Real) and isinstance(b, numbers.Real):
        return a == b
    return type(a) is type(b) and a == b


def per_axis(value: Any, axes: int) -> tuple[Any, ...]:
    """An int-or-tuple argument expanded to one entry per axis (a 1-tuple counts for all)."""
    if isinstance(value, (tuple, list)):  # torch.Size is a tuple
        items = tuple(value)
        return items * axes if len(items) == 1 else items
    return (value,) * axes


def compact(value: Any) -> Any:
    """(5, 5) -> 5: the shorter spelling PyTorch expands to the same thing."""
    if isinstance(value, (tuple, list)):
        items = tuple(value)
        if items and all(isinstance(i, numbers.Integral) and not isinstance(i, bool)
                         and i == items[0] for i in items):
            return items[0]
        return items
    return value


def quote(text: str) -> str:
    """A single-quoted string literal that model.seq's lexer (and Python) read back as `text`."""
    out = []
    for ch in text:
        if ch in "\\'":
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    return "'" + "".join(out) + "'"


def literal(value: Any) -> str:
    """model.seq source for a constructor argument. Floats use repr, the shortest text that
    reads back as the same double, so arguments survive the round trip exactly."""
    if isinstance(value, Source):
        return str(value)
    if value is None:
        return "None"
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        number = float(value)
        if not math.isfinite(number):
            raise Inexpressible(f"{number} has no literal in model.seq")
        return repr(number)
    if isinstance(value, str):
        return quote(value)
    if isinstance(value, (tuple, list)):
        items = [literal(v) for v in value]
        return "(" + items[0] + ",)" if len(items) == 1 else "(" + ", ".join(items) + ")"
    raise Inexpressible(f"{value!r} (a {type(value).__name__}) has no literal in model.seq")
