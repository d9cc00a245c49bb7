// The adaptive batch window: how long a partial batch should wait for more requests, from
// what the batcher has seen. It keeps two estimates and makes one decision; BatchQueue feeds
// it every arrival and every batch's compute time, and asks it before a partial batch waits.
// Time is passed in (microseconds of the scheduler's clock), so tests drive it with explicit
// times. Not thread-safe: the BatchQueue's owner (the Scheduler) guards it.
//
// The estimates:
//  - arrivals: the mean gap g between requests, exponentially weighted (kArrivalWeight per
//    arrival). A silence counts as a gap of at most kMaxGapWindows windows, so that one long
//    pause does not swamp the estimate for long.
//  - compute: the worker time of a batch of b rows as c(b) = fixed + per_row * b, fitted by
//    exponentially weighted least squares (kComputeWeight per batch) over the batches run.
//    `fixed` is what a batch costs whatever its size (plan lookup, dispatch, memory-bound
//    weight reads), the part that batching shares. The slope needs batches of different
//    sizes; while the recent ones stop varying (a stream settled on one size), the last
//    slope is kept and the line moves through the recent mean.
//
// The rule. A batch of q requests waits for the next request when the time batching it
// saves exceeds the time the wait costs, both per request of the batch:
//  - saved: the next request joins this batch instead of running in a batch of its own,
//    which saves the worker one batch's fixed cost: c(n) + c(r) - c(n + r) = fixed for
//    n rows here and r rows coming; spread over the q + 1 requests, fixed / (q + 1) each.
//  - cost: the q requests here wait for it, expected after the mean gap g (never less than
//    the time since the last arrival: a silence stretches the estimate); the newcomer does
//    not wait; spread over the q + 1 requests, q * g / (q + 1) each.
// So: wait while fixed > q * g, and only if the next request is expected within what is
// left of max_queue_delay (g < window_end - now); otherwise run now. Waiting for k more
// requests saves k * fixed against q * k * g + g * k * (k - 1) / 2 (later ones wait for
// the others), whose margin per request waited for is largest at k = 1: if one more does
// not pay, more do not either. The decision is taken again at each arrival and when the
// expected one is late; max_queue_delay stays the upper bound.
//
// Consequences: with no compute model yet (only one batch size seen, so `fixed` cannot be
// told from `per_row`) or fewer than two arrivals, a batch never waits; a request after a
// silence of kLoneSilenceWindows windows or more never waits (its gap alone makes g reach
// the window); a steady stream waits for batches of about fixed / g requests; a model
// whose compute grows in proportion to its rows (fixed = 0) never waits, since batching
// saves it nothing.
#pragma once

#include <cstdint>

namespace seqserve {

class BatchWindow {
 public:
  // Weight of the newest sample in the exponentially weighted estimates.
  static constexpr double kArrivalWeight = 1.0 / 8;
  static constexpr double kComputeWeight = 1.0 / 16;
  // A gap between arrivals counts as at most this many windows.
  static constexpr int64_t kMaxGapWindows = 16;
  // A request after a silence this many windows long never waits: that gap alone, weighted
  // kArrivalWeight, makes the mean gap at least one window, and a batch waits only for a
  // request expected before its window ends.
  static constexpr int64_t kLoneSilenceWindows = 8;
  // Batch sizes (rows) must vary at least this much (weighted variance, rows squared)
  // before `fixed` and `per_row` are told apart.
  static constexpr double kMinSizeVariance = 0.05;

  // `max_queue_delay_us`: the window (BatchPolicy::max_queue_delay_us), >= 0.
  explicit BatchWindow(int64_t max_queue_delay_us);

  // A request was queued at `now_us` (non-decreasing from call to call).
  void RecordArrival(int64_t now_us);
  // A batch of `rows` rows took `compute_ns` of the worker's time.
  void RecordCompute(int64_t rows, int64_t compute_ns);

  struct Verdict {
    bool wait = false;
    // When waiting: when to decide again if no request arrives before (the next arrival is
    // then late); at most `window_end_us`.
    int64_t recheck_at_us = 0;
  };
  // Whether a batch of `requests` requests that could still grow should wait at `now_us`,
  // when its window (the oldest request's enqueue time + max_queue_delay) ends at
  // `window_end_us`.
  Verdict Decide(int64_t now_us, int64_t requests, int64_t window_end_us) const;

  // The estimates, for tests and logs. Negative when not known yet.
  double mean_gap_us() const { return arrivals_ >= 2 ? gap_us_ : -1; }
  // c(b) = fixed + per_row * b in microseconds; false until the batch sizes seen have varied
  // enough to tell the two apart.
  struct ComputeModel {
    double fixed_us = 0;
    double per_row_us = 0;
  };
  bool Model(ComputeModel& model) const;

 private:
  const int64_t max_queue_delay_us_;

  int64_t arrivals_ = 0;
  int64_t last_arrival_us_ = 0;
  double gap_us_ = 0;

  // Exponentially weighted sums over batches: weight, rows, compute (µs), rows², rows·compute.
  double w_ = 0;
  double sum_b_ = 0;
  double sum_c_ = 0;
  double sum_bb_ = 0;
  double sum_bc_ = 0;
  // The slope of the last fit whose batch sizes varied enough.
  bool has_slope_ = false;
  double per_row_us_ = 0;
};

}  // namespace seqserve
