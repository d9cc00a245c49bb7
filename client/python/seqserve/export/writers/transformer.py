"""Writers for TransformerEncoderLayer and TransformerEncoder (PyTorch 2.1 signatures; the
`bias` argument, new in 2.1, is read from whether linear1 has a bias). Parameters are PyTorch's
state_dict entries: self_attn.in_proj_weight, ..., norm2.bias, under layers.N. in an encoder,
plus norm.* for the encoder's final norm."""
from __future__ import annotations

from typing import Any

from seqserve.export.literals import Inexpressible, Source
from seqserve.export.writers.call import Call, Writer

# Activation modules the engine takes inside a layer: those it computes as an exact eltwise
# chain fused into linear1 (core/modules/transformer.cc). Sigmoid is left out: whether it fuses
# depends on the CPU (AVX2), so a model using it would load on one machine and not another.
_FUSED_ACTIVATIONS = ("ReLU", "LeakyReLU", "RReLU", "ELU", "SELU", "CELU", "GELU", "SiLU",
                      "Mish", "Tanh", "Hardswish", "LogSigmoid")


def _function_activations() -> dict[Any, tuple[str, Any]]:
    """Functions PyTorch users pass as `activation`, with what model.seq writes for each: the
    strings 'relu'/'gelu' PyTorch itself takes, else the module computing the same function
    with its defaults (seqserve reads only the names F.relu and F.gelu)."""
    import torch
    from torch import nn
    from torch.nn import functional as F
    table: dict[Any, tuple[str, Any]] = {F.relu: ("relu", None), F.gelu: ("gelu", None)}
    for function, module in ((F.silu, nn.SiLU), (F.mish, nn.Mish), (F.elu, nn.ELU),
                             (F.selu, nn.SELU), (F.celu, nn.CELU), (F.hardswish, nn.Hardswish),
                             (F.leaky_relu, nn.LeakyReLU), (F.logsigmoid, nn.LogSigmoid),
                             (torch.tanh, nn.Tanh), (F.tanh, nn.Tanh)):
        table[function] = ("", module)
    return table


def _activation(call: Call, m: Any, table: dict[type, Writer]) -> None:
    from torch import nn
    activation = m.activation
    if isinstance(activation, str):  # PyTorch converts strings, but a live edit may not
        if activation not in ("relu", "gelu"):
            call.problems.append(f"activation should be relu/gelu, not {activation}")
        call.keyword("activation", activation, "relu")
        return
    functions = _function_activations()
    if not isinstance(activation, nn.Module) and activation in functions:
        name, module = functions[activation]
        if module is None:
            call.keyword("activation", name, "relu")
            return
        activation = module()
    if not isinstance(activation, nn.Module):
        call.problems.append(f"activation {getattr(activation, '__name__', activation)!r} "
                             f"cannot be expressed in model.seq: use 'relu', 'gelu' or one of "
                             f"the modules nn.{', nn.'.join(_FUSED_ACTIVATIONS)}")
        return
    if type(activation).__name__ not in _FUSED_ACTIVATIONS \
            or getattr(nn, type(activation).__name__, None) is not type(activation) \
            or (isinstance(activation, (nn.LeakyReLU, nn.RReLU))
                and _slope(activation) == 0):
        call.problems.append(f"activation nn.{type(activation).__name__} is not supported "
                             f"inside a Transformer layer: seqserve takes 'relu', 'gelu' or "
                             f"one of nn.{', nn.'.join(_FUSED_ACTIVATIONS)} (LeakyReLU and "
                             f"RReLU with a nonzero slope)")
        return
    before = dict(call.params)
    source = call.nest("activation", activation, table)
    if call.params != before:  # an activation with parameters: not one of the above
        call.problems.append("activation modules with parameters are not supported")
    if source is not None:
        call.keywords.append(("activation", source))


def _slope(m: Any) -> float:
    from torch import nn
    return m.negative_slope if isinstance(m, nn.LeakyReLU) else (m.lower + m.upper) / 2


def _layer_params(d_model: int, ff: int, bias: bool) -> dict[str, tuple[int, ...]]:
    shapes = {
        "self_attn.in_proj_weight": (3 * d_model, d_model),
        "self_attn.in_proj_bias": (3 * d_model,),
        "self_attn.out_proj.weight": (d_model, d_model),
        "self_attn.out_proj.bias": (d_model,),
        "linear1.weight": (ff, d_model), "linear1.bias": (ff,),
        "linear2.weight": (d_model, ff), "linear2.bias": (d_model,),
        "norm1.weight": (d_model,), "norm1.bias": (d_model,),
        "norm2.weight": (d_model,), "norm2.bias": (d_model,),
    }
    return {k: v for k, v in shapes.items() if bias or not k.endswith("bias")}


def _check_parts(call: Call, m: Any) -> None:
    """The layer's submodules are the torch.nn ones its constructor makes, with no setting
    model.seq cannot say (attention's extra key/value biases, zero attention, other kdim)."""
    from torch import nn
    from torch.nn.modules.linear import NonDynamicallyQuantizableLinear
    expected = {"self_attn": (nn.MultiheadAttention,), "linear1": (nn.Linear,),
                "linear2": (nn.Linear,), "norm1": (nn.LayerNorm,), "norm2": (nn.LayerNorm,),
                "dropout": (nn.Dropout,), "dropout1": (nn.Dropout,), "dropout2": (nn.Dropout,)}
    for name, types in expected.items():
        part = getattr(m, name, None)
        if type(part) not in types:
            call.problems.append(f"{name} is a {type(part).__qualname__}, not the "
                                 f"nn.{types[0].__name__} TransformerEncoderLayer makes")
    if call.problems:
        return
    attn = m.self_attn
    if type(attn.out_proj) not in (nn.Linear, NonDynamicallyQuantizableLinear):
        call.problems.append(f"self_attn.out_proj is a {type(attn.out_proj).__qualname__}, "
                             f"not an nn.Linear")
    if not attn._qkv_same_embed_dim or attn.add_zero_attn or attn.bias_k is not None \
            or attn.bias_v is not None:
        call.problems.append("self_attn has kdim/vdim, add_bias_kv or add_zero_attn set, which "
                             "TransformerEncoderLayer's constructor never does")
    if m.norm1.eps != m.norm2.eps:
        call.problems.append(f"norm1.eps ({m.norm1.eps}) and norm2.eps ({m.norm2.eps}) differ; "
                             f"model.seq's layer_norm_eps sets both")


def _encoder_layer(m: Any) -> Call:
    from seqserve.export.writers import writer_table
    attn = m.self_attn
    call = Call("TransformerEncoderLayer", [attn.embed_dim, attn.num_heads])
    _check_parts(call, m)
    if call.problems:
        return call
    ff = m.linear1.out_features
    bias = m.linear1.bias is not None
    call.keyword("dim_feedforward", ff, 2048)
    call.keyword("dropout", m.dropout.p, 0.1)
    _activation(call, m, writer_table())
    call.keyword("layer_norm_eps", m.norm1.eps, 1e-5)
    call.keyword("batch_first", bool(attn.batch_first), False)
    call.keyword("norm_first", bool(m.norm_first), False)
    call.keyword("bias", bias, True)
    call.params.update(_layer_params(attn.embed_dim, ff, bias))
    return call


def _encoder(m: Any) -> Call:
    from torch import nn

    from seqserve.export.writers import writer_table
    call = Call("TransformerEncoder")
    layers = list(m.layers)
    if not layers:
        call.problems.append("no layers: model.seq's TransformerEncoder(encoder_layer, "
                             "num_layers) needs a layer to copy")
        return call
    if any(type(layer) is not nn.TransformerEncoderLayer for layer in layers):
        call.problems.append("its layers must all be nn.TransformerEncoderLayer")
        return call
    first = _encoder_layer(layers[0])
    call.problems.extend(f"layers.0: {p}" for p in first.problems)
    if call.problems:
        return call
    try:
        text = first.source()
    except Inexpressible as e:
        call.problems.append(f"layers.0: {e}")
        return call
    for i, layer in enumerate(layers):
        written = _encoder_layer(layer) if i else first
        try:
            same = not written.problems and written.source() == text
        except Inexpressible:
            same = False
        if not same:
            call.problems.append(f"layers.{i} is not configured as layers.0 ({text}); model.seq "
                                 f"builds num_layers copies of one layer")
        call.params.update({f"layers.{i}.{k}": v for k, v in written.params.items()})
    call.positional = [Source(text), len(layers)]
    if m.norm is not None:
        norm = call.nest("norm", m.norm, writer_table())
        if norm is not None:
            call.keywords.append(("norm", norm))
    call.keyword("enable_nested_tensor", bool(getattr(m, "enable_nested_tensor", True)), True)
    call.keyword("mask_check", bool(getattr(m, "mask_check", True)), True)
    return call


WRITERS: dict[str, Writer] = {
    "TransformerEncoderLayer": _encoder_layer,
    "TransformerEncoder": _encoder,
}
