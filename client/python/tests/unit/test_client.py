"""seqserve.Client against an in-process fake KServe v2 server (grpcio, port 0): what goes on
the wire for each call, how outputs are decoded, and how failures become ServerError."""
import socket
import threading
import unittest
from concurrent import futures

import grpc
import numpy as np

import seqserve
from seqserve._proto import grpc_service_pb2 as pb
from seqserve.client import UNARY_METHODS
from seqserve._proto import model_config_pb2


class FakeServer:
    """Answers like seqserve: doubles the input of model "double" (any numeric datatype, as
    float32), knows no other model."""

    def __init__(self):
        self.requests = []           # (method, request) in arrival order
        self.regions = {}            # registered shared memory regions by name
        self.release = threading.Event()
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        handlers = {}
        for method, request, response in UNARY_METHODS:
            handlers[method] = grpc.unary_unary_rpc_method_handler(
                self._handler(method), request_deserializer=request.FromString,
                response_serializer=response.SerializeToString)
        self.server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler("inference.GRPCInferenceService", handlers),))
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.server.start()

    def stop(self):
        self.release.set()
        self.server.stop(None)

    def _handler(self, method):
        def handle(request, context):
            self.requests.append((method, request))
            return getattr(self, method)(request, context)
        return handle

    def _check_model(self, name, context):
        if name == "slow":
            self.release.wait()
        elif name != "double":
            context.abort(grpc.StatusCode.NOT_FOUND, f"unknown model '{name}'")

    def ServerLive(self, request, context):
        return pb.ServerLiveResponse(live=True)

    def ServerReady(self, request, context):
        return pb.ServerReadyResponse(ready=False)

    def ModelReady(self, request, context):
        if request.name == "gone":
            context.abort(grpc.StatusCode.NOT_FOUND, "unknown model 'gone'")
        if request.name == "broken":
            context.abort(grpc.StatusCode.INTERNAL, "oops")
        return pb.ModelReadyResponse(ready=request.name == "double")

    def ServerMetadata(self, request, context):
        return pb.ServerMetadataResponse(name="seqserve", version="0.1.0",
                                         extensions=["model_repository"])

    def ModelMetadata(self, request, context):
        self._check_model(request.name, context)
        tensor = pb.ModelMetadataResponse.TensorMetadata
        return pb.ModelMetadataResponse(
            name=request.name, versions=["1"],
            inputs=[tensor(name="x", datatype="FP32", shape=[-1, 3])],
            outputs=[tensor(name="y", datatype="FP32", shape=[-1, 3])])

    def ModelInfer(self, request, context):
        self._check_model(request.model_name, context)
        tensor = request.inputs[0]
        if request.raw_input_contents:
            x = np.frombuffer(request.raw_input_contents[0],
                              seqserve.client._NUMPY_DTYPES[tensor.datatype])
        else:
            field = seqserve.client._CONTENTS_FIELDS[tensor.datatype]
            x = np.array(getattr(tensor.contents, field))
        y = (x.astype(np.float64) * 2).astype("<f4")
        response = pb.ModelInferResponse(model_name=request.model_name, model_version="1")
        out = response.outputs.add(name="y", datatype="FP32", shape=tensor.shape)
        if request.raw_input_contents:
            response.raw_output_contents.append(y.tobytes())
        else:
            out.contents.fp32_contents.extend(y.tolist())
        return response

    def ModelConfig(self, request, context):
        self._check_model(request.name, context)
        return pb.ModelConfigResponse(
            config=model_config_pb2.ModelConfig(name=request.name, max_batch_size=64))

    def ModelStatistics(self, request, context):
        return pb.ModelStatisticsResponse(model_stats=[
            pb.ModelStatistics(name=request.name or "all", version=request.version,
                               inference_count=5)])

    def RepositoryIndex(self, request, context):
        return pb.RepositoryIndexResponse(models=[
            pb.RepositoryIndexResponse.ModelIndex(name="double", version="1", state="READY"),
            pb.RepositoryIndexResponse.ModelIndex(name="bad", version="1",
                                                  state="UNAVAILABLE", reason="model.seq:1:1")])

    def RepositoryModelLoad(self, request, context):
        if request.model_name != "double":
            context.abort(grpc.StatusCode.UNAVAILABLE, f"failed to load '{request.model_name}'")
        return pb.RepositoryModelLoadResponse()

    def RepositoryModelUnload(self, request, context):
        return pb.RepositoryModelUnloadResponse()

    def SystemSharedMemoryRegister(self, request, context):
        if request.name in self.regions:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                          f"shared memory region '{request.name}' is already registered")
        self.regions[request.name] = pb.SystemSharedMemoryStatusResponse.RegionStatus(
            name=request.name, key=request.key, offset=request.offset,
            byte_size=request.byte_size)
        return pb.SystemSharedMemoryRegisterResponse()

    def SystemSharedMemoryUnregister(self, request, context):
        if request.name:
            self.regions.pop(request.name, None)
        else:
            self.regions.clear()
        return pb.SystemSharedMemoryUnregisterResponse()

    def SystemSharedMemoryStatus(self, request, context):
        regions = {k: v for k, v in self.regions.items() if not request.name or k == request.name}
        return pb.SystemSharedMemoryStatusResponse(regions=regions)


class ClientTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.fake = FakeServer()

    @classmethod
    def tearDownClass(cls):
        cls.fake.stop()

    def setUp(self):
        self.fake.requests.clear()
        self.client = seqserve.Client(f"127.0.0.1:{self.fake.port}")

    def tearDown(self):
        self.client.close()

    def test_health_and_server_metadata(self):
        self.assertTrue(self.client.server_live())
        self.assertFalse(self.client.server_ready())
        self.assertTrue(self.client.model_ready("double"))
        self.assertFalse(self.client.model_ready("other", version=2))
        self.assertEqual(self.fake.requests[-1][1].version, "2")
        self.assertFalse(self.client.model_ready("gone"))  # NOT_FOUND: not ready
        with self.assertRaisesRegex(seqserve.ServerError, "^INTERNAL: oops$"):
            self.client.model_ready("broken")
        metadata = self.client.server_metadata()
        self.assertEqual(metadata.name, "seqserve")
        self.assertEqual(list(metadata.extensions), ["model_repository"])

    def test_infer_sends_raw_fp32_with_the_input_name_from_metadata(self):
        x = np.arange(6, dtype=np.float64).reshape(2, 3)  # converted to float32
        y = self.client.infer("double", x)
        np.testing.assert_array_equal(y, x * 2)
        self.assertEqual(y.dtype, np.float32)
        self.assertTrue(y.flags.writeable)
        methods = [m for m, _ in self.fake.requests]
        self.assertEqual(methods, ["ModelMetadata", "ModelInfer"])
        request = self.fake.requests[1][1]
        self.assertEqual(request.inputs[0].name, "x")
        self.assertEqual(request.inputs[0].datatype, "FP32")
        self.assertEqual(list(request.inputs[0].shape), [2, 3])
        self.assertEqual(request.raw_input_contents[0], x.astype("<f4").tobytes())
        self.assertFalse(request.inputs[0].HasField("contents"))
        # The input name is cached: the second call is one round trip.
        self.client.infer("double", x)
        self.assertEqual([m for m, _ in self.fake.requests][2:], ["ModelInfer"])

    def test_infer_with_typed_contents(self):
        y = self.client.infer("double", [[1.5, -2.0, 3.0]], raw=False, input_name="x",
                              version=3)
        np.testing.assert_array_equal(y, [[3.0, -4.0, 6.0]])
        (method, request), = self.fake.requests
        self.assertEqual(method, "ModelInfer")
        self.assertEqual(request.model_version, "3")
        self.assertEqual(list(request.inputs[0].contents.fp32_contents), [1.5, -2.0, 3.0])
        self.assertEqual(len(request.raw_input_contents), 0)

    def test_integer_arrays_go_as_their_own_datatype(self):
        # Token ids for an Embedding model: int64 and int32 as INT64 and INT32, raw bytes.
        ids = np.array([[3, 0, 999]], dtype=np.int64)
        y = self.client.infer("double", ids, input_name="x")
        np.testing.assert_array_equal(y, [[6, 0, 1998]])
        request = self.fake.requests[-1][1]
        self.assertEqual(request.inputs[0].datatype, "INT64")
        self.assertEqual(request.raw_input_contents[0], ids.astype("<i8").tobytes())
        self.client.infer("double", ids.astype(np.int32), input_name="x")
        request = self.fake.requests[-1][1]
        self.assertEqual(request.inputs[0].datatype, "INT32")
        self.assertEqual(request.raw_input_contents[0], ids.astype("<i4").tobytes())
        # Python ints are int64; typed, they go in int64_contents.
        y = self.client.infer("double", [[1, 2]], input_name="x", raw=False)
        np.testing.assert_array_equal(y, [[2, 4]])
        request = self.fake.requests[-1][1]
        self.assertEqual(list(request.inputs[0].contents.int64_contents), [1, 2])
        self.client.infer("double", np.array([7, -8], np.int32), input_name="x", raw=False)
        self.assertEqual(list(self.fake.requests[-1][1].inputs[0].contents.int_contents), [7, -8])

    def test_other_dtypes_go_as_their_datatype(self):
        for array, datatype, field, values in [
                (np.array([255, 0], np.uint8), "UINT8", "uint_contents", [255, 0]),
                (np.array([True, False]), "BOOL", "bool_contents", [True, False]),
                (np.array([2**40], np.uint64), "UINT64", "uint64_contents", [2**40]),
                (np.array([-3], np.int16), "INT16", "int_contents", [-3])]:
            with self.subTest(datatype):
                self.client.infer("double", array, input_name="x", raw=False)
                tensor = self.fake.requests[-1][1].inputs[0]
                self.assertEqual(tensor.datatype, datatype)
                self.assertEqual(list(getattr(tensor.contents, field)), values)
        halves = np.array([1.5, -2.0], np.float16)
        np.testing.assert_array_equal(self.client.infer("double", halves, input_name="x"),
                                      [3.0, -4.0])
        self.assertEqual(self.fake.requests[-1][1].inputs[0].datatype, "FP16")
        with self.assertRaisesRegex(ValueError, "FP16 has no typed contents"):
            self.client.infer("double", halves, input_name="x", raw=False)
        with self.assertRaisesRegex(ValueError, "cannot send an array of dtype"):
            self.client.infer("double", np.array(["a"]), input_name="x")

    def test_errors_carry_the_status_code_name_and_the_server_message(self):
        with self.assertRaises(seqserve.ServerError) as caught:
            self.client.infer("missing", np.zeros((1, 3)), input_name="x")
        self.assertEqual(caught.exception.code, "NOT_FOUND")
        self.assertEqual(caught.exception.message, "unknown model 'missing'")
        self.assertEqual(caught.exception.status, grpc.StatusCode.NOT_FOUND)
        self.assertEqual(str(caught.exception), "NOT_FOUND: unknown model 'missing'")
        with self.assertRaisesRegex(seqserve.ServerError, "^UNAVAILABLE: failed to load 'x'$"):
            self.client.load("x")

    def test_timeout_is_deadline_exceeded(self):
        with self.assertRaises(seqserve.ServerError) as caught:
            self.client.model_metadata("slow", timeout=0.05)
        self.assertEqual(caught.exception.code, "DEADLINE_EXCEEDED")

    def test_unreachable_server_is_unavailable(self):
        with socket.socket() as probe:  # a port nobody listens on once the socket closes
            probe.bind(("127.0.0.1", 0))
            free_port = probe.getsockname()[1]
        with seqserve.Client(f"127.0.0.1:{free_port}", timeout=2) as client:
            with self.assertRaises(seqserve.ServerError) as caught:
                client.server_live()
        self.assertEqual(caught.exception.code, "UNAVAILABLE")

    def test_model_calls_send_the_model_and_version(self):
        self.assertEqual(self.client.model_metadata("double").inputs[0].name, "x")
        self.assertEqual(self.client.model_config("double", version=1).max_batch_size, 64)
        self.assertEqual(self.fake.requests[-1][1].version, "1")
        stats = self.client.model_statistics()
        self.assertEqual(stats.model_stats[0].name, "all")
        stats = self.client.model_statistics("double", version=1)
        self.assertEqual(stats.model_stats[0].inference_count, 5)
        self.assertEqual(stats.model_stats[0].version, "1")
        index = self.client.repository_index()
        self.assertEqual([(m.name, m.state) for m in index],
                         [("double", "READY"), ("bad", "UNAVAILABLE")])
        self.assertEqual(index[1].reason, "model.seq:1:1")
        self.client.load("double")
        self.client.unload("double")
        self.assertEqual([(m, r.model_name) for m, r in self.fake.requests[-2:]],
                         [("RepositoryModelLoad", "double"),
                          ("RepositoryModelUnload", "double")])

    def test_system_shared_memory_calls(self):
        self.client.unregister_system_shared_memory()
        self.client.register_system_shared_memory("in", "/shm_key", 4096, offset=64)
        self.client.register_system_shared_memory("out", "/shm_key2", 128)
        regions = self.client.get_system_shared_memory_status()
        self.assertEqual(sorted(regions), ["in", "out"])
        self.assertEqual((regions["in"].key, regions["in"].offset, regions["in"].byte_size),
                         ("/shm_key", 64, 4096))
        self.assertEqual(list(self.client.get_system_shared_memory_status("out")), ["out"])
        with self.assertRaises(seqserve.ServerError) as caught:
            self.client.register_system_shared_memory("in", "/shm_key", 8)
        self.assertEqual(caught.exception.code, "INVALID_ARGUMENT")
        self.client.unregister_system_shared_memory("in")
        self.assertEqual(list(self.client.get_system_shared_memory_status()), ["out"])
        self.client.unregister_system_shared_memory()
        self.assertEqual(self.client.get_system_shared_memory_status(), {})

    def test_context_manager_closes_the_channel(self):
        with seqserve.Client(f"127.0.0.1:{self.fake.port}") as client:
            self.assertTrue(client.server_live())
        with self.assertRaises(ValueError):  # grpcio: "Cannot invoke RPC on closed channel!"
            client.server_live()


if __name__ == "__main__":
    unittest.main()
