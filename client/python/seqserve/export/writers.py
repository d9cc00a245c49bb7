"""One writer per supported module type: how a live torch.nn module is written as a model.seq
call (type, positional and keyword arguments, only those that differ from PyTorch's
defaults), which parameters the server will expect for it, and what seqserve cannot serve
exactly about it. WRITERS is the table; its keys are the module types seqserve supports.
torch is imported only by writer_table()."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from seqserve.export.literals import compact, per_axis, same_value


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
        per axis when `axes` is given, as PyTorch's _single/_pair expand them)."""
        if axes is not None and per_axis(value, axes) == per_axis(default, axes):
            return
        if axes is None and same_value(value, default):
            return
        self.keywords.append((name, compact(value) if axes is not None else value))


def _affine_params(call: Call, m: Any, shape: tuple[int, ...]) -> None:
    if m.weight is not None:
        call.params["weight"] = shape
    if m.bias is not None:
        call.params["bias"] = shape


def _linear(m: Any) -> Call:
    call = Call("Linear", [m.in_features, m.out_features])
    call.keyword("bias", m.bias is not None, True)
    call.params["weight"] = (m.out_features, m.in_features)
    if m.bias is not None:
        call.params["bias"] = (m.out_features,)
    return call


def _conv(type_name: str, axes: int, transposed: bool) -> Callable[[Any], Call]:
    def write(m: Any) -> Call:
        call = Call(type_name, [m.in_channels, m.out_channels, compact(m.kernel_size)])
        call.keyword("stride", m.stride, 1, axes)
        if isinstance(m.padding, str):
            call.keywords.append(("padding", m.padding))
        else:
            call.keyword("padding", m.padding, 0, axes)
            if any(p < 0 for p in per_axis(m.padding, axes)):
                call.problems.append(f"negative padding {tuple(m.padding)} is not supported")
        if transposed:
            call.keyword("output_padding", m.output_padding, 0, axes)
            call.keyword("groups", m.groups, 1)
            call.keyword("bias", m.bias is not None, True)
            call.keyword("dilation", m.dilation, 1, axes)
        else:
            call.keyword("dilation", m.dilation, 1, axes)
            call.keyword("groups", m.groups, 1)
            call.keyword("bias", m.bias is not None, True)
        call.keyword("padding_mode", m.padding_mode, "zeros")
        if transposed and m.padding_mode != "zeros":
            call.problems.append(f"padding_mode='{m.padding_mode}' is not supported for "
                                 f"{type_name} (only 'zeros', as in PyTorch)")
        kernel = tuple(per_axis(m.kernel_size, axes))
        if transposed:
            call.params["weight"] = (m.in_channels, m.out_channels // m.groups, *kernel)
        else:
            call.params["weight"] = (m.out_channels, m.in_channels // m.groups, *kernel)
        if m.bias is not None:
            call.params["bias"] = (m.out_channels,)
        return call
    return write


def _check_pool(call: Call, kernel: Any, stride: Any, padding: Any, dilation: Any,
                axes: int, max_pool_1d: bool = False) -> None:
    """The argument checks ATen makes on every forward, which seqserve makes at load."""
    k, s, p, d = (per_axis(v, axes) for v in (kernel, stride, padding, dilation))
    if min(k) < 1 or min(s) < 1 or min(d) < 1:
        call.problems.append(f"kernel_size {kernel}, stride {stride} and dilation {dilation} "
                             f"must be positive")
        return
    for pad, size, dil in zip(p, k, d):
        if pad < 0 or pad > ((size - 1) * dil + 1) // 2 or (max_pool_1d and pad > size // 2):
            call.problems.append(f"padding {padding} must be between 0 and half the effective "
                                 f"kernel size ({kernel})")
            return


def _max_pool(type_name: str, axes: int) -> Callable[[Any], Call]:
    def write(m: Any) -> Call:
        call = Call(type_name, [compact(m.kernel_size)])
        stride = m.kernel_size if m.stride is None else m.stride
        if per_axis(stride, axes) != per_axis(m.kernel_size, axes):
            call.keywords.append(("stride", compact(stride)))
        call.keyword("padding", m.padding, 0, axes)
        call.keyword("dilation", m.dilation, 1, axes)
        call.keyword("ceil_mode", bool(m.ceil_mode), False)
        if m.return_indices:
            call.problems.append("return_indices=True is not supported: the module then "
                                 "returns (output, indices), which a Sequential cannot pass on")
        _check_pool(call, m.kernel_size, stride, m.padding, m.dilation, axes,
                    max_pool_1d=axes == 1)
        return call
    return write


def _avg_pool(type_name: str, axes: int) -> Callable[[Any], Call]:
    def write(m: Any) -> Call:
        call = Call(type_name, [compact(m.kernel_size)])
        stride = m.kernel_size if m.stride is None else m.stride
        if per_axis(stride, axes) != per_axis(m.kernel_size, axes):
            call.keywords.append(("stride", compact(stride)))
        call.keyword("padding", m.padding, 0, axes)
        call.keyword("ceil_mode", bool(m.ceil_mode), False)
        call.keyword("count_include_pad", bool(m.count_include_pad), True)
        if axes == 2:
            call.keyword("divisor_override", m.divisor_override, None)
            if m.divisor_override is not None and m.divisor_override == 0:
                call.problems.append("divisor_override=0 is not allowed (PyTorch fails on "
                                     "every forward)")
        _check_pool(call, m.kernel_size, stride, m.padding, 1, axes)
        return call
    return write


def _adaptive(type_name: str, axes: int, has_indices: bool) -> Callable[[Any], Call]:
    def write(m: Any) -> Call:
        size = m.output_size
        sizes = per_axis(size, axes)
        has_none = any(s is None for s in sizes)
        call = Call(type_name, [tuple(sizes) if has_none else compact(size)])
        if any(s is not None and s < 1 for s in sizes):
            call.problems.append(f"output_size {size} must be positive")
        if has_indices and m.return_indices:
            call.problems.append("return_indices=True is not supported: the module then "
                                 "returns (output, indices), which a Sequential cannot pass on")
        return call
    return write


def _batch_norm(type_name: str) -> Callable[[Any], Call]:
    def write(m: Any) -> Call:
        call = Call(type_name, [m.num_features])
        call.keyword("eps", m.eps, 1e-5)
        call.keyword("momentum", m.momentum, 0.1)
        call.keyword("affine", bool(m.affine), True)
        if not m.track_running_stats or m.running_mean is None or m.running_var is None:
            call.problems.append(
                "track_running_stats=False is not supported: PyTorch then normalises with the "
                "statistics of the batch, so a sample's answer would depend on which other "
                "requests were batched with it")
        shape = (m.num_features,)
        if (m.weight is not None) != bool(m.affine) or (m.bias is not None) != bool(m.affine):
            call.problems.append(f"affine={bool(m.affine)} but weight/bias are "
                                 f"{'absent' if m.weight is None else 'present'}; model.seq "
                                 f"cannot express that combination")
        _affine_params(call, m, shape)
        call.params["running_mean"] = shape
        call.params["running_var"] = shape
        return call
    return write


def _layer_norm(m: Any) -> Call:
    shape = tuple(m.normalized_shape)
    call = Call("LayerNorm", [shape[0] if len(shape) == 1 else shape])
    call.keyword("eps", m.eps, 1e-5)
    has_weight, has_bias = m.weight is not None, m.bias is not None
    if has_weight and not has_bias:
        call.keywords.append(("bias", False))  # PyTorch >= 2.1 spelling, which seqserve reads
    elif not has_weight and not has_bias:
        call.keywords.append(("elementwise_affine", False))
    elif not has_weight and has_bias:
        call.problems.append("a bias without a weight cannot be expressed in model.seq "
                             "(LayerNorm's elementwise_affine=False drops both)")
    _affine_params(call, m, shape)
    return call


def _group_norm(m: Any) -> Call:
    call = Call("GroupNorm", [m.num_groups, m.num_channels])
    call.keyword("eps", m.eps, 1e-5)
    call.keyword("affine", bool(m.affine), True)
    if (m.weight is not None) != bool(m.affine) or (m.bias is not None) != bool(m.affine):
        call.problems.append(f"affine={bool(m.affine)} but weight/bias are "
                             f"{'absent' if m.weight is None else 'present'}; model.seq "
                             f"cannot express that combination")
    _affine_params(call, m, (m.num_channels,))
    return call


def _prelu(m: Any) -> Call:
    call = Call("PReLU")
    call.keyword("num_parameters", m.num_parameters, 1)
    call.params["weight"] = (m.num_parameters,)
    return call


def _dropout(type_name: str) -> Callable[[Any], Call]:
    def write(m: Any) -> Call:
        call = Call(type_name)
        call.keyword("p", m.p, 0.5)
        call.keyword("inplace", bool(m.inplace), False)
        return call
    return write


def _flatten(m: Any) -> Call:
    call = Call("Flatten")
    call.keyword("start_dim", m.start_dim, 1)
    call.keyword("end_dim", m.end_dim, -1)
    return call


def _unflatten(m: Any) -> Call:
    call = Call("Unflatten", [m.dim, tuple(m.unflattened_size)])
    if isinstance(m.dim, str):
        call.problems.append(f"named dimension '{m.dim}' is not supported: request tensors "
                             f"carry no dimension names")
    return call


def _no_args(type_name: str) -> Callable[[Any], Call]:
    return lambda m: Call(type_name)


def _inplace_only(type_name: str) -> Callable[[Any], Call]:
    def write(m: Any) -> Call:
        call = Call(type_name)
        call.keyword("inplace", bool(getattr(m, "inplace", False)), False)
        return call
    return write


def _with_floats(type_name: str, *defaults: tuple[str, float],
                 inplace: bool = True) -> Callable[[Any], Call]:
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


def _gelu(m: Any) -> Call:
    call = Call("GELU")
    call.keyword("approximate", getattr(m, "approximate", "none"), "none")
    return call


def _softmax(type_name: str) -> Callable[[Any], Call]:
    def write(m: Any) -> Call:
        call = Call(type_name)
        call.keyword("dim", m.dim, None)
        return call
    return write


WRITERS: dict[str, Callable[[Any], Call]] = {
    "Identity": _no_args("Identity"),
    "Linear": _linear,
    "Conv1d": _conv("Conv1d", 1, transposed=False),
    "Conv2d": _conv("Conv2d", 2, transposed=False),
    "ConvTranspose1d": _conv("ConvTranspose1d", 1, transposed=True),
    "ConvTranspose2d": _conv("ConvTranspose2d", 2, transposed=True),
    "MaxPool1d": _max_pool("MaxPool1d", 1),
    "MaxPool2d": _max_pool("MaxPool2d", 2),
    "AvgPool1d": _avg_pool("AvgPool1d", 1),
    "AvgPool2d": _avg_pool("AvgPool2d", 2),
    "AdaptiveAvgPool1d": _adaptive("AdaptiveAvgPool1d", 1, has_indices=False),
    "AdaptiveAvgPool2d": _adaptive("AdaptiveAvgPool2d", 2, has_indices=False),
    "AdaptiveMaxPool2d": _adaptive("AdaptiveMaxPool2d", 2, has_indices=True),
    "BatchNorm1d": _batch_norm("BatchNorm1d"),
    "BatchNorm2d": _batch_norm("BatchNorm2d"),
    "LayerNorm": _layer_norm,
    "GroupNorm": _group_norm,
    "Dropout": _dropout("Dropout"),
    "Dropout1d": _dropout("Dropout1d"),
    "Dropout2d": _dropout("Dropout2d"),
    "AlphaDropout": _dropout("AlphaDropout"),
    "Flatten": _flatten,
    "Unflatten": _unflatten,
    "ReLU": _inplace_only("ReLU"),
    "ReLU6": _inplace_only("ReLU6"),
    "LeakyReLU": _with_floats("LeakyReLU", ("negative_slope", 0.01)),
    "PReLU": _prelu,
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
    "Softplus": _softplus,
    "Softsign": _no_args("Softsign"),
    "Tanhshrink": _no_args("Tanhshrink"),
    "LogSigmoid": _no_args("LogSigmoid"),
    "Softmax": _softmax("Softmax"),
    "LogSoftmax": _softmax("LogSoftmax"),
}

#: The module types seqserve serves (SPEC §3), besides Sequential itself.
SUPPORTED_MODULES: tuple[str, ...] = tuple(WRITERS)


@lru_cache(maxsize=1)
def writer_table() -> dict[type, Callable[[Any], Call]]:
    """torch.nn class -> writer, for the classes this torch has (Dropout1d is 1.12+)."""
    from torch import nn
    return {getattr(nn, name): writer for name, writer in WRITERS.items() if hasattr(nn, name)}
