#include "core/modules/instance_norm.h"

#include <cmath>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/module_args.h"
#include "core/modules/batch_norm.h"
#include "core/modules/group_norm.h"
#include "common/status_macros.h"

namespace seqserve {
namespace {

class InstanceNorm : public Module {
 public:
  InstanceNorm(std::string type, int spatial_dims, int64_t num_features, double eps, bool affine,
               bool track_running_stats)
      : type_(std::move(type)),
        spatial_dims_(spatial_dims),
        channels_(num_features),
        eps_(eps),
        affine_(affine),
        tracked_(track_running_stats) {}

  std::string_view type() const override { return type_; }

  std::vector<ParamSpec> params() const override {
    std::vector<ParamSpec> specs;
    if (affine_) {
      specs.push_back({"weight", {channels_}});
      specs.push_back({"bias", {channels_}});
    }
    if (tracked_) {
      specs.push_back({"running_mean", {channels_}});
      specs.push_back({"running_var", {channels_}});
    }
    return specs;
  }

  absl::Status SetParams(ParamMap params) override {
    // Shared with the plans' kernels, which may outlive this module.
    if (affine_) {
      weight_ = std::make_shared<const std::vector<float>>(std::move(params["weight"].data));
      bias_ = std::make_shared<const std::vector<float>>(std::move(params["bias"].data));
    }
    if (tracked_) {
      // PyTorch's eval-mode batch_norm: scale = weight / sqrt(running_var + eps), shift =
      // bias - running_mean * scale; folded in double, then rounded.
      auto affine = std::make_shared<ChannelAffine>();
      affine->scale.resize(channels_);
      affine->shift.resize(channels_);
      const std::vector<float>& mean = params["running_mean"].data;
      const std::vector<float>& var = params["running_var"].data;
      for (int64_t c = 0; c < channels_; ++c) {
        const double w = affine_ ? (*weight_)[c] : 1.0;
        const double b = affine_ ? (*bias_)[c] : 0.0;
        const double scale = w / std::sqrt(static_cast<double>(var[c]) + eps_);
        affine->scale[c] = static_cast<float>(scale);
        affine->shift[c] = static_cast<float>(b - mean[c] * scale);
      }
      running_affine_ = std::move(affine);
    }
    return absl::OkStatus();
  }

  absl::StatusOr<Shape> OutputShape(const Shape& in) const override {
    const int rank = static_cast<int>(in.size());
    if (rank != spatial_dims_ + 1 && rank != spatial_dims_ + 2) {
      // PyTorch's _check_input_dim, plus the shape.
      return absl::InvalidArgumentError(absl::StrCat("expected ", spatial_dims_ + 1, "D or ",
                                                     spatial_dims_ + 2, "D input (got ", rank,
                                                     "D input ", ShapeToString(in), ")"));
    }
    const int feature_dim = rank - spatial_dims_ - 1;
    // PyTorch 2.x checks the channels against num_features only when affine (else it warns);
    // the running statistics, when tracked, have num_features entries too.
    if ((affine_ || tracked_) && in[feature_dim] != channels_) {
      return absl::InvalidArgumentError(absl::StrCat(
          "expected input's size at dim=", feature_dim, " to match num_features (", channels_,
          "), but got: ", in[feature_dim], " (input of shape ", ShapeToString(in), ")"));
    }
    if (!tracked_ && Positions(in) == 1) {
      // F.instance_norm's _verify_spatial_size, on the batched shape.
      Shape batched = in;
      if (feature_dim == 0) batched.insert(batched.begin(), 1);
      return absl::InvalidArgumentError(absl::StrCat(
          "Expected more than 1 spatial element when training, got input size ",
          ShapeToString(batched)));
    }
    return in;
  }

  // Instance statistics and normalisation (as GroupNorm), or one multiply-add per element
  // with tracked statistics; plus a multiply-add for the affine.
  int64_t Flops(const Shape& in) const override {
    if (tracked_) return 2 * NumElements(in);
    return NumElements(in) * (5 + (affine_ ? 2 : 0));
  }

  // Batched (C, *spatial) with any spatial size, as after a Conv.
  std::optional<Shape> InputDims() const override {
    Shape dims(spatial_dims_ + 1, -1);
    if (channels_ > 0) dims[0] = channels_;
    return dims;
  }

  absl::StatusOr<PlanValue> Compile(PlanBuilder& builder, const PlanValue& in,
                                    const Fusion& /*fusion*/) const override {
    if (NumElements(in.shape) == 0) return in;
    PlanValue src = builder.Plain(in);
    PlanValue dst = builder.InPlace(src);
    const int rank = static_cast<int>(in.shape.size());
    const int64_t batch = rank == spatial_dims_ + 2 ? in.shape[0] : 1;
    const int64_t channels = in.shape[rank - spatial_dims_ - 1];
    const int64_t positions = Positions(in.shape);
    if (tracked_) {
      builder.AddKernel(
          [batch, channels, positions, affine = running_affine_](const float* x, float* y,
                                                                 int threads) {
            ChannelAffineKernel(x, y, batch, channels, positions, affine->scale.data(),
                                affine->shift.data(), threads);
          },
          src, dst);
      return dst;
    }
    builder.AddKernel(
        [blocks = batch * channels, channels, positions, eps = eps_, weight = weight_,
         bias = bias_](const float* x, float* y, int threads) {
          GroupNormBlocks(x, y, blocks, channels, /*group_channels=*/1, positions, eps,
                          weight ? weight->data() : nullptr, bias ? bias->data() : nullptr,
                          threads);
        },
        src, dst);
    return dst;
  }

 private:
  int64_t Positions(const Shape& in) const {
    return NumElements(Shape(in.end() - spatial_dims_, in.end()));
  }

  std::string type_;
  int spatial_dims_;
  int64_t channels_;
  double eps_;
  bool affine_;
  bool tracked_;
  std::shared_ptr<const std::vector<float>> weight_;  // null unless affine_
  std::shared_ptr<const std::vector<float>> bias_;    // null unless affine_
  std::shared_ptr<const ChannelAffine> running_affine_;  // null unless tracked_
};

// PyTorch 2.x: (num_features, eps=1e-05, momentum=0.1, affine=False,
// track_running_stats=False, device=None, dtype=None).
absl::StatusOr<std::unique_ptr<Module>> MakeInstanceNorm(const SeqCall& call,
                                                         std::string_view file, std::string type,
                                                         int spatial_dims) {
  SEQ_ASSIGN_OR_RETURN(
      ModuleArgs args,
      ModuleArgs::Bind(call, type,
                       {Required("num_features"), Default("eps", FloatValue(1e-5)),
                        Default("momentum", FloatValue(0.1)), Default("affine", BoolValue(false)),
                        Default("track_running_stats", BoolValue(false)),
                        Default("device", NoneValue()), Default("dtype", NoneValue())},
                       file));
  SEQ_ASSIGN_OR_RETURN(int64_t num_features, args.Int("num_features"));
  SEQ_ASSIGN_OR_RETURN(double eps, args.Float("eps"));
  // momentum only drives training updates; None (a cumulative average) is valid too.
  if (!args.IsNone("momentum")) SEQ_RETURN_IF_ERROR(args.Float("momentum").status());
  SEQ_ASSIGN_OR_RETURN(bool affine, args.Bool("affine"));
  SEQ_ASSIGN_OR_RETURN(bool track_running_stats, args.Bool("track_running_stats"));
  if (num_features < 0 && (affine || track_running_stats)) {
    // What creating the weight or the running statistics raises; without either, PyTorch
    // never uses num_features.
    return args.Error("num_features",
                      absl::StrCat("Trying to create tensor with negative dimension ",
                                   num_features, ": [", num_features, "]"));
  }
  return std::make_unique<InstanceNorm>(std::move(type), spatial_dims, num_features, eps, affine,
                                        track_running_stats);
}

}  // namespace

absl::StatusOr<std::unique_ptr<Module>> MakeInstanceNorm1d(const SeqCall& call,
                                                           std::string_view file) {
  return MakeInstanceNorm(call, file, "InstanceNorm1d", 1);
}

absl::StatusOr<std::unique_ptr<Module>> MakeInstanceNorm2d(const SeqCall& call,
                                                           std::string_view file) {
  return MakeInstanceNorm(call, file, "InstanceNorm2d", 2);
}

absl::StatusOr<std::unique_ptr<Module>> MakeInstanceNorm3d(const SeqCall& call,
                                                           std::string_view file) {
  return MakeInstanceNorm(call, file, "InstanceNorm3d", 3);
}

}  // namespace seqserve
