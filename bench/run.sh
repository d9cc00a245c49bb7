#!/usr/bin/env bash
# The engine benchmark, side by side in one run: seqserve (in-process), PyTorch 1.13 eager
# and TorchScript (Debian's python3-torch on OpenBLAS), ONNX Runtime 1.30 (npm's
# onnxruntime-node), and oneDNN's sgemm as the ceiling. Each engine runs every
# configuration; the whole set runs ROUNDS times interleaved and the best median per
# configuration is kept, so a noisy moment hurts no engine more than another.
#   bench/run.sh [--quick]      (--quick: batch 1 and 32, 1 thread, one round)
set -euo pipefail
cd "$(dirname "$0")/.."
batches=1,8,32,128 threads=1,2 seconds=1 rounds=2
if [[ "${1:-}" == --quick ]]; then batches=1,32 threads=1 seconds=0.5 rounds=1; fi

need=()
for p in python3-torch libopenblas0 python3-onnx; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
# Node.js may come from elsewhere than Debian (this machine kind ships its own).
command -v npm >/dev/null || need+=(nodejs npm)
if ((${#need[@]})); then
  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}"
fi
[[ -d bench/node_modules/onnxruntime-node ]] || (cd bench && npm install --ignore-scripts --no-audit --no-fund)

cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" --target bench_engine seqserve >/dev/null

/usr/bin/python3 bench/models.py
results=bench/out/results.jsonl
: >"$results"
./build/bin/bench_engine --load models >>"$results"
for ((r = 1; r <= rounds; r++)); do
  echo "round $r/$rounds" >&2
  ./build/bin/bench_engine --sgemm --threads "$threads" --seconds "$seconds" >>"$results"
  ./build/bin/bench_engine --out-dir bench/out --batches "$batches" --threads "$threads" --seconds "$seconds" >>"$results"
  # OpenBLAS sizes its own thread pool once, from the environment, whatever
  # torch.set_num_threads says: without this, torch's "1 thread" Linear layers ran on 2.
  for t in ${threads//,/ }; do
    OPENBLAS_NUM_THREADS=$t OMP_NUM_THREADS=$t /usr/bin/python3 bench/bench_torch.py \
      --batches "$batches" --threads "$t" --seconds "$seconds" >>"$results"
  done
  node bench/bench_ort.js "$batches" "$threads" "$seconds" >>"$results"
done
/usr/bin/python3 bench/report.py "$results"
