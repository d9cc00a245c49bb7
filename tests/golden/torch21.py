"""The torch.nn of PyTorch 2.1 as far as the golden cases need it, on Debian's torch 1.13.

1.13 lacks CircularPad1d/2d/3d, ZeroPad1d and ZeroPad3d. Their 2.1 forward is F.pad, which
1.13 has, so they are rebuilt here from it (no expectation is computed any other way):
  - ZeroPad1d/3d(padding): F.pad(x, padding, 'constant', 0.0), as 2.1's _ConstantPadNd;
  - CircularPad1d/2d/3d(padding): 2.1's _check_input_dim (2D/3D, 3D/4D, 4D/5D input), then
    F.pad(x, padding, 'circular'). 1.13's circular F.pad takes only batched input; 2.1 also
    takes unbatched input, whose result is that of the batch of one, so an unbatched input
    is padded as x.unsqueeze(0) and squeezed again.
The padding argument is expanded as 2.1 does (_pair/_quadruple/_ntuple(6) of an int; a tuple
is kept as given).
"""
import types

import torch.nn.functional as F
from torch import nn


def _expand(padding, n):
    return tuple(padding) if isinstance(padding, (tuple, list)) else (padding,) * n


class _CircularPadNd(nn.Module):
    dims = 0

    def __init__(self, padding):
        super().__init__()
        self.padding = _expand(padding, 2 * self.dims)

    def forward(self, x):
        if x.dim() not in (self.dims + 1, self.dims + 2):
            raise ValueError(f"expected {self.dims + 1}D or {self.dims + 2}D input (got {x.dim()}D input)")
        if x.dim() == len(self.padding) // 2 + 1:
            return F.pad(x.unsqueeze(0), self.padding, "circular").squeeze(0)
        return F.pad(x, self.padding, "circular")


class CircularPad1d(_CircularPadNd):
    dims = 1


class CircularPad2d(_CircularPadNd):
    dims = 2


class CircularPad3d(_CircularPadNd):
    dims = 3


class _ZeroPadNd(nn.Module):
    dims = 0

    def __init__(self, padding):
        super().__init__()
        self.padding = _expand(padding, 2 * self.dims)

    def forward(self, x):
        return F.pad(x, self.padding, "constant", 0.0)


class ZeroPad1d(_ZeroPadNd):
    dims = 1


class ZeroPad3d(_ZeroPadNd):
    dims = 3


_ADDED = {cls.__name__: cls for cls in (CircularPad1d, CircularPad2d, CircularPad3d, ZeroPad1d, ZeroPad3d)}


def nn_namespace():
    """torch.nn plus the 2.1 modules this torch lacks (its own classes win where it has them)."""
    ns = types.ModuleType("nn")
    ns.__dict__.update(nn.__dict__)
    for name, cls in _ADDED.items():
        if not hasattr(nn, name):
            setattr(ns, name, cls)
    return ns


def install():
    """Puts the 2.1 modules this torch lacks on torch.nn itself, for code that looks modules up
    there by class (seqserve.export's writer table; client/python/tests/zoo.py calls this).
    Returns the names added."""
    added = [name for name in _ADDED if not hasattr(nn, name)]
    for name in added:
        setattr(nn, name, _ADDED[name])
    return added
