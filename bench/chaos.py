#!/usr/bin/python3
"""Chaos/soak run of seqserve (issue 13 "prove it"; bounded, loopback only).

Starts build/bin/seqserve on 127.0.0.1 (free ports) in explicit model-control mode on a
temporary copy of models/ (plus "spare", a second copy of mlp that gets unloaded and loaded
again), and for `--seconds` runs all of this at once:
  - good requests: gRPC (raw and typed contents) and REST (JSON and binary) to mlp, lenet,
    textclass and seed, 1..4 rows of tests/data/bundled/<model>/input.npy, every answer
    compared with expected.npy (PyTorch's outputs; max relative error 1e-4);
  - bad requests: wrong shape, input name or datatype, unknown model, out-of-range ids,
    malformed JSON, a Content-Length past the body limit, and oversize requests (seed
    1x1x1448x1448, 8 MB in, an output past --max-output-bytes) — each must get its error;
  - slow clients: `--slow-clients` HTTP connections trickling a byte a second, reopened
    when the server closes them at the header deadline;
  - model control: mlp, lenet and textclass reloaded while they serve (a hot swap: their
    requests must not fail), spare unloaded and loaded (its requests may get NOT_FOUND or
    UNAVAILABLE meanwhile, never a wrong answer);
  - a monitor: gRPC ServerLive and REST /v2/health/live every 0.5 s, RSS every second.
Then the traffic stops, a little good traffic runs to let the workers settle, the RSS is
compared with the baseline taken after warm-up, and SIGTERM is sent while good requests are
in flight: those the server accepted must be answered correctly, and it must exit 0.

Passes (exit 0) when no good request was lost or wrong, no bad request succeeded, the server
was live at every probe, every reload succeeded, the final RSS is within `--rss-tolerance` of
the baseline and the server exited 0. Prints a report (requests, errors by kind, RSS curve,
exit code); --json prints it as JSON.

  /usr/bin/python3 bench/chaos.py [--seconds 60] [--binary build/bin/seqserve] [--json]
"""
from __future__ import annotations

import argparse
import collections
import http.client
import json
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "client" / "python"))
from seqserve.client import Client, ServerError  # noqa: E402

GRPC_PORT_LINE = re.compile(r"listening for gRPC\b.*:(\d+)\s*$")
HTTP_PORT_LINE = re.compile(r"listening for HTTP\b.* on [^;]*:(\d+);")
GOOD_MODELS = ["mlp", "lenet", "textclass", "seed"]
RELOADED = ["mlp", "lenet", "textclass"]
SAMPLES = {name: (np.load(ROOT / "tests/data/bundled" / name / "input.npy"),
                  np.load(ROOT / "tests/data/bundled" / name / "expected.npy"))
           for name in GOOD_MODELS}
SAMPLES["spare"] = SAMPLES["mlp"]


class Tally:
    """Thread-safe counters by (category, outcome)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counts: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
        self.examples: dict[str, str] = {}

    def add(self, category: str, outcome: str, example: str = "") -> None:
        with self.lock:
            self.counts[category][outcome] += 1
            key = f"{category}/{outcome}"
            if example and key not in self.examples:
                self.examples[key] = example[:300]

    def get(self, category: str, outcome: str) -> int:
        with self.lock:
            return self.counts[category][outcome]


def close_enough(got: np.ndarray, want: np.ndarray) -> bool:
    if got.shape != want.shape:
        return False
    error = np.abs(got.astype(np.float64) - want) / np.maximum(1.0, np.abs(want))
    return float(error.max()) <= 1e-4


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def rss_median(pid: int) -> float:
    samples = []
    for _ in range(5):
        samples.append(rss_mb(pid))
        time.sleep(0.05)
    return statistics.median(samples)


def start_server(binary: Path, repo: Path, log_path: Path) -> tuple[subprocess.Popen, int, int]:
    log = open(log_path, "w")
    process = subprocess.Popen(
        [str(binary), f"--model-repository={repo}", "--model-control-mode=explicit",
         "--load-model=*", "--grpc-port=0", "--http-port=0", "--metrics-port=0",
         "--address=127.0.0.1", "--http-header-timeout-secs=3", "--http-body-timeout-secs=5",
         "--http-max-body-bytes=16777216", "--exit-timeout-secs=30"],
        stdout=log, stderr=subprocess.STDOUT)
    deadline = time.time() + 120
    grpc_port = http_port = None
    while time.time() < deadline and (grpc_port is None or http_port is None):
        if process.poll() is not None:
            raise RuntimeError(f"seqserve exited with {process.returncode}:\n{log_path.read_text()}")
        for line in log_path.read_text().splitlines():
            if (m := GRPC_PORT_LINE.search(line)):
                grpc_port = int(m.group(1))
            if (m := HTTP_PORT_LINE.search(line)):
                http_port = int(m.group(1))
        time.sleep(0.1)
    if grpc_port is None or http_port is None:
        process.kill()
        raise RuntimeError("seqserve did not start within 120 s:\n" + log_path.read_text())
    return process, grpc_port, http_port


def rows(rng: random.Random, model: str) -> tuple[np.ndarray, np.ndarray]:
    x, want = SAMPLES[model]
    start = rng.randrange(len(x))
    count = rng.randint(1, len(x) - start)
    return x[start:start + count], want[start:start + count]


# ---- REST ----------------------------------------------------------------------------------

def rest_infer(conn: http.client.HTTPConnection, model: str, x: np.ndarray,
               binary: bool) -> tuple[int, bytes]:
    datatype = "INT64" if x.dtype == np.int64 else "FP32"
    tensor = {"name": "input", "shape": list(x.shape), "datatype": datatype}
    headers = {"Content-Type": "application/json"}
    if binary:
        raw = np.ascontiguousarray(x).astype(x.dtype.newbyteorder("<")).tobytes()
        tensor["parameters"] = {"binary_data_size": len(raw)}
        head = json.dumps({"inputs": [tensor]}).encode()
        body = head + raw
        headers["Inference-Header-Content-Length"] = str(len(head))
        headers["Content-Type"] = "application/octet-stream"
    else:
        tensor["data"] = x.ravel().tolist()
        body = json.dumps({"inputs": [tensor]}).encode()
    return rest_post(conn, f"/v2/models/{model}/infer", body, headers)


def rest_post(conn: http.client.HTTPConnection, path: str, body: bytes,
              headers: dict[str, str]) -> tuple[int, bytes]:
    conn.request("POST", path, body=body, headers=headers)
    response = conn.getresponse()
    return response.status, response.read()


def rest_output(body: bytes) -> np.ndarray:
    reply = json.loads(body)
    output = reply["outputs"][0]
    return np.asarray(output["data"], dtype=np.float32).reshape(output["shape"])


# ---- the run ---------------------------------------------------------------------------------

class Chaos:
    def __init__(self, args: argparse.Namespace, process: subprocess.Popen, grpc_port: int,
                 http_port: int) -> None:
        self.args = args
        self.process = process
        self.grpc_target = f"127.0.0.1:{grpc_port}"
        self.http_port = http_port
        self.tally = Tally()
        self.stop = threading.Event()
        self.rss_curve: list[tuple[float, float]] = []
        self.t0 = time.time()

    # Good traffic: every error is a lost request, every mismatch a wrong one.
    def grpc_good(self, seed: int, models: list[str], stop: threading.Event,
                  category: str = "good gRPC") -> None:
        rng = random.Random(seed)
        with Client(self.grpc_target, timeout=60) as client:
            while not stop.is_set():
                model = rng.choice(models)
                x, want = rows(rng, model)
                tolerated = model == "spare"
                try:
                    got = client.infer(model, x, raw=rng.random() < 0.5)
                    self.tally.add(category, "ok" if close_enough(got, want) else "WRONG", model)
                except ServerError as e:
                    if tolerated and e.code in ("NOT_FOUND", "UNAVAILABLE"):
                        self.tally.add(category, f"spare unloaded ({e.code})")
                    else:
                        self.tally.add(category, f"LOST {e.code}", f"{model}: {e.message}")

    def rest_good(self, seed: int, stop: threading.Event, category: str = "good REST") -> None:
        rng = random.Random(seed)
        conn = http.client.HTTPConnection("127.0.0.1", self.http_port, timeout=60)
        while not stop.is_set():
            model = rng.choice(GOOD_MODELS[:3])  # seed's JSON reply is 100k numbers: too slow
            x, want = rows(rng, model)
            binary = rng.random() < 0.5
            try:
                status, body = rest_infer(conn, model, x, binary)
            except (OSError, http.client.HTTPException) as e:
                self.tally.add(category, f"LOST {type(e).__name__}", str(e))
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", self.http_port, timeout=60)
                continue
            if status != 200:
                self.tally.add(category, f"LOST HTTP {status}", body.decode(errors="replace"))
            else:
                self.tally.add(category, "ok" if close_enough(rest_output(body), want) else "WRONG")
        conn.close()

    # Bad traffic: each must fail with the expected status.
    def grpc_bad(self, seed: int) -> None:
        rng = random.Random(seed)
        mlp_x = SAMPLES["mlp"][0]
        ids = SAMPLES["textclass"][0][:1].copy()
        ids[0, 5] = 1000  # num_embeddings is 1000
        oversize = np.zeros((1, 1, 1448, 1448), dtype=np.float32)
        cases = [
            ("wrong shape", lambda c: c.infer("mlp", mlp_x[:, :, :27, :]), "INVALID_ARGUMENT"),
            ("wrong input name", lambda c: c.infer("mlp", mlp_x[:1], input_name="x"),
             "INVALID_ARGUMENT"),
            # INT64 converts to FP32 only when exact (|v| <= 2^24): 2^40 + 1 does not.
            ("inexact datatype", lambda c: c.infer("mlp", np.full((1, 1, 28, 28), 2**40 + 1)),
             "INVALID_ARGUMENT"),
            ("unknown model", lambda c: c.infer("nosuchmodel", mlp_x[:1], input_name="input"),
             "NOT_FOUND"),
            ("id out of range", lambda c: c.infer("textclass", ids), "INVALID_ARGUMENT"),
            ("too many rows", lambda c: c.infer("mlp", np.zeros((129, 1, 28, 28), np.float32)),
             "INVALID_ARGUMENT"),
        ]
        last_oversize = 0.0
        with Client(self.grpc_target, timeout=60) as client:
            while not self.stop.is_set():
                if time.time() - last_oversize > 1.0:  # one 8 MB request a second per thread
                    last_oversize = time.time()
                    name, call, code = ("oversize output", lambda c: c.infer("seed", oversize),
                                        "RESOURCE_EXHAUSTED")
                else:
                    name, call, code = rng.choice(cases)
                try:
                    call(client)
                    self.tally.add("bad gRPC", f"ACCEPTED {name}")
                except ServerError as e:
                    outcome = f"{name}: {e.code}" if e.code == code else f"UNEXPECTED {name}: {e.code}"
                    self.tally.add("bad gRPC", outcome, e.message)

    def rest_bad(self, seed: int) -> None:
        rng = random.Random(seed)
        conn = http.client.HTTPConnection("127.0.0.1", self.http_port, timeout=60)
        x = SAMPLES["mlp"][0][:1]
        cases = [
            ("malformed JSON", "/v2/models/mlp/infer", b'{"inputs": [{"name": "input", ', 400),
            ("wrong shape", "/v2/models/mlp/infer", json.dumps({"inputs": [{
                "name": "input", "shape": [1, 784], "datatype": "FP32",
                "data": x.ravel().tolist()}]}).encode(), 400),
            ("unknown model", "/v2/models/nosuchmodel/infer", json.dumps({"inputs": [{
                "name": "input", "shape": [1], "datatype": "FP32", "data": [1]}]}).encode(), 404),
            ("NaN as a string", "/v2/models/mlp/infer", json.dumps({"inputs": [{
                "name": "input", "shape": [1, 1, 28, 28], "datatype": "FP32",
                "data": ["NaN"] * 784}]}).encode(), 400),
        ]
        while not self.stop.is_set():
            try:
                if rng.random() < 0.1:
                    # A Content-Length past --http-max-body-bytes: 413 before any body is sent.
                    name, expected = "body past the limit", 413
                    conn.putrequest("POST", "/v2/models/mlp/infer")
                    conn.putheader("Content-Length", str(1 << 30))
                    conn.endheaders()
                    response = conn.getresponse()
                    status = response.status
                    response.read()
                    conn.close()  # the body was never sent: the connection is done
                    conn = http.client.HTTPConnection("127.0.0.1", self.http_port, timeout=60)
                else:
                    name, path, body, expected = rng.choice(cases)
                    status, _ = rest_post(conn, path, body, {"Content-Type": "application/json"})
            except (OSError, http.client.HTTPException) as e:
                self.tally.add("bad REST", f"UNEXPECTED {type(e).__name__}", str(e))
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", self.http_port, timeout=60)
                continue
            if status == expected:
                self.tally.add("bad REST", f"{name}: HTTP {status}")
            elif status == 200:
                self.tally.add("bad REST", f"ACCEPTED {name}")
            else:
                self.tally.add("bad REST", f"UNEXPECTED {name}: HTTP {status}")
        conn.close()

    def slow_client(self, seed: int) -> None:
        """Opens an HTTP connection and sends a request's header a byte a second."""
        header = b"POST /v2/models/mlp/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n"
        rng = random.Random(seed)
        while not self.stop.is_set():
            sock = socket.create_connection(("127.0.0.1", self.http_port), timeout=10)
            sock.settimeout(0.2)
            self.tally.add("slow clients", "connections opened")
            try:
                for i in range(rng.randint(5, len(header))):
                    if self.stop.wait(1.0):
                        break
                    sock.sendall(header[i:i + 1])
                    try:
                        if sock.recv(4096) == b"":
                            self.tally.add("slow clients", "closed by the server")
                            break
                    except socket.timeout:
                        pass
            except OSError:
                self.tally.add("slow clients", "closed by the server")
            finally:
                sock.close()

    def control(self) -> None:
        """Reloads the served models in turn and unloads/loads spare, every ~0.7 s."""
        rng = random.Random(7)
        spare_loaded = True
        with Client(self.grpc_target, timeout=120) as client:
            step = 0
            while not self.stop.wait(0.7):
                step += 1
                try:
                    if step % 2:
                        model = rng.choice(RELOADED)
                        client.load(model)
                        self.tally.add("model control", f"reload {model} ok")
                    elif spare_loaded:
                        client.unload("spare")
                        spare_loaded = False
                        self.tally.add("model control", "unload spare ok")
                    else:
                        client.load("spare")
                        spare_loaded = True
                        self.tally.add("model control", "load spare ok")
                except ServerError as e:
                    self.tally.add("model control", f"FAILED {e.code}", e.message)
            if not spare_loaded:
                client.load("spare")

    def monitor(self) -> None:
        with Client(self.grpc_target, timeout=2) as client:
            last_rss = 0.0
            while not self.stop.wait(0.5):
                try:
                    live = client.server_live()
                except ServerError as e:
                    live = False
                    self.tally.add("health", "DOWN gRPC", e.message)
                self.tally.add("health", "gRPC live" if live else "DOWN gRPC")
                try:
                    conn = http.client.HTTPConnection("127.0.0.1", self.http_port, timeout=2)
                    conn.request("GET", "/v2/health/live")
                    status = conn.getresponse().status
                    conn.close()
                except (OSError, http.client.HTTPException) as e:
                    status = f"{type(e).__name__}"
                self.tally.add("health", "REST live" if status == 200 else f"DOWN REST {status}")
                if time.time() - last_rss >= 1.0:
                    last_rss = time.time()
                    self.rss_curve.append((round(time.time() - self.t0, 1), rss_mb(self.process.pid)))

    def good_workers(self, stop: threading.Event, prefix: str) -> list[threading.Thread]:
        args = self.args
        return ([threading.Thread(target=self.grpc_good,
                                  args=(i, GOOD_MODELS + ["spare"], stop, f"{prefix} gRPC"))
                 for i in range(args.concurrency)] +
                [threading.Thread(target=self.rest_good, args=(1000 + i, stop, f"{prefix} REST"))
                 for i in range(max(1, args.concurrency // 2))])

    def settled_rss(self, seed: int) -> float:
        """A little good traffic (what the server does between bursts), then the RSS."""
        stop = threading.Event()
        thread = threading.Thread(target=self.grpc_good, args=(seed, GOOD_MODELS, stop, "settle"))
        thread.start()
        time.sleep(2)
        stop.set()
        thread.join()
        time.sleep(0.5)
        rss = rss_median(self.process.pid)
        self.rss_curve.append((round(time.time() - self.t0, 1), rss))
        return rss

    def run(self) -> dict:
        args = self.args
        # Warm-up: the good traffic alone at full concurrency (threads, connections and
        # arenas of a busy server), then the baseline RSS.
        warm_stop = threading.Event()
        warm = self.good_workers(warm_stop, "warm-up")
        for t in warm:
            t.start()
        time.sleep(min(5.0, max(2.0, args.seconds / 5)))
        warm_stop.set()
        for t in warm:
            t.join()
        baseline = self.settled_rss(5000)

        workers = self.good_workers(self.stop, "good")
        for i in range(max(1, args.concurrency // 4)):
            workers.append(threading.Thread(target=self.grpc_bad, args=(2000 + i,)))
            workers.append(threading.Thread(target=self.rest_bad, args=(3000 + i,)))
        for i in range(args.slow_clients):
            workers.append(threading.Thread(target=self.slow_client, args=(4000 + i,)))
        workers.append(threading.Thread(target=self.control))
        workers.append(threading.Thread(target=self.monitor))
        for t in workers:
            t.start()
        self.stop.wait(args.seconds)
        self.stop.set()
        for t in workers:
            t.join()
        final = self.settled_rss(5001)

        # SIGTERM with requests in flight: whatever the server accepted gets its right answer;
        # after it stops accepting, UNAVAILABLE (or a refused connection) is expected.
        term_stop = threading.Event()
        term = [threading.Thread(target=self.sigterm_client, args=(6000 + i, term_stop))
                for i in range(8)]
        for t in term:
            t.start()
        time.sleep(1.0)
        self.process.send_signal(signal.SIGTERM)
        try:
            exit_code = self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            exit_code = "did not exit within 60 s of SIGTERM"
        term_stop.set()
        for t in term:
            t.join()

        counts = {k: dict(sorted(v.items())) for k, v in sorted(self.tally.counts.items())}
        problems = [f"{category}: {outcome} x{n}" for category, outcomes in counts.items()
                    for outcome, n in outcomes.items()
                    if outcome.split()[0] in ("WRONG", "LOST", "ACCEPTED", "UNEXPECTED", "DOWN",
                                              "FAILED")]
        if final > baseline * (1 + args.rss_tolerance):
            problems.append(f"RSS {final:.0f} MB after the run, baseline {baseline:.0f} MB "
                            f"(tolerance {args.rss_tolerance:.0%})")
        if exit_code != 0:
            problems.append(f"exit code {exit_code}")
        total = sum(n for category, outcomes in counts.items()
                    if category not in ("health", "slow clients", "model control")
                    for n in outcomes.values())
        return {
            "seconds": args.seconds,
            "concurrency": {"grpc_good": args.concurrency, "rest_good": max(1, args.concurrency // 2),
                            "grpc_bad": max(1, args.concurrency // 4),
                            "rest_bad": max(1, args.concurrency // 4),
                            "slow_clients": args.slow_clients},
            "requests": total,
            "counts": counts,
            "examples": {k: v for k, v in self.tally.examples.items()
                         if k.split("/")[1].split()[0] in ("WRONG", "LOST", "ACCEPTED",
                                                           "UNEXPECTED", "DOWN", "FAILED")},
            "rss_baseline_mb": round(baseline, 1),
            "rss_peak_mb": round(max(r for _, r in self.rss_curve), 1),
            "rss_final_mb": round(final, 1),
            "rss_curve_mb": [(t, round(r, 1)) for t, r in self.rss_curve],
            "exit_code": exit_code,
            "problems": problems,
            "passed": not problems,
        }

    def sigterm_client(self, seed: int, stop: threading.Event) -> None:
        rng = random.Random(seed)
        term_sent = lambda: self.process.poll() is not None or self.process.returncode is not None  # noqa: E731
        with Client(self.grpc_target, timeout=60) as client:
            while not stop.is_set():
                model = rng.choice(GOOD_MODELS)
                x, want = rows(rng, model)
                try:
                    got = client.infer(model, x)
                    self.tally.add("at SIGTERM", "ok" if close_enough(got, want) else "WRONG")
                except ServerError as e:
                    if e.code == "UNAVAILABLE":
                        self.tally.add("at SIGTERM", "refused: shutting down (UNAVAILABLE)")
                        if term_sent() or stop.wait(0.05):
                            break
                    elif e.code == "CANCELLED":
                        # gRPC's Server::Shutdown cancels calls it received but had not yet
                        # handed to the service: requests the server never accepted.
                        self.tally.add("at SIGTERM", "not accepted: CANCELLED by gRPC's shutdown")
                        if term_sent() or stop.wait(0.05):
                            break
                    else:
                        self.tally.add("at SIGTERM", f"LOST {e.code}", e.message)


def print_report(report: dict) -> None:
    print(f"chaos: {report['seconds']} s, {report['requests']} requests "
          f"(concurrency {report['concurrency']})")
    for category, outcomes in report["counts"].items():
        print(f"  {category}:")
        for outcome, n in outcomes.items():
            print(f"    {n:8d}  {outcome}")
    for key, example in report["examples"].items():
        print(f"  example {key}: {example}")
    curve = report["rss_curve_mb"]
    step = max(1, len(curve) // 12)
    print(f"  RSS (MB): baseline {report['rss_baseline_mb']}, peak {report['rss_peak_mb']}, "
          f"after {report['rss_final_mb']}")
    print("  RSS curve (s: MB): " + ", ".join(f"{t}: {r:.0f}" for t, r in curve[::step] + [curve[-1]]))
    print(f"  exit code after SIGTERM: {report['exit_code']}")
    print("PASS" if report["passed"] else "FAIL: " + "; ".join(report["problems"]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--binary", default=str(ROOT / "build" / "bin" / "seqserve"))
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--concurrency", type=int, default=16,
                        help="good gRPC clients; REST good clients are half, bad ones a quarter")
    parser.add_argument("--slow-clients", type=int, default=16)
    parser.add_argument("--rss-tolerance", type=float, default=0.5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="seqserve_chaos_") as tmp:
        repo = Path(tmp) / "models"
        for name in GOOD_MODELS:
            shutil.copytree(ROOT / "models" / name, repo / name)
        shutil.copytree(ROOT / "models" / "mlp", repo / "spare")
        log_path = Path(tmp) / "seqserve.log"
        process, grpc_port, http_port = start_server(Path(args.binary), repo, log_path)
        try:
            report = Chaos(args, process, grpc_port, http_port).run()
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        if not report["passed"]:
            print("--- seqserve log (last 40 lines)")
            print("\n".join(log_path.read_text().splitlines()[-40:]))
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_report(report)
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
