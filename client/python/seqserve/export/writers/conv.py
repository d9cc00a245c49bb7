"""Writers for the convolutions (1-d to 3-d, transposed too), Unfold and Fold."""
from __future__ import annotations

from typing import Any

from seqserve.export.literals import compact, per_axis
from seqserve.export.writers.call import Call, Writer, positive


def _conv(type_name: str, axes: int, transposed: bool) -> Writer:
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
        if transposed:
            if m.padding_mode != "zeros":
                call.problems.append(f"padding_mode='{m.padding_mode}' is not supported for "
                                     f"{type_name} (only 'zeros', as in PyTorch)")
            stride, dilation = per_axis(m.stride, axes), per_axis(m.dilation, axes)
            output_padding = per_axis(m.output_padding, axes)
            if any(o >= s and o >= d for o, s, d in zip(output_padding, stride, dilation)):
                # PyTorch checks it on every forward; seqserve at load.
                call.problems.append(f"output padding must be smaller than either stride or "
                                     f"dilation, but got output_padding={output_padding}, "
                                     f"stride={stride}, dilation={dilation}")
        kernel = tuple(per_axis(m.kernel_size, axes))
        if transposed:
            call.params["weight"] = (m.in_channels, m.out_channels // m.groups, *kernel)
        else:
            call.params["weight"] = (m.out_channels, m.in_channels // m.groups, *kernel)
        if m.bias is not None:
            call.params["bias"] = (m.out_channels,)
        return call
    return write


def _block_geometry(call: Call, m: Any) -> None:
    """Unfold's and Fold's keywords, checked as im2col/col2im check them on every forward."""
    call.keyword("dilation", m.dilation, 1, 2)
    call.keyword("padding", m.padding, 0, 2)
    call.keyword("stride", m.stride, 1, 2)
    positive(call, "kernel_size", m.kernel_size)
    positive(call, "dilation", m.dilation)
    positive(call, "stride", m.stride)
    if min(per_axis(m.padding, 2)) < 0:
        call.problems.append(f"padding {compact(m.padding)} must be non-negative")


def _unfold(m: Any) -> Call:
    call = Call("Unfold", [compact(m.kernel_size)])
    _block_geometry(call, m)
    return call


def _fold(m: Any) -> Call:
    call = Call("Fold", [compact(m.output_size), compact(m.kernel_size)])
    _block_geometry(call, m)
    positive(call, "output_size", m.output_size)
    if not call.problems:
        image, kernel, dilation, padding, stride = (
            per_axis(v, 2) for v in (m.output_size, m.kernel_size, m.dilation, m.padding,
                                     m.stride))
        blocks = tuple((i + 2 * p - d * (k - 1) - 1) // s + 1
                       for i, k, d, p, s in zip(image, kernel, dilation, padding, stride))
        if min(blocks) < 1:
            call.problems.append(f"output_size={image} with kernel_size={kernel}, "
                                 f"dilation={dilation}, padding={padding} and stride={stride} "
                                 f"gives {blocks} sliding blocks, which is too small "
                                 f"(non-positive): PyTorch fails on every forward")
    return call


WRITERS: dict[str, Writer] = {
    "Conv1d": _conv("Conv1d", 1, transposed=False),
    "Conv2d": _conv("Conv2d", 2, transposed=False),
    "Conv3d": _conv("Conv3d", 3, transposed=False),
    "ConvTranspose1d": _conv("ConvTranspose1d", 1, transposed=True),
    "ConvTranspose2d": _conv("ConvTranspose2d", 2, transposed=True),
    "ConvTranspose3d": _conv("ConvTranspose3d", 3, transposed=True),
    "Unfold": _unfold,
    "Fold": _fold,
}
