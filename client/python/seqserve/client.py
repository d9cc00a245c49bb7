"""seqserve.Client: a small synchronous client of the KServe v2 / Triton gRPC protocol.

Only grpcio and NumPy are needed: the method stubs are written here against the generated
protobuf messages (no grpc_tools), so the package works on Debian's python3-grpcio as is.
It talks to any server of that protocol (seqserve, Triton, KServe), not only to seqserve.

A Client owns one gRPC channel. grpcio channels are thread-safe, so one Client may be shared
by several threads; its only mutable state is a cache of input names, guarded by a lock.
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import grpc
import numpy as np

from seqserve._proto import grpc_service_pb2 as pb

_SERVICE = "/inference.GRPCInferenceService/"
# (method, request class, response class) of every unary RPC, read from the proto itself.
UNARY_METHODS = [
    (m.name, getattr(pb, m.input_type.name), getattr(pb, m.output_type.name))
    for m in pb.DESCRIPTOR.services_by_name["GRPCInferenceService"].methods
    if not (m.client_streaming or m.server_streaming)]

# KServe v2 datatype names -> little-endian NumPy dtypes, for decoding raw outputs.
_NUMPY_DTYPES = {
    "FP32": "<f4", "FP64": "<f8", "FP16": "<f2",
    "INT8": "i1", "INT16": "<i2", "INT32": "<i4", "INT64": "<i8",
    "UINT8": "u1", "UINT16": "<u2", "UINT32": "<u4", "UINT64": "<u8",
    "BOOL": "?",
}
# NumPy dtypes (by kind and size) of the arrays `infer` sends, and their KServe v2 datatypes.
# float64 is not here: it is sent as FP32 (see `infer`).
_DATATYPES = {
    ("f", 2): "FP16", ("f", 4): "FP32",
    ("i", 1): "INT8", ("i", 2): "INT16", ("i", 4): "INT32", ("i", 8): "INT64",
    ("u", 1): "UINT8", ("u", 2): "UINT16", ("u", 4): "UINT32", ("u", 8): "UINT64",
    ("b", 1): "BOOL",
}
# For responses in typed `contents` instead of raw bytes: which repeated field holds them.
_CONTENTS_FIELDS = {
    "FP32": "fp32_contents", "FP64": "fp64_contents",
    "INT8": "int_contents", "INT16": "int_contents", "INT32": "int_contents",
    "INT64": "int64_contents",
    "UINT8": "uint_contents", "UINT16": "uint_contents", "UINT32": "uint_contents",
    "UINT64": "uint64_contents", "BOOL": "bool_contents",
}


class ServerError(Exception):
    """A failed call: the gRPC status code name (e.g. "NOT_FOUND") and the server's message.

    `code` is the name so that callers can compare with plain strings; `status` is the
    grpc.StatusCode itself.
    """

    def __init__(self, code: str, message: str, status: grpc.StatusCode | None = None):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status


class Client:
    """A connection to a seqserve (or any KServe v2 gRPC) server.

    >>> with seqserve.Client("localhost:8001") as client:
    ...     y = client.infer("mlp", np.zeros((1, 1, 28, 28), np.float32))

    Every method takes an optional `timeout` in seconds (None: wait as long as it takes) and
    raises ServerError when the call fails, including when the server cannot be reached
    (code "UNAVAILABLE").
    """

    def __init__(self, url: str = "localhost:8001", *, timeout: float | None = None,
                 ssl: bool = False, root_certificates: bytes | None = None,
                 private_key: bytes | None = None, certificate_chain: bytes | None = None,
                 tls_server_name: str | None = None,
                 headers: dict[str, str] | None = None):
        """Opens a channel to `url` ("host:port"); `timeout` is the default for every call.

        The message size limits are lifted: a batch of images easily exceeds gRPC's 4 MB
        default, and the server enforces its own limits.

        TLS (a server started with --grpc-use-ssl), as tritonclient.grpc names it: `ssl`,
        `root_certificates` (PEM bytes; None: the system's), and for --grpc-use-ssl-mutual
        `private_key` and `certificate_chain` (PEM bytes). `tls_server_name` is the name the
        server's certificate must carry when it is not the host of `url`.

        `headers` are sent as metadata with every call; restricted_protocol_header() spells
        the one a --grpc-restricted-protocol key needs.
        """
        self.url = url
        self.timeout = timeout
        options = [("grpc.max_send_message_length", -1),
                   ("grpc.max_receive_message_length", -1)]
        if ssl or root_certificates or certificate_chain:
            if (private_key is None) != (certificate_chain is None):
                raise ValueError("a client certificate needs its private key, and a key its "
                                 "certificate")
            if tls_server_name:
                options.append(("grpc.ssl_target_name_override", tls_server_name))
            credentials = grpc.ssl_channel_credentials(
                root_certificates=root_certificates, private_key=private_key,
                certificate_chain=certificate_chain)
            self._channel = grpc.secure_channel(url, credentials, options=options)
        else:
            self._channel = grpc.insecure_channel(url, options=options)
        self._metadata = tuple((name.lower(), value) for name, value in (headers or {}).items())
        self._input_names: dict[tuple[str, str], str] = {}
        self._lock = threading.Lock()
        self._stubs: dict[str, Callable[..., Any]] = {}
        for method, request, response in UNARY_METHODS:
            self._stubs[method] = self._channel.unary_unary(
                _SERVICE + method, request_serializer=request.SerializeToString,
                response_deserializer=response.FromString)

    # ---- lifetime --------------------------------------------------------------------------

    def close(self) -> None:
        """Closes the channel; calls made afterwards fail."""
        self._channel.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ---- health and metadata ---------------------------------------------------------------

    def server_live(self, timeout: float | None = None) -> bool:
        """Whether the server process is up and answering."""
        return self._call("ServerLive", pb.ServerLiveRequest(), timeout).live

    def server_ready(self, timeout: float | None = None) -> bool:
        """Whether the server takes requests (false while starting up or shutting down)."""
        return self._call("ServerReady", pb.ServerReadyRequest(), timeout).ready

    def model_ready(self, model: str, version: int | str | None = None,
                    timeout: float | None = None) -> bool:
        """Whether `model` (the given version, or the one the server would pick) is ready.

        A model the server does not know (NOT_FOUND, e.g. not loaded in explicit control
        mode) is simply not ready; other failures raise ServerError.
        """
        request = pb.ModelReadyRequest(name=model, version=_version(version))
        try:
            return self._call("ModelReady", request, timeout).ready
        except ServerError as e:
            if e.code == "NOT_FOUND":
                return False
            raise

    def server_metadata(self, timeout: float | None = None) -> pb.ServerMetadataResponse:
        """Server name, version and protocol extensions (a ServerMetadataResponse message)."""
        return self._call("ServerMetadata", pb.ServerMetadataRequest(), timeout)

    def model_metadata(self, model: str, version: int | str | None = None,
                       timeout: float | None = None) -> pb.ModelMetadataResponse:
        """Versions, input and output names, datatypes and shapes of `model` (-1: any size)."""
        request = pb.ModelMetadataRequest(name=model, version=_version(version))
        return self._call("ModelMetadata", request, timeout)

    def model_config(self, model: str, version: int | str | None = None,
                     timeout: float | None = None) -> Any:
        """The effective serving configuration of `model` (an inference.ModelConfig message,
        completed with every default the server chose)."""
        request = pb.ModelConfigRequest(name=model, version=_version(version))
        return self._call("ModelConfig", request, timeout).config

    def model_statistics(self, model: str | None = None, version: int | str | None = None,
                         timeout: float | None = None) -> pb.ModelStatisticsResponse:
        """Cumulative counts and durations per model version (all models when `model` is None),
        in Triton's ModelStatisticsResponse layout."""
        request = pb.ModelStatisticsRequest(name=model or "", version=_version(version))
        return self._call("ModelStatistics", request, timeout)

    def repository_index(self, ready_only: bool = False,
                         timeout: float | None = None) -> list[Any]:
        """Every model the server knows, with its version, state ("READY", "UNAVAILABLE", ...)
        and the reason (e.g. its load error): RepositoryIndexResponse.ModelIndex messages."""
        request = pb.RepositoryIndexRequest(ready=ready_only)
        return list(self._call("RepositoryIndex", request, timeout).models)

    def load(self, model: str, timeout: float | None = None) -> None:
        """Loads (or reloads) `model` from the repository; needs --model-control-mode=explicit.
        Returns once the model is ready; a load error comes back as ServerError."""
        self._call("RepositoryModelLoad", pb.RepositoryModelLoadRequest(model_name=model), timeout)
        with self._lock:
            self._input_names = {k: v for k, v in self._input_names.items() if k[0] != model}

    def unload(self, model: str, timeout: float | None = None) -> None:
        """Unloads `model` (needs --model-control-mode=explicit)."""
        self._call("RepositoryModelUnload", pb.RepositoryModelUnloadRequest(model_name=model),
                   timeout)
        with self._lock:
            self._input_names = {k: v for k, v in self._input_names.items() if k[0] != model}

    def log_settings(self, timeout: float | None = None, **changes: bool | int | str) -> dict:
        """The server's log settings (Triton's logging extension) after applying `changes`,
        e.g. log_settings(log_verbose_level=1, log_requests=True); none only reads them. A bad
        name or value comes back as ServerError and changes nothing."""
        request = pb.LogSettingsRequest()
        for name, value in changes.items():
            setting = request.settings[name]
            if isinstance(value, bool):
                setting.bool_param = value
            elif isinstance(value, int):
                setting.uint32_param = value
            else:
                setting.string_param = str(value)
        response = self._call("LogSettings", request, timeout)
        return {name: getattr(value, value.WhichOneof("parameter_choice"))
                for name, value in response.settings.items()}

    def trace_settings(self, model: str = "", timeout: float | None = None,
                       **changes: str | int | list[str] | None) -> dict[str, str | list[str]]:
        """The trace settings (Triton's trace extension) in force for `model` ("": the global
        ones) after applying `changes`, e.g. trace_settings(trace_level=["TIMESTAMPS"],
        trace_rate=1); none only reads them. None clears a setting (a model's follows the
        global one again). trace_level comes back as a list, the others as strings, as
        Triton's REST answer has them. The server needs --trace-file, and traces go there
        only; a bad name or value comes back as ServerError and changes nothing."""
        request = pb.TraceSettingRequest(model_name=model)
        for name, value in changes.items():
            setting = request.settings[name]  # no value: cleared
            if isinstance(value, (list, tuple)):
                setting.value.extend(str(v) for v in value)
            elif value is not None:
                setting.value.append(str(value))
        response = self._call("TraceSetting", request, timeout)
        return {name: list(value.value) if name == "trace_level" or len(value.value) != 1
                else value.value[0]
                for name, value in response.settings.items()}

    # ---- system shared memory (Triton's extension) -----------------------------------------

    def register_system_shared_memory(self, name: str, key: str, byte_size: int,
                                      offset: int = 0, timeout: float | None = None) -> None:
        """Registers bytes [offset, offset + byte_size) of the POSIX shared memory object `key`
        (e.g. "/my_shm"; Python's multiprocessing.shared_memory.SharedMemory(name=n) is "/" + n)
        as region `name`. Requests then name the region in a tensor's parameters instead of
        carrying its data; the server must run on this host."""
        request = pb.SystemSharedMemoryRegisterRequest(name=name, key=key, offset=offset,
                                                       byte_size=byte_size)
        self._call("SystemSharedMemoryRegister", request, timeout)

    def unregister_system_shared_memory(self, name: str = "",
                                        timeout: float | None = None) -> None:
        """Unregisters region `name`, or every region when `name` is empty."""
        request = pb.SystemSharedMemoryUnregisterRequest(name=name)
        self._call("SystemSharedMemoryUnregister", request, timeout)

    def get_system_shared_memory_status(self, name: str = "",
                                        timeout: float | None = None) -> dict[str, Any]:
        """The registered regions (one, or all when `name` is empty) by name: RegionStatus
        messages with name, key, offset and byte_size."""
        request = pb.SystemSharedMemoryStatusRequest(name=name)
        return dict(self._call("SystemSharedMemoryStatus", request, timeout).regions)

    # ---- inference -------------------------------------------------------------------------

    def infer(self, model: str, array: Any, version: int | str | None = None,
              timeout: float | None = None, raw: bool = True,
              input_name: str | None = None) -> np.ndarray:
        """Runs `model` on `array` and returns its output as a NumPy array (float32 for
        seqserve; another server's output keeps its datatype).

        `array` is anything np.asarray takes (a NumPy array, nested lists) or a torch
        tensor. Its datatype follows its dtype: int64 and int32 arrays (token ids for a model
        that starts with Embedding) go as INT64 and INT32, float32 as FP32, float16, bool and
        the other integer types as FP16, BOOL, INT8...UINT64 (seqserve converts them to the
        model's input type when every value converts exactly); float64 (NumPy's default for
        Python floats) goes as FP32, rounded here, as a float32 model computes anyway. Its
        shape is the request shape, batch dimension included when the model batches
        (max_batch_size > 0).
        `raw` sends the tensor in raw_input_contents (compact and fast, the default);
        raw=False sends the datatype's typed contents (fp32_contents, int64_contents,
        int_contents, ...), which every KServe server accepts too (FP16 has none: raw only).
        `input_name` defaults to the model's only input, read once from its metadata.
        """
        if hasattr(array, "detach"):  # a torch tensor, possibly requiring grad or on a GPU
            array = array.detach().cpu().numpy()
        data = np.asarray(array)
        if data.dtype.kind == "f" and data.dtype.itemsize == 8:
            data = data.astype(np.float32)
        datatype = _DATATYPES.get((data.dtype.kind, data.dtype.itemsize))
        if datatype is None:
            raise ValueError(f"cannot send an array of dtype {data.dtype}: use a numeric or "
                             f"bool array")
        data = np.ascontiguousarray(data, dtype=data.dtype.newbyteorder("<"))
        name = input_name or self._input_name(model, _version(version), timeout)
        tensor = pb.ModelInferRequest.InferInputTensor(name=name, datatype=datatype,
                                                       shape=data.shape)
        request = pb.ModelInferRequest(model_name=model, model_version=_version(version),
                                       inputs=[tensor])
        if raw:
            request.raw_input_contents.append(data.tobytes())
        elif datatype == "FP16":
            raise ValueError("FP16 has no typed contents field in the KServe v2 protocol: "
                             "send it with raw=True")
        else:
            field = getattr(request.inputs[0].contents, _CONTENTS_FIELDS[datatype])
            field.extend(data.ravel().tolist())
        response = self._call("ModelInfer", request, timeout)
        if not response.outputs:
            raise ServerError("INTERNAL", f"model '{model}' returned no outputs")
        return _decode_output(response, 0)

    # ---- internals -------------------------------------------------------------------------

    def _input_name(self, model: str, version: str, timeout: float | None) -> str:
        """The model's input name, from its metadata the first time (one round trip)."""
        key = (model, version)
        with self._lock:
            name = self._input_names.get(key)
        if name is not None:
            return name
        metadata = self.model_metadata(model, version, timeout)
        if len(metadata.inputs) != 1:
            raise ServerError("INVALID_ARGUMENT",
                              f"model '{model}' has {len(metadata.inputs)} inputs; "
                              f"pass input_name= to choose one")
        name = metadata.inputs[0].name
        with self._lock:
            self._input_names[key] = name
        return name

    def _call(self, method: str, request: Any, timeout: float | None) -> Any:
        try:
            return self._stubs[method](
                request, timeout=self.timeout if timeout is None else timeout,
                metadata=self._metadata or None)
        except grpc.RpcError as e:
            code = e.code() if hasattr(e, "code") else grpc.StatusCode.UNKNOWN
            details = e.details() if hasattr(e, "details") else str(e)
            raise ServerError(code.name, details or "", code) from None


def restricted_protocol_header(key: str) -> str:
    """The metadata name a --grpc-restricted-protocol `key` travels in (Triton's spelling):
    Client(url, headers={restricted_protocol_header("admin-key"): "secret"})."""
    return f"triton-grpc-protocol-{key}".lower()


def _version(version: int | str | None) -> str:
    """The protocol's version string: "" asks the server for its default version."""
    return "" if version is None else str(version)


def _decode_output(response: Any, index: int) -> np.ndarray:
    """The output tensor `index` of a ModelInferResponse, raw or typed, as a NumPy array."""
    output = response.outputs[index]
    shape = tuple(output.shape)
    if output.datatype not in _NUMPY_DTYPES:
        raise ServerError("INTERNAL", f"output '{output.name}' has datatype "
                                      f"'{output.datatype}', which this client cannot decode")
    dtype = np.dtype(_NUMPY_DTYPES[output.datatype])
    if index < len(response.raw_output_contents):
        flat = np.frombuffer(response.raw_output_contents[index], dtype=dtype)
    else:
        values = getattr(output.contents, _CONTENTS_FIELDS[output.datatype])
        flat = np.array(values, dtype=dtype)
    expected = int(np.prod(shape, dtype=np.int64))
    if flat.size != expected:
        raise ServerError("INTERNAL", f"output '{output.name}' has {flat.size} elements, but its "
                                      f"shape {list(shape)} needs {expected}")
    # A copy: frombuffer views the response's bytes read-only.
    return np.array(flat.reshape(shape), dtype=dtype.newbyteorder("="))
