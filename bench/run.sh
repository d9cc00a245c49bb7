#!/usr/bin/env bash
# The engine benchmark, side by side in one run: seqserve (`seqserve bench --json`, the
# serving code path in-process), PyTorch 1.13 eager and TorchScript (Debian's python3-torch
# on OpenBLAS), ONNX Runtime 1.30 (npm's onnxruntime-node); and the machine's ceilings:
# oneDNN's sgemm and STREAM-style memory bandwidth (bench_engine), the latter at the weight
# size of each MLP (a batch-1 Linear reads every weight once per call) and at 1 GiB (DRAM).
# Models: bench/models.py (the four developed with the engine and issue 11's zoo).
#
# Each round runs the ceilings, then model after model every engine on every batch and
# thread count; the engines' order flips every round, and the best median per
# configuration over the rounds is kept, so a noisy moment hurts no engine more than another.
#   bench/run.sh [--quick] [--models a,b] [--batches 1,8,32] [--threads 1,2] [--seconds 1]
#                [--rounds 2]
#   --quick: six small models, batch 1 and 8, 1 thread, 0.5 s, one round (a few minutes);
#   other flags override its choices. Markdown report on stdout and in bench/out/report.md.
set -euo pipefail
cd "$(dirname "$0")/.."
command_line="bench/run.sh $*"
all=seed,lenet5,mlp,vgg_block,vgg11_bn,alexnet,mobilenet_v1,mlp_ln_512,mlp_ln_1024,mlp_ln_2048,mlp_ln_4096,textclass,superres
models=$all batches=1,8,32 threads=1,2 seconds=1 rounds=2
for arg in "$@"; do
  if [[ "$arg" == --quick ]]; then
    models=seed,lenet5,mlp,vgg_block,mobilenet_v1,mlp_ln_2048 batches=1,8 threads=1 seconds=0.5 rounds=1
  fi
done
usage() { sed -n '/^#   bench/,/^#   other/p' "$0" | sed 's/^# //' >&2; exit 2; }
while (($#)); do
  case "$1" in
    --quick) shift ;;
    --models) models=$2; shift 2 ;;
    --batches) batches=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    *) usage ;;
  esac
done

need=()
for p in python3-torch python3-torchvision libopenblas0 python3-onnx; do
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

/usr/bin/python3 bench/models.py --models "$models"
# Read bandwidth at each MLP's parameter bytes (rounded up to a KiB), and 1 GiB for DRAM.
mlp_sizes=$(/usr/bin/python3 -c '
import json, sys
meta = json.load(open("bench/out/models.json"))
sizes = sorted({-(-meta[m]["param_bytes"] // 1024) for m in sys.argv[1].split(",") if meta[m]["kind"] == "mlp"})
print(",".join(f"{s}K" for s in sizes))' "$models")

results=bench/out/results.jsonl
: >"$results"
echo "{\"engine\": \"run\", \"command\": \"$command_line\", \"models\": \"$models\", \"batches\": \"$batches\", \"threads\": \"$threads\", \"seconds\": $seconds, \"rounds\": $rounds, \"load_average\": \"$(cut -d' ' -f1-3 /proc/loadavg)\"}" >>"$results"
./build/bin/bench_engine --load models >>"$results"

run_seqserve() {
  /usr/bin/python3 bench/bench_seqserve.py --models "$1" --batches "$batches" --threads "$threads" --seconds "$seconds"
}
run_torch() {
  # OpenBLAS sizes its own thread pool once, from the environment, whatever
  # torch.set_num_threads says: without this, torch's "1 thread" Linear layers ran on 2.
  for t in ${threads//,/ }; do
    OPENBLAS_NUM_THREADS=$t OMP_NUM_THREADS=$t /usr/bin/python3 bench/bench_torch.py \
      --models "$1" --batches "$batches" --threads "$t" --seconds "$seconds"
  done
}
run_ort() { node bench/bench_ort.js "$batches" "$threads" "$seconds" "$1"; }

for ((r = 1; r <= rounds; r++)); do
  echo "round $r/$rounds: ceilings (load average $(cut -d' ' -f1 /proc/loadavg))" >&2
  ./build/bin/bench_engine --sgemm --threads "$threads" --seconds "$seconds" >>"$results"
  if [[ -n "$mlp_sizes" ]]; then
    ./build/bin/bench_engine --stream --stream-kernels read --stream-sizes "$mlp_sizes" \
      --threads "$threads" --seconds "$seconds" >>"$results"
  fi
  ./build/bin/bench_engine --stream --stream-sizes 1G --threads "$threads" --seconds "$seconds" >>"$results"
  engines=(seqserve torch ort)
  ((r % 2 == 0)) && engines=(ort torch seqserve)
  for model in ${models//,/ }; do
    load=$(cut -d' ' -f1 /proc/loadavg)
    echo "round $r/$rounds: $model (load average $load)" >&2
    echo "{\"engine\": \"load\", \"round\": $r, \"model\": \"$model\", \"load1\": $load}" >>"$results"
    for engine in "${engines[@]}"; do "run_$engine" "$model" >>"$results"; done
  done
done
/usr/bin/python3 bench/report.py "$results" | tee bench/out/report.md
