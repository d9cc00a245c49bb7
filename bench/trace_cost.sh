#!/usr/bin/env bash
# What Triton's trace extension costs a request (issue 15): seqperf on the bundled LeNet-5 at
# concurrency 1 and 16 against one server configuration, printed as one Markdown row per step.
#   bench/trace_cost.sh CONFIG [SEQSERVE]
#     CONFIG    none: no --trace-file (the extension absent)
#               off:  --trace-file, trace_level OFF (the default)
#               on:   --trace-file, trace_level TIMESTAMPS, trace_rate 1 (every request traced,
#                     log_frequency 0: appended to the file every 1 MiB)
#     SEQSERVE  the server binary (default build/bin/seqserve; e.g. an older build to compare)
# Run the configurations alternately (ABBA) and compare medians: one run is noisy on a shared
# machine. Each run takes about 15 s; the server and its trace file are removed after it.
set -euo pipefail
config="${1:?usage: bench/trace_cost.sh none|off|on [SEQSERVE]}"
root="$(cd "$(dirname "$0")/.." && pwd)"
seqserve="${2:-$root/build/bin/seqserve}"
seqperf="$root/build/bin/seqperf"
grpc_port=18561
http_port=18562
work="$(mktemp -d /tmp/seqserve_trace_cost_XXXXXX)"
flags=()
[[ "$config" != none ]] && flags+=("--trace-file=$work/trace.json")

"$seqserve" --model-repository "$root/models" --address 127.0.0.1 --grpc-port "$grpc_port" \
  --http-port "$http_port" --metrics-port 0 "${flags[@]}" >"$work/server.log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null; wait "$server" 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 100); do
  curl -sf "127.0.0.1:$http_port/v2/health/ready" >/dev/null && break
  sleep 0.1
done
if [[ "$config" == on ]]; then
  curl -sf -X POST "127.0.0.1:$http_port/v2/trace/setting" \
    -d '{"trace_level": ["TIMESTAMPS"], "trace_rate": "1"}' >/dev/null
fi

"$seqperf" -u "127.0.0.1:$grpc_port" -m lenet --shape 1,28,28 --concurrency-range 1:16:16x \
  -p 1000 -r 5 --warmup-secs 1 --server-pid "$server" --json "$work/result.json" >/dev/null
/usr/bin/python3 - "$work/result.json" "$config" <<'EOF'
import json, sys
result = json.load(open(sys.argv[1]))
for step in result["steps"]:
    latency = step["latency_us"]
    print(f"| {sys.argv[2]} | {step['concurrency']} | {step['throughput_infer_per_sec']:.0f} | "
          f"{latency['p50']:.0f} | {latency['p99']:.0f} | {step['server_cpu_us_per_request']:.1f} |")
EOF
if [[ "$config" == on ]]; then
  kill -TERM "$server"
  wait "$server" || true
  echo "traces written: $(grep -o '"model_name"' "$work/trace.json" | wc -l)" >&2
fi
