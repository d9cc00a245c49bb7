#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz (build-fuzz, clang-14, ASan + UBSan) and runs
# each from its seed corpus (tests/fuzz/corpus/<target>) for a bounded time:
#   scripts/fuzz.sh [seconds-per-target]     (default 20)
# Fails on the first crash, leak, UB or timeout; the input that caused it is kept as
# build-fuzz/findings/<target>/crash-* (reproduce: build-fuzz/bin/<target> <that file>).
# New inputs the fuzzer finds go to build-fuzz/findings/<target>/corpus, never into the tree.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-20}
jobs=$(nproc)

targets=(fuzz_model_seq fuzz_safetensors fuzz_config fuzz_npy fuzz_rest_infer fuzz_grpc_infer)

echo "== fuzz build (clang-14, libFuzzer + ASan + UBSan)"
cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=Debug \
  -DCMAKE_CXX_COMPILER=clang++-14 -DSEQSERVE_FUZZ=ON >/dev/null
cmake --build build-fuzz -j"$jobs" --target "${targets[@]}"

export ASAN_OPTIONS=detect_leaks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
for t in "${targets[@]}"; do
  out=build-fuzz/findings/$t
  mkdir -p "$out/corpus"
  echo "== $t: ${seconds}s"
  # The first corpus directory receives new inputs: the scratch one, not the tree's seeds.
  if ! build-fuzz/bin/"$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
      -max_len=65536 -print_final_stats=1 -artifact_prefix="$out/" \
      "$out/corpus" "tests/fuzz/corpus/$t" >"$out/log" 2>&1; then
    grep -a -v -E "^#[0-9]+[[:space:]]" "$out/log" | tail -n 40
    echo "fuzz: $t failed; the input is in $out/ (log: $out/log)" >&2
    exit 1
  fi
  grep -E "^stat::number_of_executed_units|^Done" "$out/log" | tr '\n' ' '
  echo
done
echo "== fuzz: all ${#targets[@]} targets ran ${seconds}s each without a finding"
