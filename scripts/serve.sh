#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine, builds seqserve and serves the bundled models/ on
# gRPC :8001, HTTP :8000 and Prometheus metrics :8002 until Ctrl-C (which drains).
# Extra arguments go to seqserve, e.g. scripts/serve.sh --grpc-port=9001.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF >/dev/null
cmake --build build -j"$(nproc)" --target seqserve seqclient seqperf
cat <<'HOWTO'

Serving models/ (seed, lenet, mlp, textclass, superres). In another terminal:
  build/bin/seqclient health
  build/bin/seqclient list
  build/bin/seqclient metadata lenet
  build/bin/seqclient infer lenet --input tests/data/bundled/lenet/input.npy
  build/bin/seqclient infer textclass --input tests/data/bundled/textclass/input.npy
  build/bin/seqclient infer superres --input tests/data/bundled/superres/input.npy --output big.npy
  build/bin/seqperf -m lenet --shape 1,28,28 --concurrency-range 1:16:4x
  build/bin/seqperf -m textclass --shape 128 --id-range 0:1000
  curl localhost:8000/v2/health/ready; curl localhost:8002/metrics
HOWTO
exec ./build/bin/seqserve --model-repository=models "$@"
