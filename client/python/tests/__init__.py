"""Tests of the seqserve Python package: unit/ (no server needed) and test_e2e.py (exports
models, starts build/bin/seqserve and compares with PyTorch)."""
