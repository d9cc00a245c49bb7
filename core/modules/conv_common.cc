#include "core/modules/conv_common.h"

#include <algorithm>
#include <array>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "core/engine_log.h"
#include "core/modules/elementwise.h"

namespace seqserve {
namespace {

bool AllPositive(const std::vector<int64_t>& values) {
  for (int64_t v : values) {
    if (v <= 0) return false;
  }
  return true;
}

}  // namespace

std::string TupleRepr(const std::vector<int64_t>& values) {
  std::string out = "(";
  for (size_t i = 0; i < values.size(); ++i) absl::StrAppend(&out, i > 0 ? ", " : "", values[i]);
  return absl::StrCat(out, values.size() == 1 ? ",)" : ")");
}

absl::StatusOr<ConvArgs> BindConvArgs(const ModuleArgs& args, int spatial_dims) {
  ConvArgs c;
  c.spatial_dims = spatial_dims;
  SEQ_ASSIGN_OR_RETURN(c.in_channels, args.Int("in_channels"));
  SEQ_ASSIGN_OR_RETURN(c.out_channels, args.Int("out_channels"));
  SEQ_ASSIGN_OR_RETURN(c.kernel, args.IntTuple("kernel_size", spatial_dims));
  SEQ_ASSIGN_OR_RETURN(c.stride, args.IntTuple("stride", spatial_dims));
  SEQ_ASSIGN_OR_RETURN(c.dilation, args.IntTuple("dilation", spatial_dims));
  SEQ_ASSIGN_OR_RETURN(c.groups, args.Int("groups"));
  SEQ_ASSIGN_OR_RETURN(c.bias, args.Bool("bias"));

  // PyTorch's _ConvNd.__init__ checks, in its order.
  if (c.groups <= 0) return args.Error("groups", "groups must be a positive integer");
  if (c.in_channels % c.groups != 0) {
    return args.Error("groups", absl::StrCat("in_channels (", c.in_channels,
                                             ") must be divisible by groups (", c.groups, ")"));
  }
  if (c.out_channels % c.groups != 0) {
    return args.Error("groups", absl::StrCat("out_channels (", c.out_channels,
                                             ") must be divisible by groups (", c.groups, ")"));
  }
  // PyTorch builds a module with no channels, or fails later in its forward or its weight
  // allocation; such a model can never run, so it is a load error here.
  if (c.in_channels <= 0) {
    return args.Error("in_channels", absl::StrCat("must be positive, got ", c.in_channels));
  }
  if (c.out_channels <= 0) {
    return args.Error("out_channels", absl::StrCat("must be positive, got ", c.out_channels));
  }
  if (!AllPositive(c.kernel)) {
    return args.Error("kernel_size", absl::StrCat("kernel size should be greater than zero, got ",
                                                  TupleRepr(c.kernel)));
  }
  if (!AllPositive(c.stride)) {
    return args.Error(
        "stride", absl::StrCat("non-positive stride is not supported, got ", TupleRepr(c.stride)));
  }
  if (!AllPositive(c.dilation)) {
    return args.Error("dilation", absl::StrCat("dilation should be greater than zero, got ",
                                               TupleRepr(c.dilation)));
  }
  return c;
}

bool IsBatched(const Shape& in, int spatial_dims) {
  return static_cast<int>(in.size()) == spatial_dims + 2;
}

absl::Status CheckConvInput(const Shape& in, int spatial_dims, int64_t in_channels) {
  const int rank = static_cast<int>(in.size());
  if (rank != spatial_dims + 1 && rank != spatial_dims + 2) {
    return absl::InvalidArgumentError(absl::StrCat("expected ", spatial_dims + 1,
                                                   "D (unbatched) or ", spatial_dims + 2,
                                                   "D (batched) input, got ", ShapeToString(in)));
  }
  const int64_t channels = in[rank - spatial_dims - 1];
  if (channels != in_channels) {
    return absl::InvalidArgumentError(
        absl::StrCat("expected input with ", in_channels, " channels, got ", ShapeToString(in)));
  }
  for (int i = rank - spatial_dims; i < rank; ++i) {
    if (in[i] <= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("expected non-empty spatial dimensions (only the batch may be empty), got ",
                       ShapeToString(in)));
    }
  }
  return absl::OkStatus();
}

dnnl::memory::dims BatchedDims(const Shape& shape, int spatial_dims) {
  if (IsBatched(shape, spatial_dims)) return shape;
  dnnl::memory::dims dims = {1};
  dims.insert(dims.end(), shape.begin(), shape.end());
  return dims;
}

std::vector<int64_t> SpatialDims(const Shape& in, int spatial_dims) {
  return std::vector<int64_t>(in.end() - spatial_dims, in.end());
}

dnnl::memory::format_tag BlockedTag(int spatial_dims) {
  using tag = dnnl::memory::format_tag;
  const auto isa = static_cast<unsigned>(dnnl::get_effective_cpu_isa());
  const auto avx512 = static_cast<unsigned>(dnnl::cpu_isa::avx512_core);
  const bool wide = (isa & avx512) == avx512;
  if (spatial_dims == 1) return wide ? tag::nCw16c : tag::nCw8c;
  if (spatial_dims == 3) return wide ? tag::nCdhw16c : tag::nCdhw8c;
  return wide ? tag::nChw16c : tag::nChw8c;
}

const std::vector<std::string_view>& ConvLayouts() {
  static const std::vector<std::string_view> layouts = {"blocked16", "blocked8", "channels_last"};
  return layouts;
}

std::string_view DefaultConvLayout() {
  return BlockedTag(2) == dnnl::memory::format_tag::nChw16c ? "blocked16" : "blocked8";
}

std::optional<dnnl::memory::format_tag> LayoutTag(std::string_view name, int spatial_dims) {
  using tag = dnnl::memory::format_tag;
  const int i = spatial_dims - 1;
  if (i < 0 || i > 2) return std::nullopt;
  if (name == "blocked16") return std::array{tag::nCw16c, tag::nChw16c, tag::nCdhw16c}[i];
  if (name == "blocked8") return std::array{tag::nCw8c, tag::nChw8c, tag::nCdhw8c}[i];
  if (name == "channels_last") return std::array{tag::nwc, tag::nhwc, tag::ndhwc}[i];
  return std::nullopt;
}

ConvChoice ParseConvChoice(const std::string& choice) {
  ConvChoice parsed{choice, false};
  if (choice.size() > kUnfusedSuffix.size() && choice.ends_with(kUnfusedSuffix)) {
    parsed.layout.resize(choice.size() - kUnfusedSuffix.size());
    parsed.unfused = true;
  }
  return parsed;
}

bool IsConvChoice(const std::string& choice) {
  const ConvChoice parsed = ParseConvChoice(choice);
  if (parsed.layout == kDefaultChoice) return true;
  const std::vector<std::string_view>& layouts = ConvLayouts();
  return std::find(layouts.begin(), layouts.end(), parsed.layout) != layouts.end();
}

KernelFn ActivationEpilogue(const Fusion& fusion, const dnnl::memory::desc& md) {
  // The kernels run over floats: a bf16 dst keeps its activations as post-ops.
  if (fusion.kernels.empty() || md.data_type() != dnnl::memory::data_type::f32 ||
      !IsDenseLayout(md)) {
    return nullptr;
  }
  const bool unpadded = IsUnpaddedLayout(md);
  for (const ActivationKernel& kernel : fusion.kernels) {
    if (!kernel.keeps_zero && !unpadded) return nullptr;
  }
  const int64_t n = static_cast<int64_t>(md.get_size() / sizeof(float));
  return [kernels = fusion.kernels, n](const float* x, float* y, int threads) {
    for (const ActivationKernel& kernel : kernels) {
      kernel.run(x, y, n, threads);
      x = y;
    }
  };
}

void WarnUnavailableChoice(const std::string& layer, const std::string& choice) {
  EngineLog()->warn("{}: the tuned implementation '{}' is not available here; compiling the "
                    "default instead",
                    layer, choice);
}

std::string ConvWeightKey(const PlanBuilder& builder, const Fusion& fusion) {
  if (fusion.affine == nullptr) return builder.current_path();
  return absl::StrCat(builder.current_path(), "+", fusion.affine_path);
}

Tensor FoldedConvBias(const Tensor* bias, int64_t out_channels, const Fusion& fusion) {
  Tensor b({out_channels});
  for (int64_t o = 0; o < out_channels; ++o) {
    const float value = bias != nullptr ? bias->data[o] : 0.f;
    b.data[o] = fusion.affine != nullptr ? value * fusion.affine->scale[o] + fusion.affine->shift[o]
                                         : value;
  }
  return b;
}

}  // namespace seqserve
