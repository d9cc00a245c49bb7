#include "core/modules/conv_transpose.h"

#include <algorithm>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/module_args.h"
#include "core/modules/conv_common.h"
#include "common/status_macros.h"

namespace seqserve {
namespace {

using dnnl::memory;

class ConvTranspose : public Module {
 public:
  ConvTranspose(std::string type, ConvArgs args, std::vector<int64_t> padding,
                std::vector<int64_t> output_padding)
      : type_(std::move(type)),
        c_(std::move(args)),
        padding_(std::move(padding)),
        output_padding_(std::move(output_padding)) {
    // oneDNN wants its right padding, padding - output_padding, above -stride. PyTorch
    // allows any output_padding below max(stride, dilation), which breaks that rule when
    // output_padding >= padding + stride (only possible with dilation > stride). The output
    // positions past the last kernel tap receive only the bias, so a kernel grown by zero
    // taps (each adds `dilation` to the right padding oneDNN sees, leaving the output size
    // as it is) computes the same output within oneDNN's rule.
    for (int i = 0; i < c_.spatial_dims; ++i) {
      const int64_t pad_after = padding_[i] - output_padding_[i];
      const int64_t extra =
          pad_after + c_.stride[i] > 0 ? 0 : (-pad_after - c_.stride[i]) / c_.dilation[i] + 1;
      extra_taps_.push_back(extra);
      pad_after_.push_back(pad_after + extra * c_.dilation[i]);
    }
  }

  std::string_view type() const override { return type_; }

  std::vector<ParamSpec> params() const override {
    Shape weight = {c_.in_channels, c_.out_channels / c_.groups};
    weight.insert(weight.end(), c_.kernel.begin(), c_.kernel.end());
    std::vector<ParamSpec> specs = {{"weight", weight}};
    if (c_.bias) specs.push_back({"bias", {c_.out_channels}});
    return specs;
  }

  absl::Status SetParams(ParamMap params) override {
    weight_ = std::move(params["weight"]);
    if (c_.bias) bias_ = std::move(params["bias"]);
    return absl::OkStatus();
  }

  absl::StatusOr<Shape> OutputShape(const Shape& in) const override {
    SEQ_RETURN_IF_ERROR(CheckConvInput(in, c_.spatial_dims, c_.in_channels));
    const std::vector<int64_t> size = SpatialDims(in, c_.spatial_dims);
    std::vector<int64_t> out_size(size.size());
    bool positive = true;
    for (int i = 0; i < c_.spatial_dims; ++i) {
      out_size[i] = (size[i] - 1) * c_.stride[i] - 2 * padding_[i] +
                    c_.dilation[i] * (c_.kernel[i] - 1) + output_padding_[i] + 1;
      positive = positive && out_size[i] > 0;
    }
    if (!positive) {
      return absl::InvalidArgumentError(
          absl::StrCat("expected an input large enough for a positive output size, got ",
                       ShapeToString(in), " (output size ", TupleRepr(out_size), ")"));
    }
    Shape out = in;
    std::copy(out_size.begin(), out_size.end(), out.end() - c_.spatial_dims);
    out[out.size() - c_.spatial_dims - 1] = c_.out_channels;
    return out;
  }

  int64_t Flops(const Shape& in) const override {
    absl::StatusOr<Shape> out = OutputShape(in);
    if (!out.ok()) return 0;
    // Every input element meets every tap of its group's out_channels/groups filters.
    int64_t taps = c_.out_channels / c_.groups;
    for (int64_t k : c_.kernel) taps *= k;
    return 2 * NumElements(in) * taps + (c_.bias ? NumElements(*out) : 0);
  }

  std::optional<Shape> InputDims() const override {
    Shape dims = {c_.in_channels};
    dims.resize(1 + c_.spatial_dims, -1);
    return dims;
  }

  // As for Conv: no BatchNorm normalises the channels of an unbatched output.
  int FusableChannelAxis(const Shape& in) const override {
    return IsBatched(in, c_.spatial_dims) ? 1 : 0;
  }

  // Unbatched input: the reshape before it decides its layout, so there is nothing to time.
  bool IsTunable(const Shape& in) const override { return IsBatched(in, c_.spatial_dims); }

  bool OffersImplementation(const std::string& id) const override { return IsConvChoice(id); }

  std::vector<Candidate> Candidates(const PlanBuilder& builder, const Shape& in,
                                    const Fusion& fusion) const override {
    if (!IsTunable(in) || !OutputShape(in).ok()) return {};
    const memory::dims dst_dims = *OutputShape(in);
    return ConvCandidates<dnnl::deconvolution_forward::primitive_desc,
                          dnnl::deconvolution_forward>(MakeDesc(fusion), in, dst_dims,
                                                       c_.spatial_dims, fusion, builder.engine());
  }

  absl::StatusOr<PlanValue> Compile(PlanBuilder& builder, const PlanValue& in,
                                    const Fusion& fusion) const override {
    SEQ_ASSIGN_OR_RETURN(Shape out_shape, OutputShape(in.shape));
    PlanValue x = builder.WithDims(in, BatchedDims(in.shape, c_.spatial_dims));

    const std::vector<int64_t> kernel = GrownKernel();
    const memory::dims weight_dims = WeightDims(kernel);
    const memory::dims dst_dims = BatchedDims(out_shape, c_.spatial_dims);
    const memory::desc bias_md({c_.out_channels}, memory::data_type::f32, memory::format_tag::x);
    const bool with_bias = c_.bias || fusion.affine != nullptr;
    const auto [pd, epilogue] = ChosenPrimitiveDesc<dnnl::deconvolution_forward::primitive_desc>(
        builder.choice(), builder.CurrentName(), MakeDesc(fusion), x.md.dims(), dst_dims,
        c_.spatial_dims, fusion, builder.engine());

    PlanValue src = builder.Convert(x, pd.src_desc());
    const std::string key = ConvWeightKey(builder, fusion);
    dnnl::memory weights =
        builder.weights().Get(key + ".weight", pd.weights_desc(), TorchWeightDesc(weight_dims),
                              [&] { return FoldedWeight(fusion, kernel); });
    PlanValue dst = builder.NewValue(std::move(out_shape), pd.dst_desc());
    std::vector<StepArg> args = {ValueArg(DNNL_ARG_SRC, src), ConstArg(DNNL_ARG_WEIGHTS, weights),
                                 ValueArg(DNNL_ARG_DST, dst)};
    if (with_bias) {
      dnnl::memory bias = builder.weights().Get(key + ".bias", bias_md, bias_md, [&] {
        return FoldedConvBias(c_.bias ? &bias_ : nullptr, c_.out_channels, fusion);
      });
      args.push_back(ConstArg(DNNL_ARG_BIAS, bias));
    }
    builder.AddPrimitive(pd, dnnl::deconvolution_forward(pd), std::move(args));
    // Tuning found the activations faster as a separate pass than as post-ops.
    if (epilogue) builder.AddKernel(epilogue, dst, dst);
    return dst;
  }

 private:
  // The op desc for src and dst layouts, weights as oneDNN prefers.
  using Desc = dnnl::deconvolution_forward::desc;
  std::function<Desc(const memory::desc&, const memory::desc&)> MakeDesc(
      const Fusion& fusion) const {
    memory::dims dilates;
    for (int64_t d : c_.dilation) dilates.push_back(d - 1);  // oneDNN counts the gaps
    const memory::desc weights_any(WeightDims(GrownKernel()), memory::data_type::f32,
                                   memory::format_tag::any);
    const memory::desc bias_md({c_.out_channels}, memory::data_type::f32, memory::format_tag::x);
    const bool with_bias = c_.bias || fusion.affine != nullptr;
    return [=, stride = c_.stride, pad_before = padding_, pad_after = pad_after_](
               const memory::desc& src_md, const memory::desc& dst_md) {
      const auto prop = dnnl::prop_kind::forward_inference;
      const auto algo = dnnl::algorithm::deconvolution_direct;
      return with_bias ? Desc(prop, algo, src_md, weights_any, bias_md, dst_md, stride, dilates,
                              pad_before, pad_after)
                       : Desc(prop, algo, src_md, weights_any, dst_md, stride, dilates, pad_before,
                              pad_after);
    };
  }

  // The kernel oneDNN computes with: PyTorch's, plus the zero taps (see the constructor).
  std::vector<int64_t> GrownKernel() const {
    std::vector<int64_t> kernel = c_.kernel;
    for (int i = 0; i < c_.spatial_dims; ++i) kernel[i] += extra_taps_[i];
    return kernel;
  }

  // oneDNN's weight dims: (out, in, *kernel), or (groups, out/groups, in/groups, *kernel).
  memory::dims WeightDims(const std::vector<int64_t>& kernel) const {
    memory::dims dims;
    if (c_.groups > 1) dims.push_back(c_.groups);
    dims.push_back(c_.out_channels / c_.groups);
    dims.push_back(c_.in_channels / c_.groups);
    dims.insert(dims.end(), kernel.begin(), kernel.end());
    return dims;
  }

  // `weight_dims` laid out as PyTorch stores them, (in, out/groups, *kernel) row-major:
  // oneDNN's iohw / giohw (in and out swapped), so the cache's reorder does the transpose.
  memory::desc TorchWeightDesc(const memory::dims& weight_dims) const {
    const size_t rank = weight_dims.size();
    const size_t out_axis = c_.groups > 1 ? 1 : 0;
    memory::dims strides(rank);
    memory::dim stride = 1;
    for (size_t d = rank; d-- > out_axis + 2;) {
      strides[d] = stride;
      stride *= weight_dims[d];
    }
    strides[out_axis] = stride;
    strides[out_axis + 1] = stride * weight_dims[out_axis];
    if (out_axis == 1) strides[0] = strides[2] * weight_dims[2];
    return memory::desc(weight_dims, memory::data_type::f32, strides);
  }

  // PyTorch's weight in its own layout with `kernel`'s extra taps zero, scaled per output
  // channel when a BatchNorm is folded in.
  Tensor FoldedWeight(const Fusion& fusion, const std::vector<int64_t>& kernel) const {
    const int64_t in_per_group = c_.in_channels / c_.groups;
    const int64_t out_per_group = c_.out_channels / c_.groups;
    Shape shape = {c_.in_channels, out_per_group};
    shape.insert(shape.end(), kernel.begin(), kernel.end());
    Tensor w(shape);
    int64_t taps = 1, grown_taps = 1;
    for (int i = 0; i < c_.spatial_dims; ++i) {
      taps *= c_.kernel[i];
      grown_taps *= kernel[i];
    }
    // Where each of PyTorch's taps lands in the grown kernel (row-major in both).
    std::vector<int64_t> grown_index(static_cast<size_t>(taps));
    for (int64_t t = 0; t < taps; ++t) {
      int64_t rest = t, index = 0, grown_stride = 1;
      for (int i = c_.spatial_dims - 1; i >= 0; --i) {
        index += (rest % c_.kernel[i]) * grown_stride;
        rest /= c_.kernel[i];
        grown_stride *= kernel[i];
      }
      grown_index[static_cast<size_t>(t)] = index;
    }
    for (int64_t i = 0; i < c_.in_channels; ++i) {
      const int64_t group = i / in_per_group;
      for (int64_t oo = 0; oo < out_per_group; ++oo) {
        const float scale =
            fusion.affine != nullptr ? fusion.affine->scale[group * out_per_group + oo] : 1.f;
        const float* from = weight_.data.data() + (i * out_per_group + oo) * taps;
        float* to = w.data.data() + (i * out_per_group + oo) * grown_taps;
        for (int64_t t = 0; t < taps; ++t) to[grown_index[static_cast<size_t>(t)]] = from[t] * scale;
      }
    }
    return w;
  }

  std::string type_;
  ConvArgs c_;
  std::vector<int64_t> padding_;
  std::vector<int64_t> output_padding_;
  std::vector<int64_t> extra_taps_;  // zero taps appended per spatial dim (usually 0)
  std::vector<int64_t> pad_after_;   // oneDNN's right padding per spatial dim
  Tensor weight_;
  Tensor bias_;
};

absl::StatusOr<std::unique_ptr<Module>> MakeConvTranspose(const SeqCall& call,
                                                          std::string_view file, std::string type,
                                                          int spatial_dims) {
  SEQ_ASSIGN_OR_RETURN(
      ModuleArgs args,
      ModuleArgs::Bind(call, type,
                       {Required("in_channels"), Required("out_channels"), Required("kernel_size"),
                        Default("stride", 1), Default("padding", 0), Default("output_padding", 0),
                        Default("groups", 1), Default("bias", true), Default("dilation", 1),
                        Default("padding_mode", "zeros"), Default("device", NoneValue()),
                        Default("dtype", NoneValue())},
                       file));
  // _ConvTransposeNd checks padding_mode before anything else.
  SEQ_ASSIGN_OR_RETURN(std::string mode, args.String("padding_mode"));
  if (mode != "zeros") {
    return args.Error("padding_mode",
                      absl::StrCat("Only \"zeros\" padding mode is supported for ", type));
  }
  SEQ_ASSIGN_OR_RETURN(ConvArgs c, BindConvArgs(args, spatial_dims));
  SEQ_ASSIGN_OR_RETURN(std::vector<int64_t> padding, args.IntTuple("padding", spatial_dims));
  SEQ_ASSIGN_OR_RETURN(std::vector<int64_t> output_padding,
                       args.IntTuple("output_padding", spatial_dims));
  for (int i = 0; i < spatial_dims; ++i) {
    if (padding[i] < 0) {
      return args.Error(
          "padding", absl::StrCat("negative padding is not supported, got ", TupleRepr(padding)));
    }
  }
  for (int i = 0; i < spatial_dims; ++i) {
    if (output_padding[i] < 0) {
      return args.Error("output_padding",
                        absl::StrCat("negative output_padding is not supported, got ",
                                     TupleRepr(output_padding)));
    }
    if (output_padding[i] >= c.stride[i] && output_padding[i] >= c.dilation[i]) {
      return args.Error(
          "output_padding",
          absl::StrCat("output padding must be smaller than either stride or dilation, but got "
                       "output_padding=",
                       TupleRepr(output_padding), ", stride=", TupleRepr(c.stride),
                       ", dilation=", TupleRepr(c.dilation)));
    }
  }
  return std::make_unique<ConvTranspose>(std::move(type), std::move(c), std::move(padding),
                                         std::move(output_padding));
}

}  // namespace

absl::StatusOr<std::unique_ptr<Module>> MakeConvTranspose1d(const SeqCall& call,
                                                            std::string_view file) {
  return MakeConvTranspose(call, file, "ConvTranspose1d", 1);
}

absl::StatusOr<std::unique_ptr<Module>> MakeConvTranspose2d(const SeqCall& call,
                                                            std::string_view file) {
  return MakeConvTranspose(call, file, "ConvTranspose2d", 2);
}

absl::StatusOr<std::unique_ptr<Module>> MakeConvTranspose3d(const SeqCall& call,
                                                            std::string_view file) {
  return MakeConvTranspose(call, file, "ConvTranspose3d", 3);
}

}  // namespace seqserve
