#include "client/perf/perf_stats.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace seqserve::perf {

std::string StatusCodeName(int code) {
  static constexpr const char* kNames[kNumStatusCodes] = {
      "OK",        "CANCELLED",         "UNKNOWN",          "INVALID_ARGUMENT",
      "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS",   "PERMISSION_DENIED",
      "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE",
      "UNIMPLEMENTED", "INTERNAL",      "UNAVAILABLE",      "DATA_LOSS",
      "UNAUTHENTICATED"};
  if (code < 0 || code >= kNumStatusCodes) return absl::StrCat("CODE_", code);
  return kNames[code];
}

int64_t Percentile(std::span<const int64_t> sorted, double p) {
  if (sorted.empty()) return 0;
  const double n = static_cast<double>(sorted.size());
  // Nearest rank: the smallest value with at least p% of the values at or below it.
  auto rank = static_cast<int64_t>(std::ceil(p / 100.0 * n));
  rank = std::clamp<int64_t>(rank, 1, static_cast<int64_t>(sorted.size()));
  return sorted[static_cast<size_t>(rank - 1)];
}

LatencySummary SummarizeLatencies(std::vector<int64_t>& latencies_ns) {
  LatencySummary s;
  if (latencies_ns.empty()) return s;
  std::sort(latencies_ns.begin(), latencies_ns.end());
  s.count = static_cast<int64_t>(latencies_ns.size());
  double sum = 0;
  for (int64_t v : latencies_ns) sum += static_cast<double>(v);
  s.mean_us = sum / static_cast<double>(s.count) / 1e3;
  s.p50_us = static_cast<double>(Percentile(latencies_ns, 50)) / 1e3;
  s.p90_us = static_cast<double>(Percentile(latencies_ns, 90)) / 1e3;
  s.p95_us = static_cast<double>(Percentile(latencies_ns, 95)) / 1e3;
  s.p99_us = static_cast<double>(Percentile(latencies_ns, 99)) / 1e3;
  s.max_us = static_cast<double>(latencies_ns.back()) / 1e3;
  return s;
}

WindowSummary SummarizeWindow(const Window& window) {
  WindowSummary s;
  if (window.duration_s > 0) {
    s.throughput_per_s = static_cast<double>(window.latencies_ns.size()) / window.duration_s;
  }
  std::vector<int64_t> sorted = window.latencies_ns;
  std::sort(sorted.begin(), sorted.end());
  s.p50_us = static_cast<double>(Percentile(sorted, 50)) / 1e3;
  return s;
}

bool IsStable(std::span<const WindowSummary> summaries, const StabilityRule& rule) {
  if (rule.windows <= 0 || summaries.size() < static_cast<size_t>(rule.windows)) return false;
  auto last = summaries.last(static_cast<size_t>(rule.windows));
  double mean_tp = 0, mean_p50 = 0;
  for (const WindowSummary& w : last) {
    if (w.throughput_per_s <= 0) return false;
    mean_tp += w.throughput_per_s;
    mean_p50 += w.p50_us;
  }
  mean_tp /= static_cast<double>(last.size());
  mean_p50 /= static_cast<double>(last.size());
  for (const WindowSummary& w : last) {
    if (std::abs(w.throughput_per_s - mean_tp) > rule.tolerance * mean_tp) return false;
    if (std::abs(w.p50_us - mean_p50) > rule.tolerance * mean_p50) return false;
  }
  return true;
}

StepResult MergeWindows(std::span<const Window> windows, double load, int batch_size,
                        bool stable, int windows_measured) {
  StepResult r;
  r.load = load;
  r.batch_size = batch_size;
  r.stable = stable;
  r.windows_measured = windows_measured;
  std::vector<int64_t> all;
  double client_cpu = 0, server_cpu = 0;
  bool have_server_cpu = !windows.empty();
  for (const Window& w : windows) {
    r.duration_s += w.duration_s;
    all.insert(all.end(), w.latencies_ns.begin(), w.latencies_ns.end());
    for (int c = 0; c < kNumStatusCodes; ++c) r.errors[c] += w.errors[c];
    r.dropped += w.dropped;
    client_cpu += w.client_cpu_us;
    if (w.server_cpu_us < 0) have_server_cpu = false;
    server_cpu += w.server_cpu_us;
  }
  for (int64_t e : r.errors) r.error_total += e;
  r.requests = static_cast<int64_t>(all.size());
  r.latency = SummarizeLatencies(all);
  if (r.duration_s > 0) {
    r.throughput_infer_per_s = static_cast<double>(r.requests) / r.duration_s;
    r.throughput_samples_per_s = r.throughput_infer_per_s * batch_size;
  }
  // Failed requests cost CPU too, so they count in the denominator.
  const int64_t completed = r.requests + r.error_total;
  r.client_cpu_us_per_request = completed > 0 ? client_cpu / static_cast<double>(completed) : 0;
  r.server_cpu_us_per_request =
      have_server_cpu ? (completed > 0 ? server_cpu / static_cast<double>(completed) : 0) : -1;
  return r;
}

double SelfCpuMicros() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto micros = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) * 1e6 + static_cast<double>(t.tv_usec);
  };
  return micros(usage.ru_utime) + micros(usage.ru_stime);
}

absl::StatusOr<double> ProcessCpuMicros(int pid) {
  const std::string path = absl::StrCat("/proc/", pid, "/stat");
  std::ifstream in(path);
  std::string line;
  if (!in || !std::getline(in, line)) {
    return absl::NotFoundError(absl::StrCat("cannot read ", path, ": no process ", pid, "?"));
  }
  // The command name (field 2) is parenthesised and may contain spaces; fields after it
  // start at state (field 3). utime and stime are fields 14 and 15, in clock ticks.
  const size_t close = line.rfind(')');
  if (close == std::string::npos) return absl::DataLossError(absl::StrCat("malformed ", path));
  std::istringstream fields(line.substr(close + 1));
  std::string skip;
  for (int field = 3; field <= 13; ++field) fields >> skip;
  long long utime = 0, stime = 0;
  if (!(fields >> utime >> stime)) {
    return absl::DataLossError(absl::StrCat("malformed ", path));
  }
  const double ticks_per_s = static_cast<double>(sysconf(_SC_CLK_TCK));
  return static_cast<double>(utime + stime) / ticks_per_s * 1e6;
}

}  // namespace seqserve::perf
