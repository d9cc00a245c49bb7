#!/usr/bin/python3
"""The targets of issue 5, measured in one run:

1. REST JSON decode + encode of a 1x3x224x224 float32 tensor (in-process, bench_rest codec):
   <= 10 ms.
2. REST with Triton's binary tensor extension against gRPC raw, same server, same model
   (an Identity on 3x224x224, so the transport is all there is), concurrency 1:
   p50 <= 1 ms above gRPC's.
3. metrics on versus off (--allow-metrics): LeNet-5 at concurrency 16 under seqperf,
   alternating the two servers for --rounds rounds: throughput within 2%.

Usage: /usr/bin/python3 bench/rest_bench.py [--bin-dir build/bin] [--rounds 3]
Prints Markdown for bench/RESULTS.md.
"""
from __future__ import annotations

import argparse
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from serving_bench import start_seqserve
from serving_vs_python import ROOT, Server, measure

IMAGE = "3,224,224"


def make_repository(root: Path) -> None:
    """lenet as bundled, and `image`: an Identity on 3x224x224 (no weights)."""
    shutil.copytree(ROOT / "models" / "lenet", root / "lenet")
    (root / "image" / "1").mkdir(parents=True)
    (root / "image" / "1" / "model.seq").write_text("nn.Sequential(nn.Identity())\n")
    (root / "image" / "config.pbtxt").write_text(
        'max_batch_size: 8\n'
        'input [ { name: "input" data_type: TYPE_FP32 dims: [ 3, 224, 224 ] } ]\n'
        'output [ { name: "output" data_type: TYPE_FP32 dims: [ 3, 224, 224 ] } ]\n')


def http_port(server: Server) -> int:
    return next(int(m.group(1)) for line in server.lines
                if (m := re.search(r"HTTP \(KServe v2 REST\) on .*:(\d+);", line)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bin-dir", default=str(ROOT / "build" / "bin"))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--measurement-ms", type=int, default=2000)
    args = parser.parse_args()
    bin_dir = Path(args.bin_dir)
    bench_rest = str(bin_dir / "bench_rest")

    codec = subprocess.run([bench_rest, "codec"], check=True, capture_output=True, text=True)
    total = float(re.search(r"JSON .* total ([\d.]+) ms", codec.stdout).group(1))
    print("### REST codec, 1x3x224x224 float32, in-process\n\n```\n" + codec.stdout.strip() +
          "\n```\n")
    print(f"- JSON decode + encode {total:.1f} ms ({'meets' if total <= 10 else 'misses'} "
          f"<= 10 ms)\n")

    with tempfile.TemporaryDirectory() as tmp:
        repository = Path(tmp)
        make_repository(repository)
        server, _ = start_seqserve(bin_dir, repository)
        try:
            grpc = measure(bin_dir / "seqperf", server, "image", IMAGE, "1",
                           args.measurement_ms)[1]
            rest = {}
            for mode in ("--binary", None):
                run = subprocess.run(
                    [bench_rest, "load", "--url", f"127.0.0.1:{http_port(server)}", "-m", "image",
                     "--shape", IMAGE, "--concurrency", "1", "--seconds", "5"]
                    + ([mode] if mode else []), check=True, capture_output=True, text=True)
                rest[mode or "JSON"] = run.stdout.strip()
        finally:
            server.stop()
        binary_p50 = float(re.search(r"p50 ([\d.]+) ms", rest["--binary"]).group(1))
        grpc_p50 = grpc["latency_us"]["p50"] / 1000
        print("### REST against gRPC raw: Identity on 1x3x224x224 (588 KiB each way), "
              "concurrency 1\n")
        print(f"- gRPC raw (seqperf): {grpc['throughput_infer_per_sec']:.0f} infer/s, "
              f"p50 {grpc_p50:.3f} ms, p99 {grpc['latency_us']['p99'] / 1000:.3f} ms")
        print(f"- {rest['--binary']}")
        print(f"- {rest['JSON']}")
        gap = binary_p50 - grpc_p50
        print(f"- binary extension p50 - gRPC raw p50 = {gap:.3f} ms "
              f"({'meets' if gap <= 1 else 'misses'} <= 1 ms)\n")

        # Metrics on and off, alternated in ABBA order so that drift in the machine's load
        # hits both alike; each round's on/off ratio is one sample.
        rates: dict[str, list[float]] = {"on": [], "off": []}
        for round_index in range(args.rounds):
            for setting in ("on", "off") if round_index % 2 == 0 else ("off", "on"):
                server = Server("seqserve", [
                    str(bin_dir / "seqserve"), f"--model-repository={repository}",
                    "--grpc-port=0", "--http-port=0", "--metrics-port=0",
                    "--address=127.0.0.1", f"--allow-metrics={1 if setting == 'on' else 0}"])
                try:
                    step = measure(bin_dir / "seqperf", server, "lenet", "1,28,28", "16",
                                   args.measurement_ms)[16]
                finally:
                    server.stop()
                rates[setting].append(step["throughput_infer_per_sec"])
    on, off = statistics.median(rates["on"]), statistics.median(rates["off"])
    ratios = [a / b for a, b in zip(rates["on"], rates["off"])]
    print(f"### Metrics on against off: LeNet-5, concurrency 16, {args.rounds} rounds in "
          f"ABBA order\n")
    print(f"- on: {', '.join(f'{r:.0f}' for r in rates['on'])} infer/s (median {on:.0f})")
    print(f"- off: {', '.join(f'{r:.0f}' for r in rates['off'])} infer/s (median {off:.0f})")
    print(f"- on/off per round: {', '.join(f'{r:.3f}' for r in ratios)}")
    cost = 1 - statistics.median(ratios)
    print(f"- metrics cost {cost:+.1%} of throughput, median of the rounds "
          f"({'meets' if abs(cost) < 0.02 else 'misses'} < 2%)\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
