"""Writers for PixelShuffle, PixelUnshuffle, ChannelShuffle and the Upsample family."""
from __future__ import annotations

from typing import Any

from seqserve.export.writers.call import Call, Writer

_MODES = ("nearest", "linear", "bilinear", "bicubic", "trilinear", "area", "nearest-exact")
_INTERPOLATING = ("linear", "bilinear", "bicubic", "trilinear")


def _factor(type_name: str, attribute: str) -> Writer:
    def write(m: Any) -> Call:
        value = getattr(m, attribute)
        call = Call(type_name, [value])
        if value < 1:
            call.problems.append(f"{attribute} {value} must be positive (PyTorch fails on every "
                                 f"forward)")
        return call
    return write


def _sizes(call: Call, m: Any) -> None:
    """size and scale_factor, as F.interpolate checks them for every input."""
    call.keyword("size", m.size, None)
    call.keyword("scale_factor", m.scale_factor, None)
    if m.size is not None:
        sizes = tuple(m.size) if isinstance(m.size, (tuple, list)) else (m.size,)
        if any(s is None or s < 1 for s in sizes):
            call.problems.append(f"size {m.size} must be positive")
    if m.scale_factor is not None:
        scales = (tuple(m.scale_factor) if isinstance(m.scale_factor, (tuple, list))
                  else (m.scale_factor,))
        if any(not s > 0 for s in scales):
            call.problems.append(f"scale_factor {m.scale_factor} must be positive (the output "
                                 f"would be empty for every input)")
    if (m.size is None) == (m.scale_factor is None):
        call.problems.append("exactly one of size and scale_factor must be given")


def _upsample(m: Any) -> Call:
    call = Call("Upsample")
    _sizes(call, m)
    call.keyword("mode", m.mode, "nearest")
    call.keyword("align_corners", m.align_corners, None)
    recompute = getattr(m, "recompute_scale_factor", None)
    call.keyword("recompute_scale_factor", recompute, None)
    if m.mode not in _MODES:
        call.problems.append(f"unknown mode '{m.mode}'")
    elif m.align_corners is not None and m.mode not in _INTERPOLATING:
        call.problems.append("align_corners can only be set with the interpolating modes: "
                             "linear | bilinear | bicubic | trilinear")
    if recompute and m.size is not None:
        call.problems.append("recompute_scale_factor is not meaningful with an explicit size")
    return call


def _upsampling(type_name: str, mode: str, align_corners: bool | None) -> Writer:
    def write(m: Any) -> Call:
        call = Call(type_name)
        _sizes(call, m)
        if m.mode != mode or m.align_corners != align_corners:
            call.problems.append(f"mode={m.mode!r}, align_corners={m.align_corners} differ from "
                                 f"what {type_name} sets; model.seq cannot express that (use "
                                 f"nn.Upsample)")
        return call
    return write


WRITERS: dict[str, Writer] = {
    "PixelShuffle": _factor("PixelShuffle", "upscale_factor"),
    "PixelUnshuffle": _factor("PixelUnshuffle", "downscale_factor"),
    "ChannelShuffle": _factor("ChannelShuffle", "groups"),
    "Upsample": _upsample,
    "UpsamplingNearest2d": _upsampling("UpsamplingNearest2d", "nearest", None),
    "UpsamplingBilinear2d": _upsampling("UpsamplingBilinear2d", "bilinear", True),
}
