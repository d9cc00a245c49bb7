"""Writers for BatchNorm, LayerNorm, GroupNorm, InstanceNorm and LocalResponseNorm."""
from __future__ import annotations

from typing import Any

from seqserve.export.writers.call import Call, Writer, affine_params, check_affine_flag

_BATCH_STATISTICS = ("track_running_stats=False is not supported: PyTorch then normalises with "
                     "the statistics of the batch, so a sample's answer would depend on which "
                     "other requests were batched with it")


def _batch_norm(type_name: str) -> Writer:
    def write(m: Any) -> Call:
        call = Call(type_name, [m.num_features])
        call.keyword("eps", m.eps, 1e-5)
        call.keyword("momentum", m.momentum, 0.1)
        call.keyword("affine", bool(m.affine), True)
        if not m.track_running_stats or m.running_mean is None or m.running_var is None:
            call.problems.append(_BATCH_STATISTICS)
        shape = (m.num_features,)
        check_affine_flag(call, m)
        affine_params(call, m, shape)
        call.params["running_mean"] = shape
        call.params["running_var"] = shape
        return call
    return write


def _instance_norm(type_name: str) -> Writer:
    """InstanceNorm normalises each sample by its own statistics (no batch dependence), or,
    with track_running_stats=True, by the running statistics in eval, as PyTorch does."""
    def write(m: Any) -> Call:
        call = Call(type_name, [m.num_features])
        call.keyword("eps", m.eps, 1e-5)
        call.keyword("momentum", m.momentum, 0.1)
        call.keyword("affine", bool(m.affine), False)
        tracked = bool(m.track_running_stats)
        call.keyword("track_running_stats", tracked, False)
        if tracked and (m.running_mean is None or m.running_var is None):
            call.problems.append("track_running_stats=True but the running statistics are "
                                 "absent; model.seq cannot express that combination")
        shape = (m.num_features,)
        check_affine_flag(call, m)
        affine_params(call, m, shape)
        if tracked:
            call.params["running_mean"] = shape
            call.params["running_var"] = shape
        return call
    return write


def _layer_norm(m: Any) -> Call:
    shape = tuple(m.normalized_shape)
    call = Call("LayerNorm", [shape[0] if len(shape) == 1 else shape])
    call.keyword("eps", m.eps, 1e-5)
    has_weight, has_bias = m.weight is not None, m.bias is not None
    if has_weight and not has_bias:
        call.keywords.append(("bias", False))  # PyTorch >= 2.1 spelling, which seqserve reads
    elif not has_weight and not has_bias:
        call.keywords.append(("elementwise_affine", False))
    elif not has_weight and has_bias:
        call.problems.append("a bias without a weight cannot be expressed in model.seq "
                             "(LayerNorm's elementwise_affine=False drops both)")
    affine_params(call, m, shape)
    return call


def _group_norm(m: Any) -> Call:
    call = Call("GroupNorm", [m.num_groups, m.num_channels])
    call.keyword("eps", m.eps, 1e-5)
    call.keyword("affine", bool(m.affine), True)
    check_affine_flag(call, m)
    affine_params(call, m, (m.num_channels,))
    return call


def _local_response_norm(m: Any) -> Call:
    call = Call("LocalResponseNorm", [m.size])
    call.keyword("alpha", m.alpha, 1e-4)
    call.keyword("beta", m.beta, 0.75)
    call.keyword("k", m.k, 1.0)
    if m.size < 1:
        call.problems.append(f"size {m.size} must be positive (the channel window of the "
                             f"average pool; PyTorch fails on every forward)")
    return call


WRITERS: dict[str, Writer] = {
    "BatchNorm1d": _batch_norm("BatchNorm1d"),
    "BatchNorm2d": _batch_norm("BatchNorm2d"),
    "BatchNorm3d": _batch_norm("BatchNorm3d"),
    "LayerNorm": _layer_norm,
    "GroupNorm": _group_norm,
    "InstanceNorm1d": _instance_norm("InstanceNorm1d"),
    "InstanceNorm2d": _instance_norm("InstanceNorm2d"),
    "InstanceNorm3d": _instance_norm("InstanceNorm3d"),
    "LocalResponseNorm": _local_response_norm,
}
