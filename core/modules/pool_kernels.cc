#include "core/modules/pool_kernels.h"

#include <algorithm>
#include <limits>
#include <optional>
#include <utility>

#include "core/modules/channel_blocks.h"
#include "core/modules/cpu_clones.h"
#include "core/parallel.h"

namespace seqserve {
namespace {

using dnnl::memory;

// Elements a kernel step should handle at least before another thread is worth waking.
constexpr int64_t kMinWorkPerThread = 4096;

// PyTorch's max: a NaN wins, and a NaN maximum stays NaN. Bitwise `|` keeps it free of
// branches, which random data would mispredict, and lets the compiler vectorise it.
inline float MaxOrNan(float acc, float v) { return ((v > acc) | (v != v)) ? v : acc; }

template <PoolKind kKind>
struct Reducer {
  static constexpr float kInit =
      kKind == PoolKind::kMax ? -std::numeric_limits<float>::infinity() : 0.f;
  static float Apply(float acc, float v) {
    if constexpr (kKind == PoolKind::kMax) {
      return MaxOrNan(acc, v);
    } else {
      return acc + v;
    }
  }
};

int64_t MinChunk(int64_t work_per_item) {
  return std::max<int64_t>(1, kMinWorkPerThread / std::max<int64_t>(1, work_per_item));
}

// The loops of the two passes below are compiled once per instruction set
// (SEQSERVE_CPU_CLONES), so that their vectorised inner loops use AVX-512 or AVX2 where the
// CPU has them.

struct RowsPass {
  const PoolWindows* h;
  int64_t width;
  const std::vector<float>* divisor;
};

template <PoolKind kKind>
[[gnu::always_inline]] inline void RowsRange(const RowsPass& p, const float* src, float* dst,
                                             int64_t begin, int64_t end) {
  const PoolWindows& h = *p.h;
  const int64_t width = p.width;
  for (int64_t r = begin; r < end; ++r) {
    const int64_t oh = r % h.out;
    const int64_t o = r / h.out;
    const float* x = src + o * h.in * width;
    float* y = dst + r * width;
    for (int64_t w = 0; w < width; ++w) y[w] = Reducer<kKind>::kInit;
    for (int64_t ih = h.lo[oh]; ih < h.hi[oh]; ih += h.step) {
      const float* row = x + ih * width;
      for (int64_t w = 0; w < width; ++w) y[w] = Reducer<kKind>::Apply(y[w], row[w]);
    }
    if (!p.divisor->empty()) {
      const std::vector<float>& d = *p.divisor;
      const float count = d[static_cast<size_t>(o) % d.size()] * static_cast<float>(h.count[oh]);
      for (int64_t w = 0; w < width; ++w) y[w] /= count;
    }
  }
}

SEQSERVE_CPU_CLONES void MaxRows(const RowsPass& p, const float* src, float* dst, int64_t begin,
                                 int64_t end) {
  RowsRange<PoolKind::kMax>(p, src, dst, begin, end);
}
SEQSERVE_CPU_CLONES void AvgRows(const RowsPass& p, const float* src, float* dst, int64_t begin,
                                 int64_t end) {
  RowsRange<PoolKind::kAvg>(p, src, dst, begin, end);
}

// The last one or two pooled axes in one pass: for each output row (an outer index and
// an output index `oh` of the second-last axis `h`, when given), the window of rows of `h`
// is reduced into a scratch row (contiguous, vectorised), and the scratch row along the
// last axis `w`, whose elements are `block` floats (1 on plain layout, a channel block on
// oneDNN's blocked layout), into the output row. Fusing the two keeps the intermediate row
// in cache instead of writing a whole intermediate tensor. The fixed-size windows of `w`
// inside the input are reduced one tap at a time across all of them (one contiguous,
// vectorised run per tap, or a vector per channel block); on plain layout at a stride, as
// a running reduction over every start position of which every stride-th is picked. With a non-empty divisor (averages), output (o, oh, ow) is divided by
// divisor[o % divisor.size()] * h.count[oh] * w.count[ow].
struct LastAxesPass {
  const PoolWindows* h = nullptr;  // nullptr: each row of the input is an output row's source
  const PoolWindows* w = nullptr;
  int64_t block = 1;
  int64_t first = 0;  // w's interior windows [first, last)
  int64_t last = 0;
  const std::vector<float>* w_count = nullptr;
  const std::vector<float>* divisor = nullptr;
};

template <PoolKind kKind>
[[gnu::always_inline]] inline void LastAxesRange(const LastAxesPass& p, const float* src,
                                                 float* dst, int64_t begin, int64_t end) {
  const PoolWindows& w = *p.w;
  const int64_t block = p.block;
  const int64_t h_in = p.h != nullptr ? p.h->in : 1;
  const int64_t h_out = p.h != nullptr ? p.h->out : 1;
  const int64_t in_row = w.in * block;
  const int64_t out_row = w.out * block;
  const bool strided = block == 1 && w.stride > 1 && p.first < p.last;
  std::vector<float> scratch(p.h != nullptr ? static_cast<size_t>(in_row) : 0);
  std::vector<float> running(strided ? static_cast<size_t>((p.last - 1 - p.first) * w.stride + 1) : 0);
  for (int64_t r = begin; r < end; ++r) {
    const int64_t oh = r % h_out;
    const int64_t o = r / h_out;
    const float* x = src + o * h_in * in_row;
    if (p.h != nullptr) {
      float* t = scratch.data();
      for (int64_t i = 0; i < in_row; ++i) t[i] = Reducer<kKind>::kInit;
      for (int64_t ih = p.h->lo[oh]; ih < p.h->hi[oh]; ih += p.h->step) {
        const float* row = x + ih * in_row;
        for (int64_t i = 0; i < in_row; ++i) t[i] = Reducer<kKind>::Apply(t[i], row[i]);
      }
      x = t;
    }
    float* y = dst + r * out_row;
    // The windows that reach into the padding, one at a time.
    auto edge = [&](int64_t from, int64_t to) {
      for (int64_t ow = from; ow < to; ++ow) {
        float* e = y + ow * block;
        for (int64_t c = 0; c < block; ++c) e[c] = Reducer<kKind>::kInit;
        for (int64_t iw = w.lo[ow]; iw < w.hi[ow]; iw += w.step) {
          const float* v = x + iw * block;
          for (int64_t c = 0; c < block; ++c) e[c] = Reducer<kKind>::Apply(e[c], v[c]);
        }
      }
    };
    edge(0, p.first);
    edge(p.last, w.out);
    if (p.first < p.last && !strided) {
      // Stride 1 (or channel blocks): tap by tap over all interior windows at once.
      const int64_t from = p.first * block, to = p.last * block;
      for (int64_t i = from; i < to; ++i) y[i] = Reducer<kKind>::kInit;
      for (int64_t k = 0; k < w.kernel; ++k) {
        const int64_t offset = k * w.step - w.padding;
        if (w.stride == 1) {
          for (int64_t i = from; i < to; ++i) {
            y[i] = Reducer<kKind>::Apply(y[i], x[i + offset * block]);
          }
        } else {
          for (int64_t ow = p.first; ow < p.last; ++ow) {
            float* e = y + ow * block;
            const float* v = x + (ow * w.stride + offset) * block;
            for (int64_t c = 0; c < block; ++c) e[c] = Reducer<kKind>::Apply(e[c], v[c]);
          }
        }
      }
    } else if (strided) {
      // Plain layout at a stride: running[j] reduces the window starting at position
      // first * stride - padding + j (contiguous, vectorised); every stride-th is an output.
      float* run = running.data();
      const int64_t n = static_cast<int64_t>(running.size());
      const float* base = x + p.first * w.stride - w.padding;
      for (int64_t j = 0; j < n; ++j) run[j] = Reducer<kKind>::kInit;
      for (int64_t k = 0; k < w.kernel; ++k) {
        const float* v = base + k * w.step;
        for (int64_t j = 0; j < n; ++j) run[j] = Reducer<kKind>::Apply(run[j], v[j]);
      }
      for (int64_t ow = p.first; ow < p.last; ++ow) y[ow] = run[(ow - p.first) * w.stride];
    }
    if (!p.divisor->empty()) {
      const std::vector<float>& d = *p.divisor;
      const float outer_count = d[static_cast<size_t>(o) % d.size()] *
                                (p.h != nullptr ? static_cast<float>(p.h->count[oh]) : 1.f);
      for (int64_t ow = 0; ow < w.out; ++ow) {
        const float count = outer_count * (*p.w_count)[ow];
        float* e = y + ow * block;
        for (int64_t c = 0; c < block; ++c) e[c] /= count;
      }
    }
  }
}

SEQSERVE_CPU_CLONES void MaxLastAxes(const LastAxesPass& p, const float* src, float* dst,
                                     int64_t begin, int64_t end) {
  LastAxesRange<PoolKind::kMax>(p, src, dst, begin, end);
}
SEQSERVE_CPU_CLONES void AvgLastAxes(const LastAxesPass& p, const float* src, float* dst,
                                     int64_t begin, int64_t end) {
  LastAxesRange<PoolKind::kAvg>(p, src, dst, begin, end);
}

// Max pooling over the last two axes of a channel-blocked (or channels-last) value whose
// block is a multiple of 8 channels: each output position's window is reduced directly
// from the input, 16 or 8 channels (one vector) per tap, with no intermediate row. Windows
// come from lo/hi/step (padding and dilation included), so every fixed or adaptive window
// works.
struct Direct2dPass {
  const PoolWindows* h = nullptr;
  const PoolWindows* w = nullptr;
  int64_t block = 0;  // a multiple of the vector width
};

// Taps of window `o` of `w`: lo, lo + step, ... below hi.
[[gnu::always_inline]] inline int64_t Taps(const PoolWindows& w, int64_t o) {
  return w.hi[o] > w.lo[o] ? (w.hi[o] - w.lo[o] + w.step - 1) / w.step : 0;
}

// kWidth channels at a time, as scalar loops of a constant trip count under `omp simd`,
// which each clone turns into its own vector registers (written with vector types instead,
// GCC lowers their NaN test to scalar code before target_clones makes the clones). Windows
// of exactly kKh x kKw taps (all but those clipped by padding, when kKh > 0) are unrolled.
template <int kWidth, int kKh, int kKw>
[[gnu::always_inline]] inline void MaxDirect2dRange(const Direct2dPass& p, const float* src,
                                                    float* dst, int64_t begin, int64_t end) {
  const PoolWindows& h = *p.h;
  const PoolWindows& w = *p.w;
  const int64_t block = p.block;
  const int64_t in_row = w.in * block;
  for (int64_t r = begin; r < end; ++r) {
    const int64_t oh = r % h.out;
    const float* x = src + r / h.out * h.in * in_row;
    float* y = dst + r * w.out * block;
    const bool full_h = kKh > 0 && Taps(h, oh) == kKh;
    for (int64_t ow = 0; ow < w.out; ++ow) {
      float* out = y + ow * block;
      if (full_h && Taps(w, ow) == kKw) {
        const float* corner = x + h.lo[oh] * in_row + w.lo[ow] * block;
        const int64_t down = h.step * in_row;
        const int64_t right = w.step * block;
        for (int64_t c = 0; c < block; c += kWidth) {
          float acc[kWidth];
          const float* first = corner + c;
#pragma omp simd
          for (int j = 0; j < kWidth; ++j) acc[j] = first[j];
          for (int kh = 0; kh < kKh; ++kh) {
            for (int kw = kh == 0 ? 1 : 0; kw < kKw; ++kw) {
              const float* v = corner + kh * down + kw * right + c;
#pragma omp simd
              for (int j = 0; j < kWidth; ++j) acc[j] = MaxOrNan(acc[j], v[j]);
            }
          }
#pragma omp simd
          for (int j = 0; j < kWidth; ++j) out[c + j] = acc[j];
        }
        continue;
      }
      for (int64_t c = 0; c < block; c += kWidth) {
        float acc[kWidth];
#pragma omp simd
        for (int j = 0; j < kWidth; ++j) acc[j] = -std::numeric_limits<float>::infinity();
        for (int64_t ih = h.lo[oh]; ih < h.hi[oh]; ih += h.step) {
          const float* row = x + ih * in_row + c;
          for (int64_t iw = w.lo[ow]; iw < w.hi[ow]; iw += w.step) {
            const float* v = row + iw * block;
#pragma omp simd
            for (int j = 0; j < kWidth; ++j) acc[j] = MaxOrNan(acc[j], v[j]);
          }
        }
#pragma omp simd
        for (int j = 0; j < kWidth; ++j) out[c + j] = acc[j];
      }
    }
  }
}

// The clones: 16 or 8 channels per vector; 2x2, 3x3 or any windows.
#define SEQSERVE_MAX_DIRECT_2D(name, width, kh, kw)                                  \
  SEQSERVE_CPU_CLONES void name(const Direct2dPass& p, const float* src, float* dst, \
                                int64_t begin, int64_t end) {                        \
    MaxDirect2dRange<width, kh, kw>(p, src, dst, begin, end);                        \
  }
SEQSERVE_MAX_DIRECT_2D(MaxDirect2d16, 16, 0, 0)
SEQSERVE_MAX_DIRECT_2D(MaxDirect2d16By2, 16, 2, 2)
SEQSERVE_MAX_DIRECT_2D(MaxDirect2d16By3, 16, 3, 3)
SEQSERVE_MAX_DIRECT_2D(MaxDirect2d8, 8, 0, 0)
SEQSERVE_MAX_DIRECT_2D(MaxDirect2d8By2, 8, 2, 2)
SEQSERVE_MAX_DIRECT_2D(MaxDirect2d8By3, 8, 3, 3)
#undef SEQSERVE_MAX_DIRECT_2D

// MaxDirect2dRange over `outer` planes of h.in x w.in positions of `block` floats.
KernelFn MaxDirect2dKernel(PoolWindows h, PoolWindows w, int64_t block, int64_t outer) {
  return [h = std::move(h), w = std::move(w), block, outer](const float* src, float* dst,
                                                            int threads) {
    const Direct2dPass pass{&h, &w, block};
    const int64_t taps = (h.kernel > 0 ? h.kernel : 2) * (w.kernel > 0 ? w.kernel : 2);
    using Fn = void (*)(const Direct2dPass&, const float*, float*, int64_t, int64_t);
    const bool wide = block % 16 == 0;
    Fn fn = wide ? MaxDirect2d16 : MaxDirect2d8;
    if (h.kernel == 2 && w.kernel == 2) fn = wide ? MaxDirect2d16By2 : MaxDirect2d8By2;
    if (h.kernel == 3 && w.kernel == 3) fn = wide ? MaxDirect2d16By3 : MaxDirect2d8By3;
    ParallelFor(
        outer * h.out, threads, [&](int64_t begin, int64_t end) { fn(pass, src, dst, begin, end); },
        MinChunk(w.out * block * taps));
  };
}

// Reduces along a non-innermost axis: dst[o, oh, :] = reduce of src[o, ih, :] over the window
// of oh, for each of `outer` planes of `windows.in` rows of `width` floats. Vectorises over
// the contiguous rows. With a non-empty `divisor` (the last pass of an average), divides
// row (o, oh) by divisor[o % divisor.size()] * count[oh]: the counts of the axes pooled
// before, whose output indices are the innermost part of o, times this axis' count.
template <PoolKind kKind>
KernelFn PoolRowsKernel(PoolWindows windows, int64_t width, int64_t outer,
                        std::vector<float> divisor) {
  return [h = std::move(windows), width, outer, divisor = std::move(divisor)](
             const float* src, float* dst, int threads) {
    const int64_t taps = h.kernel > 0 ? h.kernel : (h.in + h.out - 1) / h.out + 1;
    const RowsPass pass{&h, width, &divisor};
    ParallelFor(
        outer * h.out, threads,
        [&](int64_t begin, int64_t end) {
          if constexpr (kKind == PoolKind::kMax) {
            MaxRows(pass, src, dst, begin, end);
          } else {
            AvgRows(pass, src, dst, begin, end);
          }
        },
        MinChunk(width * taps));
  };
}

// The last-axes pass (see LastAxesPass) over `outer` * h.out output rows.
template <PoolKind kKind>
KernelFn LastAxesKernel(std::optional<PoolWindows> h, PoolWindows w, int64_t block, int64_t outer,
                        std::vector<float> divisor) {
  int64_t first = 0;  // w's interior windows [first, last)
  int64_t last = 0;
  if (w.kernel > 0) {
    first = std::min(w.out, (w.padding + w.stride - 1) / w.stride);
    const int64_t room = w.in - 1 - (w.kernel - 1) * w.step + w.padding;
    last = room < 0 ? first : std::clamp(room / w.stride + 1, first, w.out);
  }
  std::vector<float> w_count(w.count.begin(), w.count.end());
  return [h = std::move(h), w = std::move(w), block, outer, first, last,
          w_count = std::move(w_count), divisor = std::move(divisor)](
             const float* src, float* dst, int threads) {
    LastAxesPass pass;
    pass.h = h ? &*h : nullptr;
    pass.w = &w;
    pass.block = block;
    pass.first = first;
    pass.last = last;
    pass.w_count = &w_count;
    pass.divisor = &divisor;
    const int64_t h_out = h ? h->out : 1;
    const int64_t h_taps = h ? (h->kernel > 0 ? h->kernel : (h->in + h->out - 1) / h->out + 1) : 1;
    const int64_t w_taps = w.kernel > 0 ? w.kernel : (w.in + w.out - 1) / w.out + 1;
    const int64_t work = block * (w.in * h_taps + w.out * w_taps);
    ParallelFor(
        outer * h_out, threads,
        [&](int64_t begin, int64_t end) {
          if constexpr (kKind == PoolKind::kMax) {
            MaxLastAxes(pass, src, dst, begin, end);
          } else {
            AvgLastAxes(pass, src, dst, begin, end);
          }
        },
        MinChunk(work));
  };
}

template <PoolKind kKind>
PlanValue AddWindowPoolingOf(PlanBuilder& builder, const PlanValue& in,
                             const std::vector<PoolWindows>& windows, const Shape& out_shape) {
  const size_t axes = windows.size();
  size_t last_pooled = axes;
  for (size_t a = 0; a < axes; ++a) {
    if (!windows[a].IsIdentity()) last_pooled = a;
  }
  if (last_pooled == axes) return in;

  // On a channel-blocked layout each spatial position is one element of `block` floats.
  std::optional<ChannelBlocks> blocks;
  if (in.md.dims().size() == axes + 2) blocks = FindChannelBlocks(in.md);
  PlanValue value = blocks ? in : builder.Plain(in);
  const int64_t block = blocks ? blocks->block : 1;
  std::vector<int64_t> size(axes);  // the spatial sizes after the passes so far
  for (size_t a = 0; a < axes; ++a) size[a] = windows[a].in;
  int64_t planes = blocks ? blocks->planes : 1;
  if (!blocks) {
    const int64_t spatial = NumElements(size);
    planes = spatial == 0 ? 0 : NumElements(in.shape) / spatial;
  }

  // A value of the current sizes, in the input's layout.
  auto new_value = [&]() {
    Shape shape = out_shape;
    std::copy(size.begin(), size.end(), shape.end() - static_cast<int64_t>(axes));
    if (!blocks) return builder.NewValue(shape, PlainDesc(shape));
    memory::dims dims = in.md.dims();
    std::copy(size.begin(), size.end(), dims.end() - static_cast<int64_t>(axes));
    return builder.NewValue(shape, ChannelBlockedDesc(dims, *blocks));
  };
  auto product = [&](size_t from, size_t to) {
    int64_t p = 1;
    for (size_t b = from; b < to; ++b) p *= size[b];
    return p;
  };
  // The product of the counts of the axes before the current one, per combination of
  // their output indices (the last pass of an average divides by it).
  std::vector<float> before_counts = {1.f};
  auto count_in = [&](const PoolWindows& w) {
    if (kKind != PoolKind::kAvg) return;
    std::vector<float> counts;
    counts.reserve(before_counts.size() * static_cast<size_t>(w.out));
    for (float c : before_counts) {
      for (int64_t o = 0; o < w.out; ++o) counts.push_back(c * static_cast<float>(w.count[o]));
    }
    before_counts = std::move(counts);
  };
  auto divisor = [&]() { return kKind == PoolKind::kAvg ? before_counts : std::vector<float>{}; };

  // Max pooling of the last two axes on a layout of whole vectors of channels: directly.
  if (kKind == PoolKind::kMax && blocks && block % 8 == 0 && axes >= 2 &&
      last_pooled == axes - 1 &&
      std::all_of(windows.begin(), windows.end() - 2,
                  [](const PoolWindows& w) { return w.IsIdentity(); })) {
    size[axes - 2] = windows[axes - 2].out;
    size[axes - 1] = windows[axes - 1].out;
    PlanValue next = new_value();
    builder.AddKernel(MaxDirect2dKernel(windows[axes - 2], windows[axes - 1], block,
                                        planes * product(0, axes - 2)),
                      value, next);
    return next;
  }

  for (size_t a = 0; a <= last_pooled; ++a) {
    const PoolWindows& w = windows[a];
    const bool last_two = a + 2 == axes && !windows[a + 1].IsIdentity();
    if (last_two || a + 1 == axes) {
      // The last pooled axis is the innermost: one pass for it and the one before.
      const PoolWindows& inner = last_two ? windows[a + 1] : w;
      std::optional<PoolWindows> h;
      int64_t outer = planes * product(0, a);
      if (last_two && !w.IsIdentity()) {
        h = w;
      } else if (last_two) {
        outer *= size[a];
        count_in(w);
      }
      if (last_two) size[a] = w.out;
      size[axes - 1] = inner.out;
      PlanValue next = new_value();
      builder.AddKernel(LastAxesKernel<kKind>(std::move(h), inner, block, outer, divisor()), value,
                        next);
      return next;
    }
    if (!w.IsIdentity()) {
      const int64_t outer = planes * product(0, a);
      const int64_t width = block * product(a + 1, axes);
      std::vector<float> d = a == last_pooled ? divisor() : std::vector<float>{};
      size[a] = w.out;
      PlanValue next = new_value();
      builder.AddKernel(PoolRowsKernel<kKind>(w, width, outer, std::move(d)), value, next);
      value = next;
    }
    count_in(w);
  }
  return value;
}

}  // namespace

bool PoolWindows::IsIdentity() const {
  if (in != out) return false;
  for (int64_t o = 0; o < out; ++o) {
    if (lo[o] != o || hi[o] != o + 1 || count[o] != 1) return false;
  }
  return true;
}

int64_t PoolOutputSize(int64_t in, int64_t kernel, int64_t stride, int64_t padding,
                       int64_t dilation, bool ceil_mode) {
  const int64_t num = in + 2 * padding - dilation * (kernel - 1) - 1 + (ceil_mode ? stride - 1 : 0);
  const int64_t floor_div = num >= 0 ? num / stride : -((-num + stride - 1) / stride);
  int64_t out = floor_div + 1;
  if (ceil_mode && (out - 1) * stride >= in + padding) --out;
  return out;
}

PoolWindows FixedWindows(int64_t in, int64_t out, int64_t kernel, int64_t stride,
                         int64_t padding, int64_t dilation, bool count_include_pad) {
  PoolWindows w;
  w.in = in;
  w.out = out;
  w.step = dilation;
  w.kernel = kernel;
  w.stride = stride;
  w.padding = padding;
  for (int64_t o = 0; o < out; ++o) {
    const int64_t start = o * stride - padding;
    // The first tap at or after 0, and one past the last tap before `in`.
    const int64_t lo = start >= 0 ? start : start + (-start + dilation - 1) / dilation * dilation;
    const int64_t hi = std::min(start + (kernel - 1) * dilation + 1, in);
    w.lo.push_back(lo);
    w.hi.push_back(hi);
    const int64_t taps = hi > lo ? (hi - lo + dilation - 1) / dilation : 0;
    w.count.push_back(count_include_pad ? std::min(start + kernel, in + padding) - start : taps);
  }
  return w;
}

PoolWindows AdaptiveWindows(int64_t in, int64_t out) {
  PoolWindows w;
  w.in = in;
  w.out = out;
  for (int64_t o = 0; o < out; ++o) {
    w.lo.push_back(o * in / out);
    w.hi.push_back(((o + 1) * in + out - 1) / out);
    w.count.push_back(w.hi.back() - w.lo.back());
  }
  return w;
}

PlanValue AddWindowPooling(PlanBuilder& builder, const PlanValue& in, PoolKind kind,
                           const std::vector<PoolWindows>& windows, const Shape& out_shape) {
  if (kind == PoolKind::kMax) {
    return AddWindowPoolingOf<PoolKind::kMax>(builder, in, windows, out_shape);
  }
  return AddWindowPoolingOf<PoolKind::kAvg>(builder, in, windows, out_shape);
}

PlanValue AddOneDnnPooling(PlanBuilder& builder, const PlanValue& in, const OneDnnPooling& pool,
                           const Shape& out_shape) {
  const size_t spatial = pool.kernel.size();
  memory::dims src_dims = in.shape;
  memory::dims dst_dims = out_shape;
  if (src_dims.size() == spatial + 1) {
    src_dims.insert(src_dims.begin(), 1);
    dst_dims.insert(dst_dims.begin(), 1);
  }
  const PlanValue src = builder.WithDims(in, src_dims);
  memory::dims dilation, padding_r;
  for (size_t a = 0; a < spatial; ++a) {
    // oneDNN counts dilation from 0, and its output size is exact when padding_r makes the
    // last window end at the padded edge; padding_r may be negative (trailing inputs that
    // no window reads).
    dilation.push_back(pool.dilation[a] - 1);
    const int64_t extent = (pool.kernel[a] - 1) * pool.dilation[a] + 1;
    padding_r.push_back((dst_dims[2 + a] - 1) * pool.stride[a] + extent - src_dims[2 + a] -
                        pool.padding[a]);
  }
  // The source's element type: f32, or 8-bit on an int8 plan's grid (max pooling).
  const memory::desc dst_any(dst_dims, src.md.data_type(), memory::format_tag::any);
  const dnnl::pooling_v2_forward::desc desc(dnnl::prop_kind::forward_inference, pool.algorithm,
                                            src.md, dst_any, pool.stride, pool.kernel, dilation,
                                            pool.padding, padding_r);
  const dnnl::pooling_v2_forward::primitive_desc pd(desc, PlanBuilder::Attr(pool.post_ops),
                                                    builder.engine());
  PlanValue dst = builder.NewValue(out_shape, pd.dst_desc());
  builder.AddPrimitive(pd, dnnl::pooling_v2_forward(pd),
                       {ValueArg(DNNL_ARG_SRC, src), ValueArg(DNNL_ARG_DST, dst)});
  return dst;
}

}  // namespace seqserve
