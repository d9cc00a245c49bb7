#include "core/modules/pooling.h"

#include <algorithm>
#include <cstddef>
#include <limits>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/module_args.h"
#include "core/parallel.h"
#include "common/status_macros.h"

namespace seqserve {
namespace {

using dnnl::memory;

// Elements a kernel step should handle at least before another thread is worth waking.
constexpr int64_t kMinWorkPerThread = 4096;

// PyTorch's max: a NaN wins, and a NaN maximum stays NaN. Bitwise `|` keeps it free of
// branches, which random data would mispredict.
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
// of oh, for each of `outer` planes of `windows.in` rows of `width`. Vectorises over the
// contiguous rows. Divides by the window's count when `divide` (the last pass of an average).
template <PoolKind kKind>
KernelFn PoolRowsKernel(PoolWindows windows, int64_t width, int64_t outer, bool divide) {
  return [h = std::move(windows), width, outer, divide](const float* src, float* dst,
                                                        int threads) {
    const int64_t rows = outer * h.out;
    const int64_t taps = (h.in + h.out - 1) / h.out + 1;
    ParallelFor(
        rows, threads,
        [&](int64_t begin, int64_t end) {
          for (int64_t r = begin; r < end; ++r) {
            const int64_t oh = r % h.out;
            const float* x = src + (r / h.out) * h.in * width;
            float* y = dst + r * width;
            for (int64_t w = 0; w < width; ++w) y[w] = Reducer<kKind>::kInit;
            for (int64_t ih = h.lo[oh]; ih < h.hi[oh]; ih += h.step) {
              const float* row = x + ih * width;
              for (int64_t w = 0; w < width; ++w) y[w] = Reducer<kKind>::Apply(y[w], row[w]);
            }
            if (divide) {
              const float count = static_cast<float>(h.count[oh]);
              for (int64_t w = 0; w < width; ++w) y[w] /= count;
            }
          }
        },
        MinChunk(width * taps));
  };
}

// Reduces along the innermost axis: dst[r, ow] = reduce of src[r, :] over the window of ow.
// For an average, the last pass, divides by row_count[r % row_count.size()] * count[ow]
// (PyTorch divides the sum by the window's size once). Fixed-size windows that lie inside
// the input are computed one tap at a time across all of them: no per-window bounds, and
// contiguous (vectorised) at stride 1.
template <PoolKind kKind>
KernelFn PoolColumnsKernel(PoolWindows windows, int64_t rows, std::vector<int64_t> row_count) {
  int64_t first = 0;  // the interior windows [first, last)
  int64_t last = 0;
  if (windows.kernel > 0) {
    const PoolWindows& w = windows;
    first = std::min(w.out, (w.padding + w.stride - 1) / w.stride);
    const int64_t room = w.in - 1 - (w.kernel - 1) * w.step + w.padding;
    last = room < 0 ? first : std::clamp(room / w.stride + 1, first, w.out);
  }
  std::vector<float> count(windows.count.begin(), windows.count.end());
  std::vector<float> rcount(row_count.begin(), row_count.end());
  return [w = std::move(windows), rows, first, last, count = std::move(count),
          rcount = std::move(rcount)](const float* src, float* dst, int threads) {
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
            if constexpr (kKind == PoolKind::kAvg) {
              const float rc = rcount[static_cast<size_t>(r) % rcount.size()];
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
  const PoolWindows& cols = windows.back();
  const PoolWindows* rows = windows.size() == 2 ? &windows[0] : nullptr;
  const bool pool_rows = rows != nullptr && !rows->IsIdentity();
  const bool pool_cols = !cols.IsIdentity();
  if (!pool_rows && !pool_cols) return in;
  PlanValue value = builder.Plain(in);
  if (pool_rows) {
    const int64_t outer = NumElements(in.shape) / (rows->in * cols.in);
    Shape mid = out_shape;
    mid.back() = cols.in;
    PlanValue next = builder.NewValue(mid, PlainDesc(mid));
    builder.AddKernel(PoolRowsKernel<kKind>(*rows, cols.in, outer,
                                            kKind == PoolKind::kAvg && !pool_cols),
                      value, next);
    value = next;
  }
  if (pool_cols) {
    const int64_t num_rows = NumElements(value.shape) / cols.in;
    std::vector<int64_t> row_count = pool_rows ? rows->count : std::vector<int64_t>{1};
    PlanValue next = builder.NewValue(out_shape, PlainDesc(out_shape));
    builder.AddKernel(PoolColumnsKernel<kKind>(cols, num_rows, std::move(row_count)), value,
                      next);
    value = next;
  }
  return value;
}

// PyTorch's pooling_output_shape: floor (or ceil) division, and in ceil mode the last
// window must start inside the input or its left padding.
int64_t PoolOutputSize(int64_t in, int64_t kernel, int64_t stride, int64_t padding,
                       int64_t dilation, bool ceil_mode) {
  const int64_t num = in + 2 * padding - dilation * (kernel - 1) - 1 + (ceil_mode ? stride - 1 : 0);
  const int64_t floor_div = num >= 0 ? num / stride : -((-num + stride - 1) / stride);
  int64_t out = floor_div + 1;
  if (ceil_mode && (out - 1) * stride >= in + padding) --out;
  return out;
}

struct PoolOptions {
  std::string type;
  PoolKind kind = PoolKind::kMax;
  int rank = 2;  // spatial dims
  std::vector<int64_t> kernel;
  std::vector<int64_t> stride;
  std::vector<int64_t> padding;
  std::vector<int64_t> dilation;
  bool ceil_mode = false;
  bool count_include_pad = true;
  std::optional<int64_t> divisor_override;
};

class Pool : public Module {
 public:
  explicit Pool(PoolOptions options) : o_(std::move(options)) {}

  std::string_view type() const override { return o_.type; }

  absl::StatusOr<Shape> OutputShape(const Shape& in) const override {
    const size_t rank = static_cast<size_t>(o_.rank);
    bool ok = in.size() == rank + 1 || in.size() == rank + 2;
    // PyTorch allows an empty batch, but no other empty dim.
    for (size_t i = in.size() == rank + 2 ? 1 : 0; ok && i < in.size(); ++i) ok = in[i] != 0;
    if (!ok) {
      return absl::InvalidArgumentError(absl::StrCat(
          "expected ",
          o_.rank == 1 ? "2D (C, L) or 3D (N, C, L) input with non-zero C and L"
                       : "3D (C, H, W) or 4D (N, C, H, W) input with non-zero C, H and W",
          ", got ", ShapeToString(in)));
    }
    Shape out = in;
    bool too_small = false;
    std::vector<std::string> minimum;
    for (size_t a = 0; a < rank; ++a) {
      const size_t d = in.size() - rank + a;
      out[d] = PoolOutputSize(in[d], o_.kernel[a], o_.stride[a], o_.padding[a], o_.dilation[a],
                              o_.ceil_mode);
      too_small = too_small || out[d] < 1;
      int64_t min_in = 1;
      while (PoolOutputSize(min_in, o_.kernel[a], o_.stride[a], o_.padding[a], o_.dilation[a],
                            o_.ceil_mode) < 1) {
        ++min_in;
      }
      minimum.push_back(absl::StrCat(AxisName(a), " >= ", min_in));
    }
    if (too_small) {
      return absl::InvalidArgumentError(absl::StrCat(
          "Output size is too small: expected an input with ", absl::StrJoin(minimum, " and "),
          ", got ", ShapeToString(in), " (calculated output size ", ShapeToString(out), ")"));
    }
    return out;
  }

  int64_t Flops(const Shape& in) const override {
    absl::StatusOr<Shape> out = OutputShape(in);
    if (!out.ok()) return 0;
    int64_t taps = 1;
    for (int64_t k : o_.kernel) taps *= k;
    return NumElements(*out) * taps;
  }

  absl::StatusOr<PlanValue> Compile(PlanBuilder& builder, const PlanValue& in,
                                    const Fusion& /*fusion*/) const override {
    SEQ_ASSIGN_OR_RETURN(Shape out_shape, OutputShape(in.shape));
    const size_t rank = static_cast<size_t>(o_.rank);
    std::vector<PoolWindows> windows;
    bool dilated = false;
    bool clipped_edge = false;  // a ceil_mode window ends beyond the right padding
    for (size_t a = 0; a < rank; ++a) {
      const size_t d = in.shape.size() - rank + a;
      windows.push_back(FixedWindows(in.shape[d], out_shape[d], o_.kernel[a], o_.stride[a],
                                     o_.padding[a], o_.dilation[a], o_.count_include_pad));
      dilated = dilated || o_.dilation[a] > 1;
      clipped_edge = clipped_edge || (out_shape[d] - 1) * o_.stride[a] + o_.kernel[a] >
                                         in.shape[d] + 2 * o_.padding[a];
    }
    if (o_.kind == PoolKind::kMax) {
      if (dilated) return AddWindowPooling(builder, in, o_.kind, windows, out_shape);
      OneDnnPooling pool{dnnl::algorithm::pooling_max, o_.kernel, o_.stride, o_.dilation,
                         o_.padding, {}};
      return AddOneDnnPooling(builder, in, pool, out_shape);
    }
    OneDnnPooling pool{dnnl::algorithm::pooling_avg_include_padding, o_.kernel, o_.stride,
                       o_.dilation, o_.padding, {}};
    if (o_.divisor_override) {
      // oneDNN divides the sum by the kernel's size; PyTorch by the override.
      int64_t taps = 1;
      for (int64_t k : o_.kernel) taps *= k;
      pool.post_ops.push_back({dnnl::algorithm::eltwise_linear,
                               static_cast<float>(taps) / static_cast<float>(*o_.divisor_override),
                               0.f});
    } else if (!o_.count_include_pad) {
      pool.algorithm = dnnl::algorithm::pooling_avg_exclude_padding;
    } else if (clipped_edge) {
      return AddWindowPooling(builder, in, o_.kind, windows, out_shape);
    }
    return AddOneDnnPooling(builder, in, pool, out_shape);
  }

 private:
  std::string AxisName(size_t axis) const {
    if (o_.rank == 1) return "L";
    return axis == 0 ? "H" : "W";
  }

  PoolOptions o_;
};

// "kH: 3 kW: 2" (2-d) or "kW: 3" (1-d), as PyTorch's messages name per-axis values.
std::string PerAxis(const std::vector<int64_t>& values, std::string_view prefix) {
  std::string text;
  const char* axes[] = {"H", "W"};
  const size_t skip = 2 - values.size();
  for (size_t a = 0; a < values.size(); ++a) {
    absl::StrAppend(&text, a == 0 ? "" : " ", std::string(prefix), axes[a + skip], ": ",
                    values[a]);
  }
  return text;
}

bool AnyBelow(const std::vector<int64_t>& values, int64_t bound) {
  return std::any_of(values.begin(), values.end(), [&](int64_t v) { return v < bound; });
}

// An int-or-tuple argument per spatial axis, as ATen reads it: an int for every axis, or one
// int per axis; a 2-d pool also takes a 1-element tuple for both axes.
absl::StatusOr<std::vector<int64_t>> AxisInts(const ModuleArgs& args, std::string_view name,
                                              int rank) {
  const SeqValue& v = args.Get(name);
  const bool sequence = v.kind == SeqValue::Kind::kTuple || v.kind == SeqValue::Kind::kList;
  if (sequence && v.items.size() == 1 && v.items[0].kind == SeqValue::Kind::kInt) {
    return std::vector<int64_t>(static_cast<size_t>(rank), v.items[0].int_value);
  }
  return args.IntTuple(name, rank);
}

absl::Status RejectReturnIndices(const ModuleArgs& args) {
  SEQ_ASSIGN_OR_RETURN(bool return_indices, args.Bool("return_indices"));
  if (return_indices) {
    return args.Error("return_indices",
                      "return_indices=True makes the module return (output, indices), which a "
                      "Sequential cannot pass to the next module");
  }
  return absl::OkStatus();
}

// Reads and validates the arguments every pool shares (kernel_size, stride, padding,
// ceil_mode, and dilation when the pool has one) into `options`.
absl::StatusOr<std::unique_ptr<Module>> MakePool(const ModuleArgs& args, PoolOptions options,
                                                 bool has_dilation) {
  const int rank = options.rank;
  SEQ_ASSIGN_OR_RETURN(options.kernel, AxisInts(args, "kernel_size", rank));
  const SeqValue& stride = args.Get("stride");
  const bool empty_stride = (stride.kind == SeqValue::Kind::kTuple ||
                             stride.kind == SeqValue::Kind::kList) &&
                            stride.items.empty();
  if (args.IsNone("stride") || empty_stride) {
    options.stride = options.kernel;
  } else {
    SEQ_ASSIGN_OR_RETURN(options.stride, AxisInts(args, "stride", rank));
  }
  SEQ_ASSIGN_OR_RETURN(options.padding, AxisInts(args, "padding", rank));
  options.dilation.assign(static_cast<size_t>(rank), 1);
  if (has_dilation) {
    SEQ_ASSIGN_OR_RETURN(options.dilation, AxisInts(args, "dilation", rank));
  }
  SEQ_ASSIGN_OR_RETURN(options.ceil_mode, args.Bool("ceil_mode"));

  if (AnyBelow(options.kernel, 1)) {
    return args.Error("kernel_size", absl::StrCat("kernel size should be greater than zero, "
                                                  "but got ", PerAxis(options.kernel, "k")));
  }
  if (AnyBelow(options.stride, 1)) {
    return args.Error("stride", absl::StrCat("stride should be greater than zero, but got ",
                                             PerAxis(options.stride, "d")));
  }
  if (AnyBelow(options.dilation, 1)) {
    return args.Error("dilation", absl::StrCat("dilation should be greater than zero, but got ",
                                               PerAxis(options.dilation, "dilation")));
  }
  for (size_t a = 0; a < options.padding.size(); ++a) {
    const int64_t pad = options.padding[a];
    const int64_t kernel = options.kernel[a];
    const int64_t dilation = options.dilation[a];
    if (pad < 0) {
      return args.Error("padding", absl::StrCat("pad must be non-negative, but got pad: ", pad));
    }
    if (options.type == "MaxPool1d" && pad > kernel / 2) {
      // max_pool1d's own check ignores the dilation.
      return args.Error("padding",
                        absl::StrCat("padding should be at most half of kernel size, but got "
                                     "padding=", pad, " and kernel_size=", kernel));
    }
    if (pad > ((kernel - 1) * dilation + 1) / 2) {
      return args.Error("padding",
                        absl::StrCat("pad should be at most half of effective kernel size, but "
                                     "got pad=", pad, ", kernel_size=", kernel,
                                     " and dilation=", dilation));
    }
  }
  return std::make_unique<Pool>(std::move(options));
}

absl::StatusOr<std::unique_ptr<Module>> MakeMaxPool(const SeqCall& call, std::string_view file,
                                                    std::string type, int rank) {
  SEQ_ASSIGN_OR_RETURN(
      ModuleArgs args,
      ModuleArgs::Bind(call, type,
                       {Required("kernel_size"), Default("stride", NoneValue()),
                        Default("padding", IntValue(0)), Default("dilation", IntValue(1)),
                        Default("return_indices", BoolValue(false)),
                        Default("ceil_mode", BoolValue(false))},
                       file));
  SEQ_RETURN_IF_ERROR(RejectReturnIndices(args));
  PoolOptions options;
  options.type = std::move(type);
  options.kind = PoolKind::kMax;
  options.rank = rank;
  return MakePool(args, std::move(options), /*has_dilation=*/true);
}

}  // namespace

bool PoolWindows::IsIdentity() const {
  if (in != out) return false;
  for (int64_t o = 0; o < out; ++o) {
    if (lo[o] != o || hi[o] != o + 1 || count[o] != 1) return false;
  }
  return true;
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

absl::StatusOr<std::unique_ptr<Module>> MakeMaxPool1d(const SeqCall& call, std::string_view file) {
  return MakeMaxPool(call, file, "MaxPool1d", 1);
}

absl::StatusOr<std::unique_ptr<Module>> MakeMaxPool2d(const SeqCall& call, std::string_view file) {
  return MakeMaxPool(call, file, "MaxPool2d", 2);
}

absl::StatusOr<std::unique_ptr<Module>> MakeAvgPool1d(const SeqCall& call, std::string_view file) {
  SEQ_ASSIGN_OR_RETURN(
      ModuleArgs args,
      ModuleArgs::Bind(call, "AvgPool1d",
                       {Required("kernel_size"), Default("stride", NoneValue()),
                        Default("padding", IntValue(0)), Default("ceil_mode", BoolValue(false)),
                        Default("count_include_pad", BoolValue(true))},
                       file));
  PoolOptions options;
  options.type = "AvgPool1d";
  options.kind = PoolKind::kAvg;
  options.rank = 1;
  SEQ_ASSIGN_OR_RETURN(options.count_include_pad, args.Bool("count_include_pad"));
  return MakePool(args, std::move(options), /*has_dilation=*/false);
}

absl::StatusOr<std::unique_ptr<Module>> MakeAvgPool2d(const SeqCall& call, std::string_view file) {
  SEQ_ASSIGN_OR_RETURN(
      ModuleArgs args,
      ModuleArgs::Bind(call, "AvgPool2d",
                       {Required("kernel_size"), Default("stride", NoneValue()),
                        Default("padding", IntValue(0)), Default("ceil_mode", BoolValue(false)),
                        Default("count_include_pad", BoolValue(true)),
                        Default("divisor_override", NoneValue())},
                       file));
  PoolOptions options;
  options.type = "AvgPool2d";
  options.kind = PoolKind::kAvg;
  options.rank = 2;
  SEQ_ASSIGN_OR_RETURN(options.count_include_pad, args.Bool("count_include_pad"));
  if (!args.IsNone("divisor_override")) {
    SEQ_ASSIGN_OR_RETURN(int64_t divisor, args.Int("divisor_override"));
    if (divisor == 0) return args.Error("divisor_override", "divisor must be not zero");
    options.divisor_override = divisor;
  }
  return MakePool(args, std::move(options), /*has_dilation=*/false);
}

}  // namespace seqserve
