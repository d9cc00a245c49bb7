#include "core/modules/local_response_norm.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <string>

#include "absl/strings/str_cat.h"
#include "core/module_args.h"
#include "core/modules/float4.h"
#include "core/parallel.h"
#include "common/status_macros.h"

namespace seqserve {
namespace {

using vec::Float4;
using vec::kLanes;

struct LrnParams {
  int64_t size;
  float alpha;
  float beta;
  float k;
};

// d^beta for four lanes. exp(beta * log d) where every lane has a positive normal finite d and
// |beta * log d| < 87 (the common case: d >= k > 0); std::pow otherwise, which gives C's
// answers for 0, Inf, NaN and negative d.
Float4 Pow(Float4 d, float beta) {
  const Float4 t = beta * vec::LogPositive(d);
  const auto fast = d >= FLT_MIN && d <= FLT_MAX && t > -87.f && t < 87.f;
  if (fast[0] && fast[1] && fast[2] && fast[3]) return vec::ExpInRange(t);
  Float4 out;
  for (int j = 0; j < kLanes; ++j) out[j] = std::pow(d[j], beta);
  return out;
}

// The outputs of channel row `c` (of `channels`, each `positions` floats) of one sample, for
// positions [p, p + count) with count <= kLanes.
void LrnLanes(const float* x, float* y, int64_t c, int64_t channels, int64_t positions, int64_t p,
              int count, const LrnParams& lrn) {
  auto load = [count](const float* ptr) {
    return count == kLanes ? vec::Load(ptr) : vec::LoadPartial(ptr, count);
  };
  const int64_t first = std::max<int64_t>(0, c - lrn.size / 2);
  const int64_t last = std::min<int64_t>(channels - 1, c + (lrn.size - 1) / 2);
  Float4 sum{};
  for (int64_t w = first; w <= last; ++w) {
    const Float4 v = load(x + w * positions + p);
    sum += v * v;
  }
  // PyTorch: avg_pool (sum / size), .mul(alpha).add(k).pow(beta), then input / div.
  const Float4 d = (sum / static_cast<float>(lrn.size)) * lrn.alpha + lrn.k;
  const Float4 out = load(x + c * positions + p) / Pow(d, lrn.beta);
  if (count == kLanes) {
    vec::Store(y + c * positions + p, out);
  } else {
    vec::StorePartial(y + c * positions + p, out, count);
  }
}

class LocalResponseNorm : public Module {
 public:
  explicit LocalResponseNorm(LrnParams params) : lrn_(params) {}

  std::string_view type() const override { return "LocalResponseNorm"; }

  absl::StatusOr<Shape> OutputShape(const Shape& in) const override {
    if (in.size() < 3) {
      return absl::InvalidArgumentError(
          absl::StrCat("Expected 3D or higher dimensionality input (got ", in.size(),
                       " dimensions, input of shape ", ShapeToString(in), ")"));
    }
    return in;
  }

  // Per element: the window's squares and sum, then scale, add, pow and divide.
  int64_t Flops(const Shape& in) const override { return NumElements(in) * (2 * lrn_.size + 5); }

  absl::StatusOr<PlanValue> Compile(PlanBuilder& builder, const PlanValue& in,
                                    const Fusion& /*fusion*/) const override {
    if (NumElements(in.shape) == 0) return in;
    // Not in place: each output reads its neighbours' inputs.
    PlanValue src = builder.Plain(in);
    PlanValue dst = builder.NewValue(in.shape, PlainDesc(in.shape));
    const int64_t batch = in.shape[0];
    const int64_t channels = in.shape[1];
    const int64_t positions = NumElements(Shape(in.shape.begin() + 2, in.shape.end()));
    const int64_t groups = (positions + kLanes - 1) / kLanes;  // lane groups per channel row
    const int64_t min_rows = std::max<int64_t>(1, 4096 / (positions * lrn_.size));
    builder.AddKernel(
        [lrn = lrn_, batch, channels, positions, groups, min_rows](const float* x, float* y,
                                                                   int threads) {
          ParallelFor(
              batch * channels, threads,
              [&](int64_t begin, int64_t end) {
                for (int64_t row = begin; row < end; ++row) {
                  const int64_t offset = row / channels * channels * positions;
                  for (int64_t g = 0; g < groups; ++g) {
                    const int64_t p = g * kLanes;
                    LrnLanes(x + offset, y + offset, row % channels, channels, positions, p,
                             static_cast<int>(std::min<int64_t>(kLanes, positions - p)), lrn);
                  }
                }
              },
              min_rows);
        },
        src, dst);
    return dst;
  }

 private:
  LrnParams lrn_;
};

}  // namespace

// PyTorch 2.x: LocalResponseNorm(size, alpha=0.0001, beta=0.75, k=1.0).
absl::StatusOr<std::unique_ptr<Module>> MakeLocalResponseNorm(const SeqCall& call,
                                                              std::string_view file) {
  SEQ_ASSIGN_OR_RETURN(
      ModuleArgs args,
      ModuleArgs::Bind(call, "LocalResponseNorm",
                       {Required("size"), Default("alpha", FloatValue(1e-4)),
                        Default("beta", FloatValue(0.75)), Default("k", FloatValue(1.0))},
                       file));
  SEQ_ASSIGN_OR_RETURN(int64_t size, args.Int("size"));
  SEQ_ASSIGN_OR_RETURN(double alpha, args.Float("alpha"));
  SEQ_ASSIGN_OR_RETURN(double beta, args.Float("beta"));
  SEQ_ASSIGN_OR_RETURN(double k, args.Float("k"));
  if (size <= 0) {
    // PyTorch builds the module but every forward fails in its avg_pool.
    return args.Error("size", absl::StrCat("must be positive (the channel window of the average "
                                           "pool), got ",
                                           size));
  }
  return std::make_unique<LocalResponseNorm>(LrnParams{size, static_cast<float>(alpha),
                                                       static_cast<float>(beta),
                                                       static_cast<float>(k)});
}

}  // namespace seqserve
