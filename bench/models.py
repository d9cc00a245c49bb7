#!/usr/bin/python3
"""The benchmark models, defined once in PyTorch and written for every engine:
  out/models/<name>/1/model.seq + model.safetensors   (seqserve)
  out/onnx/<name>.onnx                                 (ONNX Runtime, via torch.onnx.export)
  out/models.json                                      (input shapes, FLOPs per sample)
PyTorch itself rebuilds the same models from model.seq in bench_torch.py.
Run with Debian's python3-torch: /usr/bin/python3 bench/models.py
"""
import json
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "golden"))
import golden  # noqa: E402  (model.seq evaluation and the safetensors writer)

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "out")

MODELS = {
    "seed": ("nn.Sequential(nn.Conv2d(1,20,5), nn.ReLU(), nn.Conv2d(20,64,5), nn.ReLU())", [1, 28, 28]),
    "lenet5": ("nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), "
               "nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), "
               "nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))",
               [1, 28, 28]),
    "mlp": ("nn.Sequential(nn.Linear(784, 1024), nn.ReLU(), nn.Linear(1024, 1024), nn.ReLU(), "
            "nn.Linear(1024, 10))", [784]),
    "vgg_block": ("nn.Sequential(nn.Conv2d(3, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), "
                  "nn.Conv2d(64, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2))",
                  [3, 64, 64]),
}


def flops_per_sample(model, shape):
    """Multiply-adds x 2 of Conv and Linear layers (what dominates), from PyTorch's shapes."""
    total = 0
    x = torch.zeros(1, *shape)
    for m in model:
        y = m(x)
        if isinstance(m, torch.nn.Conv2d):
            total += 2 * y.numel() * (m.in_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1]
        elif isinstance(m, torch.nn.Linear):
            total += 2 * m.in_features * m.out_features
        x = y
    return total


def main():
    meta = {}
    for name, (seq, shape) in MODELS.items():
        torch.manual_seed(golden.seed_of(name))
        model = golden.build(seq)
        with torch.no_grad():
            golden.randomise(model)
        model.eval()
        version_dir = os.path.join(OUT, "models", name, "1")
        os.makedirs(version_dir, exist_ok=True)
        with open(os.path.join(version_dir, "model.seq"), "w") as f:
            f.write(seq + "\n")
        golden.write_safetensors(os.path.join(version_dir, "model.safetensors"), model.state_dict())
        os.makedirs(os.path.join(OUT, "onnx"), exist_ok=True)
        torch.onnx.export(model, torch.zeros(1, *shape), os.path.join(OUT, "onnx", f"{name}.onnx"),
                          input_names=["input"], output_names=["output"],
                          dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}}, opset_version=13)
        meta[name] = {"seq": seq, "shape": shape, "flops_per_sample": flops_per_sample(model, shape)}
    with open(os.path.join(OUT, "models.json"), "w") as f:
        json.dump(meta, f, indent=1)
    print(f"wrote {len(meta)} models to {OUT}")


if __name__ == "__main__":
    main()
