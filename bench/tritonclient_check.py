#!/usr/bin/python3
"""NVIDIA Triton's own Python client (tritonclient.grpc and tritonclient.http) against
seqserve, call by call (issue 15): every call a CPU server can serve, over both protocols,
with the results checked (outputs against the bundled lenet's PyTorch outputs in
tests/data/bundled/), and the GPU-only calls (CUDA shared memory) expected to fail cleanly.

tritonclient is not a Debian package and PyPI is not reachable here, so it is built from its
public source (github.com/triton-inference-server/client, src/python/library; its protobuf
modules generated from triton-inference-server/common's protos with Debian's protoc and
grpc_python_plugin, renamed as its build_wheel.py does), outside this tree; pass that
directory with --tritonclient. Needs python3-geventhttpclient, python3-rapidjson,
python3-packaging, python3-grpcio (Debian). Starts build/bin/seqserve on free loopback ports
with --allow-shared-memory and --trace-file, on a copy of models/ with a label file added.

Usage: /usr/bin/python3 bench/tritonclient_check.py --tritonclient DIR [--bin-dir build/bin]
Prints one line per call (ok / FAILED with the error) and a summary; exits 1 on a failure.
"""
from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np

from serving_vs_python import ROOT, Server

RESULTS: list[tuple[str, bool, str]] = []


def check(name: str, fn) -> None:
    try:
        detail = fn()
        RESULTS.append((name, True, "" if detail is None else str(detail)))
    except Exception as e:  # noqa: BLE001  (every failure is reported, none stops the run)
        RESULTS.append((name, False, f"{type(e).__name__}: {e}".splitlines()[0][:200]))
        if "--verbose" in sys.argv:
            traceback.print_exc()


def expect(condition: bool, what: str) -> None:
    if not condition:
        raise AssertionError(what)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tritonclient", required=True, type=Path,
                    help="directory holding the tritonclient package (src/python/library)")
    ap.add_argument("--bin-dir", type=Path, default=ROOT / "build" / "bin")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()
    sys.path.insert(0, str(args.tritonclient))
    import tritonclient.grpc as grpcclient
    import tritonclient.http as httpclient
    import tritonclient.utils.shared_memory as shm
    from tritonclient.utils import InferenceServerException

    images = np.load(ROOT / "tests" / "data" / "bundled" / "lenet" / "input.npy")
    expected = np.load(ROOT / "tests" / "data" / "bundled" / "lenet" / "expected.npy")

    with tempfile.TemporaryDirectory() as tmp:
        repository = Path(tmp) / "models"
        shutil.copytree(ROOT / "models", repository)
        # Classification needs labels: lenet's output gets a label file.
        (repository / "lenet" / "labels.txt").write_text(
            "".join(f"angle{18 * k}\n" for k in range(10)))
        config = (repository / "lenet" / "config.pbtxt").read_text().replace(
            'dims: [ 10 ] }', 'dims: [ 10 ] label_filename: "labels.txt" }')
        (repository / "lenet" / "config.pbtxt").write_text(config)
        trace_file = Path(tmp) / "trace.json"
        common = ["--address=127.0.0.1", "--metrics-port=0", "--allow-shared-memory",
                  f"--trace-file={trace_file}", "--model-control-mode=explicit",
                  "--load-model=lenet"]
        server = Server("seqserve", [str(args.bin_dir / "seqserve"),
                                     f"--model-repository={repository}", "--grpc-port=0",
                                     "--http-port=0"] + common)
        http_port = None
        for _ in range(100):
            for line in server.lines:
                m = re.search(r"listening for HTTP.*:(\d+)", line)
                if m:
                    http_port = int(m.group(1))
            if http_port:
                break
            time.sleep(0.1)
        try:
            run_checks(grpcclient, httpclient, shm, InferenceServerException,
                       f"127.0.0.1:{server.port}", f"127.0.0.1:{http_port}", images, expected,
                       trace_file)
        finally:
            server.stop()

    failed = [r for r in RESULTS if not r[1]]
    for name, ok, detail in RESULTS:
        print(f"{'ok    ' if ok else 'FAILED'} {name}" + (f": {detail}" if detail else ""))
    print(f"\n{len(RESULTS) - len(failed)} of {len(RESULTS)} calls as expected")
    return 1 if failed else 0


def run_checks(grpcclient, httpclient, shm, InferenceServerException, grpc_url, http_url,
               images, expected, trace_file) -> None:
    clients = {"grpc": grpcclient.InferenceServerClient(grpc_url),
               "http": httpclient.InferenceServerClient(http_url)}
    modules = {"grpc": grpcclient, "http": httpclient}
    check("grpc load_model (explicit mode: mlp, not loaded at start)",
          lambda: clients["grpc"].load_model("mlp"))
    for proto, c in clients.items():
        m = modules[proto]

        def infer_inputs(batch=images):
            i = m.InferInput("input", list(batch.shape), "FP32")
            i.set_data_from_numpy(batch)
            return [i]

        check(f"{proto} is_server_live", lambda: expect(c.is_server_live(), "not live"))
        check(f"{proto} is_server_ready", lambda: expect(c.is_server_ready(), "not ready"))
        check(f"{proto} is_model_ready", lambda: expect(c.is_model_ready("lenet"), "not ready"))
        def unknown_ready():
            # Triton answers ready=false; SPEC §7 says NOT_FOUND for an unknown model, which
            # tritonclient.grpc raises (HTTP's is_model_ready is False for any non-200).
            try:
                expect(not c.is_model_ready("nope"), "ready")
                return "false"
            except InferenceServerException as e:
                expect("NOT_FOUND" in str(e.status()), str(e))
                return "NOT_FOUND (SPEC §7; Triton answers ready=false)"
        check(f"{proto} is_model_ready (unknown model)", unknown_ready)

        def metadata():
            md = c.get_server_metadata()
            ext = md.extensions if proto == "grpc" else md["extensions"]
            for e in ("classification", "model_repository", "model_configuration", "statistics",
                      "system_shared_memory", "logging", "trace"):
                expect(e in ext, f"{e} missing from {list(ext)}")
            return ",".join(ext)
        check(f"{proto} get_server_metadata", metadata)

        def model_metadata():
            md = c.get_model_metadata("lenet")
            inputs = md.inputs if proto == "grpc" else md["inputs"]
            expect(len(inputs) == 1, "inputs")
        check(f"{proto} get_model_metadata", model_metadata)
        check(f"{proto} get_model_config",
              lambda: expect(c.get_model_config("lenet") is not None, "no config"))
        def index():
            index = c.get_model_repository_index()
            entries = index.models if proto == "grpc" else index
            expect(len(entries) >= 5, f"{len(entries)} entries")  # the bundled models
        check(f"{proto} get_model_repository_index", index)

        def infer():
            result = c.infer("lenet", infer_inputs(),
                             outputs=[m.InferRequestedOutput("output")])
            got = result.as_numpy("output")
            expect(np.allclose(got, expected, rtol=1e-4, atol=1e-5), "outputs differ")
        check(f"{proto} infer (as_numpy)", infer)

        def infer_no_outputs():
            got = c.infer("lenet", infer_inputs()).as_numpy("output")
            expect(np.allclose(got, expected, rtol=1e-4, atol=1e-5), "outputs differ")
        check(f"{proto} infer (all outputs)", infer_no_outputs)

        def classification():
            out = m.InferRequestedOutput("output", class_count=3)
            got = c.infer("lenet", infer_inputs(), outputs=[out]).as_numpy("output")
            expect(got.shape == (images.shape[0], 3), f"shape {got.shape}")
            top = got[0][0].decode() if isinstance(got[0][0], bytes) else str(got[0][0])
            score, index, label = top.split(":")
            expect(int(index) == int(np.argmax(expected[0])), f"top {top}")
            expect(label == f"angle{18 * int(index)}", f"label {label}")
            return top
        check(f"{proto} infer with class_count (classification)", classification)

        def infer_error():
            try:
                c.infer("lenet", infer_inputs(np.zeros((1, 3, 28, 28), np.float32)))
            except InferenceServerException as e:
                return e.message()[:80]
            raise AssertionError("no error for a wrong shape")
        check(f"{proto} infer error reaches the client", infer_error)

        def async_infer():
            if proto == "grpc":
                done = []
                # tritonclient calls back with keywords: callback(result=..., error=...).
                c.async_infer("lenet", infer_inputs(),
                              lambda result, error: done.append((result, error)))
                for _ in range(200):
                    if done:
                        break
                    time.sleep(0.01)
                r, e = done[0]
                expect(e is None, str(e))
            else:
                r = c.async_infer("lenet", infer_inputs()).get_result()
            expect(np.allclose(r.as_numpy("output"), expected, rtol=1e-4, atol=1e-5), "differ")
        check(f"{proto} async_infer", async_infer)

        if proto == "grpc":
            def stream():
                got = []
                c.start_stream(callback=lambda result, error: got.append((result, error)))
                for k in range(3):
                    c.async_stream_infer("lenet", infer_inputs(), request_id=str(k))
                c.stop_stream()
                expect(len(got) == 3, f"{len(got)} replies")
                for r, e in got:
                    expect(e is None, str(e))
                    expect(np.allclose(r.as_numpy("output"), expected, rtol=1e-4, atol=1e-5),
                           "differ")
            check("grpc streaming (start_stream, async_stream_infer, stop_stream)", stream)

        def statistics():
            s = c.get_inference_statistics("lenet")
            stats = s.model_stats if proto == "grpc" else s["model_stats"]
            expect(len(stats) >= 1, "no stats")
        check(f"{proto} get_inference_statistics", statistics)

        def load_unload():
            c.unload_model("mlp")
            expect(not c.is_model_ready("mlp"), "still ready")
            c.load_model("mlp")
            expect(c.is_model_ready("mlp"), "not ready")
        check(f"{proto} unload_model / load_model", load_unload)

        def load_with_config():
            # A whole ModelConfig, as Triton's override replaces config.pbtxt (mlp starts with
            # Flatten, which takes any shape: its input dims must be given).
            c.load_model("mlp", config=json.dumps({
                "max_batch_size": 4,
                "input": [{"name": "input", "data_type": "TYPE_FP32", "dims": [1, 28, 28]}]}))
            cfg = c.get_model_config("mlp")
            mbs = cfg.config.max_batch_size if proto == "grpc" else cfg["max_batch_size"]
            expect(mbs == 4, f"max_batch_size {mbs}")
            c.load_model("mlp")  # back to config.pbtxt
        check(f"{proto} load_model(config=...) (override)", load_with_config)

        def load_with_files():
            try:
                c.load_model("mlp", config=json.dumps({}), files={"file:1/model.seq": b"x"})
            except InferenceServerException as e:
                return e.message()[:80]
            raise AssertionError("file: parameters accepted")
        check(f"{proto} load_model(files=...) refused with a reason", load_with_files)

        def logging():
            before = c.get_log_settings()
            c.update_log_settings({"log_verbose_level": 1})
            after = c.get_log_settings()
            settings = after.settings if proto == "grpc" else after
            level = (settings["log_verbose_level"].uint32_param if proto == "grpc"
                     else settings["log_verbose_level"])
            expect(level == 1, f"verbose {level}")
            c.update_log_settings({"log_verbose_level": 0})
            return None if before is None else "get/update"
        check(f"{proto} get_log_settings / update_log_settings", logging)

        def trace():
            c.update_trace_settings(settings={"trace_level": ["TIMESTAMPS"], "trace_rate": "1",
                                              "trace_count": "2"})
            s = c.get_trace_settings()
            c.infer("lenet", infer_inputs())
            c.update_trace_settings(model_name="lenet", settings={"trace_level": ["OFF"]})
            c.get_trace_settings(model_name="lenet")
            c.update_trace_settings(model_name="lenet", settings={"trace_level": None})
            c.update_trace_settings(settings={"trace_level": ["OFF"]})
            return "settings " + ("ok" if s else "empty")
        check(f"{proto} get_trace_settings / update_trace_settings", trace)

        def system_shm():
            name = f"/tc_{proto}_in"
            out_name = f"/tc_{proto}_out"
            byte_size = images.nbytes
            h_in = shm.create_shared_memory_region(f"{proto}_in", name, byte_size)
            h_out = shm.create_shared_memory_region(f"{proto}_out", out_name, expected.nbytes)
            try:
                shm.set_shared_memory_region(h_in, [images])
                c.register_system_shared_memory(f"{proto}_in", name, byte_size)
                c.register_system_shared_memory(f"{proto}_out", out_name, expected.nbytes)
                status = c.get_system_shared_memory_status()
                expect(len(status.regions if proto == "grpc" else status) >= 2, "status")
                i = m.InferInput("input", list(images.shape), "FP32")
                i.set_shared_memory(f"{proto}_in", byte_size)
                o = m.InferRequestedOutput("output")
                o.set_shared_memory(f"{proto}_out", expected.nbytes)
                c.infer("lenet", [i], outputs=[o])
                got = shm.get_contents_as_numpy(h_out, np.float32, list(expected.shape))
                expect(np.allclose(got, expected, rtol=1e-4, atol=1e-5), "outputs differ")
                c.unregister_system_shared_memory(f"{proto}_in")
                c.unregister_system_shared_memory()
            finally:
                shm.destroy_shared_memory_region(h_in)
                shm.destroy_shared_memory_region(h_out)
        check(f"{proto} system shared memory (register, status, infer, unregister)", system_shm)

        def cuda_shm():
            try:
                c.get_cuda_shared_memory_status()
            except InferenceServerException as e:
                return e.message()[:80]
            return "answered (empty)"
        check(f"{proto} get_cuda_shared_memory_status (no GPU: an error or nothing)", cuda_shm)

        if hasattr(c, "close"):
            check(f"{proto} close", c.close)

    check("trace file written as a JSON array",
          lambda: expect(isinstance(json.loads(trace_file.read_text() or "[]"), list), "json"))


if __name__ == "__main__":
    sys.exit(main())
