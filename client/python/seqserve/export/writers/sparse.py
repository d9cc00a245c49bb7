"""Writers for Embedding and EmbeddingBag, the modules that take integer ids (the model's
input is then INT64/INT32, and they must be its first module)."""
from __future__ import annotations

from typing import Any

from seqserve.export.writers.call import Call, Writer

_MAX_NORM = ("max_norm is not supported: PyTorch renormalises the looked-up rows of the weight "
             "in place during forward, so an answer would depend on earlier requests")


def _common(call: Call, m: Any) -> None:
    """The arguments Embedding and EmbeddingBag share, past the first two."""
    if m.max_norm is not None:
        call.problems.append(_MAX_NORM)
    call.keyword("max_norm", m.max_norm, None)
    call.keyword("norm_type", m.norm_type, 2.0)
    call.keyword("scale_grad_by_freq", bool(m.scale_grad_by_freq), False)
    call.params["weight"] = (m.num_embeddings, m.embedding_dim)


def _embedding(m: Any) -> Call:
    call = Call("Embedding", [m.num_embeddings, m.embedding_dim])
    call.keyword("padding_idx", m.padding_idx, None)
    _common(call, m)
    call.keyword("sparse", bool(m.sparse), False)
    return call


def _embedding_bag(m: Any) -> Call:
    call = Call("EmbeddingBag", [m.num_embeddings, m.embedding_dim])
    _common(call, m)
    call.keyword("mode", m.mode, "mean")
    call.keyword("sparse", bool(m.sparse), False)
    call.keyword("include_last_offset", bool(m.include_last_offset), False)
    call.keyword("padding_idx", m.padding_idx, None)
    if m.mode not in ("sum", "mean", "max"):
        call.problems.append(f"mode {m.mode!r} has to be one of sum, mean or max")
    if m.mode == "max" and m.scale_grad_by_freq:
        call.problems.append("max mode does not support scaling the gradient by the frequency")
    if m.mode == "max" and m.sparse:
        call.problems.append("max mode does not support sparse weights")
    if m.include_last_offset:
        call.problems.append("include_last_offset=True is not supported: on 2-D input PyTorch "
                             "then takes the start of the last bag as the end of the one "
                             "before, so the output has one row fewer than the input")
    return call


WRITERS: dict[str, Writer] = {
    "Embedding": _embedding,
    "EmbeddingBag": _embedding_bag,
}

#: The module types whose input is integer ids.
ID_MODULES = tuple(WRITERS)
