#include "server/scheduling/batch_window.h"

#include <algorithm>
#include <cmath>

namespace seqserve {

BatchWindow::BatchWindow(int64_t max_queue_delay_us) : max_queue_delay_us_(max_queue_delay_us) {}

void BatchWindow::RecordArrival(int64_t now_us) {
  if (arrivals_ > 0) {
    const int64_t max_gap_us = std::max<int64_t>(0, kMaxGapWindows * max_queue_delay_us_);
    const double gap =
        static_cast<double>(std::clamp<int64_t>(now_us - last_arrival_us_, 0, max_gap_us));
    // The first gap seeds the estimate; later ones move it.
    gap_us_ = arrivals_ == 1 ? gap : gap_us_ + kArrivalWeight * (gap - gap_us_);
  }
  last_arrival_us_ = std::max(last_arrival_us_, now_us);
  ++arrivals_;
}

void BatchWindow::RecordCompute(int64_t rows, int64_t compute_ns) {
  if (rows < 1 || compute_ns < 0) return;
  const double b = static_cast<double>(rows);
  const double c = static_cast<double>(compute_ns) / 1000;
  const double keep = 1 - kComputeWeight;
  w_ = keep * w_ + 1;
  sum_b_ = keep * sum_b_ + b;
  sum_c_ = keep * sum_c_ + c;
  sum_bb_ = keep * sum_bb_ + b * b;
  sum_bc_ = keep * sum_bc_ + b * c;
  const double mean_b = sum_b_ / w_;
  const double var_b = sum_bb_ / w_ - mean_b * mean_b;
  if (!(var_b >= kMinSizeVariance)) return;
  const double cov = sum_bc_ / w_ - mean_b * (sum_c_ / w_);
  // Noise can make bigger batches look cheaper, which is not physical either.
  per_row_us_ = std::max(0.0, cov / var_b);
  has_slope_ = true;
}

bool BatchWindow::Model(ComputeModel& model) const {
  if (!has_slope_) return false;
  model.per_row_us = per_row_us_;
  // Noise can make the fixed part look negative, which is not physical.
  model.fixed_us = std::max(0.0, (sum_c_ - per_row_us_ * sum_b_) / w_);
  return true;
}

BatchWindow::Verdict BatchWindow::Decide(int64_t now_us, int64_t requests,
                                         int64_t window_end_us) const {
  Verdict verdict;
  ComputeModel model;
  if (arrivals_ < 2 || requests < 1 || !Model(model)) return verdict;
  // The expected wait for the next request: the mean gap, or the silence so far when that
  // is longer (the request is late; a lone request's silence only grows).
  const double gap =
      std::max(gap_us_, static_cast<double>(std::max<int64_t>(0, now_us - last_arrival_us_)));
  const double remaining = static_cast<double>(window_end_us - now_us);
  if (!(gap < remaining)) return verdict;
  // The next request saves one batch's fixed cost; the requests here each wait for it.
  if (!(model.fixed_us > static_cast<double>(requests) * gap)) return verdict;
  verdict.wait = true;
  // Ask again after that wait if no request came: the gap, stretched by then, decides. Each
  // recheck at least doubles the silence, so a late request costs few wake-ups.
  const int64_t wait_us = std::max<int64_t>(1, std::llround(std::ceil(gap)));
  verdict.recheck_at_us = std::min(window_end_us, now_us + wait_us);
  return verdict;
}

}  // namespace seqserve
