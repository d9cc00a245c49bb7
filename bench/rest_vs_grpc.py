#!/usr/bin/python3
"""Issue 15's HTTP front end under load: REST (binary extension and JSON, keep-alive and a new
connection per request) against gRPC (seqperf, unary) on LeNet-5, one server, concurrency 1,
16, 64 and 256. With --idle N it also holds N idle keep-alive HTTP connections (one request
each, then silent) and reports the server's RSS and thread count before and after, and REST
binary throughput at concurrency 64 with them held.

Usage: /usr/bin/python3 bench/rest_vs_grpc.py [--bin-dir build/bin] [--seconds 2]
                                              [--concurrency 1,16,64,256] [--idle 10000]
Prints Markdown for bench/RESULTS.md.
"""
from __future__ import annotations

import argparse
import re
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

from serving_bench import start_seqserve
from serving_vs_python import ROOT, measure

LENET = "1,28,28"


def rest(bin_dir: Path, port: int, concurrency: int, seconds: float, binary: bool,
         new_connection: bool) -> dict:
    command = [str(bin_dir / "bench_rest"), "load", "--url", f"127.0.0.1:{port}", "-m", "lenet",
               "--shape", LENET, "--concurrency", str(concurrency), "--seconds", str(seconds)]
    if binary:
        command.append("--binary")
    if new_connection:
        command.append("--new-connection")
    done = subprocess.run(command, capture_output=True, text=True)
    match = re.search(r"([\d.]+) infer/s, p50 ([\d.]+) ms, p90 [\d.]+ ms, p99 ([\d.]+) ms.*"
                      r"\((\d+) requests, (\d+) errors, (\d+) clients unanswered\)", done.stdout)
    if not match:
        return {"throughput": 0.0, "p50": float("nan"), "p99": float("nan"), "errors": -1,
                "note": (done.stdout + done.stderr).strip().splitlines()[-1:]}
    return {"throughput": float(match[1]), "p50": float(match[2]), "p99": float(match[3]),
            "errors": int(match[5]), "unanswered": int(match[6])}


def status_of(pid: int, field: str) -> int:
    text = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(rf"{field}:\s*(\d+)", text)[1])


def hold_idle(port: int, count: int) -> tuple[list[socket.socket], int]:
    """`count` keep-alive connections, each after one answered request; and how many got 200."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bin-dir", default=str(ROOT / "build" / "bin"))
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--concurrency", default="1,16,64,256")
    parser.add_argument("--idle", type=int, default=0, help="idle keep-alive connections")
    parser.add_argument("--skip-matrix", action="store_true", help="only the --idle check")
    args = parser.parse_args()
    bin_dir = Path(args.bin_dir)
    levels = [int(c) for c in args.concurrency.split(",")]

    with tempfile.TemporaryDirectory() as tmp:
        repository = Path(tmp)
        shutil.copytree(ROOT / "models" / "lenet", repository / "lenet")
        server, _ = start_seqserve(bin_dir, repository)
        http_port = next(int(m[1]) for line in server.lines
                         if (m := re.search(r"HTTP \(KServe v2 REST\) on .*:(\d+)", line)))
        try:
            if not args.skip_matrix:
                print("| concurrency | gRPC infer/s (p50 / p99 ms) | REST binary keep-alive |"
                      " REST JSON keep-alive | REST binary new conn. | REST JSON new conn. |"
                      " binary ka / gRPC |")
                print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
                for c in levels:
                    grpc = measure(bin_dir / "seqperf", server, "lenet", LENET, str(c),
                                   int(args.seconds * 1000), ["-r", "3"])[c]
                    g = {"throughput": grpc["throughput_infer_per_sec"],
                         "p50": grpc["latency_us"]["p50"] / 1000,
                         "p99": grpc["latency_us"]["p99"] / 1000,
                         "errors": sum(grpc["errors"].values())}
                    cells = [rest(bin_dir, http_port, c, args.seconds, b, n)
                             for n in (False, True) for b in (True, False)]
                    ordered = [cells[0], cells[1], cells[2], cells[3]]

                    def cell(r: dict) -> str:
                        errors = f", {r['errors']} errors" if r["errors"] else ""
                        if r.get("unanswered"):
                            errors += f", {r['unanswered']} clients unanswered"
                        return (f"{r['throughput']:.0f} ({r['p50']:.2f} / {r['p99']:.2f}"
                                f"{errors})")
                    print(f"| {c} | {cell(g)} | " + " | ".join(cell(r) for r in ordered) +
                          f" | {ordered[0]['throughput'] / g['throughput']:.2f}x |", flush=True)
            if args.idle:
                pid = server.process.pid
                base = rest(bin_dir, http_port, 64, args.seconds, True, False)
                rss0, threads0 = status_of(pid, "VmRSS"), status_of(pid, "Threads")
                sockets, answered = hold_idle(http_port, args.idle)
                rss1, threads1 = status_of(pid, "VmRSS"), status_of(pid, "Threads")
                held = rest(bin_dir, http_port, 64, args.seconds, True, False)
                still = sum(1 for s in sockets if s.fileno() >= 0)
                for s in sockets:
                    s.close()
                print(f"\n{args.idle} idle keep-alive connections ({answered} answered 200, "
                      f"{still} held open): RSS {rss0 / 1024:.1f} -> {rss1 / 1024:.1f} MiB "
                      f"(+{(rss1 - rss0) / 1024:.1f} MiB), threads {threads0} -> {threads1}; "
                      f"REST binary x64 {base['throughput']:.0f} infer/s without, "
                      f"{held['throughput']:.0f} with them (p99 {base['p99']:.2f} / "
                      f"{held['p99']:.2f} ms, {held['errors']} errors)")
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
