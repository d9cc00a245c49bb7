"""A minimal stand-in for the `expecttest` package (PyPI), which Debian does not package.

torch.testing._internal.common_utils imports it for two names: `ACCEPT` (a flag for updating
expected-output literals) and `TestCase` (the base of PyTorch's TestCase, adding
assertExpectedInline). The module test table in common_nn needs neither; run_module_tests.py
puts this directory at the END of sys.path, so an installed expecttest wins.
"""
import unittest

ACCEPT = False


class TestCase(unittest.TestCase):
    """unittest.TestCase without expecttest's inline-expectation helpers (unused here)."""
