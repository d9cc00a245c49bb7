#include "core/modules/softmax.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/module_args.h"
#include "core/modules/reshape.h"
#include "core/parallel.h"
#include "common/status_macros.h"

namespace seqserve {
namespace {

using dnnl::memory;

// oneDNN 2.6 falls back to its reference softmax (~100x slower) unless the axis is the
// innermost dense dimension or the blocked channel axis.
bool IsReference(const dnnl::primitive_desc& pd) {
  return absl::StartsWith(pd.impl_info_str(), "ref");
}

// Dense layout of `dims` with `axis` innermost and the other dims row-major around it.
memory::desc AxisInnermost(const memory::dims& dims, int axis) {
  memory::dims strides(dims.size());
  memory::dim stride = std::max<memory::dim>(dims[axis], 1);
  strides[axis] = 1;
  for (size_t i = dims.size(); i-- > 0;) {
    if (static_cast<int>(i) == axis) continue;
    strides[i] = stride;
    stride *= std::max<memory::dim>(dims[i], 1);
  }
  return memory::desc(dims, memory::data_type::f32, strides);
}

// LogSoftmax runs as a kernel rather than oneDNN's softmax_log: oneDNN 2.6 approximates
// log(sum) to ~1.5e-6 absolute, which shifts whole rows (a dominant class comes out as
// +1.4e-6, a probability above 1, where PyTorch gives 0 or a tiny negative). The kernel
// computes PyTorch's (x - max) - log(sum(exp(x - max))) with an exp accurate to ~1.5 ulp and
// std::log. It is vectorised by hand: without -fno-trapping-math GCC will not if-convert,
// and so not vectorise, a scalar exp's range clamp.

// Four floats: GCC/Clang vector extensions, one SSE register on baseline x86-64.
using Float4 = float __attribute__((vector_size(16)));
using Int4 = int32_t __attribute__((vector_size(16)));
constexpr int kLanes = 4;

Float4 Broadcast(float v) { return Float4{} + v; }
Float4 Load(const float* p) {
  Float4 v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}
void Store(float* p, Float4 v) { std::memcpy(p, &v, sizeof(v)); }
// The first `count` (< kLanes) lanes; the others are 0.
Float4 LoadPartial(const float* p, int count) {
  Float4 v{};
  for (int j = 0; j < count; ++j) v[j] = p[j];
  return v;
}
void StorePartial(float* p, Float4 v, int count) {
  for (int j = 0; j < count; ++j) p[j] = v[j];
}
Float4 Max(Float4 a, Float4 b) { return a > b ? a : b; }

// exp(x) for x <= 0, the terms of a max-subtracted sum (Cephes' expf: x = n ln2 + r with
// |r| <= ln2 / 2, a degree-7 polynomial for exp(r), 2^n from the exponent bits). Below -87
// it returns exp(-87) ~ 1.6e-38 instead of underflowing, which a sum holding exp(0) = 1
// cannot notice. NaN stays NaN.
Float4 ExpNonPositive(Float4 x) {
  x = x < -87.f ? Broadcast(-87.f) : x;
  const Int4 n = __builtin_convertvector(x * 1.44269504088896341f - 0.5f, Int4);  // round
  const Float4 nf = __builtin_convertvector(n, Float4);
  const Float4 r = (x - nf * 0.693359375f) - nf * -2.12194440e-4f;  // ln2 split in hi + lo
  Float4 p = Broadcast(1.9875691500e-4f);
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.f;
  return p * std::bit_cast<Float4>((n + 127) << 23);
}

// log_softmax of one contiguous row of n elements; y may equal x.
void LogSoftmaxRow(const float* x, float* y, int64_t n) {
  const int64_t full = n - n % kLanes;
  Float4 vmax = Broadcast(-INFINITY);
  for (int64_t k = 0; k < full; k += kLanes) vmax = Max(Load(x + k), vmax);
  float max = -INFINITY;
  for (int j = 0; j < kLanes; ++j) max = std::max(max, vmax[j]);
  for (int64_t k = full; k < n; ++k) max = std::max(max, x[k]);
  // NaN inputs drop out of the max but reach the sum, so the row becomes NaN as in PyTorch.
  Float4 vsum{};
  for (int64_t k = 0; k < full; k += kLanes) vsum += ExpNonPositive(Load(x + k) - max);
  float sum = 0;
  for (int j = 0; j < kLanes; ++j) sum += vsum[j];
  const int rest = static_cast<int>(n - full);
  if (rest > 0) {
    const Float4 e = ExpNonPositive(LoadPartial(x + full, rest) - max);
    for (int j = 0; j < rest; ++j) sum += e[j];
  }
  const float log_sum = std::log(sum);
  for (int64_t k = 0; k < full; k += kLanes) Store(y + k, (Load(x + k) - max) - log_sum);
  for (int64_t k = full; k < n; ++k) y[k] = (x[k] - max) - log_sum;
}

// log_softmax over k of x[k * inner + j] for the lanes j < count (kLanes when kFull), one
// independent softmax per lane; y may equal x.
template <bool kFull>
void LogSoftmaxColumns(const float* x, float* y, int64_t n, int64_t inner, int count) {
  auto load = [count](const float* p) { return kFull ? Load(p) : LoadPartial(p, count); };
  Float4 max = Broadcast(-INFINITY);
  for (int64_t k = 0; k < n; ++k) max = Max(load(x + k * inner), max);
  Float4 sum{};
  for (int64_t k = 0; k < n; ++k) sum += ExpNonPositive(load(x + k * inner) - max);
  Float4 log_sum{};
  for (int j = 0; j < count; ++j) log_sum[j] = std::log(sum[j]);
  for (int64_t k = 0; k < n; ++k) {
    const Float4 out = (load(x + k * inner) - max) - log_sum;
    if (kFull) {
      Store(y + k * inner, out);
    } else {
      StorePartial(y + k * inner, out, count);
    }
  }
}

// log_softmax over the middle dim of a plain (outer, n, inner) tensor.
KernelFn LogSoftmaxKernel(int64_t outer, int64_t n, int64_t inner) {
  // Parallel chunks of at least ~16K elements: below that threads cost more than they save.
  constexpr int64_t kMinChunkElements = 16384;
  if (inner == 1) {
    const int64_t min_rows = std::max<int64_t>(1, kMinChunkElements / std::max<int64_t>(n, 1));
    return [outer, n, min_rows](const float* x, float* y, int threads) {
      ParallelFor(
          outer, threads,
          [&](int64_t begin, int64_t end) {
            for (int64_t o = begin; o < end; ++o) LogSoftmaxRow(x + o * n, y + o * n, n);
          },
          min_rows);
    };
  }
  // Work items: kLanes-wide column groups of each outer slice, the last one maybe partial.
  const int64_t groups = (inner + kLanes - 1) / kLanes;
  const int64_t min_items =
      std::max<int64_t>(1, kMinChunkElements / std::max<int64_t>(n * kLanes, 1));
  return [outer, n, inner, groups, min_items](const float* x, float* y, int threads) {
    ParallelFor(
        outer * groups, threads,
        [&](int64_t begin, int64_t end) {
          for (int64_t item = begin; item < end; ++item) {
            const int64_t o = item / groups;
            const int64_t j = item % groups * kLanes;
            const int64_t offset = o * n * inner + j;
            if (j + kLanes <= inner) {
              LogSoftmaxColumns<true>(x + offset, y + offset, n, inner, kLanes);
            } else {
              LogSoftmaxColumns<false>(x + offset, y + offset, n, inner,
                                       static_cast<int>(inner - j));
            }
          }
        },
        min_items);
  };
}

class Softmax : public Module {
 public:
  // `dim`: nullopt for PyTorch's legacy implicit choice.
  Softmax(bool log, std::optional<int64_t> dim) : log_(log), dim_(dim) {}

  std::string_view type() const override { return log_ ? "LogSoftmax" : "Softmax"; }

  absl::StatusOr<Shape> OutputShape(const Shape& in) const override {
    SEQ_RETURN_IF_ERROR(Axis(in).status());
    return in;
  }

  // Per element: max, subtract, exp, sum, then normalise (divide, or subtract the log).
  int64_t Flops(const Shape& in) const override { return 5 * NumElements(in); }

  absl::StatusOr<PlanValue> Compile(PlanBuilder& builder, const PlanValue& in,
                                    const Fusion& /*fusion*/) const override {
    SEQ_ASSIGN_OR_RETURN(int axis, Axis(in.shape));
    if (NumElements(in.shape) == 0) return in;  // nothing to normalise
    if (log_) return CompileLog(builder, in, axis);
    // A rank-0 value has md dims {1}; an unbatched one may have extra leading unit dims.
    const int md_axis =
        in.shape.empty() ? 0 : axis + in.md.data.ndims - static_cast<int>(in.shape.size());
    auto make_pd = [&](const memory::desc& md) {
      dnnl::softmax_v2_forward::desc desc(dnnl::prop_kind::forward_inference,
                                          dnnl::algorithm::softmax_accurate, md, md, md_axis);
      return dnnl::softmax_v2_forward::primitive_desc(desc, PlanBuilder::Attr(), builder.engine());
    };
    PlanValue src = in;
    dnnl::softmax_v2_forward::primitive_desc pd = make_pd(src.md);
    if (IsReference(pd)) {
      src = builder.Convert(in, AxisInnermost(in.md.dims(), md_axis));
      pd = make_pd(src.md);
    }
    PlanValue dst = builder.InPlace(src);
    dst.md = pd.dst_desc();
    builder.AddPrimitive(pd, dnnl::softmax_v2_forward(pd),
                         {ValueArg(DNNL_ARG_SRC, src), ValueArg(DNNL_ARG_DST, dst)});
    return dst;
  }

 private:
  // On plain layout: a blocked Conv output is reordered first.
  static PlanValue CompileLog(PlanBuilder& builder, const PlanValue& in, int axis) {
    PlanValue src = builder.Plain(in);
    PlanValue dst = builder.InPlace(src);
    int64_t outer = 1;
    int64_t inner = 1;
    for (int d = 0; d < axis; ++d) outer *= in.shape[d];
    for (size_t d = axis + 1; d < in.shape.size(); ++d) inner *= in.shape[d];
    const int64_t n = in.shape.empty() ? 1 : in.shape[axis];
    builder.AddKernel(LogSoftmaxKernel(outer, n, inner), src, dst);
    return dst;
  }

  absl::StatusOr<int> Axis(const Shape& in) const {
    const int rank = static_cast<int>(in.size());
    // torch.nn.functional._get_softmax_dim (PyTorch warns that it is deprecated).
    const int64_t dim = dim_.value_or(rank == 0 || rank == 1 || rank == 3 ? 0 : 1);
    absl::StatusOr<int> axis = WrapDimOrError(dim, rank, /*wrap_scalar=*/true);
    if (!axis.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(axis.status().message(), " for input of shape ", ShapeToString(in)));
    }
    return axis;
  }

  bool log_;
  std::optional<int64_t> dim_;
};

absl::StatusOr<std::unique_ptr<Module>> MakeSoftmaxLike(const SeqCall& call, std::string_view file,
                                                        bool log) {
  SEQ_ASSIGN_OR_RETURN(ModuleArgs args, ModuleArgs::Bind(call, log ? "LogSoftmax" : "Softmax",
                                                         {Default("dim", NoneValue())}, file));
  std::optional<int64_t> dim;
  if (!args.IsNone("dim")) {
    SEQ_ASSIGN_OR_RETURN(dim, args.Int("dim"));
  }
  return std::make_unique<Softmax>(log, dim);
}

}  // namespace

absl::StatusOr<std::unique_ptr<Module>> MakeSoftmax(const SeqCall& call, std::string_view file) {
  return MakeSoftmaxLike(call, file, /*log=*/false);
}

absl::StatusOr<std::unique_ptr<Module>> MakeLogSoftmax(const SeqCall& call, std::string_view file) {
  return MakeSoftmaxLike(call, file, /*log=*/true);
}

}  // namespace seqserve
