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
and issue 10's two, the architectures of the bundled models/textclass and models/superres:
  textclass          128 int64 token ids -> Embedding(1000, 256) -> TransformerEncoder (4
                     layers, d_model 256, 4 heads, feed-forward 1024) -> Flatten -> Linear
  superres           ESPCN-style decoder on a 1x64x64 image: Conv-Tanh-Conv-Tanh-Conv,
                     PixelShuffle(3), bicubic Upsample x2 (out 1x384x384)
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

# name -> (kind, model.seq text, per-sample shape, input dtype, ids in [0, vocab) for int64).
TEXT = {
    "textclass": ("transformer",
                  "# BERT-mini-sized text classifier (models/textclass): 128 token ids in, 4 scores out\n"
                  "nn.Sequential(\n"
                  "    nn.Embedding(1000, 256),\n"
                  "    nn.TransformerEncoder(\n"
                  "        nn.TransformerEncoderLayer(d_model=256, nhead=4, dim_feedforward=1024, batch_first=True),\n"
                  "        num_layers=4,\n"
                  "    ),\n"
                  "    nn.Flatten(),\n"
                  "    nn.Linear(128 * 256, 4),\n"
                  ")\n", [128], "int64", 1000),
    "superres": ("conv",
                 "# ESPCN-style super-resolution decoder (models/superres): 1xHxW in, 1x6Hx6W out\n"
                 "nn.Sequential(\n"
                 "    nn.Conv2d(1, 64, 5, padding=2),\n"
                 "    nn.Tanh(),\n"
                 "    nn.Conv2d(64, 32, 3, padding=1),\n"
                 "    nn.Tanh(),\n"
                 "    nn.Conv2d(32, 9, 3, padding=1),\n"
                 "    nn.PixelShuffle(3),\n"
                 "    nn.Upsample(scale_factor=2, mode=\"bicubic\"),\n"
                 ")\n", [1, 64, 64], "float32", None),
}

ALL = list(BASE) + list(ZOO) + list(TEXT)


def sample(batch, shape, dtype="float32", vocab=None):
    """A random input of `batch` samples: normal floats, or int64 ids in [0, vocab)."""
    if dtype == "int64":
        return torch.randint(0, vocab, (batch, *shape))
    return torch.randn(batch, *shape)


def definition(name):
    """(model.seq text, per-sample shape, kind, input dtype, vocab) of a model; zoo models are
    checked to rebuild from their text into exactly the modules they were written from."""
    if name in BASE:
        seq, shape = BASE[name]
        return seq, shape, "mlp" if name == "mlp" else "conv", "float32", None
    if name in TEXT:
        kind, seq, shape, dtype, vocab = TEXT[name]
        return seq, shape, kind, dtype, vocab
    kind, comment, make, shape = ZOO[name]
    modules = make()
    seq = sequential_text(comment, modules)
    rebuilt = golden.build(seq)
    if repr(rebuilt) != repr(nn.Sequential(*modules)):
        raise SystemExit(f"{name}: model.seq does not rebuild the same modules:\n{seq}")
    return seq, shape, kind, "float32", None


def flops_per_sample(model, shape, dtype="float32"):
    """Multiply-adds x 2 of Conv, Linear and Transformer layers (what dominates), from
    PyTorch's shapes. An encoder layer over S tokens of width d with feed-forward f: the
    Q/K/V and output projections 2*S*4*d*d, the feed-forward 2*S*2*d*f, and attention's
    scores and weighted sum 2*2*S*S*d."""
    total = 0
    x = torch.zeros(1, *shape, dtype=torch.int64 if dtype == "int64" else torch.float32)
    for m in model:
        y = m(x)
        if isinstance(m, torch.nn.Conv2d):
            total += 2 * y.numel() * (m.in_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1]
        elif isinstance(m, torch.nn.Linear):
            total += 2 * m.in_features * m.out_features
        elif isinstance(m, torch.nn.TransformerEncoder):
            for layer in m.layers:
                s, d, f = x.shape[1], layer.self_attn.embed_dim, layer.linear1.out_features
                total += 2 * s * 4 * d * d + 2 * s * 2 * d * f + 2 * 2 * s * s * d
        x = y
    return total


def write(name, seq, shape, kind, dtype="float32", vocab=None):
    """Writes the model's files; returns its models.json entry."""
    torch.manual_seed(golden.seed_of(name))
    model = golden.build(seq)
    with torch.no_grad():
        golden.randomise(model)
    model.eval()
    with torch.no_grad():
        y = model(sample(2, shape, dtype, vocab))
    if not torch.isfinite(y).all():
        raise SystemExit(f"{name}: non-finite output with random weights")
    version_dir = os.path.join(OUT, "models", name, "1")
    os.makedirs(version_dir, exist_ok=True)
    os.makedirs(os.path.join(OUT, "onnx"), exist_ok=True)
    golden.write_safetensors(os.path.join(version_dir, "model.safetensors"), model.state_dict())
    torch.onnx.export(model, sample(1, shape, dtype, vocab), os.path.join(OUT, "onnx", f"{name}.onnx"),
                      input_names=["input"], output_names=["output"],
                      dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}}, opset_version=13)
    # Last: a model.seq with this text marks the other files as complete.
    with open(os.path.join(version_dir, "model.seq"), "w") as f:
        f.write(seq if seq.endswith("\n") else seq + "\n")
    return {"seq": seq, "shape": shape, "kind": kind, "dtype": dtype, "vocab": vocab,
            "flops_per_sample": flops_per_sample(model, shape, dtype),
            "param_bytes": 4 * sum(p.numel() for p in model.parameters())}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default=",".join(ALL), help="comma-separated (default: all): " + ",".join(ALL))
    args = ap.parse_args()
    names = args.models.split(",")
    unknown = [n for n in names if n not in ALL]
    if unknown:
        raise SystemExit(f"unknown model(s) {','.join(unknown)}; known: {','.join(ALL)}")
    meta_path = os.path.join(OUT, "models.json")
    meta = json.load(open(meta_path)) if os.path.exists(meta_path) else {}
    written = 0
    for name in names:
        seq, shape, kind, dtype, vocab = definition(name)
        seq_path = os.path.join(OUT, "models", name, "1", "model.seq")
        done = (name in meta and meta[name].get("seq") == seq and "param_bytes" in meta[name]
                and os.path.exists(seq_path) and open(seq_path).read().rstrip("\n") == seq.rstrip("\n")
                and os.path.exists(os.path.join(OUT, "onnx", f"{name}.onnx")))
        if not done:
            meta[name] = write(name, seq, shape, kind, dtype, vocab)
            written += 1
    os.makedirs(OUT, exist_ok=True)
    with open(meta_path, "w") as f:
        json.dump({n: meta[n] for n in ALL if n in meta}, f, indent=1)
    print(f"{len(names)} models in {OUT} ({written} written, {len(names) - written} already there)",
          file=sys.stderr)


if __name__ == "__main__":
    main()
