// `seqserve bench MODEL_DIR`: in-process latency and throughput of one model, in the manner
// of OpenVINO's benchmark_app and TensorRT's trtexec (SPEC §5). It runs the serving code
// path — Model::Load, the Plan compiled for one input shape, one Executor reused call after
// call on one input buffer (random normal values, fixed seed) — on the calling thread with
// `threads` oneDNN/OpenMP threads, warms up, then times every call with a steady clock.
// Prints a human-readable summary, or with `json` one JSON object; errors go to stderr.
// Not thread-safe (sets the calling thread's OpenMP thread count); returns the exit code.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace seqserve {

struct BenchOptions {
  std::string model_dir;
  std::optional<int64_t> version;  // unset: the latest
  // Samples per call: the input is [batch, sample dims...].
  int64_t batch = 1;
  // The sample dims without the batch, "3,224,224"; empty: inferred as `check` infers
  // them (free dims set to the first common image size the model accepts), or from the
  // model's config.pbtxt input dims when the first module implies none (e.g. Flatten).
  std::string shape;
  // oneDNN/OpenMP threads of the one worker (config.pbtxt's intra_op_threads).
  int threads = 1;
  // Measurement time after the warm-up; at least kMinTimedCalls calls are timed.
  double seconds = 3.0;
  // Numeric precision of the compiled plan: "fp32" or "bf16" (core/precision.h). On a CPU
  // without native bf16 the plan runs fp32, and the report says so (effective_precision).
  std::string precision = "fp32";
  bool json = false;
};

// Calls timed at the least, however short `seconds` is, so that the percentiles always
// rest on several calls.
inline constexpr int kMinTimedCalls = 10;

int RunBenchCommand(const BenchOptions& options);

}  // namespace seqserve
