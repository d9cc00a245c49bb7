"""Writers for max, average, power-average and adaptive pooling (1-d to 3-d)."""
from __future__ import annotations

from typing import Any

from seqserve.export.literals import compact, per_axis
from seqserve.export.writers.call import Call, Writer

_RETURN_INDICES = ("return_indices=True is not supported: the module then returns (output, "
                   "indices), which a Sequential cannot pass on")


def _check_pool(call: Call, type_name: str, kernel: Any, stride: Any, padding: Any,
                dilation: Any, axes: int) -> None:
    """The argument checks ATen makes on every forward, which seqserve makes at load."""
    k, s, p, d = (per_axis(v, axes) for v in (kernel, stride, padding, dilation))
    if min(k) < 1 or min(s) < 1 or min(d) < 1:
        call.problems.append(f"kernel_size {kernel}, stride {stride} and dilation {dilation} "
                             f"must be positive")
        return
    for pad, size, dil in zip(p, k, d):
        # max_pool1d's and the 3-d pools' own checks ignore the dilation.
        plain_half = type_name == "MaxPool1d" or axes == 3
        if pad < 0 or pad > ((size - 1) * dil + 1) // 2 or (plain_half and pad > size // 2):
            call.problems.append(f"padding {padding} must be between 0 and half the "
                                 f"{'' if plain_half else 'effective '}kernel size ({kernel})")
            return


def _stride(call: Call, m: Any, axes: int) -> Any:
    """Writes stride unless it is the kernel size (PyTorch's default, None); returns it."""
    stride = m.kernel_size if m.stride is None else m.stride
    if isinstance(stride, (tuple, list)) and not stride:  # stride=() also means the kernel
        stride = m.kernel_size
    if per_axis(stride, axes) != per_axis(m.kernel_size, axes):
        call.keywords.append(("stride", compact(stride)))
    return stride


def _max_pool(type_name: str, axes: int) -> Writer:
    def write(m: Any) -> Call:
        call = Call(type_name, [compact(m.kernel_size)])
        stride = _stride(call, m, axes)
        call.keyword("padding", m.padding, 0, axes)
        call.keyword("dilation", m.dilation, 1, axes)
        call.keyword("ceil_mode", bool(m.ceil_mode), False)
        if m.return_indices:
            call.problems.append(_RETURN_INDICES)
        _check_pool(call, type_name, m.kernel_size, stride, m.padding, m.dilation, axes)
        return call
    return write


def _avg_pool(type_name: str, axes: int) -> Writer:
    def write(m: Any) -> Call:
        call = Call(type_name, [compact(m.kernel_size)])
        stride = _stride(call, m, axes)
        call.keyword("padding", m.padding, 0, axes)
        call.keyword("ceil_mode", bool(m.ceil_mode), False)
        call.keyword("count_include_pad", bool(m.count_include_pad), True)
        if axes > 1:
            call.keyword("divisor_override", m.divisor_override, None)
            if m.divisor_override is not None and m.divisor_override == 0:
                call.problems.append("divisor_override=0 is not allowed (PyTorch fails on "
                                     "every forward)")
        _check_pool(call, type_name, m.kernel_size, stride, m.padding, 1, axes)
        return call
    return write


def _lp_pool(type_name: str, axes: int) -> Writer:
    def write(m: Any) -> Call:
        call = Call(type_name, [m.norm_type, compact(m.kernel_size)])
        stride = _stride(call, m, axes)
        call.keyword("ceil_mode", bool(m.ceil_mode), False)
        if m.norm_type == 0:
            call.problems.append("norm_type must not be 0 (the output is the (1 / norm_type)-th "
                                 "root)")
        if axes == 1 and isinstance(m.kernel_size, (tuple, list)):
            call.problems.append(f"kernel_size {m.kernel_size} must be an int: F.lp_pool1d "
                                 f"multiplies the output by it")
            return call
        _check_pool(call, type_name, m.kernel_size, stride, 0, 1, axes)
        return call
    return write


def _adaptive(type_name: str, axes: int, has_indices: bool) -> Writer:
    def write(m: Any) -> Call:
        size = m.output_size
        sizes = per_axis(size, axes)
        has_none = any(s is None for s in sizes)
        call = Call(type_name, [tuple(sizes) if has_none else compact(size)])
        if len(sizes) != axes:
            call.problems.append(f"output_size {size} must be an int or a tuple of {axes}")
        elif has_none and axes == 1:
            call.problems.append(f"output_size {size} must be an int")
        elif any(s is not None and s < 1 for s in sizes):
            call.problems.append(f"output_size {size} must be positive")
        if has_indices and m.return_indices:
            call.problems.append(_RETURN_INDICES)
        return call
    return write


WRITERS: dict[str, Writer] = {
    "MaxPool1d": _max_pool("MaxPool1d", 1),
    "MaxPool2d": _max_pool("MaxPool2d", 2),
    "MaxPool3d": _max_pool("MaxPool3d", 3),
    "AvgPool1d": _avg_pool("AvgPool1d", 1),
    "AvgPool2d": _avg_pool("AvgPool2d", 2),
    "AvgPool3d": _avg_pool("AvgPool3d", 3),
    "LPPool1d": _lp_pool("LPPool1d", 1),
    "LPPool2d": _lp_pool("LPPool2d", 2),
    "AdaptiveAvgPool1d": _adaptive("AdaptiveAvgPool1d", 1, has_indices=False),
    "AdaptiveAvgPool2d": _adaptive("AdaptiveAvgPool2d", 2, has_indices=False),
    "AdaptiveAvgPool3d": _adaptive("AdaptiveAvgPool3d", 3, has_indices=False),
    "AdaptiveMaxPool1d": _adaptive("AdaptiveMaxPool1d", 1, has_indices=True),
    "AdaptiveMaxPool2d": _adaptive("AdaptiveMaxPool2d", 2, has_indices=True),
    "AdaptiveMaxPool3d": _adaptive("AdaptiveMaxPool3d", 3, has_indices=True),
}
