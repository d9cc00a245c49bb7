// Counters, durations and histograms of one model version, in the shape of Triton's
// ModelStatistics (success/fail/queue/compute input/infer/output, per batch size) plus the
// Prometheus histograms of SPEC §8. Owned by the version's ServableModel; recorded by its
// BatchRunner (every task its scheduler finishes, including those refused at Enqueue or
// dropped from the queue) and, for requests a front end rejects after finding the version,
// by the front end — with relaxed atomics: no lock per request, and a mutex only once per
// batch for the batch-size map. Read by the ModelStatistics RPC, the REST stats endpoint and
// the Prometheus exporter, so they never disagree.
// Thread-safe; a reader may see one batch's counters partly applied.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <map>
#include <span>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"

namespace seqserve {

// Process-wide switch for histogram updates (on by default): `seqserve --allow-metrics=false`
// turns them off with the metrics endpoint, and benchmarks compare the two. Counters and
// durations are always kept: ModelStatistics needs them. Set it before models load.
void SetHistogramsEnabled(bool enabled);
bool HistogramsEnabled();

// A Prometheus histogram of non-negative integer observations (nanoseconds, rows) over fixed
// upper bounds. Observe is two relaxed atomic adds (bucket, sum); the count is the sum of
// the buckets, so a reader always sees count == the +Inf bucket.
class Histogram {
 public:
  static constexpr size_t kMaxBounds = 24;

  // `upper_bounds`: ascending, at most kMaxBounds, static storage (it is not copied).
  explicit Histogram(std::span<const uint64_t> upper_bounds);

  void Observe(uint64_t value);

  struct Snapshot {
    // Cumulative counts: cumulative[i] observations <= upper_bounds()[i]; the last entry
    // (one more than there are bounds) is every observation (the +Inf bucket, = count).
    std::array<uint64_t, kMaxBounds + 1> cumulative{};
    uint64_t count = 0;
    uint64_t sum = 0;
  };
  Snapshot Read() const;
  std::span<const uint64_t> upper_bounds() const { return bounds_; }

 private:
  std::span<const uint64_t> bounds_;
  std::array<std::atomic<uint64_t>, kMaxBounds + 1> counts_{};  // per bucket, not cumulative
  std::atomic<uint64_t> sum_{0};
};

// Bounds of the duration histograms in nanoseconds: 50 µs to 10 s in 1-2.5-5 steps, and of
// the batch-size histogram in rows: powers of two to 1024.
std::span<const uint64_t> DurationBoundsNs();
std::span<const uint64_t> BatchSizeBounds();

// A count and a total duration.
struct StatDuration {
  std::atomic<uint64_t> count{0};
  std::atomic<uint64_t> ns{0};
  void Add(uint64_t duration_ns) {
    count.fetch_add(1, std::memory_order_relaxed);
    ns.fetch_add(duration_ns, std::memory_order_relaxed);
  }
};

// A StatDuration whose every duration also lands in a histogram, so that the histogram's
// count and sum are the StatDuration's count and ns (when histograms are enabled). Add hides
// StatDuration::Add (no virtual call on the hot path): record through this type.
struct ObservedDuration : StatDuration {
  Histogram histogram{DurationBoundsNs()};
  void Add(uint64_t duration_ns) {
    StatDuration::Add(duration_ns);
    if (HistogramsEnabled()) histogram.Observe(duration_ns);
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
  ObservedDuration success;     // whole request, enqueue to finish (request_duration)
  StatDuration fail;            // see AddFailure
  ObservedDuration queue;       // enqueue to the start of its batch (successful requests)
  StatDuration compute_input;   // getting the plan and gathering the batch input
  StatDuration compute_infer;   // running the plan
  StatDuration compute_output;  // scattering outputs
  // Samples (rows) inferred, and batched executions.
  std::atomic<uint64_t> inference_count{0};
  std::atomic<uint64_t> execution_count{0};
  // Milliseconds since the epoch of the last successful inference.
  std::atomic<uint64_t> last_inference_ms{0};
  // Per batched execution: its compute (input + infer + output) and its rows.
  Histogram compute_duration{DurationBoundsNs()};
  Histogram batch_size{BatchSizeBounds()};

  // One failed request (adds to `fail` too), by its status code (the `reason` label).
  void AddFailure(absl::StatusCode code, uint64_t duration_ns);
  // Failures so far by code name (e.g. "DEADLINE_EXCEEDED"), codes with none left out.
  std::map<std::string, uint64_t> FailuresByReason() const;

  // One successful batched execution of `batch_size` rows: adds to execution_count,
  // inference_count, last_inference_ms, the batch-size map and the histograms.
  void AddExecution(int64_t batch_size, uint64_t input_ns, uint64_t infer_ns, uint64_t output_ns);
  std::map<int64_t, BatchSizeStats> BatchStats() const;

 private:
  // Indexed by absl::StatusCode (the canonical codes are 0..16).
  static constexpr size_t kStatusCodes = 17;
  std::array<std::atomic<uint64_t>, kStatusCodes> failures_{};

  mutable absl::Mutex mu_;
  std::map<int64_t, BatchSizeStats> batch_stats_ ABSL_GUARDED_BY(mu_);
};

}  // namespace seqserve
