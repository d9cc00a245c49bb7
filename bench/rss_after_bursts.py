#!/usr/bin/python3
"""Does seqserve give memory back after bursts of large requests? (issue 13, "memory that
returns"; bounded, loopback only, about a minute.)

Starts build/bin/seqserve on the bundled models (127.0.0.1, free ports), then:
  1. one warm-up burst (as in 2.), then steady traffic of small requests (seed 1x1x28x28,
     lenet 8x1x28x28): the baseline RSS. The warm-up fills what is meant to stay: the plans
     compiled for the large shapes (a bounded cache), the heaps of the gRPC threads that only
     concurrency starts, the tuning decisions; the bursts after it must not add to that;
  2. `--bursts` bursts, each `--burst-size` large requests sent `--concurrency` at a time:
     seed 1x1x500x500 (a 1 MB request whose 62 MB output and ~125 MB of activations are
     within the default limits) and seed 1x1x1448x1448 (an 8 MB request whose 534 MB
     output is refused before compute, RESOURCE_EXHAUSTED);
  3. after each burst, steady small traffic again for `--settle-requests` requests, a pause
     of `--settle-seconds` (1.5: the server trims its heaps within a second of the last large
     request), then the RSS.
RSS is VmRSS of /proc/<pid>/status, the median of 5 samples 50 ms apart. The run passes
(exit 0) when the RSS after the last burst is within `--tolerance` (20%) of the baseline.
`--refused-only` sends only the oversize requests (the memory of requests no worker sees).
Extra arguments after `--` go to seqserve (e.g. --worker-retain-bytes=0); the environment
is passed on, so glibc tunables (GLIBC_TUNABLES=glibc.malloc.trim_threshold=...) can be
compared too.

  /usr/bin/python3 bench/rss_after_bursts.py [--json] [-- seqserve flags]
"""
from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "client" / "python"))
from seqserve.client import Client, ServerError  # noqa: E402

GRPC_PORT_LINE = re.compile(r"listening for gRPC\b.*:(\d+)\s*$")


def rss_mb(pid: int) -> float:
    samples = []
    for _ in range(5):
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    samples.append(int(line.split()[1]) / 1024.0)
        time.sleep(0.05)
    return statistics.median(samples)


def start_server(binary: Path, extra: list[str], log_path: Path) -> tuple[subprocess.Popen, int]:
    log = open(log_path, "w")
    process = subprocess.Popen(
        [str(binary), f"--model-repository={ROOT / 'models'}", "--grpc-port=0", "--http-port=0",
         "--metrics-port=0", "--address=127.0.0.1", *extra],
        stdout=log, stderr=subprocess.STDOUT)
    deadline = time.time() + 60
    while time.time() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"seqserve exited with {process.returncode}:\n{log_path.read_text()}")
        for line in log_path.read_text().splitlines():
            match = GRPC_PORT_LINE.search(line)
            if match:
                return process, int(match.group(1))
        time.sleep(0.1)
    process.kill()
    raise RuntimeError("seqserve did not start within 60 s")


def small_traffic(client: Client, count: int) -> None:
    rng = np.random.default_rng(0)
    seed_input = rng.standard_normal((1, 1, 28, 28), dtype=np.float32)
    lenet_input = rng.standard_normal((8, 1, 28, 28), dtype=np.float32)
    for i in range(count):
        if i % 2:
            client.infer("seed", seed_input)
        else:
            client.infer("lenet", lenet_input)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--binary", default=str(ROOT / "build" / "bin" / "seqserve"))
    parser.add_argument("--warmup-bursts", type=int, default=1)
    parser.add_argument("--bursts", type=int, default=3)
    parser.add_argument("--burst-size", type=int, default=8)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--baseline-requests", type=int, default=400)
    parser.add_argument("--settle-requests", type=int, default=100)
    parser.add_argument("--settle-seconds", type=float, default=1.5)
    parser.add_argument("--tolerance", type=float, default=0.20)
    parser.add_argument("--refused-only", action="store_true",
                        help="bursts of the oversize requests only (refused before compute, "
                             "so no worker ever sees them)")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("server_flags", nargs="*")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="rss_after_bursts_") as tmp:
        log_path = Path(tmp) / "seqserve.log"
        process, port = start_server(Path(args.binary), args.server_flags, log_path)
        try:
            client = Client(f"127.0.0.1:{port}", timeout=120)
            small_traffic(client, args.baseline_requests)
            cold = rss_mb(process.pid)

            rng = np.random.default_rng(1)
            large = rng.standard_normal((1, 1, 500, 500), dtype=np.float32)
            oversize = rng.standard_normal((1, 1, 1448, 1448), dtype=np.float32)
            outcomes: dict[str, int] = {}
            peak = cold

            def one(i: int) -> str:
                try:
                    client.infer("seed", oversize if i % 2 or args.refused_only else large)
                    return "OK"
                except ServerError as e:
                    return e.code

            def burst() -> float:
                peak = 0.0
                with ThreadPoolExecutor(args.concurrency) as pool:
                    futures = [pool.submit(one, i) for i in range(args.burst_size)]
                    while not all(f.done() for f in futures):
                        peak = max(peak, rss_mb(process.pid))
                    for f in futures:
                        outcomes[f.result()] = outcomes.get(f.result(), 0) + 1
                peak = max(peak, rss_mb(process.pid))
                small_traffic(client, args.settle_requests)
                # The server gives heap memory back within about a second of the last large
                # request (scheduling/heap_trimmer.h: a trim, and one more a second later).
                time.sleep(args.settle_seconds)
                return peak

            for _ in range(args.warmup_bursts):
                peak = max(peak, burst())
            baseline = rss_mb(process.pid)
            after = []
            for _ in range(args.bursts):
                peak = max(peak, burst())
                after.append(rss_mb(process.pid))
            client.close()
        finally:
            process.terminate()
            process.wait(timeout=60)

    ratio = after[-1] / baseline
    report = {
        "server_flags": args.server_flags,
        "cold_rss_mb": round(cold, 1),
        "baseline_rss_mb": round(baseline, 1),
        "peak_rss_mb": round(peak, 1),
        "after_each_burst_rss_mb": [round(a, 1) for a in after],
        "after_over_baseline": round(ratio, 3),
        "large_request_outcomes": outcomes,
        "pass": ratio <= 1.0 + args.tolerance,
    }
    if args.json:
        print(json.dumps(report))
    else:
        print(f"RSS before any burst {cold:.1f} MB, after the warm-up burst (the baseline) "
              f"{baseline:.1f} MB, peak {peak:.1f} MB, after each burst "
              f"{', '.join(f'{a:.1f}' for a in after)} MB: {ratio:.2f}x the baseline "
              f"({'within' if report['pass'] else 'NOT within'} {args.tolerance:.0%}); "
              f"large requests: {outcomes}")
    return 0 if report["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
