#!/usr/bin/python3
"""The Python baseline: what a PyTorch user would write instead of seqserve.

A grpcio server (thread pool) that speaks the same KServe v2 gRPC protocol as seqserve
(ModelInfer with raw_input_contents or fp32_contents, plus the health and metadata calls that
clients such as seqperf make first) around PyTorch eager, for the models of a seqserve model
repository: model.seq evaluated with torch.nn in scope, model.safetensors loaded into it,
eval(), inference_mode. It is a benchmark competitor, written as a competent user would:
intra-op threads set explicitly, no per-request Python-level copies beyond what decoding
needs. It does not batch requests; a user who stops at "a gRPC server around my model" does
not either.

Usage:
  /usr/bin/python3 bench/python_baseline_server.py PORT [--model-repository models]
      [--threads 1] [--workers 16]
PORT 0 picks a free port; the chosen one is printed as "listening on 0.0.0.0:PORT".
Needs Debian's python3-torch and python3-grpcio; the protocol messages come from the
seqserve Python package in client/python.
"""
from __future__ import annotations

import argparse
import collections
import signal
import sys
import threading
from concurrent import futures
from pathlib import Path

import grpc
import numpy as np
import torch
from google.protobuf import text_format
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "client" / "python"))
from seqserve import load_safetensors  # noqa: E402
from seqserve._proto import grpc_service_pb2 as pb  # noqa: E402
from seqserve._proto import model_config_pb2  # noqa: E402


class LoadedModel:
    """One model version in eval mode, with the names and shapes its metadata reports."""

    def __init__(self, name: str, model_dir: Path):
        versions = sorted(int(p.name) for p in model_dir.iterdir()
                          if p.is_dir() and p.name.isdigit() and int(p.name) > 0)
        if not versions:
            raise ValueError(f"{model_dir}: no version directory")
        self.name = name
        self.version = str(versions[-1])
        version_dir = model_dir / self.version
        scope = {"nn": nn, "torch": torch, "OrderedDict": collections.OrderedDict,
                 "collections": collections}
        scope.update({k: getattr(nn, k) for k in dir(nn) if k[:1].isupper()})
        self.module = eval((version_dir / "model.seq").read_text(), scope)  # noqa: S307
        weights = version_dir / "model.safetensors"
        if weights.exists():
            state = {k: torch.from_numpy(v) for k, v in load_safetensors(weights).items()}
            missing, unexpected = self.module.load_state_dict(state, strict=False)
            missing = [k for k in missing if not k.endswith("num_batches_tracked")]
            if missing or unexpected:
                raise ValueError(f"{weights}: missing {missing}, unexpected {unexpected}")
        self.module.eval()
        self.input_name, self.output_name = "input", "output"
        self.input_shape: list[int] = []
        self.output_shape: list[int] = []
        config = model_dir / "config.pbtxt"
        if config.exists():
            parsed = text_format.Parse(config.read_text(), model_config_pb2.ModelConfig())
            batch = [-1] if parsed.max_batch_size > 0 else []
            if parsed.input:
                self.input_name = parsed.input[0].name or "input"
                self.input_shape = batch + list(parsed.input[0].dims)
            if parsed.output:
                self.output_name = parsed.output[0].name or "output"
                self.output_shape = batch + list(parsed.output[0].dims)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return self.module(x)


class InferenceService:
    """The KServe v2 methods, registered with grpcio's generic handler API."""

    def __init__(self, models: dict[str, LoadedModel]):
        self.models = models
        self.ready = True

    def handler(self) -> grpc.GenericRpcHandler:
        def unary(fn, request, response):
            return grpc.unary_unary_rpc_method_handler(
                fn, request_deserializer=request.FromString,
                response_serializer=response.SerializeToString)
        return grpc.method_handlers_generic_handler("inference.GRPCInferenceService", {
            "ServerLive": unary(lambda r, c: pb.ServerLiveResponse(live=True),
                                pb.ServerLiveRequest, pb.ServerLiveResponse),
            "ServerReady": unary(lambda r, c: pb.ServerReadyResponse(ready=self.ready),
                                 pb.ServerReadyRequest, pb.ServerReadyResponse),
            "ModelReady": unary(self.model_ready, pb.ModelReadyRequest, pb.ModelReadyResponse),
            "ServerMetadata": unary(
                lambda r, c: pb.ServerMetadataResponse(name="python-baseline", version="1"),
                pb.ServerMetadataRequest, pb.ServerMetadataResponse),
            "ModelMetadata": unary(self.model_metadata, pb.ModelMetadataRequest,
                                   pb.ModelMetadataResponse),
            "ModelInfer": unary(self.model_infer, pb.ModelInferRequest, pb.ModelInferResponse),
        })

    def _model(self, name: str, context: grpc.ServicerContext) -> LoadedModel:
        model = self.models.get(name)
        if model is None:
            context.abort(grpc.StatusCode.NOT_FOUND, f"unknown model '{name}'")
        return model

    def model_ready(self, request, context):
        return pb.ModelReadyResponse(ready=request.name in self.models)

    def model_metadata(self, request, context):
        model = self._model(request.name, context)
        Tensor = pb.ModelMetadataResponse.TensorMetadata
        return pb.ModelMetadataResponse(
            name=model.name, versions=[model.version], platform="pytorch_eager",
            inputs=[Tensor(name=model.input_name, datatype="FP32", shape=model.input_shape)],
            outputs=[Tensor(name=model.output_name, datatype="FP32", shape=model.output_shape)])

    def model_infer(self, request, context):
        model = self._model(request.model_name, context)
        if len(request.inputs) != 1:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                          f"expected 1 input, got {len(request.inputs)}")
        tensor = request.inputs[0]
        if tensor.datatype != "FP32":
            context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                          f"input '{tensor.name}': expected datatype FP32, got {tensor.datatype}")
        raw = len(request.raw_input_contents) > 0
        if raw:
            array = np.frombuffer(request.raw_input_contents[0], dtype="<f4")
        else:
            array = np.asarray(tensor.contents.fp32_contents, dtype=np.float32)
        shape = tuple(tensor.shape)
        if array.size != int(np.prod(shape, dtype=np.int64)):
            context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                          f"input '{tensor.name}': {array.size} values for shape {list(shape)}")
        # frombuffer views the request's immutable bytes; torch wants a writable array.
        x = torch.from_numpy(array.reshape(shape).copy())
        try:
            y = model(x)
        except RuntimeError as e:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(e))
        out = y.contiguous().numpy()
        response = pb.ModelInferResponse(model_name=model.name, model_version=model.version,
                                         id=request.id)
        output = response.outputs.add(name=model.output_name, datatype="FP32", shape=out.shape)
        if raw:
            response.raw_output_contents.append(out.astype("<f4", copy=False).tobytes())
        else:
            output.contents.fp32_contents.extend(out.ravel().tolist())
        return response


def load_models(repositories: list[str]) -> dict[str, LoadedModel]:
    models = {}
    for repository in repositories:
        for model_dir in sorted(Path(repository).iterdir()):
            if model_dir.is_dir() and not model_dir.name.startswith("."):
                models[model_dir.name] = LoadedModel(model_dir.name, model_dir)
    return models


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("port", type=int, help="gRPC port (0: pick a free one)")
    parser.add_argument("--model-repository", action="append",
                        help="seqserve model repository (repeatable; default: models/)")
    parser.add_argument("--threads", type=int, default=1,
                        help="PyTorch intra-op threads (torch.set_num_threads)")
    parser.add_argument("--workers", type=int, default=16,
                        help="gRPC thread pool size (requests served at once)")
    parser.add_argument("--address", default="0.0.0.0")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    repositories = args.model_repository or [str(Path(__file__).resolve().parent.parent / "models")]
    models = load_models(repositories)
    service = InferenceService(models)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=args.workers),
                         options=[("grpc.max_send_message_length", -1),
                                  ("grpc.max_receive_message_length", -1)])
    server.add_generic_rpc_handlers((service.handler(),))
    port = server.add_insecure_port(f"{args.address}:{args.port}")
    if port == 0:
        print(f"error: cannot listen on {args.address}:{args.port}", file=sys.stderr)
        return 1
    server.start()
    print(f"models: {', '.join(f'{m.name} (version {m.version})' for m in models.values())}; "
          f"{args.threads} torch thread(s), {args.workers} gRPC workers", flush=True)
    print(f"listening on {args.address}:{port}", flush=True)

    stopped = threading.Event()

    def stop(signum, frame):
        service.ready = False
        stopped.set()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    stopped.wait()
    server.stop(grace=5).wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
