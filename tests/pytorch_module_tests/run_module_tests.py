#!/usr/bin/python3
"""PyTorch's own module test table, run through seqserve (issue 10, item 4).

torch.testing._internal.common_nn (Debian's torch 1.13) lists the cases PyTorch tests its
modules with: `module_tests` and `new_module_tests`, dicts with module_name or a constructor,
constructor_args, and input_size / input_fn / input. For every case whose module is one
seqserve registers (`seqserve modules`), this test
  1. builds the module as the case does (torch seeded by the case's name), wraps it as
     nn.Sequential(module), gives norm statistics, norm affine parameters and PReLU slopes
     random values (client/python/tests/zoo.py's randomise: PyTorch's 0/1 init would let eval
     mode hide mistakes) and puts it in eval mode;
  2. computes PyTorch's output on the case's input (float64 inputs as float32, the dtype
     seqserve computes in; integer ids stay int64);
  3. exports the model with seqserve.export and runs it with `seqserve run` (one process per
     case, --jobs at a time, one oneDNN thread each);
  4. compares: same shape, NaN and infinities where PyTorch has them, and elsewhere
     |seqserve - pytorch| <= 1e-4 * |pytorch| + 1e-5 (relative error 1e-4; the absolute floor
     1e-5 is for values near 0, where float32 rounding of a sum of terms of size ~1 is ~1e-7
     per term and a relative bound means nothing).

Cases of functions (common_nn's wrap_functional) that a registered module computes with the
same arguments count too, through that module: F.interpolate as nn.Upsample, F.pad(mode=
'circular') as nn.CircularPad1d/2d/3d (PyTorch 2.1's; on torch 1.13 the stand-ins of
tests/golden/torch21.py, built on F.pad), F.softmax and F.log_softmax as nn.Softmax and
nn.LogSoftmax. The expected output is the case's own function's, and the module is checked to
compute exactly the same in PyTorch before it is exported. Other functions (the losses) and
modules seqserve does not register are only counted.

Cases PyTorch runs on CUDA only (test_cpu=False: three GroupNorm cases it leaves out on CPU
for their gradcheck's time) are run too: their forward is defined on CPU like any other.
Skipped, with the reason: inputs that are not one real tensor (complex; several inputs),
modules seqserve refuses by design (the exporter's reason, which is the
engine's, e.g. BatchNorm without running statistics), and the cases of KNOWN_SKIPS below. The
list is SKIPPED.md next to this file; the test fails when it differs from what this run finds
(a newly skipped or newly passing case must be noticed): `--update` rewrites it.

common_nn imports common_utils, which imports `expecttest` (not packaged by Debian):
stand_ins/expecttest.py is a minimal stand-in, appended to sys.path by this script only.

Exit status: 0 all run cases pass and SKIPPED.md is current, 1 otherwise, 77 (ctest's
SKIP_RETURN_CODE) without torch or without the seqserve binary ($SEQSERVE_BINARY, else
build/bin/seqserve).
"""
from __future__ import annotations

import argparse
import collections
import concurrent.futures
import os
import re
import subprocess
import sys
import tempfile
import time
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

SCRIPT_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = SCRIPT_DIR.parents[1]
PACKAGE_ROOT = PROJECT_ROOT / "client" / "python"
SKIPPED_FILE = SCRIPT_DIR / "SKIPPED.md"
BINARY = Path(os.environ.get("SEQSERVE_BINARY", PROJECT_ROOT / "build" / "bin" / "seqserve"))
RTOL, ATOL = 1e-4, 1e-5
SKIP = 77

# Cases skipped on purpose, each with why. Every entry must still be a case of the table whose
# module seqserve registers (the test fails otherwise, so the list cannot go stale).
KNOWN_SKIPS: dict[str, str] = {}


@dataclass
class Prepared:
    """A case exported and ready to run."""
    name: str
    module_type: str
    module: str            # the module's repr, for failure reports
    model_dir: Path
    input_path: Path
    output_path: Path
    input_desc: str
    expected: np.ndarray


@dataclass
class Skipped:
    name: str
    module_type: str
    reason: str


@dataclass
class Outcome:
    name: str
    error: str | None  # None: passed


def case_name(entry: dict[str, Any]) -> str:
    """The case's name in PyTorch's test_nn without "test_": fullname, or the module's name
    and the case's desc."""
    if entry.get("fullname"):
        return entry["fullname"]
    name = entry.get("module_name") or entry["constructor"].__name__
    return f"{name}_{entry['desc']}" if entry.get("desc") else name


def load_table() -> list[dict[str, Any]]:
    sys.path.append(str(SCRIPT_DIR / "stand_ins"))  # last: a real expecttest wins
    argv, sys.argv = sys.argv, sys.argv[:1]  # common_utils parses sys.argv at import
    try:
        from torch.testing._internal import common_nn
    finally:
        sys.argv = argv
    return list(common_nn.module_tests) + list(common_nn.new_module_tests)


def engine_modules() -> set[str]:
    result = subprocess.run([str(BINARY), "modules"], capture_output=True, text=True,
                            check=True, timeout=60)
    return set(result.stdout.split())


def make_input(entry: dict[str, Any]) -> Any:
    import torch
    if "input_fn" in entry:
        return entry["input_fn"]()
    if "input_size" in entry:
        return torch.randn(entry["input_size"])
    return entry["input"]


def wrapped_function(constructor: Any) -> tuple[Any, dict[str, Any]] | None:
    """(fn, kwargs) of a case made by common_nn's wrap_functional: a FunctionalModule whose
    forward is fn(input, **kwargs); None for a module class."""
    if getattr(constructor, "__name__", "") != "FunctionalModule":
        return None
    forward = constructor.forward
    closure = dict(zip(forward.__code__.co_freevars,
                       (cell.cell_contents for cell in forward.__closure__ or ())))
    return closure.get("fn"), dict(closure.get("kwargs", {}))


def module_for_function(fn: Any, kwargs: dict[str, Any]) -> Any:
    """The torch.nn module that computes fn(input, **kwargs), for the functions a registered
    module wraps (F.interpolate -> nn.Upsample, F.pad(mode='circular') -> nn.CircularPad1d/2d/
    3d, F.softmax and F.log_softmax -> nn.Softmax and nn.LogSoftmax); a str saying why not when
    the call has an argument no module takes; None for any other function (the losses)."""
    from torch import nn
    from torch.nn import functional as F

    if fn is F.interpolate:
        return nn.Upsample(**kwargs)
    if fn is F.pad and kwargs.get("mode") == "circular" and set(kwargs) == {"pad", "mode"}:
        return getattr(nn, f"CircularPad{len(kwargs['pad']) // 2}d")(kwargs["pad"])
    if fn in (F.softmax, F.log_softmax):
        if set(kwargs) != {"dim"}:
            return (f"F.{fn.__name__} with {', '.join(sorted(set(kwargs) - {'dim'}))}, which "
                    f"nn.{'Softmax' if fn is F.softmax else 'LogSoftmax'} does not take (dtype="
                    f"float64 computes in float64; seqserve computes in float32)")
        return (nn.Softmax if fn is F.softmax else nn.LogSoftmax)(**kwargs)
    return None


def prepare(entry: dict[str, Any], index: int, root: Path, registry: set[str],
            out_of_scope: collections.Counter) -> Prepared | Skipped | None:
    """Builds, computes PyTorch's answer and exports one case; None when its module is not one
    seqserve registers (counted in `out_of_scope` by type)."""
    import torch
    from torch import nn

    import seqserve
    from tests.zoo import randomise

    name = case_name(entry)
    torch.manual_seed(zlib.crc32(name.encode()))
    constructor = entry.get("constructor") or getattr(nn, entry["module_name"])
    # A functional case's answer is its function's; the module computing the same is exported.
    reference = constructor(*entry.get("constructor_args", ()))
    function = wrapped_function(constructor)
    module = module_for_function(*function) if function else reference
    if isinstance(module, str):
        return Skipped(name, f"F.{function[0].__name__}", module)
    if module is None:
        out_of_scope[f"F.{getattr(function[0], '__name__', '?')}"] += 1
        return None
    module_type = type(module).__name__
    if module_type not in registry:
        out_of_scope[module_type] += 1
        return None
    if function:
        module_type += f" (F.{function[0].__name__})"
    if name in KNOWN_SKIPS:
        return Skipped(name, module_type, KNOWN_SKIPS[name])
    x = make_input(entry)
    if not isinstance(x, torch.Tensor):
        return Skipped(name, module_type, f"takes {type(x).__name__} of several inputs; a "
                                          f"Sequential passes one tensor")
    if x.is_complex():
        return Skipped(name, module_type, f"{str(x.dtype).replace('torch.', '')} input: "
                                          f"seqserve computes in float32")
    x = x.float() if x.is_floating_point() else x.long()
    model = randomise(nn.Sequential(module)).float().eval()
    try:
        seqserve.export(model, root, f"case{index:03d}")
    except seqserve.ExportError as e:
        return Skipped(name, module_type, f"refused by seqserve by design: "
                                          f"{e.problems[0].split(': ', 1)[1]}")
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. Softmax(dim=None)'s legacy-rule warning
        expected = model(x)
        if function and not torch.equal(reference(x), expected):
            raise AssertionError(f"{name}: {module!r} does not compute what the case's "
                                 f"F.{function[0].__name__} computes")
    expected = expected.numpy()
    input_path = root / f"case{index:03d}.in.npy"
    np.save(input_path, x.contiguous().numpy())  # (np.ascontiguousarray makes 0-d 1-d)
    return Prepared(name, module_type.split(" ")[0], re.sub(r"\s+", " ", repr(module)),
                    root / f"case{index:03d}", input_path, root / f"case{index:03d}.out.npy",
                    f"{str(x.dtype).replace('torch.', '')} {list(x.shape)}", expected)


def run(case: Prepared) -> Outcome:
    result = subprocess.run([str(BINARY), "run", str(case.model_dir), "--input",
                             str(case.input_path), "--output", str(case.output_path),
                             "--threads", "1"],
                            capture_output=True, text=True, check=False, timeout=300)
    if result.returncode != 0:
        return Outcome(case.name, f"seqserve run failed: {result.stderr.strip()}")
    return Outcome(case.name, compare(np.load(case.output_path), case.expected))


def compare(actual: np.ndarray, expected: np.ndarray) -> str | None:
    """None when `actual` matches PyTorch's `expected` (see the module docstring), else what
    differs, at the worst element."""
    if actual.shape != expected.shape:
        return f"shape {list(actual.shape)}, PyTorch {list(expected.shape)}"
    if actual.size == 0:
        return None
    a, e = actual.astype(np.float64), expected.astype(np.float64)
    special = ~np.isfinite(e)
    if not np.array_equal(np.isnan(a), np.isnan(e)) or \
            not np.array_equal(a[special & ~np.isnan(e)], e[special & ~np.isnan(e)]):
        where = int(np.argmax((np.isnan(a) != np.isnan(e)) | (special & (a != e))))
        return (f"NaN/inf differ at flat index {where}: seqserve {actual.flat[where]!r}, "
                f"PyTorch {expected.flat[where]!r}")
    finite = ~special
    if not np.all(np.isfinite(a[finite])):
        where = int(np.argmax(finite & ~np.isfinite(a)))
        return (f"seqserve {actual.flat[where]!r} at flat index {where}, PyTorch "
                f"{expected.flat[where]!r}")
    error = np.where(finite, np.abs(a - e), 0.0)
    bound = ATOL + RTOL * np.abs(np.where(finite, e, 0.0))
    if np.all(error <= bound):
        return None
    where = int(np.argmax(error - bound))
    return (f"|error| {error.flat[where]:.3g} > {bound.flat[where]:.3g} at flat index {where} "
            f"(seqserve {actual.flat[where]!r}, PyTorch {expected.flat[where]!r})")


def skipped_markdown(skipped: list[Skipped], total: int, untested: list[str]) -> str:
    lines = [
        "# PyTorch module test cases that seqserve's parity test skips",
        "",
        "Generated by `tests/pytorch_module_tests/run_module_tests.py --update` (ctest:",
        "`pytorch_module_tests`), which fails when this file differs from what it finds, so a",
        "newly skipped (or newly passing) case is noticed. Cases: `module_tests` and",
        "`new_module_tests` of `torch.testing._internal.common_nn` (torch 1.13) whose module",
        "seqserve registers; names as in PyTorch's test_nn, without `test_`.",
        "",
        f"{total} cases, {total - len(skipped)} run, {len(skipped)} skipped. Registered modules",
        "the table has no case for (client/python/tests/zoo.py's round trips cover every",
        f"registered module): {', '.join(untested)}.",
        "",
        "Skipped:",
        "",
        "| case | module | reason |",
        "| --- | --- | --- |",
    ]
    for s in sorted(skipped, key=lambda s: s.name):
        lines.append(f"| {s.name} | {s.module_type} | {s.reason.replace('|', '/')} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--update", action="store_true",
                        help=f"rewrite {SKIPPED_FILE.name} from this run")
    parser.add_argument("--jobs", type=int, default=2,
                        help="seqserve processes at a time (default 2)")
    parser.add_argument("--filter", default="", help="only cases whose name matches this regex")
    parser.add_argument("-v", "--verbose", action="store_true", help="list every case")
    args = parser.parse_args()

    try:
        import torch
    except ImportError:
        print("skipped: python3-torch is not installed")
        return SKIP
    if not os.access(BINARY, os.X_OK):
        print(f"skipped: {BINARY} is not built")
        return SKIP
    sys.path.insert(0, str(PACKAGE_ROOT))
    import tests.zoo  # noqa: F401 - puts PyTorch 2.1's CircularPad*d on torch 1.13's torch.nn
    torch.set_num_threads(1)

    started = time.monotonic()
    table = load_table()
    registry = engine_modules()
    names = [case_name(entry) for entry in table]
    duplicates = sorted(n for n, c in collections.Counter(names).items() if c > 1)
    if duplicates:
        print(f"error: case names are not unique: {duplicates}")
        return 1

    out_of_scope: collections.Counter = collections.Counter()
    prepared: list[Prepared] = []
    skipped: list[Skipped] = []
    in_scope: set[str] = set()
    with tempfile.TemporaryDirectory(prefix="seqserve-module-tests-") as tmp:
        for index, entry in enumerate(table):
            if args.filter and not re.search(args.filter, case_name(entry)):
                continue
            item = prepare(entry, index, Path(tmp), registry, out_of_scope)
            if item is None:
                continue
            in_scope.add(item.name)
            (prepared if isinstance(item, Prepared) else skipped).append(item)
        prepared_s = time.monotonic() - started
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            outcomes = list(pool.map(run, prepared))
    elapsed = time.monotonic() - started

    failed = [(case, o) for case, o in zip(prepared, outcomes) if o.error is not None]
    for case, outcome in zip(prepared, outcomes):
        if args.verbose:
            print(f"{'FAIL' if outcome.error else 'ok  '} {case.name}")
    for case, outcome in failed:
        print(f"FAIL {case.name}: nn.Sequential({case.module}) on {case.input_desc}: "
              f"{outcome.error}")
    reasons = collections.Counter(re.sub(r":.*", "", s.reason) for s in skipped)
    untested = sorted(registry - {case.module_type for case in prepared})
    print(f"PyTorch module tests (torch {torch.__version__}): {len(in_scope)} cases of modules "
          f"seqserve registers: {len(prepared)} run, {len(prepared) - len(failed)} passed, "
          f"{len(failed)} failed, {len(skipped)} skipped "
          f"({prepared_s:.1f} s preparing, {elapsed:.1f} s in all, {args.jobs} jobs)")
    for reason, count in sorted(reasons.items()):
        print(f"  skipped {count}: {reason}")
    print(f"  registered modules without a case run: {', '.join(untested)}")
    print(f"  not counted: {sum(out_of_scope.values())} cases of modules seqserve does not "
          f"register ({', '.join(f'{t} {n}' for t, n in sorted(out_of_scope.items()))})")

    status = 0 if not failed else 1
    stale = sorted(set(KNOWN_SKIPS) - in_scope)
    if stale and not args.filter:
        print(f"error: KNOWN_SKIPS names cases that are not in the table (or whose module "
              f"seqserve does not register): {stale}")
        status = 1
    if args.filter:
        return status
    text = skipped_markdown(skipped, len(in_scope), untested)
    if args.update:
        SKIPPED_FILE.write_text(text, encoding="utf-8")
        print(f"wrote {SKIPPED_FILE}")
    elif not SKIPPED_FILE.exists() or SKIPPED_FILE.read_text(encoding="utf-8") != text:
        print(f"error: {SKIPPED_FILE} is not what this run finds; check the change, then run "
              f"{Path(__file__).name} --update and commit it. This run's list:\n{text}")
        status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
