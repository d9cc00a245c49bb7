#include "core/modules/upsample_kernels.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <utility>

#include "core/parallel.h"

namespace seqserve {
namespace {

// PyTorch's area_pixel_compute_scale in float.
float AreaPixelScale(int64_t input, int64_t output, bool align_corners,
                     std::optional<double> scale) {
  if (align_corners) {
    return output > 1 ? static_cast<float>(input - 1) / static_cast<float>(output - 1) : 0.f;
  }
  return ScaleValue(scale, input, output);
}

// PyTorch's area_pixel_compute_source_index in float: the input coordinate of output index o.
float SourceIndex(float scale, int64_t o, bool align_corners, bool cubic) {
  if (align_corners) return scale * static_cast<float>(o);
  const float index = scale * (static_cast<float>(o) + 0.5f) - 0.5f;
  return !cubic && index < 0.f ? 0.f : index;
}

// PyTorch's guard_index_and_lambda: the integer part (capped at input - 1) and the fraction,
// clamped to [0, 1].
std::pair<int64_t, float> IndexAndLambda(float real, int64_t input) {
  const int64_t index = std::min(static_cast<int64_t>(std::floor(real)), input - 1);
  const float lambda = std::min(std::max(real - static_cast<float>(index), 0.f), 1.f);
  return {index, lambda};
}

// PyTorch's cubic convolution coefficients (A = -0.75) for fraction t.
std::array<float, 4> CubicCoefficients(float t) {
  constexpr float kA = -0.75f;
  auto near = [](float x) { return ((kA + 2) * x - (kA + 3)) * x * x + 1; };
  auto far = [](float x) { return ((kA * x - 5 * kA) * x + 8 * kA) * x - 4 * kA; };
  const float x1 = t;
  const float x2 = 1.f - t;
  return {far(x1 + 1.f), near(x1), near(x2), far(x2 + 1.f)};
}

// Up to this many rows of an axis's partial results are kept for reuse by later output rows
// (consecutive output rows mostly read the same input rows).
constexpr int kCachedRows = 8;

// Rows of partial results keyed by their input row; per thread, reused across runs.
struct RowCache {
  std::vector<float> data;
  std::array<int64_t, kCachedRows> key{};
  int next = 0;
  int64_t width = 0;

  void Reset(int64_t row_width) {
    width = row_width;
    data.resize(static_cast<size_t>(kCachedRows * row_width));
    key.fill(-1);
    next = 0;
  }
  // The row for `k`, computed by `fill(row)` unless cached.
  template <typename Fill>
  const float* Get(int64_t k, Fill&& fill) {
    for (int i = 0; i < kCachedRows; ++i) {
      if (key[i] == k) return data.data() + i * width;
    }
    float* row = data.data() + next * width;
    key[next] = k;
    next = (next + 1) % kCachedRows;
    fill(row);
    return row;
  }
};

// The innermost axis on one input row: t[o] = sum_k src[index[o, k]] * weight[o, k], the
// first term assigned (not added to 0, which would turn -0 into +0).
void ApplyLastAxis(const float* src, float* t, const AxisTaps& w, int64_t out) {
  const int64_t* index = w.index.data();
  if (w.taps == 1 && w.weight.empty()) {
    for (int64_t o = 0; o < out; ++o) t[o] = src[index[o]];
    return;
  }
  const float* weight = w.weight.data();
  const int taps = w.taps;
  for (int64_t o = 0; o < out; ++o) {
    const int64_t* i = index + o * taps;
    const float* c = weight + o * taps;
    float sum = src[i[0]] * c[0];
    for (int k = 1; k < taps; ++k) sum += src[i[k]] * c[k];
    t[o] = sum;
  }
}

// acc = row * weight (first) or acc += row * weight, over `n` floats; vectorised.
void Accumulate(float* acc, const float* row, float weight, int64_t n, bool first) {
  if (first) {
    for (int64_t o = 0; o < n; ++o) acc[o] = row[o] * weight;
  } else {
    for (int64_t o = 0; o < n; ++o) acc[o] += row[o] * weight;
  }
}

// The interpolation over 1 to 3 axes. Each output row (all output indices but the last
// fixed) is built from rows of partial results: the last axis applied to input rows (cached:
// consecutive output rows read mostly the same input rows), combined over the middle axis's
// taps, then (3 axes) those combined over the first axis's taps (cached too).
class Interpolator {
 public:
  Interpolator(int64_t planes, std::vector<int64_t> in, std::vector<AxisTaps> axes)
      : planes_(planes), axes_count_(static_cast<int>(axes.size())), in_(std::move(in)),
        axes_(std::move(axes)) {
    // Pad to three axes with unit axes in front (never read: see Run).
    while (in_.size() < 3) {
      in_.insert(in_.begin(), 1);
      AxisTaps unit;
      unit.index = {0};
      axes_.insert(axes_.begin(), unit);
    }
    for (int a = 0; a < 3; ++a) {
      out_[a] = static_cast<int64_t>(axes_[a].index.size()) / axes_[a].taps;
    }
  }

  int64_t rows() const { return planes_ * out_[0] * out_[1]; }
  int64_t width() const { return out_[2]; }

  void Run(const float* x, float* y, int64_t begin, int64_t end) const {
    thread_local RowCache last;    // the last axis applied to input rows
    thread_local RowCache middle;  // and combined over the middle axis (3 axes)
    last.Reset(out_[2]);
    middle.Reset(out_[2]);
    const int64_t in_plane = in_[0] * in_[1] * in_[2];
    const AxisTaps& a0 = axes_[0];
    const AxisTaps& a1 = axes_[1];
    const AxisTaps& a2 = axes_[2];
    for (int64_t row = begin; row < end; ++row) {
      const int64_t plane = row / (out_[0] * out_[1]);
      const int64_t o0 = row / out_[1] % out_[0];
      const int64_t o1 = row % out_[1];
      const float* src = x + plane * in_plane;
      float* dst = y + row * out_[2];
      if (a2.weight.empty()) {  // nearest: one input row, gathered
        ApplyLastAxis(src + (a0.index[o0] * in_[1] + a1.index[o1]) * in_[2], dst, a2, out_[2]);
        continue;
      }
      if (axes_count_ == 1) {
        ApplyLastAxis(src, dst, a2, out_[2]);
        continue;
      }
      // The last axis on input row (i0, i1), keyed by (plane, i0, i1).
      auto last_row = [&](int64_t i0, int64_t i1) {
        return last.Get((plane * in_[0] + i0) * in_[1] + i1, [&](float* t) {
          ApplyLastAxis(src + (i0 * in_[1] + i1) * in_[2], t, a2, out_[2]);
        });
      };
      // The middle axis's taps for output index o1, combined into m.
      auto combine_middle = [&](int64_t i0, float* m) {
        for (int k = 0; k < a1.taps; ++k) {
          Accumulate(m, last_row(i0, a1.index[o1 * a1.taps + k]), a1.weight[o1 * a1.taps + k],
                     out_[2], k == 0);
        }
      };
      if (axes_count_ == 2) {
        combine_middle(0, dst);
        continue;
      }
      for (int k = 0; k < a0.taps; ++k) {
        const int64_t i0 = a0.index[o0 * a0.taps + k];
        const float* m = middle.Get((plane * in_[0] + i0) * out_[1] + o1,
                                    [&](float* row_out) { combine_middle(i0, row_out); });
        Accumulate(dst, m, a0.weight[o0 * a0.taps + k], out_[2], k == 0);
      }
    }
  }

 private:
  int64_t planes_;
  int axes_count_;
  std::vector<int64_t> in_;
  std::vector<AxisTaps> axes_;
  std::array<int64_t, 3> out_{};
};

}  // namespace

float ScaleValue(std::optional<double> scale, int64_t input, int64_t output) {
  if (scale.has_value() && *scale > 0) return static_cast<float>(1.0 / *scale);
  return static_cast<float>(input) / static_cast<float>(output);
}

AxisTaps NearestTaps(int64_t input, int64_t output, std::optional<double> scale, bool shortcuts) {
  AxisTaps taps;
  taps.index.resize(output);
  const float s = ScaleValue(scale, input, output);
  for (int64_t o = 0; o < output; ++o) {
    if (shortcuts && output == input) {
      taps.index[o] = o;
    } else if (shortcuts && output == 2 * input) {
      taps.index[o] = o >> 1;
    } else {
      taps.index[o] = std::min(static_cast<int64_t>(std::floor(static_cast<float>(o) * s)),
                               input - 1);
    }
  }
  return taps;
}

AxisTaps NearestExactTaps(int64_t input, int64_t output, std::optional<double> scale,
                          bool direct) {
  AxisTaps taps;
  taps.index.resize(output);
  const float s = ScaleValue(scale, input, output);
  for (int64_t o = 0; o < output; ++o) {
    // Both round through double: (o + 0.5) * s, or (real + 0.5), then to float for floorf.
    const float real = direct ? static_cast<float>((static_cast<double>(o) + 0.5) * s)
                              : static_cast<float>(
                                    static_cast<double>(SourceIndex(s, o, false, false)) + 0.5);
    taps.index[o] = std::min(static_cast<int64_t>(std::floor(real)), input - 1);
  }
  return taps;
}

AxisTaps LinearTaps(int64_t input, int64_t output, bool align_corners,
                    std::optional<double> scale) {
  AxisTaps taps;
  taps.taps = 2;
  taps.index.resize(2 * output);
  taps.weight.resize(2 * output);
  const float s = AreaPixelScale(input, output, align_corners, scale);
  for (int64_t o = 0; o < output; ++o) {
    if (output == input) {  // PyTorch copies: both taps on o, weights 1 and 0
      taps.index[2 * o] = taps.index[2 * o + 1] = o;
      taps.weight[2 * o] = 1.f;
      taps.weight[2 * o + 1] = 0.f;
      continue;
    }
    const auto [i0, lambda1] = IndexAndLambda(SourceIndex(s, o, align_corners, false), input);
    taps.index[2 * o] = i0;
    taps.index[2 * o + 1] = i0 + (i0 < input - 1 ? 1 : 0);
    taps.weight[2 * o] = 1.f - lambda1;
    taps.weight[2 * o + 1] = lambda1;
  }
  return taps;
}

AxisTaps CubicTaps(int64_t input, int64_t output, bool align_corners,
                   std::optional<double> scale) {
  AxisTaps taps;
  taps.taps = 4;
  taps.index.resize(4 * output);
  taps.weight.resize(4 * output);
  const float s = AreaPixelScale(input, output, align_corners, scale);
  for (int64_t o = 0; o < output; ++o) {
    const auto [index, t] = IndexAndLambda(SourceIndex(s, o, align_corners, true), input);
    const std::array<float, 4> c = CubicCoefficients(t);
    for (int k = 0; k < 4; ++k) {
      taps.index[4 * o + k] = std::max<int64_t>(std::min(index + k - 1, input - 1), 0);
      taps.weight[4 * o + k] = c[k];
    }
  }
  return taps;
}

KernelFn InterpolateKernel(int64_t planes, const std::vector<int64_t>& in_spatial,
                           std::vector<AxisTaps> axes) {
  auto interpolator = std::make_shared<const Interpolator>(planes, in_spatial, std::move(axes));
  const int64_t min_rows = std::max<int64_t>(1, 4096 / std::max<int64_t>(interpolator->width(), 1));
  return [interpolator, min_rows](const float* x, float* y, int threads) {
    ParallelFor(
        interpolator->rows(), threads,
        [&](int64_t begin, int64_t end) { interpolator->Run(x, y, begin, end); }, min_rows);
  };
}

KernelFn AreaKernel(int64_t planes, const std::vector<int64_t>& in_spatial,
                    const std::vector<int64_t>& out_spatial) {
  // Three axes, unit ones in front.
  std::array<int64_t, 3> in{1, 1, 1};
  std::array<int64_t, 3> out{1, 1, 1};
  const size_t pad = 3 - in_spatial.size();
  for (size_t a = 0; a < in_spatial.size(); ++a) {
    in[pad + a] = in_spatial[a];
    out[pad + a] = out_spatial[a];
  }
  // PyTorch's start_index and end_index, in integers: floor(o * in / out), ceil((o+1) * in / out).
  auto start = [](int64_t o, int64_t i, int64_t n) { return (o / n) * i + ((o % n) * i) / n; };
  auto end = [](int64_t o, int64_t i, int64_t n) { return 1 + ((o + 1) * i - 1) / n; };
  const int64_t rows = planes * out[0] * out[1];
  const int64_t min_rows = std::max<int64_t>(1, 4096 / std::max<int64_t>(in[2], 1));
  return [=](const float* x, float* y, int threads) {
    ParallelFor(
        rows, threads,
        [&](int64_t begin, int64_t stop) {
          for (int64_t row = begin; row < stop; ++row) {
            const int64_t plane = row / (out[0] * out[1]);
            const int64_t o0 = row / out[1] % out[0];
            const int64_t o1 = row % out[1];
            const float* src = x + plane * in[0] * in[1] * in[2];
            float* dst = y + row * out[2];
            const int64_t d0 = start(o0, in[0], out[0]), d1 = end(o0, in[0], out[0]);
            const int64_t h0 = start(o1, in[1], out[1]), h1 = end(o1, in[1], out[1]);
            for (int64_t o2 = 0; o2 < out[2]; ++o2) {
              const int64_t w0 = start(o2, in[2], out[2]), w1 = end(o2, in[2], out[2]);
              float sum = 0.f;
              for (int64_t d = d0; d < d1; ++d) {
                for (int64_t h = h0; h < h1; ++h) {
                  const float* r = src + (d * in[1] + h) * in[2];
                  for (int64_t w = w0; w < w1; ++w) sum += r[w];
                }
              }
              // PyTorch divides by each window extent in turn (2-D: / kh / kw; 3-D: / kd / kh / kw).
              float value = sum;
              if (pad == 0) value /= static_cast<float>(d1 - d0);
              if (pad <= 1) value /= static_cast<float>(h1 - h0);
              dst[o2] = value / static_cast<float>(w1 - w0);
            }
          }
        },
        min_rows);
  };
}

}  // namespace seqserve
