"""The exporter's module table must equal the engine's registry exactly.

seqserve.export.SUPPORTED_MODULES (the exporter's writers) is compared with what
`seqserve modules` prints (core/module_registry.cc's table, one type per line): a type the
engine serves but the exporter cannot write, or one the exporter writes but the engine would
refuse to load, fails this test, naming the types. Order does not matter; duplicates do.

The binary is $SEQSERVE_BINARY (ctest sets it), else build/bin/seqserve. No torch needed.
"""
from __future__ import annotations

import os
import subprocess
import sys
import unittest
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parents[1]
PROJECT_ROOT = PACKAGE_ROOT.parents[1]
if str(PACKAGE_ROOT) not in sys.path:
    sys.path.insert(0, str(PACKAGE_ROOT))

from seqserve.export import SUPPORTED_MODULES  # noqa: E402

BINARY = Path(os.environ.get("SEQSERVE_BINARY", PROJECT_ROOT / "build" / "bin" / "seqserve"))


def engine_modules() -> list[str]:
    result = subprocess.run([str(BINARY), "modules"], capture_output=True, text=True,
                            check=False, timeout=60)
    if result.returncode != 0:
        raise AssertionError(f"{BINARY} modules exited {result.returncode}: {result.stderr}")
    return result.stdout.splitlines()


class ModuleTableTest(unittest.TestCase):
    maxDiff = None

    def test_exporter_writes_exactly_the_types_the_engine_serves(self):
        engine = engine_modules()
        exporter = list(SUPPORTED_MODULES)
        self.assertEqual(len(engine), len(set(engine)), f"duplicates in the registry: {engine}")
        self.assertEqual(len(exporter), len(set(exporter)),
                         f"duplicates in the exporter's table: {exporter}")
        missing = sorted(set(engine) - set(exporter))
        unknown = sorted(set(exporter) - set(engine))
        self.assertEqual(
            sorted(exporter), sorted(engine),
            f"\n  served by the engine, not written by the exporter: {missing or 'none'}"
            f"\n  written by the exporter, not served by the engine: {unknown or 'none'}")


if __name__ == "__main__":
    unittest.main()
