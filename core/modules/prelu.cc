#include "core/modules/prelu.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/module_args.h"
#include "common/status_macros.h"

namespace seqserve {
namespace {

using dnnl::memory;

class PReLU : public Module {
 public:
  explicit PReLU(int64_t num_parameters) : num_(num_parameters) {}

  std::string_view type() const override { return "PReLU"; }

  std::vector<ParamSpec> params() const override { return {{"weight", {num_}}}; }

  absl::Status SetParams(ParamMap params) override {
    weight_ = std::move(params["weight"]);
    return absl::OkStatus();
  }

  absl::StatusOr<Shape> OutputShape(const Shape& in) const override {
    if (num_ == 1) return in;  // one weight broadcasts over any input, even a scalar
    if (in.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("Not allow zero-dim input tensor. Expected input of shape (N, ", num_,
                       ", *) (num_parameters=", num_, "), got ", ShapeToString(in)));
    }
    // Inputs of rank 1 have no channel dim: PyTorch counts them as one channel.
    const int64_t channels = in.size() > 1 ? in[1] : 1;
    if (channels != num_) {
      return absl::InvalidArgumentError(absl::StrCat(
          "Mismatch of parameter numbers and input channel size. Found parameter numbers = ", num_,
          " and channel size = ", channels, ". Expected input of shape (N, ", num_, ", *), got ",
          ShapeToString(in)));
    }
    return in;
  }

  int64_t Flops(const Shape& in) const override { return NumElements(in); }

  // A single weight a is a leaky ReLU with slope a, which fuses as a post-op; except a == 0,
  // where PyTorch's a * x makes -Inf NaN and no oneDNN eltwise op does (see LeakyReLU).
  std::optional<std::vector<EltwiseOp>> AsEltwise() const override {
    if (num_ != 1 || weight_.data.size() != 1 || weight_.data[0] == 0.f) return std::nullopt;
    return std::vector<EltwiseOp>{{dnnl::algorithm::eltwise_relu, weight_.data[0], 0.f}};
  }

  absl::StatusOr<PlanValue> Compile(PlanBuilder& builder, const PlanValue& in,
                                    const Fusion& /*fusion*/) const override {
    if (NumElements(in.shape) == 0) return in;  // nothing to compute (e.g. PReLU(0) on (N, 0))
    // Weights broadcast along every md dim but the channels: dim 1 of the logical shape
    // (OutputShape guarantees rank >= 2 unless num_ == 1, whose single weight broadcasts
    // everywhere), shifted when an unbatched value's md carries extra leading unit dims.
    const int rank = static_cast<int>(in.shape.size());
    auto make_pd = [&](const memory::desc& md) {
      memory::dims weight_dims(md.data.ndims, 1);
      if (num_ != 1) weight_dims[1 + md.data.ndims - rank] = num_;
      const memory::desc weights_any(weight_dims, memory::data_type::f32, memory::format_tag::any);
      dnnl::prelu_forward::desc desc(dnnl::prop_kind::forward_inference, md, weights_any);
      return dnnl::prelu_forward::primitive_desc(desc, PlanBuilder::Attr(), builder.engine());
    };
    PlanValue src = in;
    dnnl::prelu_forward::primitive_desc pd = make_pd(src.md);
    // oneDNN 2.6's optimised PReLU wants the weights along md dim 1 and a plain, strided or
    // channel-blocked layout; its reference fallback (e.g. for an unbatched value, whose
    // channels are md dim 2) is ~100x slower than a reorder to plain, the logical rank.
    if (absl::StartsWith(pd.impl_info_str(), "ref")) {
      src = builder.Plain(in);
      pd = make_pd(src.md);
    }
    const memory::desc weights_md = pd.weights_desc();
    dnnl::memory weights =
        builder.weights().Get(builder.current_path() + ".weight", weights_md,
                              PlainDesc(weights_md.dims()), [&] { return weight_; });
    PlanValue dst = builder.InPlace(src);
    dst.md = pd.dst_desc();
    builder.AddPrimitive(pd, dnnl::prelu_forward(pd),
                         {ValueArg(DNNL_ARG_SRC, src), ConstArg(DNNL_ARG_WEIGHTS, weights),
                          ValueArg(DNNL_ARG_DST, dst)});
    return dst;
  }

 private:
  int64_t num_;
  Tensor weight_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Module>> MakePReLU(const SeqCall& call, std::string_view file) {
  SEQ_ASSIGN_OR_RETURN(
      ModuleArgs args,
      ModuleArgs::Bind(call, "PReLU",
                       {Default("num_parameters", 1), Default("init", 0.25),
                        Default("device", NoneValue()), Default("dtype", NoneValue())},
                       file));
  SEQ_ASSIGN_OR_RETURN(int64_t num_parameters, args.Int("num_parameters"));
  if (num_parameters < 0) {
    return args.Error("num_parameters",
                      absl::StrCat("Trying to create tensor with negative dimension ",
                                   num_parameters, ": [", num_parameters, "]"));
  }
  // `init` only seeds the weight, which model.safetensors then provides; PyTorch's fill_
  // takes any number, bools included.
  if (args.Get("init").kind != SeqValue::Kind::kBool) {
    SEQ_RETURN_IF_ERROR(args.Float("init").status());
  }
  return std::make_unique<PReLU>(num_parameters);
}

}  // namespace seqserve
