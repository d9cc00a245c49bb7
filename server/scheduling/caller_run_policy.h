// Whether a batch should run on the thread that enqueued its task (Scheduler's caller run)
// instead of being handed to a worker: the hand-off there and back costs two thread
// wake-ups, tens of microseconds on a VM, which for a small model is more than its
// forward. Running on the caller pays only while the batch is short and no batching is
// lost: a front end's thread that computes is not reading the next requests, and a worker
// that is busy is what lets requests gather into a batch. So a batch runs on the caller when
//  - its compute, predicted from the batches measured so far, is at most max_us, and
//  - the model does not batch, or the next request is expected only well after this batch
//    is done: the mean gap between arrivals is over kGapMargin times its predicted compute,
//    and the newest arrival's own gap is over its compute (the tail of a burst comes close
//    behind its head). Then it would run alone on a worker too. The margin keeps a batching model under load on its workers,
//    where each request caught running alone on a caller would cost it a whole forward
//    instead of a share of one.
// Unmeasured, nothing runs on the caller: the first batches go to workers, which time them.
//
// Predictions: a one-row batch from the recent one-row batches, a larger one from the
// recent compute per row of larger ones (either from the other when it alone is known;
// one-row batches carry the fixed cost that batching shares, so they are timed apart).
// Estimates are exponentially weighted (kWeight for the newest). Time is passed in, so tests
// drive it with explicit times. Not thread-safe: the Scheduler guards it.
#pragma once

#include <cstdint>

namespace seqserve {

class CallerRunPolicy {
 public:
  // Weight of the newest sample in each estimate.
  static constexpr double kWeight = 1.0 / 8;
  // How much longer than a batch's compute the mean gap between arrivals must be.
  static constexpr double kGapMargin = 2;
  // A silence counts as a gap of at most this long, so one pause does not dominate.
  static constexpr int64_t kMaxGapUs = 1'000'000;

  // `max_us`: the longest batch a caller runs (SchedulerOptions::caller_run_max_us; 0 =
  // never). `batching`: the model batches (max_batch_size > 0).
  CallerRunPolicy(int64_t max_us, bool batching) : max_us_(max_us), batching_(batching) {}

  // A task was queued at `now_us` (non-decreasing from call to call).
  void RecordArrival(int64_t now_us);
  // A batch of `rows` rows computed in `compute_ns`.
  void RecordCompute(int64_t rows, int64_t compute_ns);

  // Whether a batch of `rows` rows should run on the caller's thread.
  bool Allows(int64_t rows) const;

  // The predicted compute of a batch of `rows` rows in ns; negative when not measured yet.
  double PredictNs(int64_t rows) const;
  // The mean gap between arrivals in microseconds; negative before the second arrival.
  double mean_gap_us() const { return gap_us_; }

 private:
  const int64_t max_us_;
  const bool batching_;
  int64_t last_arrival_us_ = -1;
  double gap_us_ = -1;
  double last_gap_us_ = -1;  // before the newest arrival
  double one_row_ns_ = -1;  // compute of one-row batches
  double per_row_ns_ = -1;  // compute per row of larger batches
};

}  // namespace seqserve
