#!/usr/bin/python3
"""The bundled repository (models/) served by a real `seqserve` process on free ports, every
model inferred through the Python client, raw and typed, and compared with PyTorch's outputs
in tests/data/bundled/<model>/expected.npy (made by models/make_models.py). The text
classifier's int64 ids go as INT64 and, cast, as INT32; both give PyTorch's scores.

Tolerance: 1e-4 relative, absolute below 1 (the server tests' rule).
Binaries come from $SEQSERVE_BIN_DIR (ctest sets it), else build/bin; exits 77 (ctest's
SKIP_RETURN_CODE) when the seqserve binary is missing.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import unittest
from pathlib import Path

import numpy as np

PACKAGE_ROOT = Path(__file__).resolve().parents[1]
PROJECT_ROOT = PACKAGE_ROOT.parents[1]
if str(PACKAGE_ROOT) not in sys.path:
    sys.path.insert(0, str(PACKAGE_ROOT))

import seqserve  # noqa: E402

BIN_DIR = Path(os.environ.get("SEQSERVE_BIN_DIR", PROJECT_ROOT / "build" / "bin"))
SEQSERVE = BIN_DIR / "seqserve"
MODELS = PROJECT_ROOT / "models"
SAMPLES = PROJECT_ROOT / "tests" / "data" / "bundled"
GRPC_PORT_LINE = re.compile(r"listening for gRPC\b.*:(\d+)\s*$")
SKIP = 77


def assert_close(test: unittest.TestCase, got: np.ndarray, want: np.ndarray, what: str) -> None:
    test.assertEqual(got.shape, want.shape, what)
    error = np.abs(got.astype(np.float64) - want) / np.maximum(1.0, np.abs(want))
    test.assertLessEqual(float(error.max()), 1e-4, f"{what}: max relative error {error.max():.3g}")


class BundledModelsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.process = subprocess.Popen(
            [str(SEQSERVE), f"--model-repository={MODELS}", "--grpc-port=0", "--http-port=0",
             "--metrics-port=0", "--address=127.0.0.1"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        cls.lines = []
        found = threading.Event()
        cls.port = None

        def read():
            for line in cls.process.stdout:
                cls.lines.append(line.rstrip("\n"))
                match = GRPC_PORT_LINE.search(line.rstrip())
                if match and cls.port is None:
                    cls.port = int(match.group(1))
                    found.set()
            found.set()

        cls.reader = threading.Thread(target=read, daemon=True)
        cls.reader.start()
        found.wait(120)
        if cls.port is None:
            cls.tearDownClass()
            raise RuntimeError("seqserve did not start:\n" + "\n".join(cls.lines))
        cls.client = seqserve.Client(f"127.0.0.1:{cls.port}", timeout=60)

    @classmethod
    def tearDownClass(cls):
        if getattr(cls, "client", None) is not None:
            cls.client.close()
        if cls.process.poll() is None:
            cls.process.send_signal(signal.SIGTERM)
            cls.process.wait(timeout=60)
        cls.reader.join(timeout=10)
        cls.process.stdout.close()

    def test_every_bundled_model_matches_pytorch(self):
        names = sorted(p.name for p in MODELS.iterdir() if p.is_dir())
        self.assertIn("textclass", names)
        for name in names:
            x = np.load(SAMPLES / name / "input.npy")
            want = np.load(SAMPLES / name / "expected.npy")
            for raw in (True, False):
                with self.subTest(model=name, raw=raw):
                    assert_close(self, self.client.infer(name, x, raw=raw), want,
                                 f"{name} {'raw' if raw else 'typed'}")

    def test_text_classifier_takes_int64_and_int32_ids(self):
        ids = np.load(SAMPLES / "textclass" / "input.npy")
        want = np.load(SAMPLES / "textclass" / "expected.npy")
        self.assertEqual(ids.dtype, np.int64)
        metadata = self.client.model_metadata("textclass")
        self.assertEqual(metadata.inputs[0].datatype, "INT64")
        for dtype in (np.int64, np.int32):
            for raw in (True, False):
                with self.subTest(dtype=dtype.__name__, raw=raw):
                    assert_close(self, self.client.infer("textclass", ids.astype(dtype), raw=raw),
                                 want, f"{dtype.__name__} {'raw' if raw else 'typed'}")
        bad = ids[:1].copy()
        bad[0, 9] = 1000
        with self.assertRaises(seqserve.ServerError) as caught:
            self.client.infer("textclass", bad)
        self.assertEqual(caught.exception.code, "INVALID_ARGUMENT")
        self.assertEqual(caught.exception.message,
                         "input 'input': id 1000 at [0, 9] is out of range: num_embeddings is "
                         "1000, so ids must be in [0, 999]")


if __name__ == "__main__":
    if not os.access(SEQSERVE, os.X_OK):
        print(f"skipped: {SEQSERVE} is not built")
        sys.exit(SKIP)
    unittest.main()
