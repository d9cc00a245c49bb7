#include "core/modules/batch_norm.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/module_args.h"
#include "core/parallel.h"
#include "common/status_macros.h"

namespace seqserve {

using dnnl::memory;

void ChannelAffineKernel(const float* x, float* y, int64_t batch, int64_t channels,
                         int64_t positions, const float* scale, const float* shift,
                         int num_threads) {
  if (positions == 1) {
    // (N, C): vectorise along the channels.
    ParallelFor(
        batch, num_threads,
        [&](int64_t begin, int64_t end) {
          for (int64_t n = begin; n < end; ++n) {
            const float* xn = x + n * channels;
            float* yn = y + n * channels;
            for (int64_t c = 0; c < channels; ++c) yn[c] = xn[c] * scale[c] + shift[c];
          }
        },
        std::max<int64_t>(1, 4096 / channels));
    return;
  }
  ParallelFor(
      batch * channels, num_threads,
      [&](int64_t begin, int64_t end) {
        for (int64_t row = begin; row < end; ++row) {
          const float a = scale[row % channels];
          const float b = shift[row % channels];
          const float* xr = x + row * positions;
          float* yr = y + row * positions;
          for (int64_t i = 0; i < positions; ++i) yr[i] = xr[i] * a + b;
        }
      },
      std::max<int64_t>(1, 4096 / positions));
}

namespace {

class BatchNorm : public Module {
 public:
  // `ranks`: the input ranks PyTorch's _check_input_dim accepts ({2, 3}, {4} or {5}).
  BatchNorm(std::string type, std::vector<int> ranks, int64_t num_features, double eps, bool affine)
      : type_(std::move(type)),
        ranks_(std::move(ranks)),
        channels_(num_features),
        eps_(eps),
        affine_(affine) {}

  std::string_view type() const override { return type_; }

  std::vector<ParamSpec> params() const override {
    std::vector<ParamSpec> specs;
    if (affine_) {
      specs.push_back({"weight", {channels_}});
      specs.push_back({"bias", {channels_}});
    }
    specs.push_back({"running_mean", {channels_}});
    specs.push_back({"running_var", {channels_}});
    return specs;
  }

  absl::Status SetParams(ParamMap params) override {
    running_mean_ = std::move(params["running_mean"]);
    running_var_ = std::move(params["running_var"]);
    if (affine_) {
      weight_ = std::move(params["weight"]);
      bias_ = std::move(params["bias"]);
    }
    // Folded once, in double and rounded, so that a Conv/Linear with this folded in stays
    // as close to PyTorch's unfused result as the float weights allow.
    auto affine = std::make_shared<ChannelAffine>();
    affine->scale.resize(channels_);
    affine->shift.resize(channels_);
    for (int64_t c = 0; c < channels_; ++c) {
      const double w = affine_ ? weight_.data[c] : 1.0;
      const double b = affine_ ? bias_.data[c] : 0.0;
      const double scale = w / std::sqrt(static_cast<double>(running_var_.data[c]) + eps_);
      affine->scale[c] = static_cast<float>(scale);
      affine->shift[c] = static_cast<float>(b - running_mean_.data[c] * scale);
    }
    channel_affine_ = std::move(affine);
    return absl::OkStatus();
  }

  absl::StatusOr<Shape> OutputShape(const Shape& in) const override {
    const int rank = static_cast<int>(in.size());
    bool rank_ok = false;
    for (int r : ranks_) rank_ok = rank_ok || r == rank;
    if (!rank_ok) {
      // PyTorch's own words, plus the shape.
      const std::string expected = ranks_.size() == 2 ? "2D or 3D" : absl::StrCat(ranks_[0], "D");
      return absl::InvalidArgumentError(absl::StrCat("expected ", expected, " input (got ", rank,
                                                     "D input ", ShapeToString(in), ")"));
    }
    if (in[1] != channels_) {
      return absl::InvalidArgumentError(absl::StrCat("expected input with ", channels_,
                                                     " channels (num_features=", channels_,
                                                     ") in dim 1, got ", ShapeToString(in)));
    }
    return in;
  }

  // One multiply-add per element with the folded scale and shift.
  int64_t Flops(const Shape& in) const override { return 2 * NumElements(in); }

  std::optional<Shape> InputDims() const override {
    // BatchNorm1d: the (N, C) form, as after a Linear; 2d/3d: (C, H, W), (C, D, H, W).
    if (ranks_.size() == 2) return Shape{channels_};
    Shape dims(ranks_[0] - 1, -1);
    dims[0] = channels_;
    return dims;
  }

  const ChannelAffine* AsChannelAffine() const override { return channel_affine_.get(); }

  absl::StatusOr<PlanValue> Compile(PlanBuilder& builder, const PlanValue& in,
                                    const Fusion& /*fusion*/) const override {
    // oneDNN normalises dim 1 of the md, so the md must have the logical rank (a Conv1d on
    // unbatched input hands over a 3-D md for a 2-D value).
    PlanValue src = builder.WithDims(in, in.shape);
    // oneDNN 2.6's batch normalization is fast on blocked layouts but several times slower
    // than a plain loop on nchw; plain data gets the folded per-channel affine instead
    // (also PyTorch's own formula, x * scale + shift).
    if (IsPlain(src.md)) return CompileAffineKernel(builder, src);
    return CompileOneDnn(builder, src);
  }

 private:
  PlanValue CompileAffineKernel(PlanBuilder& builder, const PlanValue& src) const {
    PlanValue dst = builder.InPlace(src);
    const int64_t batch = src.shape[0];
    const int64_t positions = NumElements(Shape(src.shape.begin() + 2, src.shape.end()));
    builder.AddKernel(
        [batch, channels = channels_, positions, affine = channel_affine_](const float* x, float* y,
                                                                           int threads) {
          ChannelAffineKernel(x, y, batch, channels, positions, affine->scale.data(),
                              affine->shift.data(), threads);
        },
        src, dst);
    return dst;
  }

  PlanValue CompileOneDnn(PlanBuilder& builder, const PlanValue& src) const {
    dnnl::normalization_flags flags = dnnl::normalization_flags::use_global_stats;
    if (affine_) {
      flags = flags | dnnl::normalization_flags::use_scale | dnnl::normalization_flags::use_shift;
    }
    dnnl::batch_normalization_forward::desc desc(dnnl::prop_kind::forward_inference, src.md,
                                                 static_cast<float>(eps_), flags);
    dnnl::batch_normalization_forward::primitive_desc pd(desc, PlanBuilder::Attr(),
                                                         builder.engine());
    PlanValue dst = builder.InPlace(src);
    dst.md = pd.dst_desc();

    const memory::desc channel_md({channels_}, memory::data_type::f32, memory::format_tag::x);
    auto constant = [&](const char* name, const Tensor& tensor) {
      return builder.weights().Get(absl::StrCat(builder.current_path(), ".", name), channel_md,
                                   channel_md, [&] { return tensor; });
    };
    std::vector<StepArg> args = {ValueArg(DNNL_ARG_SRC, src),
                                 ConstArg(DNNL_ARG_MEAN, constant("running_mean", running_mean_)),
                                 ConstArg(DNNL_ARG_VARIANCE, constant("running_var", running_var_)),
                                 ValueArg(DNNL_ARG_DST, dst)};
    if (affine_) {
      args.push_back(ConstArg(DNNL_ARG_SCALE, constant("weight", weight_)));
      args.push_back(ConstArg(DNNL_ARG_SHIFT, constant("bias", bias_)));
    }
    builder.AddPrimitive(pd, dnnl::batch_normalization_forward(pd), std::move(args));
    return dst;
  }

  std::string type_;
  std::vector<int> ranks_;
  int64_t channels_;
  double eps_;
  bool affine_;
  Tensor weight_;
  Tensor bias_;
  Tensor running_mean_;
  Tensor running_var_;
  // Shared with the plans' kernels, which may outlive this module.
  std::shared_ptr<const ChannelAffine> channel_affine_;
};

// PyTorch 2.x: (num_features, eps=1e-05, momentum=0.1, affine=True,
// track_running_stats=True, device=None, dtype=None).
absl::StatusOr<std::unique_ptr<Module>> MakeBatchNorm(const SeqCall& call, std::string_view file,
                                                      std::string type, std::vector<int> ranks) {
  SEQ_ASSIGN_OR_RETURN(
      ModuleArgs args,
      ModuleArgs::Bind(call, type,
                       {Required("num_features"), Default("eps", FloatValue(1e-5)),
                        Default("momentum", FloatValue(0.1)), Default("affine", BoolValue(true)),
                        Default("track_running_stats", BoolValue(true)),
                        Default("device", NoneValue()), Default("dtype", NoneValue())},
                       file));
  SEQ_ASSIGN_OR_RETURN(int64_t num_features, args.Int("num_features"));
  SEQ_ASSIGN_OR_RETURN(double eps, args.Float("eps"));
  // momentum only drives training updates; None (a cumulative average) is valid too.
  if (!args.IsNone("momentum")) SEQ_RETURN_IF_ERROR(args.Float("momentum").status());
  SEQ_ASSIGN_OR_RETURN(bool affine, args.Bool("affine"));
  SEQ_ASSIGN_OR_RETURN(bool track_running_stats, args.Bool("track_running_stats"));
  if (num_features <= 0) {
    return args.Error("num_features", absl::StrCat("must be positive, got ", num_features));
  }
  if (!track_running_stats) {
    return args.Error("track_running_stats",
                      "track_running_stats=False is not supported: PyTorch then normalises with "
                      "the statistics of the batch, so a sample's answer would depend on which "
                      "other requests were batched with it");
  }
  return std::make_unique<BatchNorm>(std::move(type), std::move(ranks), num_features, eps, affine);
}

}  // namespace

absl::StatusOr<std::unique_ptr<Module>> MakeBatchNorm1d(const SeqCall& call,
                                                        std::string_view file) {
  return MakeBatchNorm(call, file, "BatchNorm1d", {2, 3});
}

absl::StatusOr<std::unique_ptr<Module>> MakeBatchNorm2d(const SeqCall& call,
                                                        std::string_view file) {
  return MakeBatchNorm(call, file, "BatchNorm2d", {4});
}

// Folds into a preceding Conv3d as BatchNorm2d into a Conv2d: the compiler folds any
// AsChannelAffine module after a producer whose output channels are on axis 1.
absl::StatusOr<std::unique_ptr<Module>> MakeBatchNorm3d(const SeqCall& call,
                                                        std::string_view file) {
  return MakeBatchNorm(call, file, "BatchNorm3d", {5});
}

}  // namespace seqserve
