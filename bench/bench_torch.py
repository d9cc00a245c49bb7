#!/usr/bin/python3
"""PyTorch side of the benchmark: eager mode and TorchScript (scripted, frozen,
optimize_for_inference), the same models and weights as bench/models.py (the model.seq text
it wrote to out/models.json, rebuilt with the same seed).
Prints one JSON line per (engine, model, batch, threads).
Usage: /usr/bin/python3 bench/bench_torch.py [--batches 1,8,32] [--threads 1,2] [--seconds 1]
                                             [--models a,b]  (default: all in models.json)
                                             [--engines torch_eager,torchscript,torch_autocast_bf16,
                                                        torch_fx_int8,torch_dynamic_int8]
torch_autocast_bf16 is eager mode under torch.autocast("cpu", dtype=torch.bfloat16): PyTorch's
own bf16 path (oneDNN bf16 convolutions and matmuls), issue 16's comparison for bf16.
torch_fx_int8 is FX graph-mode static post-training quantisation (prepare_fx, calibration on
`--calibration-batches` random batches, convert_fx) with the "onednn" quantised engine: Debian's
torch 1.13 has no FBGEMM (supported engines: qnnpack, onednn). torch_dynamic_int8 is
quantize_dynamic on the Linear layers (weights int8, activations quantised per call).
OpenBLAS (torch's Linear here) takes its thread count from OPENBLAS_NUM_THREADS at import,
not from torch.set_num_threads: run.sh runs this once per thread count with it set.
"""
import argparse
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "golden"))
import golden  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "out")


def measure(fn, seconds):
    """Median and 10th percentile of per-call wall time (ms) after a warm-up."""
    warm_end = time.perf_counter() + min(0.3, seconds / 3)
    while time.perf_counter() < warm_end:
        fn()
    times = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end or len(times) < 10:
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    times.sort()
    return times[len(times) // 2], times[len(times) // 10], len(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batches", default="1,8,32")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--models", default="")
    ap.add_argument("--seconds", type=float, default=1.0)
    ap.add_argument("--engines", default="torch_eager,torchscript")
    ap.add_argument("--calibration-batches", type=int, default=8)
    args = ap.parse_args()
    engines = args.engines.split(",")
    meta = json.load(open(os.path.join(OUT, "models.json")))
    for threads in map(int, args.threads.split(",")):
        torch.set_num_threads(threads)
        for name in args.models.split(",") if args.models else meta:
            seq, shape = meta[name]["seq"], meta[name]["shape"]
            torch.manual_seed(golden.seed_of(name))
            eager = golden.build(seq)
            with torch.no_grad():
                golden.randomise(eager)
            eager.eval()
            scripted = (torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.script(eager)))
                        if "torchscript" in engines else None)
            fx_int8 = dynamic_int8 = None
            if "torch_fx_int8" in engines or "torch_dynamic_int8" in engines:
                from torch.ao.quantization import get_default_qconfig_mapping, quantize_dynamic
                from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx
                torch.backends.quantized.engine = "onednn"
                example = torch.randn(8, *shape)
                if "torch_fx_int8" in engines:
                    prepared = prepare_fx(eager, get_default_qconfig_mapping("onednn"), (example,))
                    with torch.no_grad():
                        for _ in range(args.calibration_batches):
                            prepared(torch.randn(8, *shape))
                    fx_int8 = convert_fx(prepared)
                if "torch_dynamic_int8" in engines:
                    dynamic_int8 = quantize_dynamic(eager, {torch.nn.Linear}, dtype=torch.qint8)
            for batch in map(int, args.batches.split(",")):
                if meta[name].get("dtype") == "int64":  # token ids
                    x = torch.randint(0, meta[name]["vocab"], (batch, *shape))
                else:
                    x = torch.randn(batch, *shape)
                for engine, module in (("torch_eager", eager), ("torchscript", scripted),
                                       ("torch_autocast_bf16", eager), ("torch_fx_int8", fx_int8),
                                       ("torch_dynamic_int8", dynamic_int8)):
                    if engine not in engines:
                        continue
                    with torch.inference_mode(), torch.autocast(
                            "cpu", dtype=torch.bfloat16, enabled=engine == "torch_autocast_bf16"):
                        median, p10, n = measure(lambda: module(x), args.seconds)
                    print(json.dumps({"engine": engine, "model": name, "batch": batch, "threads": threads,
                                      "median_ms": median, "p10_ms": p10, "iterations": n}), flush=True)


if __name__ == "__main__":
    main()
