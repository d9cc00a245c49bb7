#include "server/scheduling/model_stats.h"

#include <algorithm>
#include <cassert>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace seqserve {
namespace {

std::atomic<bool> histograms_enabled{true};

constexpr uint64_t kDurationBoundsNs[] = {
    50'000,      100'000,       250'000,       500'000,       1'000'000,     2'500'000,
    5'000'000,   10'000'000,    25'000'000,    50'000'000,    100'000'000,   250'000'000,
    500'000'000, 1'000'000'000, 2'500'000'000, 5'000'000'000, 10'000'000'000};
constexpr uint64_t kBatchSizeBounds[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024};

}  // namespace

void SetHistogramsEnabled(bool enabled) {
  histograms_enabled.store(enabled, std::memory_order_relaxed);
}

bool HistogramsEnabled() { return histograms_enabled.load(std::memory_order_relaxed); }

std::span<const uint64_t> DurationBoundsNs() { return kDurationBoundsNs; }
std::span<const uint64_t> BatchSizeBounds() { return kBatchSizeBounds; }

Histogram::Histogram(std::span<const uint64_t> upper_bounds) : bounds_(upper_bounds) {
  assert(bounds_.size() <= kMaxBounds);
  assert(std::is_sorted(bounds_.begin(), bounds_.end()));
}

void Histogram::Observe(uint64_t value) {
  // The first bound >= value: Prometheus buckets are "less than or equal".
  const size_t bucket = static_cast<size_t>(
      std::lower_bound(bounds_.begin(), bounds_.end(), value) - bounds_.begin());
  counts_[bucket].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(value, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::Read() const {
  Snapshot snapshot;
  uint64_t total = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    total += counts_[i].load(std::memory_order_relaxed);
    snapshot.cumulative[i] = total;
  }
  snapshot.count = total;
  snapshot.sum = sum_.load(std::memory_order_relaxed);
  return snapshot;
}

void ModelStats::AddFailure(absl::StatusCode code, uint64_t duration_ns) {
  fail.Add(duration_ns);
  const size_t index = static_cast<size_t>(code);
  // A code outside the canonical range is counted as UNKNOWN.
  failures_[index < kStatusCodes ? index : static_cast<size_t>(absl::StatusCode::kUnknown)]
      .fetch_add(1, std::memory_order_relaxed);
}

std::map<std::string, uint64_t> ModelStats::FailuresByReason() const {
  std::map<std::string, uint64_t> failures;
  for (size_t i = 0; i < kStatusCodes; ++i) {
    const uint64_t n = failures_[i].load(std::memory_order_relaxed);
    if (n > 0) failures[absl::StatusCodeToString(static_cast<absl::StatusCode>(i))] = n;
  }
  return failures;
}

void ModelStats::AddExecution(int64_t batch_size_rows, uint64_t input_ns, uint64_t infer_ns,
                              uint64_t output_ns) {
  execution_count.fetch_add(1, std::memory_order_relaxed);
  inference_count.fetch_add(static_cast<uint64_t>(batch_size_rows), std::memory_order_relaxed);
  last_inference_ms.store(static_cast<uint64_t>(absl::ToUnixMillis(absl::Now())),
                          std::memory_order_relaxed);
  if (HistogramsEnabled()) {
    compute_duration.Observe(input_ns + infer_ns + output_ns);
    batch_size.Observe(static_cast<uint64_t>(batch_size_rows));
  }
  absl::MutexLock lock(&mu_);
  BatchSizeStats& stats = batch_stats_[batch_size_rows];
  ++stats.executions;
  stats.compute_input_ns += input_ns;
  stats.compute_infer_ns += infer_ns;
  stats.compute_output_ns += output_ns;
}

std::map<int64_t, BatchSizeStats> ModelStats::BatchStats() const {
  absl::MutexLock lock(&mu_);
  return batch_stats_;
}

}  // namespace seqserve
