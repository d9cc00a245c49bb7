#include "core/modules/glu.h"

#include <algorithm>
#include <cstdint>
#include <string>

#include "absl/strings/str_cat.h"
#include "core/module_args.h"
#include "core/modules/float4.h"
#include "core/modules/reshape.h"
#include "core/parallel.h"
#include "common/status_macros.h"

namespace seqserve {
namespace {

// y[i] = a[i] * sigmoid(b[i]) for i < n.
void GluRow(const float* a, const float* b, float* y, int64_t n) {
  using vec::kLanes;
  const int64_t full = n - n % kLanes;
  for (int64_t i = 0; i < full; i += kLanes) {
    vec::Store(y + i, vec::Load(a + i) * vec::Sigmoid(vec::Load(b + i)));
  }
  for (int64_t i = full; i < n; ++i) y[i] = a[i] * vec::Sigmoid(vec::Broadcast(b[i]))[0];
}

class GLU : public Module {
 public:
  explicit GLU(int64_t dim) : dim_(dim) {}

  std::string_view type() const override { return "GLU"; }

  absl::StatusOr<Shape> OutputShape(const Shape& in) const override {
    SEQ_ASSIGN_OR_RETURN(int axis, Axis(in));
    Shape out = in;
    out[axis] /= 2;
    return out;
  }

  // Per output element: exp, add, divide, multiply.
  int64_t Flops(const Shape& in) const override { return 2 * NumElements(in); }

  absl::StatusOr<PlanValue> Compile(PlanBuilder& builder, const PlanValue& in,
                                    const Fusion& /*fusion*/) const override {
    SEQ_ASSIGN_OR_RETURN(int axis, Axis(in.shape));
    SEQ_ASSIGN_OR_RETURN(Shape out_shape, OutputShape(in.shape));
    PlanValue src = builder.Plain(in);
    PlanValue dst = builder.NewValue(out_shape, PlainDesc(out_shape));
    int64_t outer = 1;
    int64_t inner = 1;
    for (int d = 0; d < axis; ++d) outer *= in.shape[d];
    for (size_t d = axis + 1; d < in.shape.size(); ++d) inner *= in.shape[d];
    // Each outer slice: a (half * inner floats), then b; the output slice is as long as a.
    const int64_t half = in.shape[axis] / 2 * inner;
    const int64_t min_rows = std::max<int64_t>(1, 4096 / std::max<int64_t>(half, 1));
    builder.AddKernel(
        [outer, half, min_rows](const float* x, float* y, int threads) {
          ParallelFor(
              outer, threads,
              [&](int64_t begin, int64_t end) {
                for (int64_t o = begin; o < end; ++o) {
                  GluRow(x + 2 * o * half, x + (2 * o + 1) * half, y + o * half, half);
                }
              },
              min_rows);
        },
        src, dst);
    return dst;
  }

 private:
  // PyTorch's checks and words.
  absl::StatusOr<int> Axis(const Shape& in) const {
    if (in.empty()) {
      return absl::InvalidArgumentError(
          "glu does not support scalars because halving size must be even, got input of shape []");
    }
    absl::StatusOr<int> axis =
        WrapDimOrError(dim_, static_cast<int>(in.size()), /*wrap_scalar=*/false);
    if (!axis.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(axis.status().message(), " for input of shape ", ShapeToString(in)));
    }
    if (in[*axis] % 2 != 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("Halving dimension must be even, but dimension ", *axis, " is size ",
                       in[*axis], " (input of shape ", ShapeToString(in), ")"));
    }
    return axis;
  }

  int64_t dim_;
};

}  // namespace

// PyTorch 2.x: GLU(dim=-1).
absl::StatusOr<std::unique_ptr<Module>> MakeGLU(const SeqCall& call, std::string_view file) {
  SEQ_ASSIGN_OR_RETURN(ModuleArgs args, ModuleArgs::Bind(call, "GLU", {Default("dim", -1)}, file));
  SEQ_ASSIGN_OR_RETURN(int64_t dim, args.Int("dim"));
  return std::make_unique<GLU>(dim);
}

}  // namespace seqserve
