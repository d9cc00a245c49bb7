// seqperf's statistics: latency percentiles, measurement windows, the stability rule that
// decides when a load step has been measured long enough, and the CPU clocks (our own
// process and, optionally, the server's) that tell whether the client or the server is
// the bottleneck. Pure functions and plain structs; thread-compatible.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace seqserve::perf {

// gRPC / absl canonical codes 0..16; index = code.
constexpr int kNumStatusCodes = 17;
using ErrorCounts = std::array<int64_t, kNumStatusCodes>;

// "NOT_FOUND" for 5, as absl::StatusCodeToString spells it.
std::string StatusCodeName(int code);

// Nearest-rank percentile (p in [0, 100]) of ascending `sorted`; 0 when empty. p50 of
// {1,2,3,4} is 2, p100 the maximum: every reported value is one that was measured.
int64_t Percentile(std::span<const int64_t> sorted, double p);

struct LatencySummary {
  int64_t count = 0;
  double mean_us = 0;
  double p50_us = 0;
  double p90_us = 0;
  double p95_us = 0;
  double p99_us = 0;
  double max_us = 0;
};

// Sorts `latencies_ns` in place and summarises it.
LatencySummary SummarizeLatencies(std::vector<int64_t>& latencies_ns);

// What one measurement window saw: the requests that completed in it.
struct Window {
  double duration_s = 0;
  std::vector<int64_t> latencies_ns;  // successful requests only
  ErrorCounts errors{};               // failed requests by status code
  double client_cpu_us = 0;           // seqperf's own user+system CPU during the window
  double server_cpu_us = -1;          // the server's, when --server-pid is given; else < 0
  // Requests the open-loop sender could not start because every slot was busy.
  int64_t dropped = 0;
};

// Throughput of successful requests and the p50 of one window, as the stability rule
// compares them.
struct WindowSummary {
  double throughput_per_s = 0;
  double p50_us = 0;
};
WindowSummary SummarizeWindow(const Window& window);

struct StabilityRule {
  int windows = 3;          // consecutive windows that must agree
  double tolerance = 0.10;  // each within ±tolerance of their mean, throughput and p50
  int max_windows = 10;     // give up (and say "unstable") after this many
};

// True when the last `rule.windows` summaries each lie within ±tolerance of their mean
// throughput and mean p50, as perf_analyzer decides. A window without a successful
// request is never stable.
bool IsStable(std::span<const WindowSummary> summaries, const StabilityRule& rule);

// One load step's result: the last `rule.windows` windows merged.
struct StepResult {
  double load = 0;  // concurrency, or requests/s in open loop
  int batch_size = 1;
  double duration_s = 0;
  int64_t requests = 0;  // successful
  double throughput_infer_per_s = 0;
  double throughput_samples_per_s = 0;
  LatencySummary latency;
  ErrorCounts errors{};
  int64_t error_total = 0;
  int64_t dropped = 0;
  // CPU per completed (successful or failed) request; < 0 when not measured.
  double client_cpu_us_per_request = 0;
  double server_cpu_us_per_request = -1;
  bool stable = false;
  int windows_measured = 0;
};

// Merges `windows` (the ones reported) into a StepResult.
StepResult MergeWindows(std::span<const Window> windows, double load, int batch_size,
                        bool stable, int windows_measured);

// This process's user + system CPU time so far, in microseconds (getrusage).
double SelfCpuMicros();
// Another process's user + system CPU time so far, in microseconds, from /proc/PID/stat.
absl::StatusOr<double> ProcessCpuMicros(int pid);

}  // namespace seqserve::perf
