#!/usr/bin/python3
"""Turns bench/out/results.jsonl (bench/run.sh) into the Markdown of bench/RESULTS.md:
the machine and its ceilings (sgemm GFLOP/s, STREAM bandwidth), then per model, batch and
thread count the best median latency of each engine over the rounds, seqserve's GFLOP/s
and share of sgemm, "vs X" = X's time / seqserve's (above 1: seqserve is faster), the best
peer and seqserve against it (also by the 10th percentile of the calls, which a busy machine
disturbs less than the median); the batch-1 MLP rows' weight bandwidth against STREAM's read
bandwidth at the same footprint; and the 2-thread over 1-thread speed-up at batch 1.
Usage: bench/report.py [results.jsonl ...]   (default bench/out/results.jsonl; several files:
the best median over all their rounds; models from models.json beside the first file)"""
import collections
import json
import os
import platform
import statistics
import sys

PEERS = (("torch_eager", "torch eager"), ("torchscript", "TorchScript"), ("onnxruntime", "ORT"))
MIB = 1024 * 1024


def machine():
    cpuinfo = open("/proc/cpuinfo").read().splitlines()
    cpu = next((l.split(":", 1)[1].strip() for l in cpuinfo if l.startswith("model name")), "?")
    flags = set(next((l.split(":", 1)[1] for l in cpuinfo if l.startswith("flags")), "").split())
    isa = [f for f in ("avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16",
                       "avx512_fp16", "amx_tile", "amx_bf16", "amx_int8") if f in flags]
    blas = os.path.realpath("/etc/alternatives/libblas.so.3-x86_64-linux-gnu") if os.path.exists(
        "/etc/alternatives/libblas.so.3-x86_64-linux-gnu") else "?"
    return (f"{cpu}, {os.cpu_count()} cores; flags: {' '.join(isa)}; Linux {platform.release()}; "
            f"torch BLAS: {blas}")


def fmt_ms(v):
    return f"{v:.3f}" if v is not None else "-"


def fmt_ratio(v):
    return f"{v:.2f}x" if v is not None else "-"


def main(paths):
    rows = [json.loads(l) for path in paths for l in open(path) if l.strip()]
    meta = json.load(open(os.path.join(os.path.dirname(os.path.abspath(paths[0])), "models.json")))
    runs = [r for r in rows if r["engine"] == "run"]
    medians = collections.defaultdict(list)  # (engine, model, batch, threads) -> per round
    p10s = collections.defaultdict(list)
    for r in rows:
        if r["engine"] in ("seqserve",) + tuple(p for p, _ in PEERS):
            key = (r["engine"], r["model"], r["batch"], r["threads"])
            medians[key].append(r["median_ms"])
            if "p10_ms" in r:
                p10s[key].append(r["p10_ms"])
    best = {k: min(v) for k, v in medians.items()}
    # The 10th percentile of the calls, best over the rounds: what a call costs when nothing
    # else takes its core, so a view of the engines that a busy machine disturbs less.
    best_p10 = {k: min(v) for k, v in p10s.items()}
    sgemm, stream = {}, collections.defaultdict(float)
    for r in rows:
        if r["engine"] == "onednn_sgemm":
            sgemm[r["threads"]] = max(sgemm.get(r["threads"], 0), r["gflops"])
        elif r["engine"] == "stream":
            key = (r["kernel"], r["threads"], r["footprint_bytes"])
            stream[key] = max(stream[key], r["gbps_best"])

    print(f"Machine: {machine()}\n")
    for run in runs:
        print(f"Command: `{run['command'].strip()}` — models {run['models']}; batches {run['batches']}; "
              f"threads {run['threads']}; {run['seconds']} s per configuration; {run['rounds']} round(s); "
              f"load average at start {run['load_average']}")
    loads = [r["load1"] for r in rows if r["engine"] == "load"]
    if loads:
        print(f"Load average (1 min) during the run: {min(loads):.2f} to {max(loads):.2f} "
              f"(median {statistics.median(loads):.2f}) on {os.cpu_count()} cores")
    spreads = collections.defaultdict(list)
    for (engine, *_), v in medians.items():
        if len(v) > 1:
            spreads[engine].append(max(v) / min(v) - 1)
    if spreads:
        print("Round-to-round spread of a configuration's median (median over configurations; max): " + ", ".join(
            f"{engine} {100 * statistics.median(s):.0f}% ({100 * max(s):.0f}%)" for engine, s in sorted(spreads.items())))
    print()
    print("oneDNN sgemm (1024^3): " + ", ".join(f"{t} thread(s) {g:.1f} GFLOP/s" for t, g in sorted(sgemm.items())))
    # DRAM: per kernel and thread count the largest footprint (>= 512 MiB: well beyond the
    # caches), nominally the same for every kernel (each rounds its arrays down a little).
    dram = {}
    for kernel, threads, size in stream:
        if size >= 512 * MIB and size > dram.get((kernel, threads), (0, 0))[0]:
            dram[(kernel, threads)] = (size, stream[(kernel, threads, size)])
    for t in sorted({k[1] for k in dram}):
        print(f"STREAM, {t} thread(s), at {max(v[0] for k, v in dram.items() if k[1] == t) / MIB:.0f} MiB "
              "(DRAM; best pass): " + ", ".join(
                  f"{k} {dram[(k, t)][1]:.1f}" for k in ("read", "copy", "triad") if (k, t) in dram) + " GB/s")
    bundled = {}  # model -> its fastest load + first compile over the runs
    for r in rows:
        if r["engine"] == "seqserve_load":
            total = r["load_ms"] + r["first_compile_ms"]
            if r["model"] not in bundled or total < bundled[r["model"]][0]:
                bundled[r["model"]] = (total, r)
    if bundled:
        print("Load + first compile of the bundled models: " + ", ".join(
            f"{m} {r['load_ms']:.1f} + {r['first_compile_ms']:.1f} ms" for m, (_, r) in sorted(bundled.items())))
    zoo_loads = {}  # model -> (load_ms, first_compile_ms) at its smallest, over every seqserve row
    for r in rows:
        if r["engine"] == "seqserve" and "load_ms" in r:
            prev = zoo_loads.get(r["model"], (float("inf"), float("inf")))
            zoo_loads[r["model"]] = (min(prev[0], r["load_ms"]), min(prev[1], r["first_compile_ms"]))
    if zoo_loads:
        print("Load + first compile in `seqserve bench`, fastest over the configurations (first compile includes tuning unless SEQSERVE_TUNING=off): " + ", ".join(
            f"{m} {l:.0f} + {c:.0f} ms" for m, (l, c) in zoo_loads.items()))
    print()

    configs = sorted({k[1:] for k in best if k[0] == "seqserve"},
                     key=lambda k: (list(meta).index(k[0]) if k[0] in meta else 99, k[2], k[1]))
    print("| model | batch | threads | seqserve ms | GFLOP/s (% sgemm) | " + " | ".join(f"{n} ms" for _, n in PEERS)
          + " | " + " | ".join(f"vs {n}" for _, n in PEERS) + " | best peer | vs best | vs best, p10 |")
    print("|---|---:|---:|---:|---:|" + "---:|" * (2 * len(PEERS)) + "---|---:|---:|")
    verdicts, verdicts_p10 = [], []
    for model, batch, threads in configs:
        ours = best[("seqserve", model, batch, threads)]
        peer_ms = [best.get((p, model, batch, threads)) for p, _ in PEERS]
        ratios = [v / ours if v else None for v in peer_ms]
        gflops = meta[model]["flops_per_sample"] * batch / (ours * 1e6)
        pct = f" ({100 * gflops / sgemm[threads]:.0f}%)" if threads in sgemm else ""
        present = [(v, n) for v, (_, n) in zip(peer_ms, PEERS) if v]
        if present:
            best_ms, best_name = min(present)
            vs_best = best_ms / ours
            verdicts.append((model, batch, threads, vs_best, best_name))
            vs_cell = f"**{vs_best:.2f}x**" if vs_best < 1 else f"{vs_best:.2f}x"
        else:
            best_name, vs_cell = "-", "-"
        peer_p10 = [best_p10.get((p, model, batch, threads)) for p, _ in PEERS]
        ours_p10 = best_p10.get(("seqserve", model, batch, threads))
        p10_cell = "-"
        if ours_p10 and any(peer_p10):
            best_p10_ms, best_p10_name = min((v, n) for v, (_, n) in zip(peer_p10, PEERS) if v)
            vs_p10 = best_p10_ms / ours_p10
            verdicts_p10.append((model, batch, threads, vs_p10, best_p10_name))
            p10_cell = f"**{vs_p10:.2f}x**" if vs_p10 < 1 else f"{vs_p10:.2f}x"
        print(f"| {model} | {batch} | {threads} | {ours:.3f} | {gflops:.1f}{pct} | "
              + " | ".join(fmt_ms(v) for v in peer_ms) + " | " + " | ".join(fmt_ratio(v) for v in ratios)
              + f" | {best_name} | {vs_cell} | {p10_cell} |")
    if verdicts:
        behind = [v for v in verdicts if v[3] < 1]
        big = [v for v in verdicts if v[1] >= 8]
        print(f"\nseqserve ahead of or level with the best peer on {len(verdicts) - len(behind)} of "
              f"{len(verdicts)} rows; >= 1.2x the best peer on {sum(v[3] >= 1.2 for v in big)} of "
              f"{len(big)} rows at batch >= 8.")
        if behind:
            print("Behind the best peer: " + "; ".join(
                f"{m} b{b} t{t} {r:.2f}x ({n})" for m, b, t, r, n in sorted(behind, key=lambda v: v[3])) + ".")
    if verdicts_p10:
        behind = [v for v in verdicts_p10 if v[3] < 1]
        print(f"\nBy the 10th percentile: ahead of or level with the best peer on "
              f"{len(verdicts_p10) - len(behind)} of {len(verdicts_p10)} rows" + (": behind on " + "; ".join(
                  f"{m} b{b} t{t} {r:.2f}x ({n})" for m, b, t, r, n in sorted(behind, key=lambda v: v[3]))
                  if behind else "") + ".")

    mlp_rows = [c for c in configs if c[1] == 1 and meta[c[0]]["kind"] == "mlp"]
    if mlp_rows:
        print("\nBatch-1 MLPs against memory bandwidth: a batch-1 call reads every weight once, so "
              "weight bytes / median time is the bandwidth it achieves; STREAM read is measured at "
              "the same footprint (the weights fit the last-level cache or not alike), DRAM at 1 GiB.\n")
        print("| model | threads | weights MiB | seqserve ms | seqserve GB/s | STREAM read at that size GB/s "
              "| % of it | DRAM read GB/s | best peer GB/s |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        for model, batch, threads in mlp_rows:
            weight_bytes = meta[model]["param_bytes"]
            ours = best[("seqserve", model, batch, threads)]
            gbps = weight_bytes / (ours * 1e6)
            # The smallest read footprint that holds the weights (run.sh asks for their size;
            # the kernel rounds its array down by less than 1%).
            sizes = sorted(k[2] for k in stream
                           if k[0] == "read" and k[1] == threads and k[2] >= 0.99 * weight_bytes)
            at_size = stream[("read", threads, sizes[0])] if sizes else None
            dram_read = dram[("read", threads)][1] if ("read", threads) in dram else None
            peers = [best.get((p, model, batch, threads)) for p, _ in PEERS]
            peer_gbps = weight_bytes / (min(v for v in peers if v) * 1e6) if any(peers) else None
            print(f"| {model} | {threads} | {weight_bytes / MIB:.1f} | {ours:.3f} | {gbps:.1f} | "
                  + (f"{at_size:.1f} | {100 * gbps / at_size:.0f}%" if at_size else "- | -") + " | "
                  + (f"{dram_read:.1f}" if dram_read else "-") + " | "
                  + (f"{peer_gbps:.1f}" if peer_gbps else "-") + " |")

    scaling = [m for m in dict.fromkeys(c[0] for c in configs)
               if ("seqserve", m, 1, 1) in best and ("seqserve", m, 1, 2) in best]
    if scaling:
        print("\nBatch 1, 2 threads against 1: speed-up = 1-thread ms / 2-thread ms.\n")
        print("| model | seqserve 1 thread ms | 2 threads ms | seqserve speed-up | "
              + " | ".join(f"{n} speed-up" for _, n in PEERS) + " |")
        print("|---|---:|---:|---:|" + "---:|" * len(PEERS))
        for m in scaling:
            one, two = best[("seqserve", m, 1, 1)], best[("seqserve", m, 1, 2)]
            peer = []
            for p, _ in PEERS:
                a, b = best.get((p, m, 1, 1)), best.get((p, m, 1, 2))
                peer.append(f"{a / b:.2f}x" if a and b else "-")
            print(f"| {m} | {one:.3f} | {two:.3f} | {one / two:.2f}x | " + " | ".join(peer) + " |")


if __name__ == "__main__":
    main(sys.argv[1:] or ["bench/out/results.jsonl"])
