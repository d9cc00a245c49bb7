"""config.pbtxt writing for seqserve.export: a small dict covers what most models need, and the
text of a config.pbtxt covers everything else (SPEC §4, Triton's ModelConfig field names).

Either way the result is parsed with the project's own ModelConfig message before anything is
written, so a typo fails in Python, at export time, instead of at the server's model load.
"""
from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from typing import Any

from google.protobuf import text_format

from seqserve._proto import model_config_pb2

#: Keys of the dict form, each with what it sets. Keys left out keep what seqserve does with no
#: config.pbtxt at all: max_batch_size 64 and dynamic batching with no added delay.
CONFIG_KEYS = {
    "max_batch_size": "int; > 0: dim 0 of the input is the batch dim; 0: no batching",
    "input_dims": "list of ints without the batch dim, -1 = any size (default: from the model)",
    "output_dims": "list of ints without the batch dim (default: from the model)",
    "input_name": 'str, default "input"',
    "output_name": 'str, default "output"',
    "dynamic_batching": "True (defaults), False/None (each request runs alone), or a dict of "
                        "max_queue_delay_microseconds, preferred_batch_size, max_queue_size, "
                        "default_timeout_microseconds",
    "instance_count": "int, workers in the model's pool (default: as many as the CPUs allow)",
    "intra_op_threads": "int, oneDNN threads per worker (default 1)",
    "precision": '"fp32" (default) or "bf16": Conv/Linear in bfloat16 where the CPU has '
                 'AVX512_BF16 (parameters "precision"; README, "Precision")',
}
#: The values of the "precision" key (the server's parameters "precision").
PRECISIONS = ("fp32", "bf16", "int8")
_BATCHING_KEYS = ("max_queue_delay_microseconds", "preferred_batch_size", "max_queue_size",
                  "default_timeout_microseconds")


def _int(key: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"config['{key}'] must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _dims(key: str, value: Any) -> list[int]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or not value:
        raise ValueError(f"config['{key}'] must be a non-empty list of ints, got {value!r}")
    dims = []
    for d in value:
        if isinstance(d, bool) or not isinstance(d, numbers.Integral) or not (d == -1 or d > 0):
            raise ValueError(f"config['{key}'] entries must be positive ints or -1, got {d!r}")
        dims.append(int(d))
    return dims


def _text(value: Any) -> str:
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _from_dict(config: Mapping[str, Any], input_data_type: str) -> str:
    unknown = sorted(set(config) - set(CONFIG_KEYS))
    if unknown:
        raise ValueError(f"unknown config key(s) {', '.join(unknown)}; the dict form takes "
                         f"{', '.join(CONFIG_KEYS)} (pass config.pbtxt text for anything else)")
    lines = [f"max_batch_size: {_int('max_batch_size', config.get('max_batch_size', 64), 0)}"]
    if "input_dims" in config or "input_name" in config:
        entry = f"name: {_text(config.get('input_name', 'input'))} data_type: {input_data_type}"
        if "input_dims" in config:
            entry += f" dims: [ {', '.join(map(str, _dims('input_dims', config['input_dims'])))} ]"
        lines.append(f"input [ {{ {entry} }} ]")
    if "output_dims" in config or "output_name" in config:
        entry = f"name: {_text(config.get('output_name', 'output'))} data_type: TYPE_FP32"
        if "output_dims" in config:
            dims = _dims("output_dims", config["output_dims"])
            entry += f" dims: [ {', '.join(map(str, dims))} ]"
        lines.append(f"output [ {{ {entry} }} ]")
    batching = config.get("dynamic_batching", True)
    if batching is True:
        batching = {}
    if batching is not None and batching is not False:
        if not isinstance(batching, Mapping):
            raise ValueError(f"config['dynamic_batching'] must be True, False, None or a dict, "
                             f"got {batching!r}")
        unknown = sorted(set(batching) - set(_BATCHING_KEYS))
        if unknown:
            raise ValueError(f"unknown dynamic_batching key(s) {', '.join(unknown)}; expected "
                             f"{', '.join(_BATCHING_KEYS)}")
        body = []
        if "max_queue_delay_microseconds" in batching:
            delay = _int("max_queue_delay_microseconds",
                         batching["max_queue_delay_microseconds"], 0)
            body.append(f"  max_queue_delay_microseconds: {delay}")
        if "preferred_batch_size" in batching:
            sizes = [_int("preferred_batch_size", s, 1) for s in batching["preferred_batch_size"]]
            body.append(f"  preferred_batch_size: [ {', '.join(map(str, sizes))} ]")
        policy = []
        if "max_queue_size" in batching:
            size = _int("max_queue_size", batching["max_queue_size"], 0)
            policy.append(f"max_queue_size: {size}")
        if "default_timeout_microseconds" in batching:
            timeout = _int("default_timeout_microseconds",
                           batching["default_timeout_microseconds"], 0)
            policy.append(f"default_timeout_microseconds: {timeout}")
        if policy:
            body.append(f"  default_queue_policy {{ {' '.join(policy)} }}")
        lines.append("dynamic_batching {\n" + "\n".join(body) + "\n}" if body
                     else "dynamic_batching { }")
    if "instance_count" in config:
        count = _int("instance_count", config["instance_count"], 1)
        lines.append(f"instance_group [ {{ count: {count} kind: KIND_CPU }} ]")
    if "intra_op_threads" in config:
        lines.append(f"intra_op_threads: {_int('intra_op_threads', config['intra_op_threads'], 1)}")
    if "precision" in config:
        precision = config["precision"]
        if precision not in PRECISIONS:
            raise ValueError(f"config['precision'] must be one of {', '.join(PRECISIONS)}, got "
                             f"{precision!r}")
        lines.append(f'parameters {{ key: "precision" value: {{ string_value: "{precision}" }} }}')
    return "\n".join(lines) + "\n"


def config_pbtxt(config: Mapping[str, Any] | str, input_data_type: str = "TYPE_FP32") -> str:
    """The text of a config.pbtxt from `config`: a dict with keys from CONFIG_KEYS, e.g.

        {"max_batch_size": 64, "input_dims": [1, 28, 28],
         "dynamic_batching": {"max_queue_delay_microseconds": 200,
                              "preferred_batch_size": [16, 32]},
         "instance_count": 2}

    or the config.pbtxt text itself, used as given. `input_data_type` is the input's
    data_type when the dict form writes an input entry: TYPE_FP32, or TYPE_INT64 for a model
    whose first module takes integer ids (Embedding, EmbeddingBag; seqserve.export decides).
    Either is checked by parsing it as the project's ModelConfig message; ValueError says
    what is wrong. Whether the dims fit the
    model is the server's check at load (`seqserve check` runs it offline).
    """
    if isinstance(config, str):
        text = config if config.endswith("\n") or not config else config + "\n"
    elif isinstance(config, Mapping):
        if input_data_type not in ("TYPE_FP32", "TYPE_INT64", "TYPE_INT32"):
            raise ValueError(f"input_data_type must be TYPE_FP32, TYPE_INT64 or TYPE_INT32, "
                             f"got {input_data_type!r}")
        text = _from_dict(config, input_data_type)
    else:
        raise ValueError(f"config must be a dict or the text of a config.pbtxt, "
                         f"got {type(config).__name__}")
    try:
        text_format.Parse(text, model_config_pb2.ModelConfig())
    except text_format.ParseError as e:
        raise ValueError(f"config.pbtxt: {e}") from None
    return text
