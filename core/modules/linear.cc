#include "core/modules/linear.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/module_args.h"
#include "common/status_macros.h"

namespace seqserve {
namespace {

using dnnl::memory;

class Linear : public Module {
 public:
  Linear(int64_t in_features, int64_t out_features, bool bias)
      : in_(in_features), out_(out_features), has_bias_(bias) {}

  std::string_view type() const override { return "Linear"; }

  std::vector<ParamSpec> params() const override {
    std::vector<ParamSpec> specs = {{"weight", {out_, in_}}};
    if (has_bias_) specs.push_back({"bias", {out_}});
    return specs;
  }

  absl::Status SetParams(ParamMap params) override {
    weight_ = std::move(params["weight"]);
    if (has_bias_) bias_ = std::move(params["bias"]);
    return absl::OkStatus();
  }

  absl::StatusOr<Shape> OutputShape(const Shape& in) const override {
    if (in.empty() || in.back() != in_) {
      return absl::InvalidArgumentError(
          absl::StrCat("expected input of shape (*, ", in_, ") (in_features=", in_, "), got ",
                       ShapeToString(in)));
    }
    Shape out = in;
    out.back() = out_;
    return out;
  }

  int64_t Flops(const Shape& in) const override {
    const int64_t rows = NumElements(in) / in_;
    return rows * out_ * (2 * in_ + (has_bias_ ? 1 : 0));
  }

  std::optional<Shape> InputDims() const override { return Shape{in_}; }

  int FusableChannelAxis(const Shape& in) const override {
    return static_cast<int>(in.size()) - 1;
  }

  absl::StatusOr<PlanValue> Compile(PlanBuilder& builder, const PlanValue& in,
                                    const Fusion& fusion) const override {
    const int64_t rows = NumElements(in.shape) / in_;
    PlanValue src = builder.Reshape(in, {rows, in_});
    const memory::desc weights_any({in_, out_}, memory::data_type::f32, memory::format_tag::any);
    const memory::desc bias_md({1, out_}, memory::data_type::f32, memory::format_tag::ab);
    const memory::desc dst_md = PlainDesc(memory::dims{rows, out_});
    const bool with_bias = has_bias_ || fusion.affine != nullptr;

    dnnl::matmul::desc desc = with_bias
                                  ? dnnl::matmul::desc(src.md, weights_any, bias_md, dst_md)
                                  : dnnl::matmul::desc(src.md, weights_any, dst_md);
    dnnl::matmul::primitive_desc pd(desc, PlanBuilder::Attr(fusion.post_ops), builder.engine());

    const std::string key = fusion.affine ? absl::StrCat(builder.current_path(), "+",
                                                         fusion.affine_path)
                                          : builder.current_path();
    // PyTorch's weight is (out, in) row-major: the (in, out) matrix in layout "ba".
    const memory::desc torch_layout({in_, out_}, memory::data_type::f32, memory::format_tag::ba);
    dnnl::memory weights = builder.weights().Get(key + ".weight", pd.weights_desc(), torch_layout,
                                                 [&] { return FoldedWeight(fusion); });
    PlanValue dst = builder.NewValue({rows, out_}, dst_md);
    std::vector<StepArg> args = {ValueArg(DNNL_ARG_SRC, src), ConstArg(DNNL_ARG_WEIGHTS, weights),
                                 ValueArg(DNNL_ARG_DST, dst)};
    if (with_bias) {
      args.push_back(ConstArg(DNNL_ARG_BIAS,
                              builder.weights().Get(key + ".bias", bias_md, bias_md,
                                                    [&] { return FoldedBias(fusion); })));
    }
    builder.AddPrimitive(pd, dnnl::matmul(pd), std::move(args));

    Shape out_shape = in.shape;
    out_shape.back() = out_;
    return builder.Reshape(dst, std::move(out_shape));
  }

 private:
  // W * scale per output feature (row), when a BatchNorm is folded in.
  Tensor FoldedWeight(const Fusion& fusion) const {
    Tensor w = weight_;
    if (fusion.affine != nullptr) {
      for (int64_t o = 0; o < out_; ++o) {
        for (int64_t i = 0; i < in_; ++i) w.data[o * in_ + i] *= fusion.affine->scale[o];
      }
    }
    return w;
  }

  // bias * scale + shift (bias taken as 0 when the Linear has none).
  Tensor FoldedBias(const Fusion& fusion) const {
    Tensor b({1, out_});
    for (int64_t o = 0; o < out_; ++o) {
      const float bias = has_bias_ ? bias_.data[o] : 0.f;
      b.data[o] = fusion.affine ? bias * fusion.affine->scale[o] + fusion.affine->shift[o] : bias;
    }
    return b;
  }

  int64_t in_;
  int64_t out_;
  bool has_bias_;
  Tensor weight_;
  Tensor bias_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Module>> MakeLinear(const SeqCall& call, std::string_view file) {
  SEQ_ASSIGN_OR_RETURN(ModuleArgs args,
                       ModuleArgs::Bind(call, "Linear",
                                        {Required("in_features"), Required("out_features"),
                                         Default("bias", BoolValue(true)),
                                         Default("device", NoneValue()),
                                         Default("dtype", NoneValue())},
                                        file));
  SEQ_ASSIGN_OR_RETURN(int64_t in_features, args.Int("in_features"));
  SEQ_ASSIGN_OR_RETURN(int64_t out_features, args.Int("out_features"));
  SEQ_ASSIGN_OR_RETURN(bool bias, args.Bool("bias"));
  if (in_features <= 0) {
    return args.Error("in_features", absl::StrCat("must be positive, got ", in_features));
  }
  if (out_features <= 0) {
    return args.Error("out_features", absl::StrCat("must be positive, got ", out_features));
  }
  return std::make_unique<Linear>(in_features, out_features, bias);
}

}  // namespace seqserve
