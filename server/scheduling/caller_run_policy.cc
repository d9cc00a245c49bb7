#include "server/scheduling/caller_run_policy.h"

#include <algorithm>

namespace seqserve {
namespace {

// `estimate` moved towards `sample` by kWeight; the first sample is taken as it is.
double Blend(double estimate, double sample) {
  return estimate < 0 ? sample : estimate + (sample - estimate) * CallerRunPolicy::kWeight;
}

}  // namespace

void CallerRunPolicy::RecordArrival(int64_t now_us) {
  last_gap_us_ = -1;
  if (last_arrival_us_ >= 0) {
    const int64_t gap = std::clamp<int64_t>(now_us - last_arrival_us_, 0, kMaxGapUs);
    last_gap_us_ = static_cast<double>(gap);
    gap_us_ = Blend(gap_us_, last_gap_us_);
  }
  last_arrival_us_ = now_us;
}

void CallerRunPolicy::RecordCompute(int64_t rows, int64_t compute_ns) {
  if (rows < 1 || compute_ns < 0) return;
  if (rows == 1) {
    one_row_ns_ = Blend(one_row_ns_, static_cast<double>(compute_ns));
  } else {
    per_row_ns_ =
        Blend(per_row_ns_, static_cast<double>(compute_ns) / static_cast<double>(rows));
  }
}

double CallerRunPolicy::PredictNs(int64_t rows) const {
  rows = std::max<int64_t>(rows, 1);
  if (rows == 1) return one_row_ns_ >= 0 ? one_row_ns_ : per_row_ns_;
  const double per_row = per_row_ns_ >= 0 ? per_row_ns_ : one_row_ns_;
  return per_row < 0 ? -1 : per_row * static_cast<double>(rows);
}

bool CallerRunPolicy::Allows(int64_t rows) const {
  if (max_us_ <= 0) return false;
  const double predicted_ns = PredictNs(rows);
  if (predicted_ns < 0 || predicted_ns > static_cast<double>(max_us_) * 1000.0) return false;
  if (!batching_ || gap_us_ < 0) return true;
  // A request expected while this batch computes would have joined the next batch on a
  // worker; run here only when none is: the mean gap is kGapMargin times the batch, and the
  // newest request did not come right after another (as the tail of a burst does).
  const double predicted_us = predicted_ns / 1000.0;
  return predicted_us * kGapMargin < gap_us_ && predicted_us < last_gap_us_;
}

}  // namespace seqserve
