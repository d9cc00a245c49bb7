#include "core/modules/conv.h"

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/module_args.h"
#include "core/modules/conv_common.h"
#include "core/modules/int8_weights.h"
#include "core/modules/spatial_pad.h"
#include "common/status_macros.h"

namespace seqserve {
namespace {

using dnnl::memory;

class Conv : public Module {
 public:
  // `pad_before`/`pad_after`: per spatial dim, as PyTorch resolves `padding` (asymmetric
  // only for padding='same' with an even dilated kernel).
  Conv(std::string type, ConvArgs args, std::vector<int64_t> pad_before,
       std::vector<int64_t> pad_after, PadMode mode)
      : type_(std::move(type)),
        c_(std::move(args)),
        pad_before_(std::move(pad_before)),
        pad_after_(std::move(pad_after)),
        mode_(mode) {
    for (int i = 0; i < c_.spatial_dims; ++i) {
      if (mode_ != PadMode::kZeros && (pad_before_[i] != 0 || pad_after_[i] != 0)) {
        explicit_pad_ = true;
      }
    }
  }

  std::string_view type() const override { return type_; }

  std::vector<ParamSpec> params() const override {
    Shape weight = {c_.out_channels, c_.in_channels / c_.groups};
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
    if (explicit_pad_) SEQ_RETURN_IF_ERROR(CheckSpatialPad(in, mode_, pad_before_, pad_after_));
    const std::vector<int64_t> size = SpatialDims(in, c_.spatial_dims);
    std::vector<int64_t> padded(size.size()), kernel(size.size());
    Shape out = in;
    bool fits = true;
    bool dilated = false;
    for (int i = 0; i < c_.spatial_dims; ++i) {
      padded[i] = size[i] + pad_before_[i] + pad_after_[i];
      kernel[i] = c_.dilation[i] * (c_.kernel[i] - 1) + 1;
      fits = fits && padded[i] >= kernel[i];
      dilated = dilated || c_.dilation[i] > 1;
      out[out.size() - c_.spatial_dims + i] = (padded[i] - kernel[i]) / c_.stride[i] + 1;
    }
    if (!fits) {
      return absl::InvalidArgumentError(
          absl::StrCat("expected an input at least as large as the ", dilated ? "dilated " : "",
                       "kernel ", TupleRepr(kernel), " after padding, got ", ShapeToString(in),
                       " (padded size ", TupleRepr(padded), ")"));
    }
    out[out.size() - c_.spatial_dims - 1] = c_.out_channels;
    return out;
  }

  int64_t Flops(const Shape& in) const override {
    absl::StatusOr<Shape> out = OutputShape(in);
    if (!out.ok()) return 0;
    int64_t taps = c_.in_channels / c_.groups;
    for (int64_t k : c_.kernel) taps *= k;
    return NumElements(*out) * (2 * taps + (c_.bias ? 1 : 0));
  }

  std::optional<Shape> InputDims() const override {
    Shape dims = {c_.in_channels};
    dims.resize(1 + c_.spatial_dims, -1);
    return dims;
  }

  // Unbatched (C, *spatial) output has its channels on axis 0, where no BatchNorm
  // normalises (BatchNorm2d rejects 3D input, BatchNorm1d reads (C, L) as (N, C), and
  // BatchNorm2d reads (C, D, H, W) as (N, C, H, W)); only activations fuse then.
  int FusableChannelAxis(const Shape& in) const override {
    return IsBatched(in, c_.spatial_dims) ? 1 : 0;
  }

  // A sum of taps: the largest |weight| row sum (BatchNorm folded in) times the largest
  // input, plus the largest bias. Padding (zeros or copies of inputs) adds nothing larger.
  std::optional<MagnitudeBound> OutputBound(const Shape& /*in*/,
                                            const Fusion& fusion) const override {
    if (!fusion.post_ops.empty() && !IsReluChain(fusion.post_ops)) return std::nullopt;
    return WeightedSumBound(weight_.data.data(), c_.out_channels,
                            weight_.numel() / c_.out_channels, c_.bias ? bias_.data.data() : nullptr,
                            fusion.affine);
  }

  // bf16 and int8 on oneDNN's convolutions in those types, except behind a separate pad step
  // (padding_mode other than zeros), whose kernels read f32.
  bool ComputesIn(Precision precision, const Shape& /*in*/) const override {
    return precision == Precision::kFp32 || !explicit_pad_;
  }

  // Tuning times the layouts of unbatched and explicitly padded convolutions no further:
  // the pad step or the reshape before them decides their input layout.
  bool IsTunable(const Shape& in) const override {
    return !explicit_pad_ && IsBatched(in, c_.spatial_dims);
  }

  bool OffersImplementation(const std::string& id) const override { return IsConvChoice(id); }

  std::vector<Candidate> Candidates(const PlanBuilder& builder, const Shape& in,
                                    const Fusion& fusion) const override {
    if (!IsTunable(in) || !OutputShape(in).ok()) return {};
    const memory::dims dst_dims = *OutputShape(in);
    return ConvCandidates<dnnl::convolution_forward::primitive_desc, dnnl::convolution_forward>(
        MakeDesc(fusion, builder.dtypes()), in, dst_dims, c_.spatial_dims, fusion,
        builder.engine(), OutputScales(fusion, builder.dtypes()));
  }

  absl::StatusOr<PlanValue> Compile(PlanBuilder& builder, const PlanValue& in,
                                    const Fusion& fusion) const override {
    SEQ_ASSIGN_OR_RETURN(Shape out_shape, OutputShape(in.shape));
    PlanValue x = in;
    if (explicit_pad_) x = AddSpatialPad(builder, x, mode_, pad_before_, pad_after_);
    x = builder.WithDims(x, BatchedDims(x.shape, c_.spatial_dims));

    const memory::dims weight_dims = WeightDims();
    const memory::dims dst_dims = BatchedDims(out_shape, c_.spatial_dims);
    const memory::desc bias_md({c_.out_channels}, memory::data_type::f32, memory::format_tag::x);
    const bool with_bias = c_.bias || fusion.affine != nullptr;
    const StepDTypes& dtypes = builder.dtypes();
    const std::vector<float> weight_scales =
        dtypes.int8() ? Int8RowScales(weight_, c_.out_channels, fusion.affine)
                      : std::vector<float>();
    const auto [pd, epilogue] = ChosenPrimitiveDesc<dnnl::convolution_forward::primitive_desc>(
        builder.choice(), builder.CurrentName(), MakeDesc(fusion, dtypes), x.md.dims(), dst_dims,
        c_.spatial_dims, fusion, builder.engine(),
        dtypes.int8() ? Int8OutputScales(dtypes, weight_scales) : std::vector<float>());

    PlanValue src = builder.Convert(x, pd.src_desc());
    const std::string key = ConvWeightKey(builder, fusion);
    // PyTorch's (out, in/groups, *kernel) row-major is oneDNN's oi* / goi* in plain order.
    dnnl::memory weights =
        dtypes.int8()
            ? builder.weights().GetInt8(key + ".weight.s8", pd.weights_desc(),
                                        PlainDesc(weight_dims, memory::data_type::s8),
                                        [&] { return QuantizeRows(FoldedWeight(fusion),
                                                                  weight_scales); })
            : builder.weights().Get(key + ".weight", pd.weights_desc(), PlainDesc(weight_dims),
                                    [&] { return FoldedWeight(fusion); });
    PlanValue dst = builder.NewValue(std::move(out_shape), pd.dst_desc());
    std::vector<StepArg> args = {ValueArg(DNNL_ARG_SRC, src), ConstArg(DNNL_ARG_WEIGHTS, weights),
                                 ValueArg(DNNL_ARG_DST, dst)};
    if (with_bias) {
      auto folded = [&] { return FoldedConvBias(c_.bias ? &bias_ : nullptr, c_.out_channels, fusion); };
      // An int8 bias depends on the input's scale: its own key per scale.
      dnnl::memory bias =
          dtypes.int8()
              ? builder.weights().Get(absl::StrCat(key, ".bias.int8@", dtypes.src_scale), bias_md,
                                      bias_md,
                                      [&] { return Int8Bias(folded(), dtypes, weight_scales); })
              : builder.weights().Get(key + ".bias", bias_md, bias_md, folded);
      args.push_back(ConstArg(DNNL_ARG_BIAS, bias));
    }
    builder.AddPrimitive(pd, dnnl::convolution_forward(pd), std::move(args));
    // Tuning found the activations faster as a separate pass than as post-ops.
    if (epilogue) builder.AddKernel(epilogue, dst, dst);
    return dst;
  }

 private:
  // The op desc for src and dst layouts (weights as oneDNN prefers), with the padding
  // oneDNN applies: none when a separate pad step (non-zero padding_mode) did it. src, dst
  // and weights take the element types `dtypes` (the bias stays f32).
  std::function<dnnl::convolution_forward::desc(const memory::desc&, const memory::desc&)> MakeDesc(
      const Fusion& fusion, const StepDTypes& dtypes) const {
    memory::dims dilates;
    for (int64_t d : c_.dilation) dilates.push_back(d - 1);  // oneDNN counts the gaps
    std::vector<int64_t> pad_before = pad_before_, pad_after = pad_after_;
    if (explicit_pad_) {
      pad_before.assign(c_.spatial_dims, 0);
      pad_after.assign(c_.spatial_dims, 0);
    }
    const memory::desc weights_any(WeightDims(), dtypes.weights, memory::format_tag::any);
    const memory::desc bias_md({c_.out_channels}, memory::data_type::f32, memory::format_tag::x);
    const bool with_bias = c_.bias || fusion.affine != nullptr;
    return [=, stride = c_.stride](const memory::desc& src_f32, const memory::desc& dst_f32) {
      const memory::desc src_md = WithDataType(src_f32, dtypes.src);
      const memory::desc dst_md = WithDataType(dst_f32, dtypes.dst);
      using Desc = dnnl::convolution_forward::desc;
      const auto prop = dnnl::prop_kind::forward_inference;
      const auto algo = dnnl::algorithm::convolution_direct;
      return with_bias ? Desc(prop, algo, src_md, weights_any, bias_md, dst_md, stride, dilates,
                              pad_before, pad_after)
                       : Desc(prop, algo, src_md, weights_any, dst_md, stride, dilates, pad_before,
                              pad_after);
    };
  }

  // An int8 step's output scales (Int8OutputScales), empty in other precisions.
  std::vector<float> OutputScales(const Fusion& fusion, const StepDTypes& dtypes) const {
    if (!dtypes.int8()) return {};
    return Int8OutputScales(dtypes, Int8RowScales(weight_, c_.out_channels, fusion.affine));
  }

  // oneDNN's weight dims: (out, in, *kernel), or (groups, out/groups, in/groups, *kernel).
  memory::dims WeightDims() const {
    memory::dims dims;
    if (c_.groups > 1) dims.push_back(c_.groups);
    dims.push_back(c_.out_channels / c_.groups);
    dims.push_back(c_.in_channels / c_.groups);
    dims.insert(dims.end(), c_.kernel.begin(), c_.kernel.end());
    return dims;
  }

  // The weight scaled per output channel when a BatchNorm is folded in.
  Tensor FoldedWeight(const Fusion& fusion) const {
    Tensor w = weight_;
    if (fusion.affine != nullptr) {
      const int64_t per_channel = w.numel() / c_.out_channels;
      for (int64_t o = 0; o < c_.out_channels; ++o) {
        const float scale = fusion.affine->scale[o];
        float* row = w.data.data() + o * per_channel;
        for (int64_t i = 0; i < per_channel; ++i) row[i] *= scale;
      }
    }
    return w;
  }

  std::string type_;
  ConvArgs c_;
  std::vector<int64_t> pad_before_;
  std::vector<int64_t> pad_after_;
  PadMode mode_;
  bool explicit_pad_ = false;  // non-zero padding_mode with some padding: a separate pad step
  Tensor weight_;
  Tensor bias_;
};

absl::StatusOr<std::unique_ptr<Module>> MakeConv(const SeqCall& call, std::string_view file,
                                                 std::string type, int spatial_dims) {
  SEQ_ASSIGN_OR_RETURN(
      ModuleArgs args,
      ModuleArgs::Bind(
          call, type,
          {Required("in_channels"), Required("out_channels"), Required("kernel_size"),
           Default("stride", 1), Default("padding", 0), Default("dilation", 1),
           Default("groups", 1), Default("bias", true), Default("padding_mode", "zeros"),
           Default("device", NoneValue()), Default("dtype", NoneValue())},
          file));
  SEQ_ASSIGN_OR_RETURN(ConvArgs c, BindConvArgs(args, spatial_dims));

  std::vector<int64_t> pad_before, pad_after;
  if (args.IsString("padding")) {
    SEQ_ASSIGN_OR_RETURN(std::string padding, args.String("padding"));
    if (padding != "same" && padding != "valid") {
      return args.Error("padding", absl::StrCat("Invalid padding string '", padding,
                                                "', should be one of {'valid', 'same'}"));
    }
    if (padding == "same" && c.stride != std::vector<int64_t>(spatial_dims, 1)) {
      return args.Error("padding", "padding='same' is not supported for strided convolutions");
    }
    pad_before.assign(spatial_dims, 0);
    pad_after.assign(spatial_dims, 0);
    if (padding == "same") {
      // PyTorch's rule: the extra element of an odd total goes after.
      for (int i = 0; i < spatial_dims; ++i) {
        const int64_t total = c.dilation[i] * (c.kernel[i] - 1);
        pad_before[i] = total / 2;
        pad_after[i] = total - total / 2;
      }
    }
  } else {
    SEQ_ASSIGN_OR_RETURN(pad_before, args.IntTuple("padding", spatial_dims));
    for (int64_t p : pad_before) {
      if (p < 0) {
        return args.Error("padding", absl::StrCat("negative padding is not supported, got ",
                                                  TupleRepr(pad_before)));
      }
    }
    pad_after = pad_before;
  }

  SEQ_ASSIGN_OR_RETURN(std::string mode_name, args.String("padding_mode"));
  std::optional<PadMode> mode = ParsePadMode(mode_name);
  if (!mode) {
    return args.Error("padding_mode",
                      absl::StrCat("padding_mode must be one of {'zeros', 'reflect', 'replicate', "
                                   "'circular'}, but got padding_mode='",
                                   mode_name, "'"));
  }
  return std::make_unique<Conv>(std::move(type), std::move(c), std::move(pad_before),
                                std::move(pad_after), *mode);
}

}  // namespace

absl::StatusOr<std::unique_ptr<Module>> MakeConv1d(const SeqCall& call, std::string_view file) {
  return MakeConv(call, file, "Conv1d", 1);
}

absl::StatusOr<std::unique_ptr<Module>> MakeConv2d(const SeqCall& call, std::string_view file) {
  return MakeConv(call, file, "Conv2d", 2);
}

absl::StatusOr<std::unique_ptr<Module>> MakeConv3d(const SeqCall& call, std::string_view file) {
  return MakeConv(call, file, "Conv3d", 3);
}

}  // namespace seqserve
