#!/usr/bin/python3
"""Peak memory of the REST JSON decoder (issue 13 item 5: at most ~3x the body).

Starts bin/seqserve on a repository holding one model whose answer is tiny
(AdaptiveAvgPool2d(1) on a 1-channel image), sends one REST request whose JSON "data" is
about --body-mb megabytes of float32 numbers (each written as Python writes a float32's
value, ~10 characters), and reads the server's peak RSS (VmHWM in /proc/PID/status)
before and after. The increase over the idle peak, divided by the body size, is what a
JSON request costs in memory beyond the idle server. One request, then SIGTERM: bounded
to well under a minute.

Usage: /usr/bin/python3 bench/rest_memory.py [--bin-dir build/bin] [--body-mb 62]
"""
from __future__ import annotations

import argparse
import http.client
import json
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serving_vs_python import ROOT, Server  # noqa: E402


def status_kb(pid: int, field: str) -> int:
    text = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(rf"^{field}:\s+(\d+) kB", text, re.M).group(1))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin-dir", type=Path, default=ROOT / "build" / "bin")
    parser.add_argument("--body-mb", type=float, default=62.0)
    parser.add_argument("--values", choices=["floats", "digits"], default="floats",
                        help="floats: uniform [0, 1) with 8 significant digits (~11 bytes "
                             "each with the comma); digits: 0..9 (2 bytes each), the densest")
    args = parser.parse_args()

    chars = 11 if args.values == "floats" else 2
    side = int((args.body_mb * 1e6 / chars) ** 0.5)
    rng = np.random.default_rng(0)
    if args.values == "floats":
        values = rng.random((1, 1, side, side), dtype=np.float32)
        text = ",".join("%.8f" % v for v in values.ravel())
        values = np.array(text.split(","), dtype=np.float32).reshape(values.shape)
    else:
        values = rng.integers(0, 10, (1, 1, side, side)).astype(np.float32)
        text = ",".join("%d" % v for v in values.ravel())
    body = ('{"inputs":[{"name":"input","datatype":"FP32","shape":[1,1,%d,%d],"data":[%s]}]}'
            % (side, side, text)).encode()

    with tempfile.TemporaryDirectory() as tmp:
        repository = Path(tmp)
        (repository / "pool" / "1").mkdir(parents=True)
        (repository / "pool" / "1" / "model.seq").write_text(
            "nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())\n")
        (repository / "pool" / "config.pbtxt").write_text(
            'max_batch_size: 1\n'
            'input [ { name: "input" data_type: TYPE_FP32 dims: [ 1, -1, -1 ] } ]\n'
            'instance_group [ { count: 1 kind: KIND_CPU } ]\n')
        server = Server("seqserve", [str(args.bin_dir / "seqserve"),
                                     f"--model-repository={repository}", "--grpc-port=0",
                                     "--http-port=0", "--metrics-port=0", "--address=127.0.0.1",
                                     f"--http-max-body-bytes={len(body) + 1024}"])
        try:
            http_port = None
            for _ in range(100):
                http_port = next((int(m.group(1)) for line in server.lines
                                  if (m := re.search(r"listening for HTTP.*:(\d+);", line))), None)
                if http_port and any("READY" in line for line in server.lines):
                    break
                time.sleep(0.1)
            pid = server.process.pid
            idle_kb = status_kb(pid, "VmHWM")
            connection = http.client.HTTPConnection("127.0.0.1", http_port, timeout=120)
            start = time.perf_counter()
            connection.request("POST", "/v2/models/pool/infer", body,
                               {"Content-Type": "application/json"})
            response = connection.getresponse()
            answer = json.loads(response.read())
            elapsed = time.perf_counter() - start
            if response.status != 200:
                sys.exit(f"HTTP {response.status}: {answer}")
            got = answer["outputs"][0]["data"][0]
            want = float(values.astype(np.float64).mean())
            # A sanity check only: a float32 mean of millions of values drifts by a few percent.
            if abs(got - want) > 0.05 * abs(want):
                sys.exit(f"wrong answer {got}, expected {want}")
            peak_kb = status_kb(pid, "VmHWM")
        finally:
            server.stop()
    body_mb = len(body) / 1e6
    extra_mb = (peak_kb - idle_kb) / 1e3
    print(f"body {body_mb:.1f} MB ({side}x{side} values, {args.values}), answered in {elapsed:.2f} s")
    print(f"server peak RSS: idle {idle_kb / 1e3:.0f} MB, after the request "
          f"{peak_kb / 1e3:.0f} MB: +{extra_mb:.0f} MB = {extra_mb / body_mb:.2f}x the body")


if __name__ == "__main__":
    main()
