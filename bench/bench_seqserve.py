#!/usr/bin/python3
"""seqserve's side of the engine benchmark: `seqserve bench --json` (the serving code path,
in-process: warm-up, then every call timed) on the models bench/models.py wrote, one
process per (model, batch, threads). Prints one JSON line per configuration in the format
of bench_torch.py and bench_ort.js, with `seqserve bench`'s own fields beside.
Usage: bench/bench_seqserve.py [--bin build/bin/seqserve] [--models a,b] [--batches 1,8,32]
                               [--threads 1,2] [--seconds 1]
"""
import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "out")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(HERE, "..", "build", "bin", "seqserve"))
    ap.add_argument("--models", default="")
    ap.add_argument("--batches", default="1,8,32")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--seconds", type=float, default=1.0)
    args = ap.parse_args()
    meta = json.load(open(os.path.join(OUT, "models.json")))
    for threads in map(int, args.threads.split(",")):
        for name in args.models.split(",") if args.models else meta:
            shape = ",".join(map(str, meta[name]["shape"]))
            for batch in map(int, args.batches.split(",")):
                run = subprocess.run(
                    [args.bin, "bench", os.path.join(OUT, "models", name), "--batch", str(batch),
                     "--shape", shape, "--threads", str(threads), "--seconds", str(args.seconds),
                     "--json"], capture_output=True, text=True)
                if run.returncode != 0:
                    sys.exit(f"seqserve bench {name} --batch {batch} --threads {threads}: {run.stderr.strip()}")
                report = json.loads(run.stdout)
                row = {"engine": "seqserve", "model": name, "batch": batch, "threads": threads}
                row.update({k: report[k] for k in ("median_ms", "p10_ms", "p90_ms", "p99_ms", "min_ms", "mean_ms",
                                                  "samples_per_s", "iterations", "load_ms", "tuning_ms",
                                                  "first_compile_ms")})
                print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
