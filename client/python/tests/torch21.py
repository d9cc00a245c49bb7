"""Stand-ins for the torch.nn modules of PyTorch 2.1 that Debian's torch 1.13 lacks
(ZeroPad1d, ZeroPad3d, CircularPad1d/2d/3d), for the tests only.

seqserve serves these PyTorch 2.1 modules and its exporter writes them when torch.nn has them.
install() adds, to torch.nn of this test process, classes that store what PyTorch 2.1's do
(`padding` as a 2N-tuple; ZeroPad*d also `value` = 0.0) and compute what PyTorch 2.1's forward
computes, with torch 1.13's own F.pad: so the reference outputs still come from real PyTorch.
With a torch that has the modules, install() changes nothing.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


def _ntuple(padding, n: int) -> tuple[int, ...]:
    return tuple(padding) if isinstance(padding, (tuple, list)) else (padding,) * n


class _CircularPadNd(nn.Module):
    dims = 0

    def __init__(self, padding) -> None:
        super().__init__()
        self.padding = _ntuple(padding, 2 * self.dims)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # PyTorch 2.1 pads a batched input; an unbatched one gets a batch of 1 and loses it.
        if x.dim() == self.dims + 1:
            return F.pad(x.unsqueeze(0), self.padding, "circular").squeeze(0)
        return F.pad(x, self.padding, "circular")


class CircularPad1d(_CircularPadNd):
    dims = 1


class CircularPad2d(_CircularPadNd):
    dims = 2


class CircularPad3d(_CircularPadNd):
    dims = 3


class ZeroPad1d(nn.ConstantPad1d):
    def __init__(self, padding) -> None:
        super().__init__(padding, 0.0)


class ZeroPad3d(nn.ConstantPad3d):
    def __init__(self, padding) -> None:
        super().__init__(padding, 0.0)


STAND_INS = (ZeroPad1d, ZeroPad3d, CircularPad1d, CircularPad2d, CircularPad3d)


def install() -> list[str]:
    """Puts each stand-in on torch.nn unless torch has the real module; returns the names
    installed."""
    installed = []
    for cls in STAND_INS:
        if not hasattr(nn, cls.__name__):
            setattr(nn, cls.__name__, cls)
            installed.append(cls.__name__)
    return installed
