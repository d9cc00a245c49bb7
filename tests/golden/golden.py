"""Shared machinery for the golden test cases: real PyTorch computes every expected value.

A case is a model.seq text (evaluated as Python with torch.nn in scope, exactly as a user
writes it), one or more input shapes, and optional knobs. For each case the generator
writes tests/data/golden/<name>/:
  model.seq, model.safetensors (the state_dict, parameters randomised), input_<k>.npy,
  expected_<k>.npy (PyTorch's eval-mode output), case.json (tolerances).
Run with Debian's python3-torch: /usr/bin/python3 tests/golden/make_goldens.py
"""
import collections
import hashlib
import json
import os
import re
import shutil
import struct
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

import torch21

DATA_DIR = os.path.join(os.path.dirname(__file__), "..", "data", "golden")


@dataclass
class Case:
    name: str                     # directory name, unique across all families
    seq: str                      # model.seq text
    shapes: list                  # input shapes, e.g. [(1, 3, 8, 8), (2, 3, 7, 9)]
    input_scale: float = 1.0      # inputs ~ N(0, 1) * input_scale
    rtol: float = 1e-4
    atol: float = 1e-5
    init: str = "default"         # "default": PyTorch init plus randomised norms; "none"
    input_shift: float = 0.0      # added to the inputs (a large common offset tests statistics)
    specials: int = 0             # this many input elements become NaN, +Inf, -Inf (in turn)
    special_values: tuple = ()    # or: values (NaN, +-inf) that replace a fraction of the inputs
    special_fraction: float = 0.0
    # reference(model, x) -> expected output, where PyTorch 2.1 differs from the generator's
    # PyTorch (1.13): equivalent functional code, explained by the case. None: model(x).
    reference: object = None
    input_dtype: str = "float32"  # "int64" / "int32": ids for Embedding, uniform in [0, id_high)
    id_high: int = 0
    inputs: list = None           # explicit inputs (nested lists), instead of random ones
    # For arguments PyTorch 1.13 lacks (TransformerEncoderLayer's bias=False, 2.1): the
    # expression 1.13 evaluates instead of `seq`, and regexes of the state_dict keys the 2.1
    # module does not have. Those parameters are zeroed before the forward pass and left out of
    # model.safetensors: a module without a bias computes what it computes with a zero bias.
    torch_seq: str = None
    absent_params: tuple = ()


def write_safetensors(path, tensors):
    """Minimal safetensors writer (the format is: u64 header size, JSON header, data)."""
    header, blobs, offset = {}, [], 0
    for key in sorted(tensors):
        t = tensors[key].detach().contiguous()
        if t.dtype == torch.float32:
            dtype, raw = "F32", t.numpy().astype("<f4").tobytes()
        elif t.dtype == torch.int64:
            dtype, raw = "I64", t.numpy().astype("<i8").tobytes()
        else:
            raise ValueError(f"{key}: unsupported dtype {t.dtype}")
        header[key] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for raw in blobs:
            f.write(raw)


def build(seq):
    nn21 = torch21.nn_namespace()  # torch.nn plus the 2.1 modules 1.13 lacks (see torch21.py)
    scope = {"nn": nn21, "torch": torch, "F": torch.nn.functional, "OrderedDict": collections.OrderedDict, "collections": collections}
    scope.update({k: getattr(nn21, k) for k in dir(nn21) if k[:1].isupper()})
    return eval(seq, scope)


def seed_of(name):
    return int(hashlib.sha256(name.encode()).hexdigest()[:8], 16)


def randomise(model):
    """Makes BatchNorm statistics and affine parameters non-trivial (PyTorch's init leaves
    them at 0/1, which would hide folding mistakes); other parameters keep PyTorch's init."""
    norms = (nn.modules.batchnorm._BatchNorm, nn.modules.instancenorm._InstanceNorm)
    for m in model.modules():
        if isinstance(m, norms):
            if m.running_mean is not None:
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
        if isinstance(m, norms + (nn.LayerNorm, nn.GroupNorm)):
            if getattr(m, "weight", None) is not None:
                m.weight.data.uniform_(0.5, 1.5)
            if getattr(m, "bias", None) is not None:
                m.bias.data.uniform_(-0.5, 0.5)
        if isinstance(m, nn.PReLU):
            m.weight.data.uniform_(0.05, 0.5)
        if isinstance(m, nn.MultiheadAttention):
            # PyTorch initialises these biases to zero, which would hide a missing bias.
            if m.in_proj_bias is not None:
                m.in_proj_bias.data.uniform_(-0.5, 0.5)
            if m.out_proj.bias is not None:
                m.out_proj.bias.data.uniform_(-0.5, 0.5)
        if isinstance(m, (nn.Embedding, nn.EmbeddingBag)) and m.padding_idx is not None:
            # A zero padding row would hide whether EmbeddingBag leaves it out of the bag.
            m.weight.data[m.padding_idx].uniform_(1.0, 2.0)


def make_input(case, k, shape):
    dtype = {"float32": torch.float32, "int64": torch.int64, "int32": torch.int32}[case.input_dtype]
    if case.inputs is not None:
        return torch.tensor(case.inputs[k], dtype=dtype)
    if dtype != torch.float32:
        return torch.randint(0, case.id_high, shape, dtype=dtype)
    x = torch.randn(*shape) * case.input_scale
    if case.input_shift:
        x = x + case.input_shift
    if case.specials:
        flat = x.view(-1)
        values = [float("nan"), float("inf"), float("-inf")]
        for i, pos in enumerate(torch.randperm(flat.numel())[:case.specials].tolist()):
            flat[pos] = values[i % 3]
    if case.special_values:
        # Each element, with probability special_fraction, becomes one of the values.
        hit = torch.rand(*shape) < case.special_fraction
        pick = torch.randint(len(case.special_values), shape)
        values = torch.tensor(case.special_values, dtype=torch.float32)[pick]
        x = torch.where(hit, values, x)
    return x


def generate(case):
    torch.manual_seed(seed_of(case.name))
    model = build(case.torch_seq or case.seq)
    if case.init == "default":
        with torch.no_grad():
            randomise(model)
    absent = [key for key in model.state_dict()
              if any(re.fullmatch(pattern, key) for pattern in case.absent_params)]
    assert bool(absent) == bool(case.absent_params), f"{case.name}: absent_params match {absent}"
    with torch.no_grad():
        for key in absent:
            model.state_dict()[key].zero_()
    model.eval()
    out_dir = os.path.join(DATA_DIR, case.name)
    shutil.rmtree(out_dir, ignore_errors=True)
    os.makedirs(out_dir)
    with open(os.path.join(out_dir, "model.seq"), "w") as f:
        f.write(case.seq.strip() + "\n")
    state = {key: value for key, value in model.state_dict().items() if key not in absent}
    if state:
        write_safetensors(os.path.join(out_dir, "model.safetensors"), state)
    for k, shape in enumerate(case.shapes):
        x = make_input(case, k, shape)
        with torch.no_grad():
            y = case.reference(model, x) if case.reference else model(x)  # eval, no_grad: fast paths
        if any(isinstance(m, nn.TransformerEncoderLayer) for m in model.modules()):
            # The fast path (torch._transformer_encoder_layer_fwd) and the Python one agree.
            y_slow = model(x).detach()  # grad enabled: the fast path is off
            assert torch.allclose(y, y_slow, rtol=1e-4, atol=1e-5), f"{case.name}: fast != slow path"
        np.save(os.path.join(out_dir, f"input_{k}.npy"), x.numpy())
        np.save(os.path.join(out_dir, f"expected_{k}.npy"), np.ascontiguousarray(y.numpy(), dtype=np.float32))
    with open(os.path.join(out_dir, "case.json"), "w") as f:
        json.dump({"rtol": case.rtol, "atol": case.atol, "torch": torch.__version__}, f)
        f.write("\n")
