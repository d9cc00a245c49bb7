#include "server/offline/precision_agreement.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "fmt/core.h"

namespace seqserve {

void PrecisionAgreement::Add(const Tensor& want, const Tensor& got) {
  want_.push_back(want);
  got_.push_back(got);
}

PrecisionAgreement::Result PrecisionAgreement::Summary() const {
  Result r;
  double lo = 0, hi = 0;
  for (const Tensor& want : want_) {
    for (float v : want.data) {
      lo = std::min(lo, double{v});
      hi = std::max(hi, double{v});
    }
  }
  r.range = hi - lo;
  const double range = r.range > 0 ? r.range : 1.0;
  double sum_error = 0, sum_cosine = 0;
  int64_t elements = 0;
  for (size_t b = 0; b < want_.size(); ++b) {
    const Tensor& want = want_[b];
    const Tensor& got = got_[b];
    for (int64_t i = 0; i < want.numel(); ++i) {
      const double error = std::fabs(double{got.data[i]} - want.data[i]) / range;
      r.max_error = std::max(r.max_error, error);
      sum_error += error;
      ++elements;
    }
    const int64_t batch = want.shape.empty() ? 1 : want.shape[0];
    const int64_t per_sample = batch > 0 ? want.numel() / batch : 0;
    for (int64_t s = 0; s < batch; ++s) {
      const float* w = want.data.data() + s * per_sample;
      const float* g = got.data.data() + s * per_sample;
      double dot = 0, ww = 0, gg = 0;
      for (int64_t i = 0; i < per_sample; ++i) {
        dot += double{w[i]} * g[i];
        ww += double{w[i]} * w[i];
        gg += double{g[i]} * g[i];
      }
      // Two all-zero outputs agree perfectly.
      const double cosine = ww == 0 && gg == 0 ? 1.0 : dot / std::sqrt(ww * gg);
      sum_cosine += cosine;
      r.min_cosine = std::min(r.min_cosine, cosine);
      ++r.samples;
      if (want.shape.size() == 2 && want.shape[1] > 1) {
        r.agreeing += std::max_element(w, w + per_sample) - w ==
                      std::max_element(g, g + per_sample) - g;
        ++r.rows;
      }
    }
  }
  r.mean_error = elements > 0 ? sum_error / static_cast<double>(elements) : 0.0;
  r.mean_cosine = r.samples > 0 ? sum_cosine / static_cast<double>(r.samples) : 1.0;
  return r;
}

std::string PrecisionAgreement::Line(std::string_view precision, std::string_view inputs) const {
  const Result r = Summary();
  std::string line = fmt::format(
      "{} vs fp32 on {} {}: error max {:.2e}, mean {:.2e} (relative to the fp32 outputs' range "
      "{:.4g}); cosine mean {:.6f}, min {:.6f}",
      precision, r.samples, inputs, r.max_error, r.mean_error, r.range, r.mean_cosine,
      r.min_cosine);
  if (r.rows > 0) {
    absl::StrAppend(&line, fmt::format("; top-1 agreement {:.1f}% ({} of {} rows)",
                                       100.0 * static_cast<double>(r.agreeing) /
                                           static_cast<double>(r.rows),
                                       r.agreeing, r.rows));
  }
  return line;
}

}  // namespace seqserve
