#!/usr/bin/python3
"""Checks seqperf, the load generator, two ways (issue 4):

1. its CPU per request against bench/bare_client.cc (the least a gRPC C++ async client
   does), both driving the bare echo server, at concurrency 1 and 64;
2. its measurement against h2load (Debian's nghttp2-client), an independent HTTP/2 load
   generator, on one seqserve step: same model, batch 1, same requests in flight.
   h2load cannot speak gRPC, but a unary gRPC call is an HTTP/2 POST whose body is the
   5-byte length-prefixed request message; this writes that body once and replays it.

Usage: /usr/bin/python3 bench/client_check.py [--bin-dir build/bin] [--model lenet]
           [--concurrency 16] [--requests 100000]
Prints Markdown for bench/RESULTS.md. Needs nghttp2-client (apt-get install nghttp2-client).
"""
from __future__ import annotations

import argparse
import re
import shutil
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from serving_bench import metric_sum, start_seqserve
from serving_vs_python import ROOT, Server, measure, sample_shape

sys.path.insert(0, str(ROOT / "client" / "python"))
from seqserve._proto import grpc_service_pb2 as pb  # noqa: E402


def grpc_body(model: str, shape: list[int]) -> bytes:
    """A ModelInferRequest for one random sample, framed as gRPC puts it on the wire."""
    request = pb.ModelInferRequest(model_name=model)
    tensor = request.inputs.add(name="input", datatype="FP32", shape=[1] + shape)
    del tensor  # raw bytes go beside the tensor description, as seqperf sends them
    data = np.random.default_rng(1).random([1] + shape, dtype=np.float32)
    request.raw_input_contents.append(data.tobytes())
    message = request.SerializeToString()
    return struct.pack(">BI", 0, len(message)) + message


def client_cost(bin_dir: Path, ms: int) -> None:
    """seqperf's and the bare client's CPU per request against the echo server."""
    echo = Server("echo", [str(bin_dir / "echo_server"), "--port", "0"])
    rows = []
    try:
        for c in (1, 64):
            step = measure(bin_dir / "seqperf", echo, "echo", "1,28,28", str(c), ms)[c]
            rows.append(("seqperf", c, step["throughput_infer_per_sec"],
                         step["client_cpu_us_per_request"]))
            run = subprocess.run([str(bin_dir / "bare_client"), "--url", f"127.0.0.1:{echo.port}",
                                  "-m", "echo", "--shape", "1,1,28,28", "--concurrency", str(c),
                                  "--seconds", str(max(3, ms * 3 // 1000))],
                                 check=True, capture_output=True, text=True)
            match = re.search(r"([\d.]+) infer/s, client CPU ([\d.]+) us/req", run.stdout)
            rows.append(("bare async client", c, float(match.group(1)), float(match.group(2))))
    finally:
        echo.stop()
    print("### seqperf's own CPU against a bare gRPC C++ async client, both driving the echo "
          "server\n")
    print("| client | concurrency | infer/s | client CPU us/req |")
    print("| --- | ---: | ---: | ---: |")
    for name, c, rate, cpu in rows:
        print(f"| {name} | {c} | {rate:.0f} | {cpu:.1f} |")
    for c in (1, 64):
        ours = next(r[3] for r in rows if r[0] == "seqperf" and r[1] == c)
        bare = next(r[3] for r in rows if r[0] != "seqperf" and r[1] == c)
        print(f"\n- concurrency {c}: seqperf {ours / bare:.2f}x the bare client's CPU per request "
              f"({'meets' if ours <= bare * 1.05 else 'misses'} <= 1x, 5% noise allowed)", end="")
    print("\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bin-dir", default=str(ROOT / "build" / "bin"))
    parser.add_argument("--model", default="lenet")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--measurement-ms", type=int, default=3000)
    args = parser.parse_args()
    if shutil.which("h2load") is None:
        sys.exit("h2load not found: apt-get install nghttp2-client")
    bin_dir = Path(args.bin_dir)
    client_cost(bin_dir, args.measurement_ms)
    shape = sample_shape(ROOT / "models" / args.model)

    server, metrics_port = start_seqserve(bin_dir, ROOT / "models")
    try:
        ours = measure(bin_dir / "seqperf", server, args.model, shape, str(args.concurrency),
                       args.measurement_ms)[args.concurrency]
        with tempfile.NamedTemporaryFile(suffix=".bin") as body:
            body.write(grpc_body(args.model, [int(d) for d in shape.split(",")]))
            body.flush()
            succeeded = metric_sum(metrics_port, "seqserve_inference_request_success_total",
                                   args.model)
            # One connection, `concurrency` streams in flight on it: seqperf's layout.
            run = subprocess.run(
                ["h2load", "-n", str(args.requests), "-c", "1", "-m", str(args.concurrency),
                 "-t", "1", "-d", body.name, "-H", "content-type: application/grpc",
                 "-H", "te: trailers",
                 f"http://127.0.0.1:{server.port}/inference.GRPCInferenceService/ModelInfer"],
                check=True, capture_output=True, text=True)
            succeeded = metric_sum(metrics_port, "seqserve_inference_request_success_total",
                                   args.model) - succeeded
    finally:
        server.stop()
    out = run.stdout
    rate = float(re.search(r"finished in [^,]+, ([\d.]+) req/s", out).group(1))
    # h2load's "time for request" row: min, max, mean, sd (in us or ms)
    row = re.search(r"time for request:\s+(\S+)\s+(\S+)\s+(\S+)", out)
    print(f"### seqperf against h2load: {args.model}, batch 1, {args.concurrency} in flight on "
          f"one connection\n")
    print("| load generator | infer/s | mean latency | requests | OK |")
    print("| --- | ---: | ---: | ---: | ---: |")
    print(f"| seqperf | {ours['throughput_infer_per_sec']:.0f} | "
          f"{ours['latency_us']['mean']:.0f}us | {ours['requests']} | "
          f"{ours['requests'] - sum(ours['errors'].values())} |")
    print(f"| h2load | {rate:.0f} | {row.group(3)} | {args.requests} | "
          f"{succeeded:.0f} (the server's success counter) |")
    print(f"\n- seqperf / h2load throughput: {ours['throughput_infer_per_sec'] / rate:.2f}")
    report = [line for line in out.strip().splitlines()
              if not line.startswith(("progress", "spawning", "starting"))]
    print("\nh2load's own report:\n\n```\n" + "\n".join(report) + "\n```")
    return 0


if __name__ == "__main__":
    sys.exit(main())
