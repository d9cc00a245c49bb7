#!/usr/bin/python3
"""Issue 15's HTTP front end under load: REST (binary extension and JSON, keep-alive and a new
connection per request, bench_rest load) against gRPC (seqperf, unary) on LeNet-5, one
server, concurrency 1, 16, 64 and 256. Each cell is the median of --rounds runs, the runs of
all cells interleaved so that a busy machine slows them alike.

--baseline BIN also runs another seqserve binary (e.g. a build of an older commit) beside
this one, interleaved the same way, and prints its REST table too (gRPC is measured on this
build only: the HTTP front end does not touch it).

--idle N then holds N idle keep-alive HTTP connections (one request each, then silent) and
reports the server's RSS and thread count before and after, and REST binary throughput at
concurrency 64 before, while and after they are held.

Usage: /usr/bin/python3 bench/rest_vs_grpc.py [--bin-dir build/bin] [--seconds 2]
           [--rounds 3] [--concurrency 1,16,64,256] [--baseline OLD/seqserve] [--idle 10000]
Prints Markdown for bench/RESULTS.md.
"""
from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from serving_bench import start_seqserve
from serving_vs_python import ROOT, measure

LENET = "1,28,28"
REST_KINDS = [("binary", False), ("JSON", False), ("binary", True), ("JSON", True)]


def rest(bin_dir: Path, port: int, concurrency: int, seconds: float, binary: bool,
         new_connection: bool) -> dict:
    command = [str(bin_dir / "bench_rest"), "load", "--url", f"127.0.0.1:{port}", "-m", "lenet",
               "--shape", LENET, "--concurrency", str(concurrency), "--seconds", str(seconds)]
    if binary:
        command.append("--binary")
    if new_connection:
        command.append("--new-connection")
    done = subprocess.run(command, capture_output=True, text=True, errors="replace")
    match = re.search(r"([\d.]+) infer/s, p50 ([\d.]+) ms, p90 [\d.]+ ms, p99 ([\d.]+) ms.*"
                      r"\((\d+) requests, (\d+) errors, (\d+) clients unanswered\)", done.stdout)
    if not match:
        return {"throughput": 0.0, "p50": float("nan"), "p99": float("nan"), "errors": -1,
                "unanswered": concurrency}
    return {"throughput": float(match[1]), "p50": float(match[2]), "p99": float(match[3]),
            "errors": int(match[5]), "unanswered": int(match[6])}


def grpc(bin_dir: Path, server, concurrency: int, seconds: float) -> dict:
    step = measure(bin_dir / "seqperf", server, "lenet", LENET, str(concurrency),
                   int(seconds * 1000), ["-r", "3", "--stability-windows", "2"])[concurrency]
    return {"throughput": step["throughput_infer_per_sec"],
            "p50": step["latency_us"]["p50"] / 1000, "p99": step["latency_us"]["p99"] / 1000,
            "errors": sum(step["errors"].values()), "unanswered": 0}


def median_run(runs: list[dict]) -> dict:
    """The run with the median throughput (its latencies with it), errors summed."""
    ordered = sorted(runs, key=lambda r: r["throughput"])
    chosen = dict(ordered[len(ordered) // 2])
    chosen["errors"] = sum(max(r["errors"], 0) for r in runs)
    chosen["unanswered"] = max(r["unanswered"] for r in runs)
    return chosen


def cell(r: dict) -> str:
    notes = f", {r['errors']} errors" if r["errors"] else ""
    if r.get("unanswered"):
        notes += f", {r['unanswered']} clients unanswered"
    return f"{r['throughput']:.0f} ({r['p50']:.2f} / {r['p99']:.2f}{notes})"


def status_of(pid: int, field: str) -> int:
    text = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(rf"{field}:\s*(\d+)", text)[1])


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rest_with_cpu(bin_dir: Path, port: int, pid: int, seconds: float) -> dict:
    """REST binary keep-alive at concurrency 64, with the server's CPU per request (us)."""
    cpu0 = cpu_seconds(pid)
    result = rest(bin_dir, port, 64, seconds, True, False)
    # bench_rest runs 1 s of warm-up before its window: count those requests too.
    requests = result["throughput"] * (seconds + 1)
    result["cpu_us"] = (cpu_seconds(pid) - cpu0) * 1e6 / requests if requests else float("nan")
    return result


def hold_idle(port: int, count: int) -> tuple[list[socket.socket], int]:
    """`count` keep-alive connections, each after one answered request; and how many got 200."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    request = b"GET /v2/health/live HTTP/1.1\r\nHost: bench\r\n\r\n"
    sockets = []
    for _ in range(count):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(request)
        sockets.append(s)
    answered = 0
    for s in sockets:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        answered += data.startswith(b"HTTP/1.1 200")
    return sockets, answered


def http_port_of(server) -> int:
    return next(int(m[1]) for line in server.lines
                if (m := re.search(r"HTTP \(KServe v2 REST\) on .*:(\d+)", line)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bin-dir", default=str(ROOT / "build" / "bin"))
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--concurrency", default="1,16,64,256")
    parser.add_argument("--baseline", help="another seqserve binary to measure beside this one")
    parser.add_argument("--idle", type=int, default=0, help="idle keep-alive connections")
    parser.add_argument("--skip-matrix", action="store_true", help="only the --idle check")
    args = parser.parse_args()
    bin_dir = Path(args.bin_dir)
    levels = [int(c) for c in args.concurrency.split(",")]

    with tempfile.TemporaryDirectory() as tmp:
        repository = Path(tmp)
        shutil.copytree(ROOT / "models" / "lenet", repository / "lenet")
        servers = {"this build": start_seqserve(bin_dir, repository)[0]}
        if args.baseline:
            baseline_dir = Path(tmp) / "baseline"
            baseline_dir.mkdir()
            (baseline_dir / "seqserve").symlink_to(Path(args.baseline).resolve())
            servers["baseline"] = start_seqserve(baseline_dir, repository)[0]
        ports = {name: http_port_of(server) for name, server in servers.items()}
        try:
            if not args.skip_matrix:
                rows: dict[str, dict[int, list]] = {name: {} for name in servers}
                grpc_rows: dict[int, dict] = {}
                for c in levels:
                    grpc_runs, rest_runs = [], {name: [[] for _ in REST_KINDS] for name in servers}
                    for _ in range(args.rounds):
                        grpc_runs.append(grpc(bin_dir, servers["this build"], c, args.seconds))
                        for name, port in ports.items():
                            for k, (kind, new) in enumerate(REST_KINDS):
                                rest_runs[name][k].append(
                                    rest(bin_dir, port, c, args.seconds, kind == "binary", new))
                    grpc_rows[c] = median_run(grpc_runs)
                    for name in servers:
                        rows[name][c] = [median_run(runs) for runs in rest_runs[name]]
                for name in servers:
                    print(f"\n**{name}**: infer/s (p50 / p99 ms), median of {args.rounds} "
                          f"round(s) of {args.seconds:g} s\n")
                    print("| concurrency | gRPC | REST binary keep-alive | REST JSON keep-alive |"
                          " REST binary new conn. | REST JSON new conn. | binary ka / gRPC |")
                    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
                    for c in levels:
                        g, r = grpc_rows[c], rows[name][c]
                        ratio = r[0]["throughput"] / g["throughput"] if g["throughput"] else 0
                        print(f"| {c} | {cell(g)} | " + " | ".join(cell(x) for x in r) +
                              f" | {ratio:.2f}x |")
            if args.idle:
                server, port = servers["this build"], ports["this build"]
                pid = server.process.pid
                base = rest_with_cpu(bin_dir, port, pid, args.seconds)
                rss0, threads0 = status_of(pid, "VmRSS"), status_of(pid, "Threads")
                sockets, answered = hold_idle(port, args.idle)
                rss1, threads1 = status_of(pid, "VmRSS"), status_of(pid, "Threads")
                held = rest_with_cpu(bin_dir, port, pid, args.seconds)
                for s in sockets:
                    s.close()
                after = rest_with_cpu(bin_dir, port, pid, args.seconds)
                print(f"\n{args.idle} idle keep-alive connections ({answered} answered 200, held "
                      f"open): RSS {rss0 / 1024:.1f} -> {rss1 / 1024:.1f} MiB "
                      f"(+{(rss1 - rss0) / 1024:.1f} MiB), threads {threads0} -> {threads1}. "
                      f"REST binary x64 before / while held / after: "
                      f"{base['throughput']:.0f} / {held['throughput']:.0f} / "
                      f"{after['throughput']:.0f} infer/s, p99 {base['p99']:.2f} / "
                      f"{held['p99']:.2f} / {after['p99']:.2f} ms, server CPU "
                      f"{base['cpu_us']:.0f} / {held['cpu_us']:.0f} / {after['cpu_us']:.0f} us "
                      f"per request, {held['errors']} errors while held")
        finally:
            for server in servers.values():
                server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
