#!/usr/bin/python3
"""Issue 16's int8 measurement, in one run: `seqserve bench` in fp32 and int8 (alternating, so
that a noisy moment on a shared machine hits both alike; the best of the rounds), and PyTorch
eager fp32, FX static int8 (prepare_fx/convert_fx, "onednn" engine: Debian's torch has no
FBGEMM) and quantize_dynamic (Linear only) on the same models and weights (bench/models.py),
one thread. seqserve's int8 ranges come from `seqserve calibrate` on 64 random normal inputs
(the models have random weights; ranges only set the scales, not the speed), written beside
each model. Prints the CPU's int8-related flags and a Markdown table of samples/s with ratios.
Usage: /usr/bin/python3 bench/bench_int8.py [--models mlp,vgg_block] [--batches 1,8,32]
                                            [--seconds 1] [--rounds 2]
Expects build/bin/seqserve (Release) and runs bench/models.py for the models it needs.
"""
import argparse
import json
import os
import subprocess
import sys

import numpy as np

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
OUT = os.path.join(ROOT, "bench", "out")
SEQSERVE = os.path.join(ROOT, "build", "bin", "seqserve")


def calibrate(model):
    meta = json.load(open(os.path.join(OUT, "models.json")))[model]
    samples = os.path.join(OUT, f"{model}_calibration.npy")
    np.save(samples, np.random.RandomState(0).randn(64, *meta["shape"]).astype(np.float32))
    out = subprocess.run([SEQSERVE, "calibrate", os.path.join(OUT, "models", model), "--data", samples],
                         check=True, capture_output=True, text=True).stdout
    return out.strip().splitlines()[-1]  # the agreement line


def seqserve_bench(model, batch, precision, seconds):
    env = dict(os.environ, SEQSERVE_TUNING_CACHE=os.path.join(OUT, "tuning"))
    # The sample shape PyTorch runs (convolutional models take any image size).
    shape = ",".join(map(str, json.load(open(os.path.join(OUT, "models.json")))[model]["shape"]))
    out = subprocess.run([SEQSERVE, "bench", os.path.join(OUT, "models", model), "--shape", shape,
                          "--batch", str(batch),
                          "--threads", "1", "--seconds", str(seconds), "--precision", precision, "--json"],
                         check=True, capture_output=True, text=True, env=env).stdout
    return json.loads(out)


def torch_bench(model, batch, seconds):
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    engines = "torch_eager,torch_fx_int8,torch_dynamic_int8"
    out = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "bench_torch.py"), "--models", model,
                          "--batches", str(batch), "--threads", "1", "--seconds", str(seconds),
                          "--engines", engines],
                         check=True, capture_output=True, text=True, env=env).stdout
    return {r["engine"]: batch * 1e3 / r["median_ms"] for r in map(json.loads, out.splitlines())}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="mlp,vgg_block,lenet5")
    ap.add_argument("--batches", default="1,8,32")
    ap.add_argument("--seconds", type=float, default=1.0)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    subprocess.run([sys.executable, os.path.join(ROOT, "bench", "models.py"), "--models", args.models],
                   check=True)
    flags = open("/proc/cpuinfo").read().split("flags\t\t: ")[1].split("\n")[0].split()
    cpu = [f for f in flags if "vnni" in f or f.startswith("amx") or f in ("avx512f", "avx2")]
    print(f"CPU flags: {' '.join(cpu)}")
    for model in args.models.split(","):
        print(f"{model}: {calibrate(model)}")
    print("| model | batch | seqserve fp32 | seqserve int8 (int8 layers) | int8/fp32 | torch fp32 | "
          "torch FX int8 | torch dynamic int8 | seqserve int8 / best torch int8 |")
    print("|---|---|---|---|---|---|---|---|---|")
    for model in args.models.split(","):
        for batch in map(int, args.batches.split(",")):
            torch = torch_bench(model, batch, args.seconds)
            best = {"fp32": 0.0, "int8": 0.0}
            layers, effective = "", set()
            for _ in range(args.rounds):  # ABAB: fp32, int8, fp32, int8
                for precision in ("fp32", "int8"):
                    r = seqserve_bench(model, batch, precision, args.seconds)
                    best[precision] = max(best[precision], r["samples_per_s"])
                    if precision == "int8":
                        effective.add(r["effective_precision"])
                        layers = f"{r['reduced_layers']}/{r['weighted_layers']}"
            note = "" if "int8" in effective else ", ran fp32: no VNNI"
            torch_int8 = max(torch["torch_fx_int8"], torch["torch_dynamic_int8"])
            print(f"| {model} | {batch} | {best['fp32']:.0f} | {best['int8']:.0f} ({layers}{note}) | "
                  f"{best['int8'] / best['fp32']:.2f} | {torch['torch_eager']:.0f} | "
                  f"{torch['torch_fx_int8']:.0f} | {torch['torch_dynamic_int8']:.0f} | "
                  f"{best['int8'] / torch_int8:.2f} |", flush=True)


if __name__ == "__main__":
    main()
