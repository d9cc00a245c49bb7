"""seqserve.export: writes a live torch.nn.Sequential into a seqserve model repository.

model.seq is regenerated from the modules' constructor arguments as PyTorch stores them on
the live objects (not from the source that built them), so a model built in a loop, by a
function, with .append() or edited after construction exports the same as a literal one.
The exporter refuses, before writing anything, every module seqserve cannot serve exactly:
types outside SPEC §3, subclasses (their forward may differ), configurations the server
rejects (BatchNorm without running statistics, return_indices=True, ...), hooks, and
parameters that do not match the constructor arguments.

torch is imported only when exporting, so `import seqserve` works without it.
"""
from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import math
import numbers
import os
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from seqserve.config import config_pbtxt
from seqserve.safetensors import encode_safetensors

_HEADER = ("# Exported by seqserve.export from a live torch.nn.Sequential (torch {version}).\n"
           "# Served with eval() semantics: BatchNorm uses its running statistics, Dropout is\n"
           "# the identity, whatever mode the model was in when exported.\n")


class ExportError(ValueError):
    """The model cannot be exported; `problems` lists each offending module, one line each
    ("features.3 (MyBlock): ..."), and the message shows them all."""

    def __init__(self, problems: Sequence[str], footer: str = ""):
        self.problems = list(problems)
        count = len(self.problems)
        noun = "problem" if count == 1 else "problems"
        super().__init__(f"cannot export this model for seqserve ({count} {noun}); "
                         f"nothing was written:\n" + "\n".join(f"  {p}" for p in self.problems)
                         + (f"\n{footer}" if footer else ""))


class _Inexpressible(Exception):
    """A live value that model.seq has no literal for (inf, nan, an arbitrary object)."""


@dataclass
class _Call:
    """One module of the Sequential as model.seq writes it, or a problem with it."""
    type_name: str
    positional: list[Any] = field(default_factory=list)
    keywords: list[tuple[str, Any]] = field(default_factory=list)
    # state_dict entries the server will expect for this module (local name -> shape).
    params: dict[str, tuple[int, ...]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def keyword(self, name: str, value: Any, default: Any, axes: int | None = None) -> None:
        """Adds `name=value` unless it equals PyTorch's default (ints and tuples compared
        per axis when `axes` is given, as PyTorch's _single/_pair expand them)."""
        if axes is not None and _axes(value, axes) == _axes(default, axes):
            return
        if axes is None and _same(value, default):
            return
        self.keywords.append((name, _compact(value) if axes is not None else value))


# ---- literals ---------------------------------------------------------------------------------

def _same(a: Any, b: Any) -> bool:
    """Equality that does not confuse True with 1 or 1.0 with True."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if a is None or b is None:
        return a is b
    if isinstance(a, numbers.Real) and isinstance(b, numbers.Real):
        return a == b
    return type(a) is type(b) and a == b


def _axes(value: Any, axes: int) -> tuple[Any, ...]:
    """An int-or-tuple argument expanded to one entry per axis (a 1-tuple counts for all)."""
    if isinstance(value, (tuple, list)):  # torch.Size is a tuple
        items = tuple(value)
        return items * axes if len(items) == 1 else items
    return (value,) * axes


def _compact(value: Any) -> Any:
    """(5, 5) -> 5: the shorter spelling PyTorch expands to the same thing."""
    if isinstance(value, (tuple, list)):
        items = tuple(value)
        if items and all(isinstance(i, numbers.Integral) and not isinstance(i, bool)
                         and i == items[0] for i in items):
            return items[0]
        return items
    return value


def _quote(text: str) -> str:
    """A single-quoted string literal that model.seq's lexer (and Python) read back as `text`."""
    out = []
    for ch in text:
        if ch in "\\'":
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    return "'" + "".join(out) + "'"


def _literal(value: Any) -> str:
    """model.seq source for a constructor argument. Floats use repr, the shortest text that
    reads back as the same double, so arguments survive the round trip exactly."""
    if value is None:
        return "None"
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        number = float(value)
        if not math.isfinite(number):
            raise _Inexpressible(f"{number} has no literal in model.seq")
        return repr(number)
    if isinstance(value, str):
        return _quote(value)
    if isinstance(value, (tuple, list)):
        items = [_literal(v) for v in value]
        return "(" + items[0] + ",)" if len(items) == 1 else "(" + ", ".join(items) + ")"
    raise _Inexpressible(f"{value!r} (a {type(value).__name__}) has no literal in model.seq")


# ---- one writer per supported module type -------------------------------------------------------

def _affine_params(call: _Call, m: Any, shape: tuple[int, ...]) -> None:
    if m.weight is not None:
        call.params["weight"] = shape
    if m.bias is not None:
        call.params["bias"] = shape


def _linear(m: Any) -> _Call:
    call = _Call("Linear", [m.in_features, m.out_features])
    call.keyword("bias", m.bias is not None, True)
    call.params["weight"] = (m.out_features, m.in_features)
    if m.bias is not None:
        call.params["bias"] = (m.out_features,)
    return call


def _conv(type_name: str, axes: int, transposed: bool) -> Callable[[Any], _Call]:
    def write(m: Any) -> _Call:
        call = _Call(type_name, [m.in_channels, m.out_channels, _compact(m.kernel_size)])
        call.keyword("stride", m.stride, 1, axes)
        if isinstance(m.padding, str):
            call.keywords.append(("padding", m.padding))
        else:
            call.keyword("padding", m.padding, 0, axes)
            if any(p < 0 for p in _axes(m.padding, axes)):
                call.problems.append(f"negative padding {tuple(m.padding)} is not supported")
        if transposed:
            call.keyword("output_padding", m.output_padding, 0, axes)
            call.keyword("groups", m.groups, 1)
            call.keyword("bias", m.bias is not None, True)
            call.keyword("dilation", m.dilation, 1, axes)
        else:
            call.keyword("dilation", m.dilation, 1, axes)
            call.keyword("groups", m.groups, 1)
            call.keyword("bias", m.bias is not None, True)
        call.keyword("padding_mode", m.padding_mode, "zeros")
        if transposed and m.padding_mode != "zeros":
            call.problems.append(f"padding_mode='{m.padding_mode}' is not supported for "
                                 f"{type_name} (only 'zeros', as in PyTorch)")
        kernel = tuple(_axes(m.kernel_size, axes))
        if transposed:
            call.params["weight"] = (m.in_channels, m.out_channels // m.groups, *kernel)
        else:
            call.params["weight"] = (m.out_channels, m.in_channels // m.groups, *kernel)
        if m.bias is not None:
            call.params["bias"] = (m.out_channels,)
        return call
    return write


def _check_pool(call: _Call, kernel: Any, stride: Any, padding: Any, dilation: Any,
                axes: int, max_pool_1d: bool = False) -> None:
    """The argument checks ATen makes on every forward, which seqserve makes at load."""
    k, s, p, d = (_axes(v, axes) for v in (kernel, stride, padding, dilation))
    if min(k) < 1 or min(s) < 1 or min(d) < 1:
        call.problems.append(f"kernel_size {kernel}, stride {stride} and dilation {dilation} "
                             f"must be positive")
        return
    for pad, size, dil in zip(p, k, d):
        if pad < 0 or pad > ((size - 1) * dil + 1) // 2 or (max_pool_1d and pad > size // 2):
            call.problems.append(f"padding {padding} must be between 0 and half the effective "
                                 f"kernel size ({kernel})")
            return


def _max_pool(type_name: str, axes: int) -> Callable[[Any], _Call]:
    def write(m: Any) -> _Call:
        call = _Call(type_name, [_compact(m.kernel_size)])
        stride = m.kernel_size if m.stride is None else m.stride
        if _axes(stride, axes) != _axes(m.kernel_size, axes):
            call.keywords.append(("stride", _compact(stride)))
        call.keyword("padding", m.padding, 0, axes)
        call.keyword("dilation", m.dilation, 1, axes)
        call.keyword("ceil_mode", bool(m.ceil_mode), False)
        if m.return_indices:
            call.problems.append("return_indices=True is not supported: the module then "
                                 "returns (output, indices), which a Sequential cannot pass on")
        _check_pool(call, m.kernel_size, stride, m.padding, m.dilation, axes,
                    max_pool_1d=axes == 1)
        return call
    return write


def _avg_pool(type_name: str, axes: int) -> Callable[[Any], _Call]:
    def write(m: Any) -> _Call:
        call = _Call(type_name, [_compact(m.kernel_size)])
        stride = m.kernel_size if m.stride is None else m.stride
        if _axes(stride, axes) != _axes(m.kernel_size, axes):
            call.keywords.append(("stride", _compact(stride)))
        call.keyword("padding", m.padding, 0, axes)
        call.keyword("ceil_mode", bool(m.ceil_mode), False)
        call.keyword("count_include_pad", bool(m.count_include_pad), True)
        if axes == 2:
            call.keyword("divisor_override", m.divisor_override, None)
            if m.divisor_override is not None and m.divisor_override == 0:
                call.problems.append("divisor_override=0 is not allowed (PyTorch fails on "
                                     "every forward)")
        _check_pool(call, m.kernel_size, stride, m.padding, 1, axes)
        return call
    return write


def _adaptive(type_name: str, axes: int, has_indices: bool) -> Callable[[Any], _Call]:
    def write(m: Any) -> _Call:
        size = m.output_size
        sizes = _axes(size, axes)
        has_none = any(s is None for s in sizes)
        call = _Call(type_name, [tuple(sizes) if has_none else _compact(size)])
        if any(s is not None and s < 1 for s in sizes):
            call.problems.append(f"output_size {size} must be positive")
        if has_indices and m.return_indices:
            call.problems.append("return_indices=True is not supported: the module then "
                                 "returns (output, indices), which a Sequential cannot pass on")
        return call
    return write


def _batch_norm(type_name: str) -> Callable[[Any], _Call]:
    def write(m: Any) -> _Call:
        call = _Call(type_name, [m.num_features])
        call.keyword("eps", m.eps, 1e-5)
        call.keyword("momentum", m.momentum, 0.1)
        call.keyword("affine", bool(m.affine), True)
        if not m.track_running_stats or m.running_mean is None or m.running_var is None:
            call.problems.append(
                "track_running_stats=False is not supported: PyTorch then normalises with the "
                "statistics of the batch, so a sample's answer would depend on which other "
                "requests were batched with it")
        shape = (m.num_features,)
        if (m.weight is not None) != bool(m.affine) or (m.bias is not None) != bool(m.affine):
            call.problems.append(f"affine={bool(m.affine)} but weight/bias are "
                                 f"{'absent' if m.weight is None else 'present'}; model.seq "
                                 f"cannot express that combination")
        _affine_params(call, m, shape)
        call.params["running_mean"] = shape
        call.params["running_var"] = shape
        return call
    return write


def _layer_norm(m: Any) -> _Call:
    shape = tuple(m.normalized_shape)
    call = _Call("LayerNorm", [shape[0] if len(shape) == 1 else shape])
    call.keyword("eps", m.eps, 1e-5)
    has_weight, has_bias = m.weight is not None, m.bias is not None
    if has_weight and not has_bias:
        call.keywords.append(("bias", False))  # PyTorch >= 2.1 spelling, which seqserve reads
    elif not has_weight and not has_bias:
        call.keywords.append(("elementwise_affine", False))
    elif not has_weight and has_bias:
        call.problems.append("a bias without a weight cannot be expressed in model.seq "
                             "(LayerNorm's elementwise_affine=False drops both)")
    _affine_params(call, m, shape)
    return call


def _group_norm(m: Any) -> _Call:
    call = _Call("GroupNorm", [m.num_groups, m.num_channels])
    call.keyword("eps", m.eps, 1e-5)
    call.keyword("affine", bool(m.affine), True)
    if (m.weight is not None) != bool(m.affine) or (m.bias is not None) != bool(m.affine):
        call.problems.append(f"affine={bool(m.affine)} but weight/bias are "
                             f"{'absent' if m.weight is None else 'present'}; model.seq "
                             f"cannot express that combination")
    _affine_params(call, m, (m.num_channels,))
    return call


def _prelu(m: Any) -> _Call:
    call = _Call("PReLU")
    call.keyword("num_parameters", m.num_parameters, 1)
    call.params["weight"] = (m.num_parameters,)
    return call


def _dropout(type_name: str) -> Callable[[Any], _Call]:
    def write(m: Any) -> _Call:
        call = _Call(type_name)
        call.keyword("p", m.p, 0.5)
        call.keyword("inplace", bool(m.inplace), False)
        return call
    return write


def _flatten(m: Any) -> _Call:
    call = _Call("Flatten")
    call.keyword("start_dim", m.start_dim, 1)
    call.keyword("end_dim", m.end_dim, -1)
    return call


def _unflatten(m: Any) -> _Call:
    call = _Call("Unflatten", [m.dim, tuple(m.unflattened_size)])
    if isinstance(m.dim, str):
        call.problems.append(f"named dimension '{m.dim}' is not supported: request tensors "
                             f"carry no dimension names")
    return call


def _no_args(type_name: str) -> Callable[[Any], _Call]:
    return lambda m: _Call(type_name)


def _inplace_only(type_name: str) -> Callable[[Any], _Call]:
    def write(m: Any) -> _Call:
        call = _Call(type_name)
        call.keyword("inplace", bool(getattr(m, "inplace", False)), False)
        return call
    return write


def _with_floats(type_name: str, *defaults: tuple[str, float],
                 inplace: bool = True) -> Callable[[Any], _Call]:
    def write(m: Any) -> _Call:
        call = _Call(type_name)
        for name, default in defaults:
            call.keyword(name, getattr(m, name), default)
        if inplace:
            call.keyword("inplace", bool(m.inplace), False)
        return call
    return write


def _celu(m: Any) -> _Call:
    call = _with_floats("CELU", ("alpha", 1.0))(m)
    if m.alpha == 0:
        call.problems.append("alpha=0 is not allowed (CELU divides by it)")
    return call


def _softplus(m: Any) -> _Call:
    call = _with_floats("Softplus", ("beta", 1.0), ("threshold", 20.0), inplace=False)(m)
    if m.beta == 0:
        call.problems.append("beta=0 is not allowed (Softplus divides by it)")
    return call


def _hardtanh(m: Any) -> _Call:
    call = _with_floats("Hardtanh", ("min_val", -1.0), ("max_val", 1.0))(m)
    if not m.max_val > m.min_val:
        call.problems.append(f"max_val ({m.max_val}) must be greater than min_val ({m.min_val})")
    return call


def _gelu(m: Any) -> _Call:
    call = _Call("GELU")
    call.keyword("approximate", getattr(m, "approximate", "none"), "none")
    return call


def _softmax(type_name: str) -> Callable[[Any], _Call]:
    def write(m: Any) -> _Call:
        call = _Call(type_name)
        call.keyword("dim", m.dim, None)
        return call
    return write


_WRITERS: dict[str, Callable[[Any], _Call]] = {
    "Identity": _no_args("Identity"),
    "Linear": _linear,
    "Conv1d": _conv("Conv1d", 1, transposed=False),
    "Conv2d": _conv("Conv2d", 2, transposed=False),
    "ConvTranspose1d": _conv("ConvTranspose1d", 1, transposed=True),
    "ConvTranspose2d": _conv("ConvTranspose2d", 2, transposed=True),
    "MaxPool1d": _max_pool("MaxPool1d", 1),
    "MaxPool2d": _max_pool("MaxPool2d", 2),
    "AvgPool1d": _avg_pool("AvgPool1d", 1),
    "AvgPool2d": _avg_pool("AvgPool2d", 2),
    "AdaptiveAvgPool1d": _adaptive("AdaptiveAvgPool1d", 1, has_indices=False),
    "AdaptiveAvgPool2d": _adaptive("AdaptiveAvgPool2d", 2, has_indices=False),
    "AdaptiveMaxPool2d": _adaptive("AdaptiveMaxPool2d", 2, has_indices=True),
    "BatchNorm1d": _batch_norm("BatchNorm1d"),
    "BatchNorm2d": _batch_norm("BatchNorm2d"),
    "LayerNorm": _layer_norm,
    "GroupNorm": _group_norm,
    "Dropout": _dropout("Dropout"),
    "Dropout1d": _dropout("Dropout1d"),
    "Dropout2d": _dropout("Dropout2d"),
    "AlphaDropout": _dropout("AlphaDropout"),
    "Flatten": _flatten,
    "Unflatten": _unflatten,
    "ReLU": _inplace_only("ReLU"),
    "ReLU6": _inplace_only("ReLU6"),
    "LeakyReLU": _with_floats("LeakyReLU", ("negative_slope", 0.01)),
    "PReLU": _prelu,
    "ELU": _with_floats("ELU", ("alpha", 1.0)),
    "SELU": _inplace_only("SELU"),
    "CELU": _celu,
    "GELU": _gelu,
    "SiLU": _inplace_only("SiLU"),
    "Mish": _inplace_only("Mish"),
    "Sigmoid": _no_args("Sigmoid"),
    "Tanh": _no_args("Tanh"),
    "Hardswish": _inplace_only("Hardswish"),
    "Hardsigmoid": _inplace_only("Hardsigmoid"),
    "Hardtanh": _hardtanh,
    "Softplus": _softplus,
    "Softsign": _no_args("Softsign"),
    "Tanhshrink": _no_args("Tanhshrink"),
    "LogSigmoid": _no_args("LogSigmoid"),
    "Softmax": _softmax("Softmax"),
    "LogSoftmax": _softmax("LogSoftmax"),
}

#: The module types seqserve serves (SPEC §3), besides Sequential itself.
SUPPORTED_MODULES: tuple[str, ...] = tuple(_WRITERS)


@lru_cache(maxsize=1)
def _writer_table() -> dict[type, Callable[[Any], _Call]]:
    """torch.nn class -> writer, for the classes this torch has (Dropout1d is 1.12+)."""
    from torch import nn
    return {getattr(nn, name): writer for name, writer in _WRITERS.items() if hasattr(nn, name)}


# ---- the tree ---------------------------------------------------------------------------------

@dataclass
class _Node:
    """A Sequential (children set) or a leaf module call."""
    call: _Call | None = None
    children: list[tuple[str, _Node]] | None = None


def _label(path: str, module: Any) -> str:
    return f"{path or '(root)'} ({type(module).__name__})"


def _visit(module: Any, path: str, problems: list[str], unknown_types: set[str]) -> _Node:
    """Builds the node for `module`, appending every problem found anywhere below it (and
    the name of every module type seqserve lacks to `unknown_types`)."""
    from torch import nn

    if module._forward_hooks or module._forward_pre_hooks:
        problems.append(f"{_label(path, module)}: has forward hooks, which model.seq cannot "
                        f"express (remove them, or fold what they do into the model)")
    cls = type(module)
    if cls is nn.Sequential:
        children = []
        for name, child in module.named_children():
            child_path = f"{path}.{name}" if path else name
            children.append((name, _visit(child, child_path, problems, unknown_types)))
        return _Node(children=children)
    writer = _writer_table().get(cls)
    if writer is None:
        problems.append(f"{_label(path, module)}: {_unsupported_reason(module)}")
        unknown_types.add(cls.__name__)
        return _Node()
    call = writer(module)
    try:
        for value in call.positional:
            _literal(value)
        for name, value in call.keywords:
            try:
                _literal(value)
            except _Inexpressible as e:
                raise _Inexpressible(f"argument '{name}': {e}") from None
    except _Inexpressible as e:
        call.problems.append(str(e))
    if not call.problems:  # otherwise a mismatch would only restate the problem
        call.problems.extend(_state_problems(module, call))
    problems.extend(f"{_label(path, module)}: {p}" for p in call.problems)
    return _Node(call=call)


def _unsupported_reason(module: Any) -> str:
    from torch import nn

    cls = type(module)
    for base in cls.__mro__[1:]:
        if base is nn.Sequential or base in _writer_table():
            return (f"a subclass of nn.{base.__name__}, whose forward may differ; seqserve "
                    f"runs only the torch.nn classes themselves")
    if cls.__module__.startswith("torch.nn"):
        return f"nn.{cls.__name__} is not supported by seqserve"
    return (f"custom module {cls.__module__}.{cls.__qualname__} is not supported: model.seq "
            f"holds only torch.nn modules")


def _state_problems(module: Any, call: _Call) -> list[str]:
    """The module's own state_dict must be exactly what its model.seq line makes the server
    expect, or loading fails there; this catches parameters replaced or added by hand."""
    state = {k: v for k, v in module.state_dict().items() if not k.endswith("num_batches_tracked")}
    actual = {k: tuple(v.shape) for k, v in state.items()}
    problems = []
    if actual != call.params:
        def show(params: dict[str, tuple[int, ...]]) -> str:
            return ", ".join(f"{k} {list(s)}" for k, s in sorted(params.items())) or "none"
        problems.append(f"its parameters ({show(actual)}) do not match what its constructor "
                        f"arguments describe ({show(call.params)})")
    for key, tensor in state.items():
        if not tensor.is_floating_point():
            problems.append(f"parameter '{key}' has dtype {tensor.dtype}; seqserve loads "
                            f"floating-point parameters only")
    return problems


def _format(node: _Node, indent: int) -> str:
    pad = " " * indent
    inner = " " * (indent + 4)
    if node.children is None:
        call = node.call
        args = [_literal(v) for v in call.positional]
        args += [f"{k}={_literal(v)}" for k, v in call.keywords]
        return f"nn.{call.type_name}({', '.join(args)})"
    if not node.children:
        return "nn.Sequential()"
    names = [name for name, _ in node.children]
    if names == [str(i) for i in range(len(names))]:
        lines = [f"{inner}{_format(child, indent + 4)}," for _, child in node.children]
        return "nn.Sequential(\n" + "\n".join(lines) + f"\n{pad})"
    lines = [f"{inner}({_quote(name)}, {_format(child, indent + 4)}),"
             for name, child in node.children]
    return "nn.Sequential(OrderedDict([\n" + "\n".join(lines) + f"\n{pad}]))"


def _check_root(model: Any) -> None:
    from torch import nn

    if type(model) is not nn.Sequential:
        what = (f"a subclass of nn.Sequential ({type(model).__qualname__}), whose forward may "
                f"differ" if isinstance(model, nn.Sequential) else type(model).__qualname__)
        raise ExportError([f"(root): the model must be a torch.nn.Sequential, got {what}"])


def model_seq_text(model: Any) -> str:
    """The model.seq expression for `model` (without the export header comment).

    Plain Sequentials are written positionally; a Sequential whose children have other names
    than 0, 1, ... is written as nn.Sequential(OrderedDict([...])) so the state_dict keys stay
    the same; nesting is kept; only arguments that differ from PyTorch's defaults are written.
    Raises ExportError listing every module seqserve cannot serve.
    """
    _check_root(model)
    problems: list[str] = []
    unknown_types: set[str] = set()
    root = _visit(model, "", problems, unknown_types)
    if problems:
        raise ExportError(problems, f"seqserve supports: Sequential, "
                                    f"{', '.join(SUPPORTED_MODULES)}" if unknown_types else "")
    return _format(root, 0) + "\n"


def state_dict_arrays(model: Any) -> dict[str, np.ndarray]:
    """The model's state_dict as NumPy arrays: floating-point tensors as float32 (seqserve
    computes in float32), BatchNorm's num_batches_tracked kept as int64 so that PyTorch's
    load_state_dict(strict=True) accepts the file too (seqserve ignores it)."""
    arrays = {}
    for key, tensor in model.state_dict().items():
        tensor = tensor.detach().cpu()
        if tensor.is_floating_point():
            arrays[key] = tensor.float().contiguous().numpy()
        else:
            arrays[key] = tensor.contiguous().numpy()
    return arrays


def _write_atomically(path: Path, data: bytes) -> None:
    """Writes via a temporary file and rename, so that a server polling the repository never
    reads a half-written file."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def export(model: Any, repository: str | os.PathLike, name: str, version: int = 1,
           config: dict[str, Any] | str | None = None) -> Path:
    """Writes `model` (a torch.nn.Sequential) as version `version` of model `name` in the
    seqserve model repository `repository`, and returns the version directory.

    Files: <repository>/<name>/<version>/model.seq and model.safetensors (omitted, and any old
    one removed, when the model has no parameters), and <repository>/<name>/config.pbtxt when
    `config` is given: a dict (see seqserve.config.config_pbtxt) or the text of a
    config.pbtxt. Without `config`, an existing config.pbtxt is left as it is.

    The model is served with eval() semantics whatever mode it is in now: BatchNorm uses its
    running statistics and Dropout does nothing. Every check runs before anything is written:
    ExportError lists every unsupported module by path and type.
    """
    if not isinstance(name, str) or not name or name in (".", "..") or "/" in name \
            or os.sep in name:
        raise ValueError(f"model name {name!r} must be a non-empty directory name")
    if isinstance(version, bool) or not isinstance(version, numbers.Integral) or version < 1:
        raise ValueError(f"version must be a positive integer, got {version!r}")
    import torch

    text = _HEADER.format(version=torch.__version__) + model_seq_text(model)
    arrays = state_dict_arrays(model)
    weights = encode_safetensors(arrays, {"format": "pt"}) if arrays else None
    config_text = config_pbtxt(config) if config is not None else None

    model_dir = Path(repository) / name
    version_dir = model_dir / str(int(version))
    version_dir.mkdir(parents=True, exist_ok=True)
    _write_atomically(version_dir / "model.seq", text.encode("utf-8"))
    if weights is not None:
        _write_atomically(version_dir / "model.safetensors", weights)
    else:
        (version_dir / "model.safetensors").unlink(missing_ok=True)
    if config_text is not None:
        _write_atomically(model_dir / "config.pbtxt", config_text.encode("utf-8"))
    return version_dir


# ---- command line ----------------------------------------------------------------------------

def load_model(spec: str) -> Any:
    """The model named by "module:attribute": module is a dotted import path (found on
    sys.path or in the current directory) or the path of a .py file; attribute (dotted
    names allowed) is an nn.Module or a function of no arguments that returns one."""
    module_part, sep, attribute = spec.rpartition(":")
    if not sep or not module_part or not attribute:
        raise ValueError(f"expected MODULE:ATTRIBUTE (e.g. mymodels.py:build or "
                         f"pkg.models:net), got {spec!r}")
    if module_part.endswith(".py") or "/" in module_part or os.sep in module_part:
        path = Path(module_part).resolve()
        if not path.is_file():
            raise ValueError(f"no such file: {module_part}")
        # Its own directory first, so that the file can import its neighbours.
        sys.path.insert(0, str(path.parent))
        module_spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[path.stem] = module
        module_spec.loader.exec_module(module)
    else:
        if "" not in sys.path and os.getcwd() not in sys.path:
            sys.path.insert(0, os.getcwd())
        module = importlib.import_module(module_part)
    value: Any = module
    for part in attribute.split("."):
        if not hasattr(value, part):
            raise ValueError(f"{module_part} has no attribute {attribute!r}")
        value = getattr(value, part)
    from torch import nn
    if callable(value) and not isinstance(value, nn.Module):
        value = value()
    if not isinstance(value, nn.Module):
        raise ValueError(f"{spec} is a {type(value).__name__}, not an nn.Sequential (or a "
                         f"function returning one)")
    return value


def _read_config(path: str) -> dict[str, Any] | str:
    text = Path(path).read_text(encoding="utf-8")
    return json.loads(text) if path.endswith(".json") else text


def main(argv: Sequence[str] | None = None) -> int:
    """`python3 -m seqserve.export MODULE:ATTRIBUTE REPOSITORY NAME [--version N]
    [--config FILE]`; returns the exit status (0 ok, 1 export refused, 2 usage error)."""
    parser = argparse.ArgumentParser(
        prog="python3 -m seqserve.export",
        description="Export a torch.nn.Sequential defined in a Python file or module into a "
                    "seqserve model repository (model.seq, model.safetensors, config.pbtxt).")
    parser.add_argument("model", metavar="MODULE:ATTRIBUTE",
                        help="e.g. mynet.py:model or mypkg.nets:build_mlp (an nn.Sequential or "
                             "a function of no arguments returning one)")
    parser.add_argument("repository", help="model repository directory (created if missing)")
    parser.add_argument("name", help="model name (its directory in the repository)")
    parser.add_argument("--version", type=int, default=1, help="version number (default 1)")
    parser.add_argument("--config", metavar="FILE",
                        help="config.pbtxt to install, or a .json file with the dict that "
                             "seqserve.export(config=...) takes")
    args = parser.parse_args(argv)
    try:
        config = _read_config(args.config) if args.config else None
        model = load_model(args.model)
        version_dir = export(model, args.repository, args.name, args.version, config)
    except ExportError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except (ValueError, OSError, ImportError, json.JSONDecodeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    written = sorted(p.name for p in version_dir.iterdir() if not p.name.startswith("."))
    print(f"exported {args.model} to {version_dir}: {', '.join(written)}"
          + (f" and {version_dir.parent / 'config.pbtxt'}" if config is not None else ""))
    return 0
