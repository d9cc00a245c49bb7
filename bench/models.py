#!/usr/bin/python3
"""The benchmark models, defined once in PyTorch and written for every engine:
  out/models/<name>/1/model.seq + model.safetensors   (seqserve)
  out/onnx/<name>.onnx                                 (ONNX Runtime, via torch.onnx.export)
  out/models.json                                      (model.seq text, input shape, FLOPs
                                                        and parameter bytes per model)
PyTorch itself rebuilds the same models from model.seq (bench_torch.py), with the same seed.

Two sets: the four models developed alongside the engine (seed, lenet5, mlp, vgg_block) and
the zoo of issue 11, real architectures that fit one nn.Sequential, random weights, no
downloads:
  vgg11_bn, alexnet  torchvision's own classes (python3-torchvision), `features + avgpool +
                     Flatten + classifier` flattened into one Sequential; 3x224x224 input
  mobilenet_v1       Conv-BN-ReLU then 13 depthwise 3x3 + pointwise 1x1 blocks (BN, ReLU),
                     width 1.0, AdaptiveAvgPool + Linear; 3x224x224 input
  mlp_ln_<W>         Linear - LayerNorm - GELU - Linear - LayerNorm - GELU - Linear, widths
                     512-512-512-512, 1024-1024-1024-1024, 512-2048-2048-512 (issue 11's),
                     1024-4096-4096-1024
A model whose model.seq, weights and ONNX file are already written with the same text is
not written again (the weights follow from the text and the model's seed).
Usage: /usr/bin/python3 bench/models.py [--models a,b,...]   (default: all)
"""
import argparse
import json
import os
import sys

import torch
from torch import nn

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "golden"))
import golden  # noqa: E402  (model.seq evaluation and the safetensors writer)

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "out")

BASE = {
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


def sequential_text(comment, modules):
    """model.seq for a flat list of modules: each written as its PyTorch constructor call
    with the arguments PyTorch's own repr shows (extra_repr), which are keyword arguments
    except for the leading sizes."""
    lines = [f"# {comment}", "nn.Sequential("]
    for m in modules:
        lines.append(f"    nn.{type(m).__name__}({m.extra_repr()}),")
    lines.append(")")
    return "\n".join(lines) + "\n"


def torchvision_flat(arch):
    """torchvision's `arch` (features, avgpool, classifier) as one flat list of modules."""
    import torchvision
    net = getattr(torchvision.models, arch)(weights=None)
    return [*net.features, net.avgpool, nn.Flatten(), *net.classifier]


def mobilenet_v1():
    """MobileNet v1 (Howard et al. 2017, table 1), width 1.0, ReLU, 1000 classes."""
    def conv_bn(cin, cout, kernel, stride, groups):
        return [nn.Conv2d(cin, cout, kernel, stride=stride, padding=kernel // 2, groups=groups, bias=False),
                nn.BatchNorm2d(cout), nn.ReLU()]
    blocks = [(32, 64, 1), (64, 128, 2), (128, 128, 1), (128, 256, 2), (256, 256, 1), (256, 512, 2)]
    blocks += [(512, 512, 1)] * 5 + [(512, 1024, 2), (1024, 1024, 1)]
    modules = conv_bn(3, 32, 3, 2, 1)
    for cin, cout, stride in blocks:
        modules += conv_bn(cin, cin, 3, stride, cin) + conv_bn(cin, cout, 1, 1, 1)
    return modules + [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(1024, 1000)]


def mlp_ln(widths):
    """Linear layers through `widths`, each hidden one followed by LayerNorm and GELU."""
    modules = []
    for i, (a, b) in enumerate(zip(widths, widths[1:])):
        modules.append(nn.Linear(a, b))
        if i < len(widths) - 2:
            modules += [nn.LayerNorm(b), nn.GELU()]
    return modules


# name -> (kind, description, function returning the flat module list, per-sample shape).
# kind "mlp": a stack of Linear layers whose batch-1 call reads every weight once, so it is
# judged against the measured memory bandwidth too.
ZOO = {
    "vgg11_bn": ("conv", "torchvision.models.vgg11_bn: features + avgpool + Flatten + classifier",
                 lambda: torchvision_flat("vgg11_bn"), [3, 224, 224]),
    "alexnet": ("conv", "torchvision.models.alexnet: features + avgpool + Flatten + classifier",
                lambda: torchvision_flat("alexnet"), [3, 224, 224]),
    "mobilenet_v1": ("conv", "MobileNet v1, width 1.0: Conv-BN-ReLU, 13 depthwise-separable blocks, "
                     "AdaptiveAvgPool + Linear", mobilenet_v1, [3, 224, 224]),
    "mlp_ln_512": ("mlp", "MLP 512-512-512-512 with LayerNorm and GELU",
                   lambda: mlp_ln([512, 512, 512, 512]), [512]),
    "mlp_ln_1024": ("mlp", "MLP 1024-1024-1024-1024 with LayerNorm and GELU",
                    lambda: mlp_ln([1024, 1024, 1024, 1024]), [1024]),
    "mlp_ln_2048": ("mlp", "MLP 512-2048-2048-512 with LayerNorm and GELU",
                    lambda: mlp_ln([512, 2048, 2048, 512]), [512]),
    "mlp_ln_4096": ("mlp", "MLP 1024-4096-4096-1024 with LayerNorm and GELU",
                    lambda: mlp_ln([1024, 4096, 4096, 1024]), [1024]),
}

ALL = list(BASE) + list(ZOO)


def definition(name):
    """(model.seq text, per-sample shape, kind) of a model; zoo models are checked to rebuild
    from their text into exactly the modules they were written from."""
    if name in BASE:
        seq, shape = BASE[name]
        return seq, shape, "mlp" if name == "mlp" else "conv"
    kind, comment, make, shape = ZOO[name]
    modules = make()
    seq = sequential_text(comment, modules)
    rebuilt = golden.build(seq)
    if repr(rebuilt) != repr(nn.Sequential(*modules)):
        raise SystemExit(f"{name}: model.seq does not rebuild the same modules:\n{seq}")
    return seq, shape, kind


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


def write(name, seq, shape, kind):
    """Writes the model's files; returns its models.json entry."""
    torch.manual_seed(golden.seed_of(name))
    model = golden.build(seq)
    with torch.no_grad():
        golden.randomise(model)
    model.eval()
    with torch.no_grad():
        y = model(torch.randn(2, *shape))
    if not torch.isfinite(y).all():
        raise SystemExit(f"{name}: non-finite output with random weights")
    version_dir = os.path.join(OUT, "models", name, "1")
    os.makedirs(version_dir, exist_ok=True)
    os.makedirs(os.path.join(OUT, "onnx"), exist_ok=True)
    golden.write_safetensors(os.path.join(version_dir, "model.safetensors"), model.state_dict())
    torch.onnx.export(model, torch.zeros(1, *shape), os.path.join(OUT, "onnx", f"{name}.onnx"),
                      input_names=["input"], output_names=["output"],
                      dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}}, opset_version=13)
    # Last: a model.seq with this text marks the other files as complete.
    with open(os.path.join(version_dir, "model.seq"), "w") as f:
        f.write(seq if seq.endswith("\n") else seq + "\n")
    return {"seq": seq, "shape": shape, "kind": kind,
            "flops_per_sample": flops_per_sample(model, shape),
            "param_bytes": 4 * sum(p.numel() for p in model.parameters())}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default=",".join(ALL), help="comma-separated (default: all): " + ",".join(ALL))
    args = ap.parse_args()
    names = args.models.split(",")
    unknown = [n for n in names if n not in BASE and n not in ZOO]
    if unknown:
        raise SystemExit(f"unknown model(s) {','.join(unknown)}; known: {','.join(ALL)}")
    meta_path = os.path.join(OUT, "models.json")
    meta = json.load(open(meta_path)) if os.path.exists(meta_path) else {}
    written = 0
    for name in names:
        seq, shape, kind = definition(name)
        seq_path = os.path.join(OUT, "models", name, "1", "model.seq")
        done = (name in meta and meta[name].get("seq") == seq and "param_bytes" in meta[name]
                and os.path.exists(seq_path) and open(seq_path).read().rstrip("\n") == seq.rstrip("\n")
                and os.path.exists(os.path.join(OUT, "onnx", f"{name}.onnx")))
        if not done:
            meta[name] = write(name, seq, shape, kind)
            written += 1
    os.makedirs(OUT, exist_ok=True)
    with open(meta_path, "w") as f:
        json.dump({n: meta[n] for n in ALL if n in meta}, f, indent=1)
    print(f"{len(names)} models in {OUT} ({written} written, {len(names) - written} already there)",
          file=sys.stderr)


if __name__ == "__main__":
    main()
