#include "core/modules/pool_kernels.h"

#include <algorithm>
#include <limits>
#include <optional>
#include <utility>

#include "core/modules/channel_blocks.h"
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
    const int64_t rows = outer * h.out;
    const int64_t taps = h.kernel > 0 ? h.kernel : (h.in + h.out - 1) / h.out + 1;
    ParallelFor(
        rows, threads,
        [&](int64_t begin, int64_t end) {
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
            if (!divisor.empty()) {
              const float count =
                  divisor[static_cast<size_t>(o) % divisor.size()] * static_cast<float>(h.count[oh]);
              for (int64_t w = 0; w < width; ++w) y[w] /= count;
            }
          }
        },
        MinChunk(width * taps));
  };
}

// Reduces along the innermost axis of plain memory: dst[r, ow] = reduce of src[r, :] over
// the window of ow. With a non-empty `divisor` (the last pass of an average), divides by
// divisor[r % divisor.size()] * count[ow] (PyTorch divides the sum by the window's size
// once). Fixed-size windows that lie inside the input are computed one tap at a time across
// all of them: no per-window bounds, and contiguous (vectorised) at stride 1.
template <PoolKind kKind>
KernelFn PoolColumnsKernel(PoolWindows windows, int64_t rows, std::vector<float> divisor) {
  int64_t first = 0;  // the interior windows [first, last)
  int64_t last = 0;
  if (windows.kernel > 0) {
    const PoolWindows& w = windows;
    first = std::min(w.out, (w.padding + w.stride - 1) / w.stride);
    const int64_t room = w.in - 1 - (w.kernel - 1) * w.step + w.padding;
    last = room < 0 ? first : std::clamp(room / w.stride + 1, first, w.out);
  }
  std::vector<float> count(windows.count.begin(), windows.count.end());
  return [w = std::move(windows), rows, first, last, count = std::move(count),
          divisor = std::move(divisor)](const float* src, float* dst, int threads) {
    const int64_t taps = w.kernel > 0 ? w.kernel : (w.in + w.out - 1) / w.out + 1;
    ParallelFor(
        rows, threads,
        [&](int64_t begin, int64_t end) {
          for (int64_t r = begin; r < end; ++r) {
            const float* x = src + r * w.in;
            float* y = dst + r * w.out;
            auto edge = [&](int64_t from, int64_t to) {
              for (int64_t o = from; o < to; ++o) {
                float acc = Reducer<kKind>::kInit;
                for (int64_t i = w.lo[o]; i < w.hi[o]; i += w.step) {
                  acc = Reducer<kKind>::Apply(acc, x[i]);
                }
                y[o] = acc;
              }
            };
            edge(0, first);
            edge(last, w.out);
            for (int64_t o = first; o < last; ++o) y[o] = Reducer<kKind>::kInit;
            for (int64_t k = 0; k < w.kernel && first < last; ++k) {
              const int64_t offset = k * w.step - w.padding;
              if (w.stride == 1) {
                for (int64_t o = first; o < last; ++o) {
                  y[o] = Reducer<kKind>::Apply(y[o], x[o + offset]);
                }
              } else {
                for (int64_t o = first; o < last; ++o) {
                  y[o] = Reducer<kKind>::Apply(y[o], x[o * w.stride + offset]);
                }
              }
            }
            if (!divisor.empty()) {
              const float rc = divisor[static_cast<size_t>(r) % divisor.size()];
              for (int64_t o = 0; o < w.out; ++o) y[o] /= rc * count[o];
            }
          }
        },
        MinChunk(w.out * taps));
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
  int64_t planes = blocks ? blocks->planes : 1;
  for (size_t a = 0; a < axes; ++a) size[a] = windows[a].in;
  if (!blocks) planes = NumElements(in.shape) / std::max<int64_t>(1, NumElements(size));
  if (!blocks && NumElements(size) == 0) planes = 0;

  // The product of the counts of the axes before the current one, per combination of
  // their output indices (the last pass of an average divides by it).
  std::vector<float> before_counts = {1.f};
  for (size_t a = 0; a <= last_pooled; ++a) {
    const PoolWindows& w = windows[a];
    const bool last = a == last_pooled;
    if (!w.IsIdentity()) {
      int64_t outer = planes;
      for (size_t b = 0; b < a; ++b) outer *= size[b];
      int64_t width = block;
      for (size_t b = a + 1; b < axes; ++b) width *= size[b];
      std::vector<float> divisor;
      if (kKind == PoolKind::kAvg && last) divisor = before_counts;
      size[a] = w.out;

      Shape shape = out_shape;
      std::copy(size.begin(), size.end(), shape.end() - static_cast<int64_t>(axes));
      PlanValue next;
      if (blocks) {
        memory::dims dims = in.md.dims();
        std::copy(size.begin(), size.end(), dims.end() - static_cast<int64_t>(axes));
        next = builder.NewValue(shape, ChannelBlockedDesc(dims, *blocks));
      } else {
        next = builder.NewValue(shape, PlainDesc(shape));
      }
      if (block == 1 && a == axes - 1) {
        builder.AddKernel(PoolColumnsKernel<kKind>(w, outer, std::move(divisor)), value, next);
      } else {
        builder.AddKernel(PoolRowsKernel<kKind>(w, width, outer, std::move(divisor)), value, next);
      }
      value = next;
    }
    if (kKind == PoolKind::kAvg && !last) {
      std::vector<float> counts;
      counts.reserve(before_counts.size() * static_cast<size_t>(w.out));
      for (float c : before_counts) {
        for (int64_t o = 0; o < w.out; ++o) counts.push_back(c * static_cast<float>(w.count[o]));
      }
      before_counts = std::move(counts);
    }
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
  const memory::desc dst_any(dst_dims, memory::data_type::f32, memory::format_tag::any);
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
