#include "core/modules/group_norm.h"

#include <cmath>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/module_args.h"
#include "core/modules/moments.h"
#include "core/parallel.h"
#include "common/status_macros.h"

namespace seqserve {

// Input (N, C, S) as blocks of `group_channels` x `positions` contiguous floats, one per
// (sample, group); `weight`/`bias` (C floats each) are both null or both set.
void GroupNormBlocks(const float* x, float* y, int64_t blocks, int64_t groups,
                     int64_t group_channels, int64_t positions, double eps, const float* weight,
                     const float* bias, int num_threads) {
  const int64_t block_size = group_channels * positions;
  ParallelFor(
      blocks, num_threads,
      [&](int64_t begin, int64_t end) {
        for (int64_t b = begin; b < end; ++b) {
          const float* xb = x + b * block_size;
          float* yb = y + b * block_size;
          const Moments m = ComputeMoments(xb, block_size);
          const float mean = static_cast<float>(m.mean);
          const double rstd = 1.0 / std::sqrt(m.variance + eps);
          const int64_t first_channel = (b % groups) * group_channels;
          for (int64_t k = 0; k < group_channels; ++k) {
            const int64_t c = first_channel + k;
            const float scale = static_cast<float>(weight ? rstd * weight[c] : rstd);
            const float shift = bias ? bias[c] : 0.f;
            const float* xc = xb + k * positions;
            float* yc = yb + k * positions;
            for (int64_t i = 0; i < positions; ++i) yc[i] = (xc[i] - mean) * scale + shift;
          }
        }
      },
      RowsPerChunk(block_size));
}

namespace {

class GroupNorm : public Module {
 public:
  GroupNorm(int64_t num_groups, int64_t num_channels, double eps, bool affine)
      : groups_(num_groups), channels_(num_channels), eps_(eps), affine_(affine) {}

  std::string_view type() const override { return "GroupNorm"; }

  std::vector<ParamSpec> params() const override {
    if (!affine_) return {};
    return {{"weight", {channels_}}, {"bias", {channels_}}};
  }

  absl::Status SetParams(ParamMap params) override {
    if (affine_) {
      // Shared with the plans' kernels, which may outlive this module.
      weight_ = std::make_shared<const std::vector<float>>(std::move(params["weight"].data));
      bias_ = std::make_shared<const std::vector<float>>(std::move(params["bias"].data));
    }
    return absl::OkStatus();
  }

  absl::StatusOr<Shape> OutputShape(const Shape& in) const override {
    if (in.size() < 2) {
      return absl::InvalidArgumentError(absl::StrCat(
          "expected input of shape (N, C, *) with at least 2 dimensions, got ", ShapeToString(in)));
    }
    // Like PyTorch, only the weight ties the input to num_channels; without it any channel
    // count that splits into the groups is fine.
    if (affine_ && in[1] != channels_) {
      return absl::InvalidArgumentError(absl::StrCat("expected input with ", channels_,
                                                     " channels (num_channels=", channels_,
                                                     ") in dim 1, got ", ShapeToString(in)));
    }
    if (in[1] % groups_ != 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "expected input whose channels (dim 1) are divisible by num_groups=", groups_, ", got ",
          ShapeToString(in)));
    }
    return in;
  }

  // As LayerNorm: statistics and normalisation, plus a multiply-add for the affine.
  int64_t Flops(const Shape& in) const override {
    return NumElements(in) * (5 + (affine_ ? 2 : 0));
  }

  // Most often it normalises feature maps, as after a Conv2d.
  std::optional<Shape> InputDims() const override { return Shape{channels_, -1, -1}; }

  absl::StatusOr<PlanValue> Compile(PlanBuilder& builder, const PlanValue& in,
                                    const Fusion& /*fusion*/) const override {
    PlanValue src = builder.Plain(in);
    PlanValue dst = builder.InPlace(src);
    const int64_t channels = in.shape[1];
    const int64_t blocks = in.shape[0] * groups_;
    const int64_t positions = NumElements(Shape(in.shape.begin() + 2, in.shape.end()));
    builder.AddKernel(
        [blocks, groups = groups_, group_channels = channels / groups_, positions, eps = eps_,
         weight = weight_, bias = bias_](const float* x, float* y, int threads) {
          GroupNormBlocks(x, y, blocks, groups, group_channels, positions, eps,
                          weight ? weight->data() : nullptr, bias ? bias->data() : nullptr,
                          threads);
        },
        src, dst);
    return dst;
  }

 private:
  int64_t groups_;
  int64_t channels_;
  double eps_;
  bool affine_;
  std::shared_ptr<const std::vector<float>> weight_;  // null unless affine_
  std::shared_ptr<const std::vector<float>> bias_;    // null unless affine_
};

}  // namespace

// PyTorch 2.x: (num_groups, num_channels, eps=1e-05, affine=True, device=None, dtype=None).
absl::StatusOr<std::unique_ptr<Module>> MakeGroupNorm(const SeqCall& call, std::string_view file) {
  SEQ_ASSIGN_OR_RETURN(
      ModuleArgs args,
      ModuleArgs::Bind(call, "GroupNorm",
                       {Required("num_groups"), Required("num_channels"),
                        Default("eps", FloatValue(1e-5)), Default("affine", BoolValue(true)),
                        Default("device", NoneValue()), Default("dtype", NoneValue())},
                       file));
  SEQ_ASSIGN_OR_RETURN(int64_t num_groups, args.Int("num_groups"));
  SEQ_ASSIGN_OR_RETURN(int64_t num_channels, args.Int("num_channels"));
  SEQ_ASSIGN_OR_RETURN(double eps, args.Float("eps"));
  SEQ_ASSIGN_OR_RETURN(bool affine, args.Bool("affine"));
  if (num_groups == 0) {
    // What PyTorch's `num_channels % num_groups` raises.
    return args.Error("num_groups", "ZeroDivisionError: integer modulo by zero");
  }
  if (num_groups < 0) {
    // PyTorch builds the module but every forward fails with this.
    return args.Error("num_groups",
                      absl::StrCat("Expected num groups to be greater than 0, got ", num_groups));
  }
  if (num_channels <= 0) {
    return args.Error("num_channels", absl::StrCat("must be positive, got ", num_channels));
  }
  if (num_channels % num_groups != 0) {
    return args.Error("num_groups",
                      absl::StrCat("num_channels must be divisible by num_groups (num_channels=",
                                   num_channels, ", num_groups=", num_groups, ")"));
  }
  return std::make_unique<GroupNorm>(num_groups, num_channels, eps, affine);
}

}  // namespace seqserve
