"""The PyTorch models the end-to-end test exports and serves: together they use every module
family of SPEC §3, both constructor forms (positional and OrderedDict), nesting and .append(),
and non-default arguments wherever a module has them.

Each entry builds a fresh model with non-trivial parameters (BatchNorm statistics and norm
affine parameters randomised, as tests/golden/golden.py does, since PyTorch's 0/1 init would
hide mistakes) and names an input shape that includes the batch dimension.
"""
from __future__ import annotations

import importlib.util
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn


def _install_torch21_modules() -> None:
    """PyTorch 2.1's ZeroPad1d/3d and CircularPad*d, which Debian's torch 1.13 lacks, rebuilt
    from F.pad by tests/golden/torch21.py (the goldens' stand-ins) and put on torch.nn, where
    seqserve.export looks modules up. A torch that has them keeps its own."""
    path = Path(__file__).resolve().parents[3] / "tests" / "golden" / "torch21.py"
    spec = importlib.util.spec_from_file_location("seqserve_tests_torch21", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.install()


_install_torch21_modules()


def randomise(model: nn.Module) -> nn.Module:
    """Gives the norms' running statistics and affine parameters, and PReLU's slopes, random
    values (in place; returns `model`): PyTorch's 0/1 init would hide mistakes."""
    with torch.no_grad():
        for m in model.modules():
            # BatchNorm and InstanceNorm; their statistics exist when tracked.
            if isinstance(m, nn.modules.batchnorm._NormBase) and m.running_mean is not None:
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
            if isinstance(m, (nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm)):
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


def volumetric() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv3d(2, 4, 3, padding=1, padding_mode='replicate'),
        nn.BatchNorm3d(4),
        nn.ReLU(),
        nn.MaxPool3d(2, ceil_mode=True),
        nn.ConvTranspose3d(4, 3, 2, stride=2, output_padding=(1, 0, 1), groups=1),
        nn.InstanceNorm3d(3, affine=True, track_running_stats=True),
        nn.ReflectionPad3d((1, 0, 0, 1, 1, 1)),
        nn.ReplicationPad3d(1),
        nn.ConstantPad3d((0, 1, 1, 0, -1, 1), 0.25),
        nn.ZeroPad3d((1, 0, 0, 0, 0, 1)),
        nn.CircularPad3d((1, 1, 0, 1, 1, 0)),
        nn.AvgPool3d(3, stride=2, padding=1, count_include_pad=False, divisor_override=None),
        nn.Conv3d(3, 4, (1, 2, 2), dilation=(1, 2, 1), groups=1, bias=False),
        nn.InstanceNorm3d(4),
        nn.Upsample(scale_factor=(1.5, 1.0, 2.0), mode='trilinear', align_corners=False),
        nn.AvgPool3d((2, 1, 2), divisor_override=3),
        nn.AdaptiveMaxPool3d((2, None, 3)),
        nn.Dropout3d(0.2),
        nn.AdaptiveAvgPool3d(2),
        nn.FeatureAlphaDropout(0.1),
        nn.Flatten(),
        nn.Linear(32, 6),
    )


def padding1d() -> nn.Sequential:
    return nn.Sequential(
        nn.ZeroPad1d(2),
        nn.ConstantPad1d((1, -2), 0.5),
        nn.ReflectionPad1d((3, 1)),
        nn.ReplicationPad1d(2),
        nn.CircularPad1d((1, 2)),
        nn.Conv1d(3, 4, 3),
        nn.InstanceNorm1d(4, affine=True),
        nn.Sigmoid(),
        nn.LPPool1d(2, 3, stride=2),
        nn.AdaptiveMaxPool1d(5),
        nn.Upsample(scale_factor=2, mode='linear', align_corners=True),
        nn.GLU(dim=-1),
        nn.InstanceNorm1d(4, momentum=0.3, track_running_stats=True),
        nn.Upsample(size=7, mode='nearest-exact'),
        nn.Softmin(dim=1),
    )


def vision2d() -> nn.Sequential:
    return nn.Sequential(
        nn.PixelUnshuffle(2),
        nn.ChannelShuffle(4),
        nn.Conv2d(16, 16, 1, groups=4),
        nn.PixelShuffle(2),
        nn.ReflectionPad2d(1),
        nn.ReplicationPad2d((1, 0, 0, 1)),
        nn.ZeroPad2d((0, 1, 1, 0)),
        nn.CircularPad2d(1),
        nn.ConstantPad2d((1, 1, 0, -1), -1.0),
        nn.InstanceNorm2d(4),
        nn.RReLU(0.1, 0.3),
        nn.LocalResponseNorm(3, alpha=1e-3, k=2.0),
        nn.Upsample(size=(9, 7), mode='bicubic'),
        nn.Softmax2d(),
        nn.LPPool2d(2, (2, 3), stride=2),
        nn.UpsamplingNearest2d(scale_factor=2),
        nn.UpsamplingBilinear2d(size=(6, 5)),
        nn.Upsample(scale_factor=1.5, mode='bilinear', recompute_scale_factor=True),
        nn.Unfold(2, padding=1, stride=2),
        nn.Fold((9, 7), 2, stride=2, padding=1),
        nn.Upsample(size=4, mode='area'),
        nn.Flatten(),
    )


def text() -> nn.Sequential:
    layer = nn.TransformerEncoderLayer(16, 4, dim_feedforward=32, dropout=0.1, activation='gelu',
                                       batch_first=True)
    return nn.Sequential(OrderedDict([
        ('embed', nn.Embedding(20, 16, padding_idx=0)),
        ('encoder', nn.TransformerEncoder(layer, 2, norm=nn.LayerNorm(16, eps=1e-6))),
        ('block', nn.TransformerEncoderLayer(16, 2, 24, 0.0, nn.SiLU(), batch_first=True,
                                             norm_first=True)),
        ('flat', nn.Flatten()),
        ('head', nn.Linear(6 * 16, 5)),
    ]))


def bag() -> nn.Sequential:
    return nn.Sequential(
        nn.Dropout(0.1),
        nn.EmbeddingBag(30, 8, mode='max', padding_idx=2),
        nn.Linear(8, 4),
        nn.Hardshrink(0.3),
    )


def sequential_api() -> nn.Sequential:
    # + renumbers, extend appends, insert shifts, slicing keeps the original names.
    body = nn.Sequential(nn.Linear(6, 8), nn.Softshrink(0.2)) + nn.Sequential(nn.Linear(8, 8))
    body.extend([nn.Threshold(0.1, -0.5), nn.Linear(8, 4)])
    body.insert(1, nn.Tanh())
    tail = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 3), nn.Hardsigmoid())[::2]
    return nn.Sequential(OrderedDict([('body', body), ('tail', tail)]))


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
    "volumetric": (volumetric, (2, 2, 5, 6, 7)),
    "padding1d": (padding1d, (2, 3, 9)),
    "vision2d": (vision2d, (2, 4, 6, 6)),
    "text": (text, (2, 6)),
    "bag": (bag, (4, 5)),
    "sequential_api": (sequential_api, (3, 6)),
}

# Models whose input is integer ids (Embedding or EmbeddingBag first): name -> the number of
# ids (inputs are int64 in [0, n)). Every other model takes float32.
ID_INPUTS: dict[str, int] = {"text": 20, "bag": 30}

# Serving configs (seqserve.export's dict form). "mixed" needs one: Flatten -> Linear fits a
# single image size, which the server cannot guess from Conv2d(1, ...) alone; padding1d's and
# vision2d's first modules (ZeroPad1d, PixelUnshuffle) imply no input shape at all.
CONFIGS: dict[str, dict] = {
    "mixed": {"input_dims": [1, 8, 8], "max_batch_size": 16, "instance_count": 1,
              "dynamic_batching": {"max_queue_delay_microseconds": 100}},
    "padding1d": {"input_dims": [3, 9]},
    "vision2d": {"input_dims": [4, 6, 6]},
}


def example_input(name: str, shape: tuple[int, ...], generator: torch.Generator) -> torch.Tensor:
    """An input of `shape` for model `name`: ids in range for an id model, else N(0, 1)."""
    if name in ID_INPUTS:
        return torch.randint(0, ID_INPUTS[name], shape, generator=generator)
    return torch.randn(*shape, generator=generator)


def build(name: str) -> nn.Sequential:
    """A fresh, deterministic instance of zoo model `name` (seeded by its name)."""
    torch.manual_seed(sum(map(ord, name)))
    return randomise(MODELS[name][0]())
