#include "server/model_stats.h"

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace seqserve {

void ModelStats::AddFailure(const char* reason, uint64_t duration_ns) {
  fail.Add(duration_ns);
  absl::MutexLock lock(&mu_);
  ++failures_[reason];
}

std::map<std::string, uint64_t> ModelStats::FailuresByReason() const {
  absl::MutexLock lock(&mu_);
  return failures_;
}

void ModelStats::AddExecution(int64_t batch_size, uint64_t input_ns, uint64_t infer_ns,
                              uint64_t output_ns) {
  execution_count.fetch_add(1, std::memory_order_relaxed);
  inference_count.fetch_add(static_cast<uint64_t>(batch_size), std::memory_order_relaxed);
  last_inference_ms.store(static_cast<uint64_t>(absl::ToUnixMillis(absl::Now())),
                          std::memory_order_relaxed);
  absl::MutexLock lock(&mu_);
  BatchSizeStats& stats = batch_stats_[batch_size];
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
