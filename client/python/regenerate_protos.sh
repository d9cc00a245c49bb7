#!/usr/bin/env bash
# Regenerates the protobuf message modules of the Python package from proto/*.proto.
#   client/python/regenerate_protos.sh [OUT_DIR]    (default: client/python/seqserve/_proto)
# Only message code is generated (protoc --python_out); the package writes its gRPC method
# stubs itself, so neither grpc_tools nor a protoc gRPC plugin is needed. The generated files
# are committed; tests/unit/test_protos.py regenerates into a temporary directory and diffs,
# so they cannot go stale.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
proto_dir="$here/../../proto"
out_dir="${1:-$here/seqserve/_proto}"
mkdir -p "$out_dir"
protoc --proto_path="$proto_dir" --python_out="$out_dir" \
  "$proto_dir/model_config.proto" "$proto_dir/grpc_service.proto"
# Our .proto files import each other by bare name (as Triton's do), so protoc writes
# `import model_config_pb2`; inside a package that import must be relative.
sed -i 's/^import model_config_pb2 as /from . import model_config_pb2 as /' \
  "$out_dir/grpc_service_pb2.py"
