#!/usr/bin/python3
"""seqserve against the Python baseline server (bench/python_baseline_server.py), same models,
same load generator (seqperf), one server at a time on this machine; prints the Markdown
table for bench/RESULTS.md with the issue's targets checked: seqserve >= 5x the baseline's
throughput at concurrency 16 and <= 1/5 of its p99 latency at concurrency 1.

Usage: /usr/bin/python3 bench/serving_vs_python.py [--models mlp,lenet] [--concurrency 1,16]
           [--bin-dir build/bin] [--measurement-ms 2000] [--baseline-threads 1]
Needs build/bin/seqserve and build/bin/seqperf (cmake --build build) and python3-torch.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PORT_LINES = {  # how each server logs the port it picked for --grpc-port=0 / port 0
    "seqserve": re.compile(r"listening for gRPC\b.*:(\d+)\s*$"),
    "python": re.compile(r"^listening on .*:(\d+)\s*$"),
    "echo": re.compile(r"^echo_server listening on .*:(\d+)\s*$"),
}


class Server:
    """A server process on a free port, stopped with SIGTERM."""

    def __init__(self, kind: str, command: list[str]):
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True)
        self.port: int | None = None
        self.lines: list[str] = []
        found = threading.Event()

        def read() -> None:
            for line in self.process.stdout:
                self.lines.append(line.rstrip())
                match = PORT_LINES[kind].search(line.rstrip())
                if match and self.port is None:
                    self.port = int(match.group(1))
                    found.set()
            found.set()
        self.reader = threading.Thread(target=read, daemon=True)
        self.reader.start()
        found.wait(120)
        if self.port is None:
            self.stop()
            sys.exit(f"{kind} did not start:\n" + "\n".join(self.lines))

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.reader.join(timeout=10)
        self.process.stdout.close()


def measure(seqperf: Path, server: Server, model: str, shape: str, concurrency: str,
            measurement_ms: int, extra: list[str] | None = None) -> dict[int, dict]:
    """seqperf's steps for one model, by concurrency (`extra`: more seqperf flags)."""
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        subprocess.run([str(seqperf), "-u", f"127.0.0.1:{server.port}", "-m", model,
                        "--shape", shape, "--concurrency-range", concurrency,
                        "-p", str(measurement_ms), "--server-pid", str(server.process.pid),
                        "--json", out.name] + (extra or []), check=True,
                       stdout=subprocess.DEVNULL)
        steps = json.load(open(out.name))["steps"]
    return {step["concurrency"]: step for step in steps}


def sample_shape(model_dir: Path) -> str:
    """One sample's shape from the model's config.pbtxt input dims (seqperf needs it)."""
    match = re.search(r"dims:\s*\[([^\]]*)\]", (model_dir / "config.pbtxt").read_text())
    if not match:
        sys.exit(f"{model_dir}/config.pbtxt has no input dims; pass models that have them")
    return ",".join(d.strip() for d in match.group(1).split(","))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="mlp,lenet")
    parser.add_argument("--concurrency", default="1,16")
    parser.add_argument("--bin-dir", default=str(ROOT / "build" / "bin"))
    parser.add_argument("--repository", default=str(ROOT / "models"))
    parser.add_argument("--measurement-ms", type=int, default=2000)
    parser.add_argument("--baseline-threads", type=int, default=1,
                        help="torch.set_num_threads of the baseline")
    args = parser.parse_args()
    bin_dir = Path(args.bin_dir)
    levels = [int(c) for c in args.concurrency.split(",")]
    models = args.models.split(",")

    results: dict[str, dict[str, dict[int, dict]]] = {}
    commands = {
        "python": [sys.executable, str(ROOT / "bench" / "python_baseline_server.py"), "0",
                   "--model-repository", args.repository,
                   "--threads", str(args.baseline_threads)],
        "seqserve": [str(bin_dir / "seqserve"), f"--model-repository={args.repository}",
                     "--grpc-port=0", "--http-port=0", "--metrics-port=0"],
    }
    for kind, command in commands.items():
        server = Server(kind, command)
        try:
            for model in models:
                shape = sample_shape(Path(args.repository) / model)
                steps = {}
                for level in levels:  # one seqperf run per level: a list is not a range
                    steps.update(measure(bin_dir / "seqperf", server, model, shape,
                                         str(level), args.measurement_ms))
                results.setdefault(model, {})[kind] = steps
        finally:
            server.stop()

    cpus = os.sched_getaffinity(0)
    print(f"seqserve vs. the Python baseline (grpcio thread pool around PyTorch eager, "
          f"{args.baseline_threads} torch thread), seqperf unary, batch 1, "
          f"{args.measurement_ms} ms windows, {len(cpus)} CPUs shared by client and server.\n")
    print("| model | concurrency | seqserve infer/s | baseline infer/s | x | seqserve p99 us "
          "| baseline p99 us | p99 ratio | seqserve server CPU us/req | baseline server "
          "CPU us/req |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    verdicts = []
    for model in models:
        for level in levels:
            ours, base = results[model]["seqserve"][level], results[model]["python"][level]
            speedup = ours["throughput_infer_per_sec"] / base["throughput_infer_per_sec"]
            p99_ratio = ours["latency_us"]["p99"] / base["latency_us"]["p99"]
            print(f"| {model} | {level} | {ours['throughput_infer_per_sec']:.0f} | "
                  f"{base['throughput_infer_per_sec']:.0f} | {speedup:.1f} | "
                  f"{ours['latency_us']['p99']:.0f} | {base['latency_us']['p99']:.0f} | "
                  f"{p99_ratio:.2f} | {ours['server_cpu_us_per_request']:.0f} | "
                  f"{base['server_cpu_us_per_request']:.0f} |")
            if level == 16:
                verdicts.append(f"{model}: throughput at concurrency 16 {speedup:.1f}x "
                                f"({'meets' if speedup >= 5 else 'misses'} >= 5x)")
            if level == 1:
                verdicts.append(f"{model}: p99 at concurrency 1 {p99_ratio:.2f} of the "
                                f"baseline's ({'meets' if p99_ratio <= 0.2 else 'misses'} "
                                f"<= 0.2)")
    print()
    for verdict in verdicts:
        print(f"- {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
