#!/usr/bin/python3
"""Data for the int8 tests and benchmarks, made with real PyTorch (Debian's python3-torch).

For the bundled classifiers lenet and mlp (models/), which take 1x28x28 images of the
synthetic lines task of models/make_models.py, writes to tests/data/int8/:
  lines_calibration.npy   128 images: what `seqserve calibrate` measures the ranges on
  lines_heldout.npy       256 other images of the same task (another random stream)
  <model>_heldout_expected.npy   PyTorch's fp32 outputs of the bundled model on them
The int8 tests hold the engine's int8 outputs to these (top-1 agreement, cosine similarity).

Usage: /usr/bin/python3 tests/golden/make_int8_data.py
"""
import json
import os
import struct
import sys

import numpy as np
import torch

ROOT = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(ROOT, "..", "..", "models"))
sys.path.insert(0, ROOT)
import golden  # noqa: E402
import make_models  # noqa: E402

OUT = os.path.join(ROOT, "..", "data", "int8")


def read_safetensors(path):
    """Minimal safetensors reader (u64 header size, JSON header, data); F32 only."""
    with open(path, "rb") as f:
        data = f.read()
    (size,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + size])
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        assert info["dtype"] == "F32", (name, info["dtype"])
        begin, end = info["data_offsets"]
        array = np.frombuffer(data[8 + size + begin:8 + size + end], dtype=np.float32)
        tensors[name] = torch.from_numpy(array.reshape(info["shape"]).copy())
    return tensors


def load_bundled(name):
    version_dir = os.path.join(ROOT, "..", "..", "models", name, "1")
    with open(os.path.join(version_dir, "model.seq")) as f:
        model = golden.build(f.read())
    model.load_state_dict(read_safetensors(os.path.join(version_dir, "model.safetensors")))
    return model.eval()


def main():
    os.makedirs(OUT, exist_ok=True)
    calibration, _ = make_models.lines_dataset(128, torch.Generator().manual_seed(11))
    heldout, _ = make_models.lines_dataset(256, torch.Generator().manual_seed(12))
    np.save(os.path.join(OUT, "lines_calibration.npy"), calibration.numpy())
    np.save(os.path.join(OUT, "lines_heldout.npy"), heldout.numpy())
    for name in ("lenet", "mlp"):
        model = load_bundled(name)
        with torch.no_grad():
            expected = model(heldout)
        np.save(os.path.join(OUT, f"{name}_heldout_expected.npy"), expected.numpy())
        print(f"{name}: {tuple(expected.shape)} outputs")


if __name__ == "__main__":
    main()
