#!/usr/bin/python3
"""The serving targets of issue 3, each measured side by side in one run with seqperf:

1. floor: a bare callback-API gRPC echo (bench/echo_server.cc) against seqserve on the
   seed model, batch 1, at concurrency 1 and 64. Target: seqserve's p50 at concurrency 1
   <= echo p50 + in-process forward + 50 us, and its server CPU per request minus the
   forward <= 1.3x the echo's.
2. batching: LeNet-5 (the target), and the engine benchmark's MLP 784-1024-1024-10 beside
   it (compute-heavier per request), 32 closed-loop clients sending
   batch-1 requests, the same server with dynamic batching on and off. Targets: >= 3x the throughput with batching off, and
   >= 80% of the engine's in-process throughput at the batch sizes actually formed (read
   from the server's seqserve_batch_size histogram; in-process = `seqserve bench` at that
   batch, one thread, times the number of workers).
3. adaptive: the adaptive batch window (issue 14) against the fixed one (Triton's, config
   parameter adaptive_batching "false"), same server, same run: LeNet-5 at concurrency 1 and
   64 with its bundled config, and the MLP at 32, beside the echo at 1 and 64. Each pair is
   measured adaptive, fixed, fixed, adaptive and averaged; the mean batch formed is read
   from the server's seqserve_batch_size histogram.
4. hops: short batches run on the gRPC thread that received them (the bundled configs)
   against every batch on a worker (run_on_caller "false"), same server, same run:
   LeNet-5 at concurrency 1 and 64, the MLP at 1 and 32, beside the echo at 1 and 64
   (measured before and after). Targets of issue 14: p50 at concurrency 1 <= echo p50 +
   in-process forward + 30 us; LeNet-5 at 64 >= 0.8x the echo's throughput and server CPU
   per request minus the forward <= 1.2x the echo's; the MLP at 32 with batching >= 2x
   without.
5. memory: seqserve's resident memory over --requests requests (default one million) of
   batched LeNet-5 at concurrency 32, sampled every window; flat = within +-5% of the RSS
   after the first window. Twice: over one long-lived connection, as gRPC clients keep
   their channels, and with a new connection every window.

Usage: /usr/bin/python3 bench/serving_bench.py [--bin-dir build/bin] [--requests 1000000]
           [--measurement-ms 2000] [--skip floor,batching,adaptive,hops,memory]
Needs build/bin/{seqserve,seqperf,echo_server} (cmake --build build).
Prints Markdown for bench/RESULTS.md.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from serving_vs_python import ROOT, Server, measure

SHAPE = "1,28,28"  # one sample of seed and LeNet-5
# One sample of each model: the bundled ones take 1x28x28; mlp1024 is the engine
# benchmark's MLP 784-1024-1024-10 (bench/out/models/mlp, written by bench/models.py).
SHAPES = {"seed": SHAPE, "lenet": SHAPE, "mlp1024": "784"}
BENCH_MLP = ROOT / "bench" / "out" / "models" / "mlp"


FIXED_WINDOW = 'parameters { key: "adaptive_batching" value: { string_value: "false" } }\n'
# Every batch on a worker thread: the hand-offs that issue 14 part 2 removes.
ON_WORKERS = 'parameters { key: "run_on_caller" value: { string_value: "false" } }\n'


def make_repository(root: Path) -> None:
    """seed and lenet as bundled, plus X_nobatch: X's config without dynamic batching, and
    X_fixed: X's config with the fixed (Triton's) batch window instead of the adaptive one."""
    for name in ("seed", "lenet"):
        shutil.copytree(ROOT / "models" / name, root / name)
    if BENCH_MLP.is_dir():
        shutil.copytree(BENCH_MLP, root / "mlp1024")
        (root / "mlp1024" / "config.pbtxt").write_text(
            'max_batch_size: 128\n'
            'input [ { name: "input" data_type: TYPE_FP32 dims: [ 784 ] } ]\n'
            'output [ { name: "output" data_type: TYPE_FP32 dims: [ 10 ] } ]\n'
            'dynamic_batching { max_queue_delay_microseconds: 100 }\n')
    for name in ("seed", "lenet", "mlp1024"):
        if not (root / name).is_dir():
            continue
        shutil.copytree(root / name, root / f"{name}_nobatch")
        config = root / f"{name}_nobatch" / "config.pbtxt"
        config.write_text(re.sub(r"dynamic_batching\s*\{[^}]*\}\s*", "", config.read_text()))
        for suffix, extra in (("fixed", FIXED_WINDOW), ("workers", ON_WORKERS)):
            shutil.copytree(root / name, root / f"{name}_{suffix}",
                            ignore=shutil.ignore_patterns("config.pbtxt"))
            (root / f"{name}_{suffix}" / "config.pbtxt").write_text(
                (root / name / "config.pbtxt").read_text() + extra)


def in_process_ms(bin_dir: Path, repository: Path, model: str, batches: list[int]) -> dict:
    """`seqserve bench`'s median ms per forward of `model` at each batch, one thread."""
    medians = {}
    for batch in batches:
        run = subprocess.run([str(bin_dir / "seqserve"), "bench", str(repository / model),
                              "--batch", str(batch), "--shape", SHAPES[model], "--threads", "1",
                              "--seconds", "1", "--json"], check=True, capture_output=True, text=True)
        medians[batch] = json.loads(run.stdout)["median_ms"]
    return medians


def metric_sum(metrics_port: int, family: str, model: str) -> float:
    """The sum of one family's samples for `model` in the server's /metrics text."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics").read().decode()
    total = 0.0
    for line in text.splitlines():
        if line.startswith(family + "{") and f'model="{model}"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def start_seqserve(bin_dir: Path, repository: Path) -> tuple[Server, int]:
    """seqserve on free loopback ports, once its startup summary is out; and its metrics port."""
    server = Server("seqserve", [str(bin_dir / "seqserve"), f"--model-repository={repository}",
                                 "--grpc-port=0", "--http-port=0", "--metrics-port=0",
                                 "--address=127.0.0.1"])
    for _ in range(100):  # the summary follows the gRPC line that Server waits for
        ready = [line for line in server.lines if re.search(r"version \d+: READY", line)]
        if len(ready) == sum(1 for d in repository.iterdir() if d.is_dir()):
            break
        time.sleep(0.1)
    metrics_port = next(int(m.group(1)) for line in server.lines
                        if (m := re.search(r"metrics on http://.*:(\d+)/metrics", line)))
    return server, metrics_port


def workers_of(server: Server, model: str) -> int:
    """Workers of `model` from the startup summary ("... 2 workers x 1 threads ...")."""
    for line in server.lines:
        if re.search(rf"\b{model}\b", line):
            match = re.search(r"(\d+) workers?", line)
            if match:
                return int(match.group(1))
    sys.exit(f"no worker count for {model} in the server log:\n" + "\n".join(server.lines))


def floor(bin_dir: Path, repository: Path, ms: int) -> None:
    seqperf = bin_dir / "seqperf"
    forward_us = in_process_ms(bin_dir, repository, "seed", [1])[1] * 1000
    # Two floors: the echo of the input (3 KiB back), and a reply as large as seed's output
    # (64x20x20 floats, 100 KiB), which costs gRPC and the kernel more to send.
    floors = {"echo (input back)": [], "echo (seed-sized reply)": ["--reply-floats", "25600"]}
    rows = {}
    for name, flags in floors.items():
        echo = Server("echo", [str(bin_dir / "echo_server"), "--port", "0"] + flags)
        try:
            rows[name] = {c: measure(seqperf, echo, "echo", SHAPE, str(c), ms)[c] for c in (1, 64)}
        finally:
            echo.stop()
    # Bundled seed waits up to 100 us for a batch to fill, which concurrency 1 never does.
    server, metrics_port = start_seqserve(bin_dir, repository)
    try:
        # The forward as the server ran it at concurrency 1 (its compute histogram), which
        # can differ from the in-process loop's: caches are shared with gRPC's work.
        def compute_us() -> tuple[float, float]:
            family = "seqserve_compute_duration_seconds"
            return (metric_sum(metrics_port, family + "_sum", "seed_nobatch") * 1e6,
                    metric_sum(metrics_port, family + "_count", "seed_nobatch"))
        before = compute_us()
        for label, model in (("seqserve seed, batching off", "seed_nobatch"),
                             ("seqserve seed, bundled config", "seed")):
            rows[label] = {}
            for c in (1, 64):
                rows[label][c] = measure(seqperf, server, model, SHAPE, str(c), ms)[c]
                if model == "seed_nobatch" and c == 1:
                    after = compute_us()
                    served_forward_us = (after[0] - before[0]) / (after[1] - before[1])
    finally:
        server.stop()

    print(f"### Floor: seed, batch 1, against a bare gRPC echo (forward: {forward_us:.0f} us "
          f"in-process, one thread; {served_forward_us:.0f} us inside the server at "
          f"concurrency 1)\n")
    print("| server | concurrency | infer/s | p50 us | p99 us | server CPU us/req | "
          "client CPU us/req |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, steps in rows.items():
        for c, s in steps.items():
            print(f"| {name} | {c} | {s['throughput_infer_per_sec']:.0f} | "
                  f"{s['latency_us']['p50']:.0f} | {s['latency_us']['p99']:.0f} | "
                  f"{s['server_cpu_us_per_request']:.0f} | {s['client_cpu_us_per_request']:.0f} |")
    ours = rows["seqserve seed, batching off"][1]
    p50, cpu = ours["latency_us"]["p50"], ours["server_cpu_us_per_request"] - forward_us
    served_cpu = ours["server_cpu_us_per_request"] - served_forward_us
    print()
    for name in floors:
        echo = rows[name][1]
        budget = echo["latency_us"]["p50"] + forward_us + 50
        echo_cpu = echo["server_cpu_us_per_request"]
        print(f"- seed, batching off, against {name}: p50 at concurrency 1 {p50:.0f} us, "
              f"budget echo p50 + "
              f"forward + 50 = {budget:.0f} us ({'meets' if p50 <= budget else 'misses'}); "
              f"server CPU per request minus the forward {cpu:.0f} us = {cpu / echo_cpu:.2f}x "
              f"the echo's {echo_cpu:.0f} us ({'meets' if cpu <= 1.3 * echo_cpu else 'misses'} "
              f"<= 1.3x); minus the forward as served, {served_cpu:.0f} us = "
              f"{served_cpu / echo_cpu:.2f}x")
    print()


def batching(bin_dir: Path, repository: Path, ms: int, name: str) -> None:
    seqperf = bin_dir / "seqperf"
    server, metrics_port = start_seqserve(bin_dir, repository)
    try:
        workers = workers_of(server, name)
        steps = {}
        formed = 0.0
        for model in (name, f"{name}_nobatch"):
            count0 = metric_sum(metrics_port, "seqserve_batch_size_count", model)
            sum0 = metric_sum(metrics_port, "seqserve_batch_size_sum", model)
            steps[model] = measure(seqperf, server, model, SHAPES[name], "32", ms)[32]
            count = metric_sum(metrics_port, "seqserve_batch_size_count", model) - count0
            if model == name:
                formed = (metric_sum(metrics_port, "seqserve_batch_size_sum", model) - sum0) / count
    finally:
        server.stop()
    batch = max(1, round(formed))
    engine_ms = in_process_ms(bin_dir, repository, name, [batch])[batch]
    engine_rate = workers * batch / (engine_ms / 1000)
    on, off = (steps[m]["throughput_infer_per_sec"] for m in (name, f"{name}_nobatch"))
    print(f"### Dynamic batching: {name}, 32 clients, batch-1 requests\n")
    print("| server | infer/s | p50 us | p99 us | server CPU us/req |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for label, model in (("batching on", name), ("batching off", f"{name}_nobatch")):
        s = steps[model]
        print(f"| {label} | {s['throughput_infer_per_sec']:.0f} | {s['latency_us']['p50']:.0f} | "
              f"{s['latency_us']['p99']:.0f} | {s['server_cpu_us_per_request']:.0f} |")
    print(f"\n- batching on / off: {on / off:.2f}x ({'meets' if on >= 3 * off else 'misses'} >= 3x)")
    print(f"- mean batch formed {formed:.1f}; in-process at batch {batch}: {engine_ms:.3f} ms, "
          f"x {workers} workers = {engine_rate:.0f} samples/s; served {on:.0f} = "
          f"{on / engine_rate:.0%} ({'meets' if on >= 0.8 * engine_rate else 'misses'} >= 80%)\n")


def mean(steps: list[dict]) -> dict:
    """The mean of seqperf steps: throughput, CPU per request and latency percentiles."""
    out = {key: sum(step[key] for step in steps) / len(steps)
           for key in ("throughput_infer_per_sec", "server_cpu_us_per_request",
                       "client_cpu_us_per_request")}
    out["latency_us"] = {p: sum(step["latency_us"][p] for step in steps) / len(steps)
                         for p in ("p50", "p99")}
    return out


def measure_in_turn(seqperf: Path, server: Server, metrics_port: int,
                    order: list[tuple[str, str]], shape: str, c: int, ms: int) -> dict:
    """Measures each (label, model) of `order` in turn (a label may come back, as in A B B A,
    so that a shared machine's drift hits both alike) at concurrency `c`; per label, the mean
    of its steps and the mean batch formed (from the server's seqserve_batch_size)."""
    runs: dict[str, list[dict]] = {}
    batches: dict[str, list[float]] = {}  # [count, sum] of batch sizes
    for label, model in order:
        count0 = metric_sum(metrics_port, "seqserve_batch_size_count", model)
        sum0 = metric_sum(metrics_port, "seqserve_batch_size_sum", model)
        runs.setdefault(label, []).append(measure(seqperf, server, model, shape, str(c), ms)[c])
        totals = batches.setdefault(label, [0.0, 0.0])
        totals[0] += metric_sum(metrics_port, "seqserve_batch_size_count", model) - count0
        totals[1] += metric_sum(metrics_port, "seqserve_batch_size_sum", model) - sum0
    return {label: (mean(steps), batches[label][1] / batches[label][0])
            for label, steps in runs.items()}


def adaptive(bin_dir: Path, repository: Path, ms: int) -> None:
    seqperf = bin_dir / "seqperf"
    cases = [("lenet", 1), ("lenet", 64)]
    if (repository / "mlp1024").is_dir():
        cases.append(("mlp1024", 32))
    rows = []
    echo = Server("echo", [str(bin_dir / "echo_server"), "--port", "0"])
    try:
        for c in (1, 64):
            rows.append(("echo (input back)", "lenet", c,
                         measure(seqperf, echo, "echo", SHAPE, str(c), ms)[c], None))
    finally:
        echo.stop()
    server, metrics_port = start_seqserve(bin_dir, repository)
    try:
        for name, c in cases:
            # Adaptive, fixed, fixed, adaptive: drifts of a shared machine hit both alike.
            order = [("adaptive window", name), ("fixed window", f"{name}_fixed")]
            order += order[::-1]
            if name == "mlp1024":
                order.append(("batching off", f"{name}_nobatch"))
            for label, (steps, formed) in measure_in_turn(seqperf, server, metrics_port, order,
                                                          SHAPES[name], c, ms).items():
                rows.append((label, name, c, steps, formed))
    finally:
        server.stop()
    print("### Adaptive batch window against the fixed one (issue 14), batch-1 requests\n")
    print("| server | model | concurrency | infer/s | p50 us | p99 us | server CPU us/req | "
          "mean batch |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for label, name, c, s, formed in rows:
        batch = "" if formed is None else f"{formed:.1f}"
        print(f"| {label} | {name} | {c} | {s['throughput_infer_per_sec']:.0f} | "
              f"{s['latency_us']['p50']:.0f} | {s['latency_us']['p99']:.0f} | "
              f"{s['server_cpu_us_per_request']:.0f} | {batch} |")
    print()


def hops(bin_dir: Path, repository: Path, ms: int) -> None:
    """Issue 14 part 2: short batches run on the receiving gRPC thread (the bundled config)
    against every batch on a worker (run_on_caller "false"), same server, measured on,
    off, off, on and averaged, beside the echo measured before and after; with the issue's
    budgets (the forward is `seqserve bench` at batch 1, or at the mean batch formed, per
    request)."""
    seqperf = bin_dir / "seqperf"
    cases = [("lenet", 1), ("lenet", 64)]
    if (repository / "mlp1024").is_dir():
        cases += [("mlp1024", 1), ("mlp1024", 32)]
    echo_runs: dict[int, list[dict]] = {1: [], 64: []}

    def run_echo() -> None:
        echo = Server("echo", [str(bin_dir / "echo_server"), "--port", "0"])
        try:
            for c in echo_runs:
                echo_runs[c].append(measure(seqperf, echo, "echo", SHAPE, str(c), ms)[c])
        finally:
            echo.stop()

    run_echo()
    rows = []
    server, metrics_port = start_seqserve(bin_dir, repository)
    try:
        for name, c in cases:
            order = [("caller runs", name), ("workers only", f"{name}_workers")]
            order += order[::-1]
            if name == "mlp1024" and c > 1:
                order.append(("batching off", f"{name}_nobatch"))
            for label, (steps, formed) in measure_in_turn(seqperf, server, metrics_port, order,
                                                          SHAPES[name], c, ms).items():
                rows.append((label, name, c, steps, formed))
    finally:
        server.stop()
    run_echo()
    echo = {c: mean(steps) for c, steps in echo_runs.items()}

    print("### Hops: short batches on the receiving thread against every batch on a worker "
          "(issue 14), batch-1 requests\n")
    print("| server | model | concurrency | infer/s | p50 us | p99 us | server CPU us/req | "
          "client CPU us/req | mean batch |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for c, s in echo.items():
        print(f"| echo (input back) | lenet | {c} | {s['throughput_infer_per_sec']:.0f} | "
              f"{s['latency_us']['p50']:.0f} | {s['latency_us']['p99']:.0f} | "
              f"{s['server_cpu_us_per_request']:.0f} | {s['client_cpu_us_per_request']:.0f} | |")
    for label, name, c, s, formed in rows:
        print(f"| {label} | {name} | {c} | {s['throughput_infer_per_sec']:.0f} | "
              f"{s['latency_us']['p50']:.0f} | {s['latency_us']['p99']:.0f} | "
              f"{s['server_cpu_us_per_request']:.0f} | {s['client_cpu_us_per_request']:.0f} | "
              f"{formed:.1f} |")
    print()
    by = {(label, name, c): (s, formed) for label, name, c, s, formed in rows}
    for name, c in cases:
        s, formed = by[("caller runs", name, c)]
        off, _ = by[("workers only", name, c)]
        batch = max(1, round(formed))
        forward_us = in_process_ms(bin_dir, repository, name, [batch])[batch] * 1000 / batch
        if c == 1:
            budget = echo[1]["latency_us"]["p50"] + forward_us + 30
            p50 = s["latency_us"]["p50"]
            print(f"- {name} at concurrency 1: p50 {p50:.0f} us (workers only "
                  f"{off['latency_us']['p50']:.0f}); budget echo p50 + forward + 30 = "
                  f"{budget:.0f} us ({'meets' if p50 <= budget else 'misses'})")
        elif name == "lenet":
            ratio = s["throughput_infer_per_sec"] / echo[64]["throughput_infer_per_sec"]
            cpu = s["server_cpu_us_per_request"] - forward_us
            echo_cpu = echo[64]["server_cpu_us_per_request"]
            print(f"- lenet at concurrency 64: {ratio:.2f}x the echo's throughput "
                  f"({'meets' if ratio >= 0.8 else 'misses'} >= 0.8x; workers only "
                  f"{off['throughput_infer_per_sec'] / echo[64]['throughput_infer_per_sec']:.2f}x); "
                  f"server CPU per request minus the forward ({forward_us:.1f} us per sample at "
                  f"batch {batch}) {cpu:.1f} us = {cpu / echo_cpu:.2f}x the echo's "
                  f"{echo_cpu:.1f} us ({'meets' if cpu <= 1.2 * echo_cpu else 'misses'} <= 1.2x)")
        else:
            nobatch, _ = by[("batching off", name, c)]
            ratio = s["throughput_infer_per_sec"] / nobatch["throughput_infer_per_sec"]
            print(f"- {name} at concurrency {c}: batching on / off {ratio:.2f}x "
                  f"({'meets' if ratio >= 2 else 'misses'} >= 2x); caller runs / workers only "
                  f"{s['throughput_infer_per_sec'] / off['throughput_infer_per_sec']:.2f}x")
    print()


def memory(bin_dir: Path, repository: Path, ms: int, requests: int, reconnect: bool) -> None:
    """RSS over `requests` batched LeNet-5 requests at concurrency 32: from one seqperf
    connection, as a gRPC client keeps its channel, or (`reconnect`) from a new seqperf
    process, so a new connection, every window."""
    seqperf = bin_dir / "seqperf"
    server, metrics_port = start_seqserve(bin_dir, repository)
    samples = []
    load = None
    try:
        done = 0
        if not reconnect:
            load = subprocess.Popen([str(seqperf), "-u", f"127.0.0.1:{server.port}", "-m", "lenet",
                                     "--shape", SHAPE, "--concurrency-range", "32",
                                     "-p", "86400000", "--warmup-secs", "0", "-r", "1"],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while done < requests:
            if reconnect:
                measure(seqperf, server, "lenet", SHAPE, "32", ms,
                        ["--warmup-secs", "0", "--stability-windows", "1", "-r", "1"])
            else:
                time.sleep(ms / 1000)
                if load.poll() is not None:
                    sys.exit(f"seqperf stopped early (exit {load.returncode})")
            done = int(metric_sum(metrics_port, "seqserve_inference_count_total", "lenet"))
            samples.append((done, rss_kib(server.process.pid)))
            print(f"  {done} requests, RSS {samples[-1][1] / 1024:.1f} MiB", file=sys.stderr)
    finally:
        if load is not None:
            load.kill()
            load.wait()
        server.stop()
    base = samples[0][1]
    low, high = min(s[1] for s in samples), max(s[1] for s in samples)
    how = "a new connection every window" if reconnect else "one connection"
    print(f"### Memory: seqserve RSS over {samples[-1][0]} LeNet-5 requests (concurrency 32, "
          f"{how})\n")
    print("| requests | RSS MiB |")
    print("| ---: | ---: |")
    step = max(1, len(samples) // 8)
    for done, rss in samples[::step] + ([samples[-1]] if (len(samples) - 1) % step else []):
        print(f"| {done} | {rss / 1024:.1f} |")
    spread = max(high - base, base - low) / base
    print(f"\n- after the first window {base / 1024:.1f} MiB; range {low / 1024:.1f}-"
          f"{high / 1024:.1f} MiB, at most {spread:.1%} away "
          f"({'meets' if spread <= 0.05 else 'misses'} +-5%)\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bin-dir", default=str(ROOT / "build" / "bin"))
    parser.add_argument("--measurement-ms", type=int, default=2000)
    parser.add_argument("--requests", type=int, default=1_000_000)
    parser.add_argument("--skip", default="",
                        help="comma-separated: floor,batching,adaptive,hops,memory")
    args = parser.parse_args()
    bin_dir, skip = Path(args.bin_dir), set(filter(None, args.skip.split(",")))
    print(f"{os.cpu_count()} CPUs shared by client and server; seqperf unary, "
          f"{args.measurement_ms} ms windows.\n")
    with tempfile.TemporaryDirectory() as tmp:
        repository = Path(tmp)
        make_repository(repository)
        if "floor" not in skip:
            floor(bin_dir, repository, args.measurement_ms)
        if "batching" not in skip:
            batching(bin_dir, repository, args.measurement_ms, "lenet")
            if (repository / "mlp1024").is_dir():
                batching(bin_dir, repository, args.measurement_ms, "mlp1024")
            else:
                print(f"(no {BENCH_MLP}: run bench/run.sh or bench/models.py for the MLP rows)\n")
        if "adaptive" not in skip:
            adaptive(bin_dir, repository, args.measurement_ms)
        if "hops" not in skip:
            hops(bin_dir, repository, args.measurement_ms)
        if "memory" not in skip:
            memory(bin_dir, repository, args.measurement_ms, args.requests, reconnect=False)
            memory(bin_dir, repository, args.measurement_ms, args.requests, reconnect=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
