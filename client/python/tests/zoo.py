"""The PyTorch models the end-to-end test exports and serves: together they use every module
family of SPEC §3, both constructor forms (positional and OrderedDict), nesting and .append(),
and non-default arguments wherever a module has them.

Each entry builds a fresh model with non-trivial parameters (BatchNorm statistics and norm
affine parameters randomised, as tests/golden/golden.py does, since PyTorch's 0/1 init would
hide mistakes) and names an input shape that includes the batch dimension.
"""
from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

import torch
from torch import nn


def _randomise(model: nn.Module) -> nn.Module:
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.running_mean is not None:
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
            if isinstance(m, (nn.modules.batchnorm._BatchNorm, nn.LayerNorm, nn.GroupNorm)):
                if m.weight is not None:
                    m.weight.uniform_(0.5, 1.5)
                if m.bias is not None:
                    m.bias.uniform_(-0.5, 0.5)
            if isinstance(m, nn.PReLU):
                m.weight.uniform_(0.05, 0.5)
    return model


def seed() -> nn.Sequential:
    # The seed's own example, verbatim.
    return nn.Sequential(
        nn.Conv2d(1, 20, 5),
        nn.ReLU(),
        nn.Conv2d(20, 64, 5),
        nn.ReLU()
    )


def seed_ordered() -> nn.Sequential:
    return nn.Sequential(OrderedDict([
        ('conv1', nn.Conv2d(1, 20, 5)),
        ('relu1', nn.ReLU()),
        ('conv2', nn.Conv2d(20, 64, 5)),
        ('relu2', nn.ReLU()),
    ]))


def appended() -> nn.Sequential:
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU()).append(nn.Linear(8, 2))


def nested() -> nn.Sequential:
    return nn.Sequential(nn.Sequential(nn.Linear(4, 4), nn.GELU()), nn.Linear(4, 1))


def cnn2d() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1, bias=False),
        nn.BatchNorm2d(8),
        nn.ReLU6(),
        nn.MaxPool2d(2, ceil_mode=True),
        nn.Conv2d(8, 8, 3, padding='same', padding_mode='reflect', groups=2),
        nn.GroupNorm(2, 8),
        nn.Hardswish(),
        nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False),
        nn.Conv2d(8, 4, (3, 1), padding=(1, 2), dilation=(1, 2), padding_mode='circular'),
        nn.MaxPool2d((2, 1), stride=1, padding=(1, 0), dilation=(2, 1)),
        nn.AdaptiveMaxPool2d((2, 3)),
        nn.Dropout2d(0.3),
        nn.Flatten(),
        nn.Linear(24, 10),
        nn.LogSoftmax(dim=1),
    )


def deconv() -> nn.Sequential:
    return nn.Sequential(
        nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1),
        nn.ELU(alpha=0.5),
        nn.ConvTranspose2d(6, 2, (2, 3), groups=2, dilation=(1, 2), bias=False),
        nn.Mish(),
        nn.AvgPool2d(2, divisor_override=3),
        nn.AdaptiveAvgPool2d((None, 3)),
        nn.Conv2d(2, 3, 1, padding='valid'),
        nn.Sigmoid(),
    )


def seq1d() -> nn.Sequential:
    return nn.Sequential(OrderedDict([
        ('conv', nn.Conv1d(3, 6, 5, stride=2, padding=2, padding_mode='replicate')),
        ('bn', nn.BatchNorm1d(6, eps=1e-3)),
        ('act', nn.LeakyReLU(0.2)),
        ('pool', nn.MaxPool1d(3, stride=2, padding=1)),
        ('up', nn.ConvTranspose1d(6, 4, 4, stride=2)),
        ('prelu', nn.PReLU(4)),
        ('celu', nn.CELU(alpha=1.5)),
        ('avg', nn.AvgPool1d(3, stride=1, padding=1, ceil_mode=True)),
        ('adapt', nn.AdaptiveAvgPool1d(5)),
        ('drop', nn.Dropout1d(0.25)),
        ('flat', nn.Flatten()),
        ('unflat', nn.Unflatten(1, (4, 5))),
        ('softmax', nn.Softmax(dim=-1)),
    ]))


def norms_mlp() -> nn.Sequential:
    return nn.Sequential(OrderedDict([
        ('fc1', nn.Linear(16, 32)),
        ('ln', nn.LayerNorm(32, eps=1e-3)),
        ('silu', nn.SiLU()),
        ('block', nn.Sequential(
            nn.Linear(32, 32),
            nn.BatchNorm1d(32, momentum=None),
            nn.SELU(),
            nn.AlphaDropout(0.2),
        )),
        ('fc2', nn.Linear(32, 24)),
        ('grid', nn.Unflatten(1, torch.Size([4, 6]))),
        ('ln2', nn.LayerNorm((4, 6), elementwise_affine=False)),
        ('flat', nn.Flatten()),
        ('drop', nn.Dropout(0.1)),
        ('softplus', nn.Softplus(beta=2.0, threshold=10.0)),
        ('fc3', nn.Linear(24, 8)),
        ('clip', nn.Hardtanh(-0.5, 0.75)),
        ('softsign', nn.Softsign()),
    ]))


def activations() -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(8, 16),
        nn.Tanhshrink(),
        nn.Linear(16, 16),
        nn.LogSigmoid(),
        nn.Tanh(),
        nn.Hardsigmoid(),
        nn.Identity(),
        nn.GELU(approximate='tanh'),
        nn.PReLU(),
        nn.ReLU(inplace=True),
        nn.Linear(16, 5),
        nn.Softmax(),  # dim=None: PyTorch's legacy rule picks dim 1 for a 2-D input
    )


def mixed() -> nn.Sequential:
    model = nn.Sequential(OrderedDict([
        ('features', nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.MaxPool2d(2))),
        ('head', nn.Sequential(OrderedDict([
            ('flat', nn.Flatten()),
            ('fc', nn.Linear(4 * 3 * 3, 6)),
        ]))),
    ]))
    model.head.append(nn.LogSoftmax(dim=-1))
    return model


# name -> (builder, input shape with the batch dim)
MODELS: dict[str, tuple[Callable[[], nn.Sequential], tuple[int, ...]]] = {
    "seed": (seed, (2, 1, 12, 12)),
    "seed_ordered": (seed_ordered, (2, 1, 12, 12)),
    "appended": (appended, (3, 4)),
    "nested": (nested, (3, 4)),
    "cnn2d": (cnn2d, (2, 3, 11, 13)),
    "deconv": (deconv, (2, 4, 5, 6)),
    "seq1d": (seq1d, (2, 3, 17)),
    "norms_mlp": (norms_mlp, (4, 16)),
    "activations": (activations, (4, 8)),
    "mixed": (mixed, (2, 1, 8, 8)),
}

# Serving configs (seqserve.export's dict form). "mixed" needs one: Flatten -> Linear fits a
# single image size, which the server cannot guess from Conv2d(1, ...) alone.
CONFIGS: dict[str, dict] = {
    "mixed": {"input_dims": [1, 8, 8], "max_batch_size": 16, "instance_count": 1,
              "dynamic_batching": {"max_queue_delay_microseconds": 100}},
}


def build(name: str) -> nn.Sequential:
    """A fresh, deterministic instance of zoo model `name` (seeded by its name)."""
    torch.manual_seed(sum(map(ord, name)))
    return _randomise(MODELS[name][0]())
