#!/usr/bin/python3
"""Writes the fuzz targets' seed corpora into tests/fuzz/corpus/<target>/ (committed; rerun
after changing this script). Seeds are real files of the tree (models/, tests/data/) and
requests as the clients send them, kept small so that each target starts from valid inputs.
Needs Debian's python3-numpy and python3-protobuf (the generated messages of client/python).
"""
import hashlib
import json
import pathlib
import struct
import sys

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "fuzz" / "corpus"
sys.path.insert(0, str(ROOT / "client" / "python"))
from seqserve._proto import grpc_service_pb2 as pb  # noqa: E402


def write(target, data):
    if isinstance(data, str):
        data = data.encode()
    out = CORPUS / target
    out.mkdir(parents=True, exist_ok=True)
    # Named by content, as libFuzzer names its own finds.
    (out / hashlib.sha1(data).hexdigest()).write_bytes(data)


def small_files(pattern, limit_bytes, count):
    """Up to `count` distinct files of at most `limit_bytes`, spread over the sorted list."""
    files = sorted(p for p in ROOT.glob(pattern) if p.stat().st_size <= limit_bytes)
    step = max(1, len(files) // count)
    return files[::step][:count]


def model_seq():
    for p in sorted(ROOT.glob("models/*/1/model.seq")):
        write("fuzz_model_seq", p.read_bytes())
    for p in small_files("tests/data/golden/*/model.seq", 4096, 60):
        write("fuzz_model_seq", p.read_bytes())


def safetensors():
    for p in small_files("tests/data/golden/*/model.safetensors", 2048, 20):
        write("fuzz_safetensors", p.read_bytes())


def config():
    for p in sorted(ROOT.glob("models/*/config.pbtxt")):
        write("fuzz_config", p.read_bytes())
    write("fuzz_config", """name: "m"
max_batch_size: 8
version_policy { specific { versions: [1, 3] } }
input [ { name: "x" data_type: TYPE_INT32 dims: [ -1 ] } ]
output [ { name: "y" data_type: TYPE_FP32 dims: [ 4 ] } ]
instance_group [ { kind: KIND_CPU count: 2 } ]
parameters { key: "intra_op_threads" value { string_value: "2" } }
dynamic_batching { preferred_batch_size: [2, 4] max_queue_delay_microseconds: 100
  default_queue_policy { timeout_action: REJECT max_queue_size: 16 } }
""")


def npy():
    for p in sorted(ROOT.glob("tests/data/npy/*.npy")):
        write("fuzz_npy", p.read_bytes())
    for p in small_files("tests/data/golden/*/input_0.npy", 1024, 10):
        write("fuzz_npy", p.read_bytes())


def rest():
    def json_body(obj):
        return b"\x00" + json.dumps(obj).encode()

    def binary_body(obj, raw):
        head = json.dumps(obj).encode()
        return b"\x01" + struct.pack("<H", len(head)) + head + raw

    write("fuzz_rest_infer", json_body({"inputs": [{"name": "input", "shape": [1, 3],
                                                     "datatype": "FP32", "data": [1.5, -2, 3e-3]}]}))
    write("fuzz_rest_infer", json_body({"id": "r1", "parameters": {"timeout": 1000, "binary_data_output": True},
                                        "inputs": [{"name": "input", "shape": [2, 2], "datatype": "INT64",
                                                    "data": [[1, 2], [3, 4]]}],
                                        "outputs": [{"name": "output", "parameters": {"binary_data": False}}]}))
    write("fuzz_rest_infer", json_body({"inputs": [{"name": "input", "shape": [2], "datatype": "BOOL",
                                                     "data": [True, False]}]}))
    raw = np.arange(6, dtype="<f4").tobytes()
    write("fuzz_rest_infer", binary_body({"inputs": [{"name": "input", "shape": [2, 3], "datatype": "FP32",
                                                       "parameters": {"binary_data_size": len(raw)}}]}, raw))
    raw = np.array([1, -1], dtype="<f2").tobytes()
    write("fuzz_rest_infer", binary_body({"inputs": [{"name": "input", "shape": [2], "datatype": "FP16",
                                                       "parameters": {"binary_data_size": len(raw)}}]}, raw))


def grpc():
    def request(model, datatype, shape, **kw):
        tensor = pb.ModelInferRequest.InferInputTensor(name="input", datatype=datatype, shape=shape)
        req = pb.ModelInferRequest(model_name=model, id="seed")
        if "raw" in kw:
            req.raw_input_contents.append(kw["raw"])
        elif "fp32" in kw:
            tensor.contents.fp32_contents.extend(kw["fp32"])
        elif "int64" in kw:
            tensor.contents.int64_contents.extend(kw["int64"])
        elif "int" in kw:
            tensor.contents.int_contents.extend(kw["int"])
        req.inputs.append(tensor)
        if kw.get("timeout"):
            req.parameters["timeout"].int64_param = kw["timeout"]
        if kw.get("output"):
            req.outputs.add(name=kw["output"])
        return req.SerializeToString()

    mlp = np.linspace(-1, 1, 784, dtype="<f4")
    write("fuzz_grpc_infer", request("mlp", "FP32", [1, 1, 28, 28], fp32=mlp.tolist(), output="output"))
    write("fuzz_grpc_infer", request("mlp", "FP32", [1, 1, 28, 28], raw=mlp.tobytes(), timeout=5000))
    write("fuzz_grpc_infer", request("mlp", "FP64", [1, 1, 28, 28], raw=mlp.astype("<f8").tobytes()))
    ids = np.arange(128, dtype="<i8") * 7
    write("fuzz_grpc_infer", request("textclass", "INT64", [1, 128], int64=ids.tolist()))
    write("fuzz_grpc_infer", request("textclass", "INT32", [1, 128], int=ids.tolist()))
    write("fuzz_grpc_infer", request("textclass", "INT64", [1, 128], raw=ids.tobytes()))


if __name__ == "__main__":
    model_seq()
    safetensors()
    config()
    npy()
    rest()
    grpc()
    for d in sorted(CORPUS.iterdir()):
        files = list(d.iterdir())
        print(f"{d.name}: {len(files)} files, {sum(f.stat().st_size for f in files)} bytes")
