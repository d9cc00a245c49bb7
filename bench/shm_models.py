#!/usr/bin/python3
"""Writes a model repository for measuring the shared memory path (bench/RESULTS.md §11):
two models with a 1x3x224x224 float32 input (588 KiB per sample) and a small output, so
that moving the input is a large part of a request's cost.

  pool224/  AdaptiveAvgPool2d(1), Flatten: almost no compute (3 floats out)
  cnn224/   Conv2d(3,16,3,s2) ReLU Conv2d(16,32,3,s2) ReLU AdaptiveAvgPool2d(1) Flatten
            Linear(32,10): a small CNN, PyTorch's default initialisation (torch.manual_seed(0))

Usage: /usr/bin/python3 bench/shm_models.py OUT_DIR
"""
import os
import sys

import torch
from torch import nn

ROOT = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(ROOT, "..", "tests", "golden"))
import golden  # noqa: E402  (safetensors writer)

CONFIG = """max_batch_size: 8
input [ { name: "input" data_type: TYPE_FP32 dims: [ 3, 224, 224 ] } ]
output [ { name: "output" data_type: TYPE_FP32 dims: [ %d ] } ]
"""

POOL = """nn.Sequential(
    nn.AdaptiveAvgPool2d(1),
    nn.Flatten(),
)
"""

CNN = """nn.Sequential(
    nn.Conv2d(3, 16, 3, stride=2, padding=1),
    nn.ReLU(),
    nn.Conv2d(16, 32, 3, stride=2, padding=1),
    nn.ReLU(),
    nn.AdaptiveAvgPool2d(1),
    nn.Flatten(),
    nn.Linear(32, 10),
)
"""


def write(out, name, seq, outputs, state=None):
    version = os.path.join(out, name, "1")
    os.makedirs(version, exist_ok=True)
    with open(os.path.join(out, name, "config.pbtxt"), "w") as f:
        f.write(CONFIG % outputs)
    with open(os.path.join(version, "model.seq"), "w") as f:
        f.write(seq)
    if state is not None:
        golden.write_safetensors(os.path.join(version, "model.safetensors"), state)


def main(out):
    write(out, "pool224", POOL, 3)
    torch.manual_seed(0)
    cnn = nn.Sequential(nn.Conv2d(3, 16, 3, stride=2, padding=1), nn.ReLU(),
                        nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.ReLU(),
                        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 10))
    write(out, "cnn224", CNN, 10, cnn.state_dict())


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
