"""Writers for the activations and the softmax family."""
from __future__ import annotations

from typing import Any

from seqserve.export.writers.call import Call, Writer


def _no_args(type_name: str) -> Writer:
    return lambda m: Call(type_name)


def _inplace_only(type_name: str) -> Writer:
    def write(m: Any) -> Call:
        call = Call(type_name)
        call.keyword("inplace", bool(getattr(m, "inplace", False)), False)
        return call
    return write


def _with_floats(type_name: str, *defaults: tuple[str, float], inplace: bool = True) -> Writer:
    def write(m: Any) -> Call:
        call = Call(type_name)
        for name, default in defaults:
            call.keyword(name, getattr(m, name), default)
        if inplace:
            call.keyword("inplace", bool(m.inplace), False)
        return call
    return write


def _celu(m: Any) -> Call:
    call = _with_floats("CELU", ("alpha", 1.0))(m)
    if m.alpha == 0:
        call.problems.append("alpha=0 is not allowed (CELU divides by it)")
    return call


def _softplus(m: Any) -> Call:
    call = _with_floats("Softplus", ("beta", 1.0), ("threshold", 20.0), inplace=False)(m)
    if m.beta == 0:
        call.problems.append("beta=0 is not allowed (Softplus divides by it)")
    return call


def _hardtanh(m: Any) -> Call:
    call = _with_floats("Hardtanh", ("min_val", -1.0), ("max_val", 1.0))(m)
    if not m.max_val > m.min_val:
        call.problems.append(f"max_val ({m.max_val}) must be greater than min_val ({m.min_val})")
    return call


def _prelu(m: Any) -> Call:
    call = Call("PReLU")
    call.keyword("num_parameters", m.num_parameters, 1)
    call.params["weight"] = (m.num_parameters,)
    return call


def _rrelu(m: Any) -> Call:
    call = _with_floats("RReLU", ("lower", 1.0 / 8), ("upper", 1.0 / 3))(m)
    if not m.lower <= m.upper:
        # PyTorch's rrelu checks it on every forward, eval mode included.
        call.problems.append(f"lower ({m.lower}) must be less than or equal to upper "
                             f"({m.upper})")
    return call


def _softshrink(m: Any) -> Call:
    call = _with_floats("Softshrink", ("lambd", 0.5), inplace=False)(m)
    if not m.lambd >= 0:
        call.problems.append(f"lambd must be greater or equal to 0, but found to be {m.lambd} "
                             f"(PyTorch fails on every forward)")
    return call


def _threshold(m: Any) -> Call:
    call = Call("Threshold", [m.threshold, m.value])
    call.keyword("inplace", bool(m.inplace), False)
    return call


def _gelu(m: Any) -> Call:
    call = Call("GELU")
    call.keyword("approximate", getattr(m, "approximate", "none"), "none")
    return call


def _glu(m: Any) -> Call:
    call = Call("GLU")
    call.keyword("dim", m.dim, -1)
    return call


def _softmax(type_name: str) -> Writer:
    def write(m: Any) -> Call:
        call = Call(type_name)
        call.keyword("dim", m.dim, None)
        return call
    return write


WRITERS: dict[str, Writer] = {
    "ReLU": _inplace_only("ReLU"),
    "ReLU6": _inplace_only("ReLU6"),
    "LeakyReLU": _with_floats("LeakyReLU", ("negative_slope", 0.01)),
    "PReLU": _prelu,
    "RReLU": _rrelu,
    "ELU": _with_floats("ELU", ("alpha", 1.0)),
    "SELU": _inplace_only("SELU"),
    "CELU": _celu,
    "GELU": _gelu,
    "SiLU": _inplace_only("SiLU"),
    "Mish": _inplace_only("Mish"),
    "Sigmoid": _no_args("Sigmoid"),
    "Tanh": _no_args("Tanh"),
    "Hardswish": _inplace_only("Hardswish"),
    "Hardsigmoid": _inplace_only("Hardsigmoid"),
    "Hardtanh": _hardtanh,
    "Hardshrink": _with_floats("Hardshrink", ("lambd", 0.5), inplace=False),
    "Softshrink": _softshrink,
    "Threshold": _threshold,
    "Softplus": _softplus,
    "Softsign": _no_args("Softsign"),
    "Tanhshrink": _no_args("Tanhshrink"),
    "LogSigmoid": _no_args("LogSigmoid"),
    "GLU": _glu,
    "Softmax": _softmax("Softmax"),
    "Softmin": _softmax("Softmin"),
    "LogSoftmax": _softmax("LogSoftmax"),
    "Softmax2d": _no_args("Softmax2d"),
}
