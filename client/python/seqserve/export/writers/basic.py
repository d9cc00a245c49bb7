"""Writers for Identity, Linear, the dropouts (identities when served) and the reshapes."""
from __future__ import annotations

from typing import Any

from seqserve.export.writers.call import Call, Writer, positive


def _identity(m: Any) -> Call:
    return Call("Identity")


def _linear(m: Any) -> Call:
    call = Call("Linear", [m.in_features, m.out_features])
    call.keyword("bias", m.bias is not None, True)
    positive(call, "in_features", m.in_features)
    positive(call, "out_features", m.out_features)
    call.params["weight"] = (m.out_features, m.in_features)
    if m.bias is not None:
        call.params["bias"] = (m.out_features,)
    return call


def _dropout(type_name: str) -> Writer:
    def write(m: Any) -> Call:
        call = Call(type_name)
        call.keyword("p", m.p, 0.5)
        call.keyword("inplace", bool(m.inplace), False)
        if not 0 <= m.p <= 1:
            call.problems.append(f"dropout probability has to be between 0 and 1, but got {m.p}")
        return call
    return write


def _flatten(m: Any) -> Call:
    call = Call("Flatten")
    call.keyword("start_dim", m.start_dim, 1)
    call.keyword("end_dim", m.end_dim, -1)
    return call


def _unflatten(m: Any) -> Call:
    call = Call("Unflatten", [m.dim, tuple(m.unflattened_size)])
    if isinstance(m.dim, str):
        call.problems.append(f"named dimension '{m.dim}' is not supported: request tensors "
                             f"carry no dimension names")
    return call


# Modules that pass their input through unchanged when served (IsIdentity in the engine):
# they may come before an Embedding, which must otherwise be the first module.
IDENTITIES = ("Identity", "Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout",
              "FeatureAlphaDropout")

WRITERS: dict[str, Writer] = {
    "Identity": _identity,
    "Linear": _linear,
    "Dropout": _dropout("Dropout"),
    "Dropout1d": _dropout("Dropout1d"),
    "Dropout2d": _dropout("Dropout2d"),
    "Dropout3d": _dropout("Dropout3d"),
    "AlphaDropout": _dropout("AlphaDropout"),
    "FeatureAlphaDropout": _dropout("FeatureAlphaDropout"),
    "Flatten": _flatten,
    "Unflatten": _unflatten,
}
