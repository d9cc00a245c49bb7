#!/usr/bin/env bash
# Installs every Debian package seqserve needs to build and run; with --test also what the
# test suite uses (PyTorch for the end-to-end test, the Python gRPC stack, Prometheus).
# Idempotent and non-interactive; run as root (or with sudo) on Debian 12.
set -euo pipefail

packages=(
  build-essential cmake pkg-config ninja-build
  libdnnl-dev ocl-icd-opencl-dev opencl-c-headers
  libabsl-dev libgrpc++-dev libgrpc-dev protobuf-compiler protobuf-compiler-grpc libprotobuf-dev
  libspdlog-dev libfmt-dev
  libgtest-dev libgmock-dev
  nlohmann-json3-dev libcli11-dev libcpp-httplib-dev
  libboost-dev libssl-dev
  python3 python3-numpy python3-yaml
)

# Only for tests: python3-torch (about 1 minute, 241 MB to download) runs the exporter's
# end-to-end test and PyTorch's own module test table (tests/pytorch_module_tests) against
# real PyTorch; grpcio/protobuf the Python client's tests; prometheus (promtool and the
# server) the metrics test; openssl (the command) makes the HTTPS tests' certificates;
# clang-14 with its libFuzzer and sanitizer runtimes, libomp and lld builds the fuzz targets
# (scripts/fuzz.sh).
test_packages=(
  python3-grpcio python3-protobuf python3-torch libopenblas0
  prometheus openssl
  clang-14 libclang-rt-14-dev libomp-14-dev lld-14
)
if [[ "${1:-}" == --test ]]; then packages+=("${test_packages[@]}"); fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
  sudo=""
  [[ $(id -u) -eq 0 ]] || sudo="sudo"
  echo "setup: installing ${missing[*]}"
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  echo "setup: all packages present"
fi
