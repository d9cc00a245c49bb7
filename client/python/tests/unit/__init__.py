"""Unit tests: run with /usr/bin/python3 -m unittest discover -s client/python/tests/unit
-t client/python. Tests that need torch or protoc skip when those are missing."""
