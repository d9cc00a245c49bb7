#!/usr/bin/python3
"""Regenerates the golden files under tests/data/golden from real PyTorch.

Usage: /usr/bin/python3 tests/golden/make_goldens.py [family ...]
Each family is a module cases_<family>.py exporting CASES; with no argument, all of them.
Deterministic: every case seeds torch from its own name.
"""
import glob
import importlib
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
import golden  # noqa: E402

families = sys.argv[1:] or sorted(
    os.path.basename(p)[len("cases_"):-3] for p in glob.glob(os.path.join(os.path.dirname(__file__), "cases_*.py")))
names = set()
for family in families:
    for case in importlib.import_module(f"cases_{family}").CASES:
        assert case.name not in names, f"duplicate case name {case.name}"
        names.add(case.name)
        golden.generate(case)
        print(f"{family}: {case.name}")
