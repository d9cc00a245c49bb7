#!/usr/bin/python3
"""Turns bench/out/results.jsonl into the Markdown tables of bench/RESULTS.md: per model,
batch and thread count the best median latency of each engine, seqserve's throughput,
GFLOP/s and its ratios to the others (>1 means seqserve is faster)."""
import collections
import json
import os
import platform
import subprocess
import sys


def machine():
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    flags = next((l for l in open("/proc/cpuinfo") if l.startswith("flags")), "")
    isa = "AVX-512" if " avx512f" in flags else "AVX2" if " avx2" in flags else "SSE"
    blas = os.path.realpath("/etc/alternatives/libblas.so.3-x86_64-linux-gnu") if os.path.exists(
        "/etc/alternatives/libblas.so.3-x86_64-linux-gnu") else "?"
    return f"{cpu}, {os.cpu_count()} cores, {isa}; Linux {platform.release()}; torch BLAS: {blas}"


def main(path):
    rows = [json.loads(l) for l in open(path) if l.strip()]
    best = {}
    for r in rows:
        if "median_ms" not in r or r["engine"] == "onednn_sgemm":
            continue
        key = (r["engine"], r["model"], r["batch"], r["threads"])
        if key not in best or r["median_ms"] < best[key]["median_ms"]:
            best[key] = r
    sgemm = {}
    for r in rows:
        if r["engine"] == "onednn_sgemm":
            sgemm[r["threads"]] = max(sgemm.get(r["threads"], 0), r["gflops"])
    print(f"Machine: {machine()}\n")
    print("oneDNN sgemm (1024^3): " + ", ".join(f"{t} thread(s) {g:.1f} GFLOP/s" for t, g in sorted(sgemm.items())) + "\n")
    loads = [r for r in rows if r["engine"] == "seqserve_load"]
    if loads:
        print("Load + first compile of the bundled models: " + ", ".join(
            f"{r['model']} {r['load_ms']:.1f} + {r['first_compile_ms']:.1f} ms" for r in loads) + "\n")
    print("| model | batch | threads | seqserve ms | GFLOP/s (% sgemm) | torch eager ms | TorchScript ms | ONNX Runtime ms | vs eager | vs TorchScript | vs ORT |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    configs = sorted({k[1:] for k in best if k[0] == "seqserve"}, key=lambda k: (k[0], k[2], k[1]))
    for model, batch, threads in configs:
        ours = best[("seqserve", model, batch, threads)]
        def ms(engine):
            r = best.get((engine, model, batch, threads))
            return r["median_ms"] if r else None
        others = [ms("torch_eager"), ms("torchscript"), ms("onnxruntime")]
        cells = [f"{v:.3f}" if v else "-" for v in others]
        ratios = [f"{v / ours['median_ms']:.2f}x" if v else "-" for v in others]
        pct = f" ({100 * ours['gflops'] / sgemm[threads]:.0f}%)" if threads in sgemm else ""
        print(f"| {model} | {batch} | {threads} | {ours['median_ms']:.3f} | {ours['gflops']:.1f}{pct} | "
              + " | ".join(cells) + " | " + " | ".join(ratios) + " |")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "bench/out/results.jsonl")
