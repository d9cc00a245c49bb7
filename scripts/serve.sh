#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine, builds seqserve and serves the bundled models/.
# Until the server lands (issue 3), it validates every bundled model with `seqserve check`.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF
cmake --build build -j"$(nproc)" --target seqserve
for model in models/*/; do
  ./build/bin/seqserve check "$model"
  echo
done
echo "All bundled models load and compile. Serving them over gRPC/HTTP comes with the server (next)."
