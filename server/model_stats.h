// Counters and durations of one model version, in the shape of Triton's
// ModelStatistics (success/fail/queue/compute input/infer/output, per batch size). Updated
// by the scheduler with relaxed atomics (no lock per request; a mutex only once per batch
// for the batch-size map and once per failure for the reason map); read by the
// ModelStatistics RPC and the Prometheus exporter, so the two never disagree. The
// scheduler records every task it finishes, including those it rejects at Enqueue.
// Thread-safe; a reader may see one batch's counters partly applied.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace seqserve {

// A count and a total duration.
struct StatDuration {
  std::atomic<uint64_t> count{0};
  std::atomic<uint64_t> ns{0};
  void Add(uint64_t duration_ns) {
    count.fetch_add(1, std::memory_order_relaxed);
    ns.fetch_add(duration_ns, std::memory_order_relaxed);
  }
};

struct BatchSizeStats {
  uint64_t executions = 0;
  uint64_t compute_input_ns = 0;
  uint64_t compute_infer_ns = 0;
  uint64_t compute_output_ns = 0;
};

class ModelStats {
 public:
  // Per request (Triton's InferStatistics): as in Triton, each request of a successful
  // batch adds that batch's compute durations.
  StatDuration success;         // whole request, enqueue to finish
  StatDuration fail;            // see AddFailure
  StatDuration queue;           // enqueue to the start of its batch (successful requests)
  StatDuration compute_input;   // getting the plan and gathering the batch input
  StatDuration compute_infer;   // running the plan
  StatDuration compute_output;  // scattering outputs
  // Samples (rows) inferred, and batched executions.
  std::atomic<uint64_t> inference_count{0};
  std::atomic<uint64_t> execution_count{0};
  // Milliseconds since the epoch of the last successful inference.
  std::atomic<uint64_t> last_inference_ms{0};

  // One failed request (adds to `fail` too), by reason (e.g. "DEADLINE_EXCEEDED").
  void AddFailure(const char* reason, uint64_t duration_ns);
  std::map<std::string, uint64_t> FailuresByReason() const;

  // One successful batched execution of `batch_size` rows: adds to execution_count,
  // inference_count, last_inference_ms and the batch-size map.
  void AddExecution(int64_t batch_size, uint64_t input_ns, uint64_t infer_ns, uint64_t output_ns);
  std::map<int64_t, BatchSizeStats> BatchStats() const;

 private:
  mutable absl::Mutex mu_;
  std::map<int64_t, BatchSizeStats> batch_stats_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, uint64_t> failures_ ABSL_GUARDED_BY(mu_);
};

}  // namespace seqserve
