#!/usr/bin/python3
"""Issue 16's bf16 measurement, in one run: `seqserve bench` in fp32 and bf16 (alternating,
so that a noisy moment on a shared machine hits both alike; the best of the rounds) and
PyTorch eager in fp32 and under torch.autocast("cpu", dtype=torch.bfloat16), on the same
models and weights (bench/models.py), one thread. seqserve runs twice over: with tuning off
(every Conv/Linear of a bf16 plan in bf16) and on (the server's default: tuning keeps a layer
in fp32 where it times that faster). Prints the CPU's bf16-related flags and a Markdown table
of samples/s with the ratios.
Usage: /usr/bin/python3 bench/bench_bf16.py [--models vgg_block,mlp] [--batches 8,32]
                                            [--seconds 1] [--rounds 2]
Expects build/bin/seqserve (Release) and runs bench/models.py for the models it needs.
"""
import argparse
import json
import os
import subprocess
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
OUT = os.path.join(ROOT, "bench", "out")
SEQSERVE = os.path.join(ROOT, "build", "bin", "seqserve")


def seqserve_bench(model, batch, precision, seconds, tuning):
    env = dict(os.environ, SEQSERVE_TUNING=tuning, SEQSERVE_TUNING_CACHE=os.path.join(OUT, "tuning"))
    # The sample shape PyTorch runs: without it a convolutional model (any image size) would be
    # measured at the smallest size `seqserve bench` infers (28x28), not PyTorch's.
    shape = ",".join(map(str, json.load(open(os.path.join(OUT, "models.json")))[model]["shape"]))
    out = subprocess.run([SEQSERVE, "bench", os.path.join(OUT, "models", model), "--shape", shape,
                          "--batch", str(batch),
                          "--threads", "1", "--seconds", str(seconds), "--precision", precision, "--json"],
                         check=True, capture_output=True, text=True, env=env).stdout
    return json.loads(out)


def torch_bench(model, batch, seconds):
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    out = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "bench_torch.py"), "--models", model,
                          "--batches", str(batch), "--threads", "1", "--seconds", str(seconds),
                          "--engines", "torch_eager,torch_autocast_bf16"],
                         check=True, capture_output=True, text=True, env=env).stdout
    return {r["engine"]: batch * 1e3 / r["median_ms"] for r in map(json.loads, out.splitlines())}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="vgg_block,mlp")
    ap.add_argument("--batches", default="8,32")
    ap.add_argument("--seconds", type=float, default=1.0)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    subprocess.run([sys.executable, os.path.join(ROOT, "bench", "models.py"), "--models", args.models],
                   check=True)
    flags = open("/proc/cpuinfo").read().split("flags\t\t: ")[1].split("\n")[0].split()
    cpu = [f for f in flags if "bf16" in f or f.startswith("amx") or f in ("avx512f", "avx512_vnni")]
    print(f"CPU flags: {' '.join(cpu)}")
    print("| model | batch | tuning | seqserve fp32 | seqserve bf16 (bf16 layers) | bf16/fp32 | torch fp32 | "
          "torch autocast bf16 | autocast/fp32 | seqserve bf16/autocast |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for model in args.models.split(","):
        for batch in map(int, args.batches.split(",")):
            torch = torch_bench(model, batch, args.seconds)
            eager, autocast = torch["torch_eager"], torch["torch_autocast_bf16"]
            for tuning in ("off", "on"):
                best = {"fp32": 0.0, "bf16": 0.0}
                layers = ""
                effective = set()
                for _ in range(args.rounds):  # ABAB: fp32, bf16, fp32, bf16
                    for precision in ("fp32", "bf16"):
                        r = seqserve_bench(model, batch, precision, args.seconds, tuning)
                        best[precision] = max(best[precision], r["samples_per_s"])
                        if precision == "bf16":
                            effective.add(r["effective_precision"])
                            layers = f"{r['bf16_layers']}/{r['weighted_layers']}"
                note = "" if "bf16" in effective else ", ran fp32: no AVX512_BF16"
                print(f"| {model} | {batch} | {tuning} | {best['fp32']:.0f} | {best['bf16']:.0f} ({layers}{note}) | "
                      f"{best['bf16'] / best['fp32']:.2f} | {eager:.0f} | {autocast:.0f} | {autocast / eager:.2f} | "
                      f"{best['bf16'] / autocast:.2f} |", flush=True)


if __name__ == "__main__":
    main()
