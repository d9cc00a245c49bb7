#include "core/modules/linear.h"

#include <algorithm>
#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/module_args.h"
#include "core/modules/int8_weights.h"
#include "common/status_macros.h"
#include "core/engine_log.h"

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

  // The largest |weight| row sum (BatchNorm folded in) times the largest input, plus the
  // largest bias.
  std::optional<MagnitudeBound> OutputBound(const Shape& /*in*/,
                                            const Fusion& fusion) const override {
    if (!fusion.post_ops.empty() && !IsReluChain(fusion.post_ops)) return std::nullopt;
    return WeightedSumBound(weight_.data.data(), out_, in_,
                            has_bias_ ? bias_.data.data() : nullptr, fusion.affine);
  }

  bool ComputesIn(Precision /*precision*/, const Shape& /*in*/) const override { return true; }

  bool IsTunable(const Shape& /*in*/) const override { return true; }
  bool OffersImplementation(const std::string& id) const override {
    return std::find(kImplementations.begin(), kImplementations.end(), id) !=
           kImplementations.end();
  }

  std::vector<Candidate> Candidates(const PlanBuilder& builder, const Shape& in,
                                    const Fusion& fusion) const override {
    const int64_t rows = NumElements(in) / in_;
    std::vector<Candidate> candidates;
    const std::vector<float> weight_scales = WeightScales(fusion, builder.dtypes());
    for (std::string_view id : kImplementations) {
      std::optional<Impl> impl =
          MakeImpl(id, rows, fusion, builder.dtypes(), weight_scales, builder.engine());
      if (impl) candidates.push_back(Candidate{std::string(id), impl->pd, impl->primitive});
    }
    return candidates;
  }

  absl::StatusOr<PlanValue> Compile(PlanBuilder& builder, const PlanValue& in,
                                    const Fusion& fusion) const override {
    const int64_t rows = NumElements(in.shape) / in_;
    const StepDTypes& dtypes = builder.dtypes();
    PlanValue src = builder.Reshape(in, {rows, in_}, dtypes.src);
    std::string_view id = kImplementations[0];
    if (!builder.choice().empty()) {
      if (std::find(kImplementations.begin(), kImplementations.end(), builder.choice()) !=
          kImplementations.end()) {
        id = builder.choice();
      } else {
        EngineLog()->warn("{}: the tuned implementation '{}' is unknown; compiling {} instead",
                          builder.CurrentName(), builder.choice(), id);
      }
    }
    const std::vector<float> weight_scales = WeightScales(fusion, dtypes);
    std::optional<Impl> made = MakeImpl(id, rows, fusion, dtypes, weight_scales, builder.engine());
    // Not every implementation has an int8 kernel; the default always has.
    if (!made) made = MakeImpl(kImplementations[0], rows, fusion, dtypes, weight_scales,
                               builder.engine());
    if (!made) {
      return absl::InternalError("oneDNN offers no kernel for this layer in these types");
    }
    const Impl& impl = *made;
    const bool with_bias = has_bias_ || fusion.affine != nullptr;
    const std::string key = fusion.affine ? absl::StrCat(builder.current_path(), "+",
                                                         fusion.affine_path)
                                          : builder.current_path();
    dnnl::memory weights =
        dtypes.int8()
            ? builder.weights().GetInt8(
                  key + ".weight.s8", impl.pd.weights_desc(),
                  WithDataType(impl.torch_weights, memory::data_type::s8),
                  [&] { return QuantizeRows(FoldedWeight(fusion), weight_scales); })
            : builder.weights().Get(key + ".weight", impl.pd.weights_desc(), impl.torch_weights,
                                    [&] { return FoldedWeight(fusion); });
    PlanValue dst = builder.NewValue({rows, out_}, impl.pd.dst_desc());
    std::vector<StepArg> args = {ValueArg(DNNL_ARG_SRC, src), ConstArg(DNNL_ARG_WEIGHTS, weights),
                                 ValueArg(DNNL_ARG_DST, dst)};
    if (with_bias) {
      const dnnl::memory::desc bias_md = impl.pd.query_md(dnnl::query::exec_arg_md, DNNL_ARG_BIAS);
      // An int8 bias depends on the input's scale: its own key per scale.
      dnnl::memory bias =
          dtypes.int8()
              ? builder.weights().Get(absl::StrCat(key, ".bias.int8@", dtypes.src_scale), bias_md,
                                      bias_md,
                                      [&] {
                                        return Int8Bias(FoldedBias(fusion, bias_md), dtypes,
                                                        weight_scales);
                                      })
              : builder.weights().Get(key + ".bias", bias_md, bias_md,
                                      [&] { return FoldedBias(fusion, bias_md); });
      args.push_back(ConstArg(DNNL_ARG_BIAS, bias));
    }
    builder.AddPrimitive(impl.pd, impl.primitive, std::move(args));

    Shape out_shape = in.shape;
    out_shape.back() = out_;
    return builder.Reshape(dst, std::move(out_shape), dtypes.dst);
  }

 private:
  // The implementations, by candidate id, the default first: a matmul (weights in the
  // layout it prefers), an inner product (likewise), and an inner product on PyTorch's own
  // (out, in) weight layout, which gemm-based inner products stream as rows.
  static constexpr std::array<std::string_view, 3> kImplementations = {"matmul", "inner_product",
                                                                      "inner_product_oi"};

  struct Impl {
    dnnl::primitive_desc_base pd;
    dnnl::primitive primitive;
    // PyTorch's (out, in) row-major weight, described with the dims pd's weights have.
    dnnl::memory::desc torch_weights;
  };

  // An int8 step's per-output weight scales (Int8RowScales), empty in other precisions.
  std::vector<float> WeightScales(const Fusion& fusion, const StepDTypes& dtypes) const {
    return dtypes.int8() ? Int8RowScales(weight_, out_, fusion.affine) : std::vector<float>();
  }

  // The primitive of implementation `id` for `rows` input rows, in the element types
  // `dtypes` (the bias stays f32), with int8's output scales from `weight_scales`; nullopt
  // for an int8 implementation oneDNN has only its reference code for.
  std::optional<Impl> MakeImpl(std::string_view id, int64_t rows, const Fusion& fusion,
                               const StepDTypes& dtypes, const std::vector<float>& weight_scales,
                               const dnnl::engine& engine) const {
    const bool with_bias = has_bias_ || fusion.affine != nullptr;
    const memory::desc src_md = PlainDesc(memory::dims{rows, in_}, dtypes.src);
    const memory::desc dst_md = PlainDesc(memory::dims{rows, out_}, dtypes.dst);
    const dnnl::primitive_attr attr = PlanBuilder::Attr(
        fusion.post_ops,
        dtypes.int8() ? Int8OutputScales(dtypes, weight_scales) : std::vector<float>());
    auto usable = [&](const dnnl::primitive_desc_base& pd) {
      return pd && (!dtypes.int8() || std::string_view(pd.impl_info_str()).substr(0, 3) != "ref");
    };
    if (id == "matmul") {
      const memory::desc weights_any({in_, out_}, dtypes.weights, memory::format_tag::any);
      const memory::desc bias_md({1, out_}, memory::data_type::f32, memory::format_tag::ab);
      dnnl::matmul::desc desc = with_bias ? dnnl::matmul::desc(src_md, weights_any, bias_md, dst_md)
                                          : dnnl::matmul::desc(src_md, weights_any, dst_md);
      dnnl::matmul::primitive_desc pd(desc, attr, engine, /*allow_empty=*/dtypes.int8());
      if (!usable(pd)) return std::nullopt;
      // The (in, out) matrix in layout "ba".
      return Impl{pd, dnnl::matmul(pd),
                  memory::desc({in_, out_}, memory::data_type::f32, memory::format_tag::ba)};
    }
    const memory::desc weights(
        {out_, in_}, dtypes.weights,
        id == "inner_product_oi" ? memory::format_tag::oi : memory::format_tag::any);
    const memory::desc bias_md({out_}, memory::data_type::f32, memory::format_tag::x);
    using Desc = dnnl::inner_product_forward::desc;
    const auto prop = dnnl::prop_kind::forward_inference;
    Desc desc = with_bias ? Desc(prop, src_md, weights, bias_md, dst_md)
                          : Desc(prop, src_md, weights, dst_md);
    dnnl::inner_product_forward::primitive_desc pd(desc, attr, engine,
                                                   /*allow_empty=*/dtypes.int8());
    if (!usable(pd)) return std::nullopt;
    return Impl{pd, dnnl::inner_product_forward(pd),
                memory::desc({out_, in_}, memory::data_type::f32, memory::format_tag::oi)};
  }

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

  // bias * scale + shift (bias taken as 0 when the Linear has none), shaped as `md`.
  Tensor FoldedBias(const Fusion& fusion, const memory::desc& md) const {
    Tensor b(md.dims());
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
