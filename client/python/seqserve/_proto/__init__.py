"""Protobuf message modules generated from proto/*.proto by ../../regenerate_protos.sh.

Generated, committed, and checked against a fresh regeneration by the unit tests; edit the
.proto files and rerun the script instead of editing the *_pb2.py files.
"""
