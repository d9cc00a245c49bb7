#include "core/modules/pooling.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/module_args.h"
#include "core/modules/pool_common.h"
#include "core/modules/pool_kernels.h"
#include "common/status_macros.h"

namespace seqserve {
namespace {

struct PoolOptions {
  std::string type;
  PoolKind kind = PoolKind::kMax;
  PoolGeometry g;
  bool count_include_pad = true;
  std::optional<int64_t> divisor_override;
};

class Pool : public Module {
 public:
  explicit Pool(PoolOptions options) : o_(std::move(options)) {}

  std::string_view type() const override { return o_.type; }

  absl::StatusOr<Shape> OutputShape(const Shape& in) const override {
    return PoolOutputShape(in, o_.g, /*input_at_least_kernel=*/o_.type == "AvgPool3d");
  }

  int64_t Flops(const Shape& in) const override {
    absl::StatusOr<Shape> out = OutputShape(in);
    if (!out.ok()) return 0;
    int64_t taps = 1;
    for (int64_t k : o_.g.kernel) taps *= k;
    return NumElements(*out) * taps;
  }

  std::optional<Shape> InputDims() const override { return Shape(o_.g.rank + 1, -1); }

  // The maximum of quantised values is the quantised maximum.
  bool PassesInt8Through(const Shape& /*in*/) const override { return o_.kind == PoolKind::kMax; }

  // A maximum or a mean of inputs is no larger than the largest; a sum divided by a
  // divisor_override smaller than the window is up to taps / divisor times larger.
  std::optional<MagnitudeBound> OutputBound(const Shape& /*in*/,
                                            const Fusion& /*fusion*/) const override {
    double gain = 1;
    if (o_.kind != PoolKind::kMax && o_.divisor_override) {
      double taps = 1;
      for (int64_t k : o_.g.kernel) taps *= static_cast<double>(k);
      gain = std::max(1.0, taps / std::fabs(static_cast<double>(*o_.divisor_override)));
    }
    return MagnitudeBound{gain, 0};
  }

  absl::StatusOr<PlanValue> Compile(PlanBuilder& builder, const PlanValue& in,
                                    const Fusion& /*fusion*/) const override {
    SEQ_ASSIGN_OR_RETURN(Shape out_shape, OutputShape(in.shape));
    const PoolGeometry& g = o_.g;
    const size_t rank = static_cast<size_t>(g.rank);
    std::vector<PoolWindows> windows;
    bool clipped_edge = false;  // a ceil_mode window ends beyond the right padding
    for (size_t a = 0; a < rank; ++a) {
      const size_t d = in.shape.size() - rank + a;
      windows.push_back(FixedWindows(in.shape[d], out_shape[d], g.kernel[a], g.stride[a],
                                     g.padding[a], g.dilation[a], o_.count_include_pad));
      clipped_edge = clipped_edge || (out_shape[d] - 1) * g.stride[a] + g.kernel[a] >
                                         in.shape[d] + 2 * g.padding[a];
    }
    if (o_.kind == PoolKind::kMax && IsInt8(in.md.data_type())) {
      // 8-bit values of an int8 plan (no NaN or Inf there): oneDNN's max pooling, on the grid.
      return AddOneDnnPooling(builder, in,
                              OneDnnPooling{dnnl::algorithm::pooling_max, g.kernel, g.stride,
                                            g.dilation, g.padding, {}},
                              out_shape);
    }
    // oneDNN's max pooling drops NaN and answers -FLT_MAX for windows of -inf.
    if (o_.kind == PoolKind::kMax) return AddWindowPooling(builder, in, o_.kind, windows, out_shape);

    OneDnnPooling pool{dnnl::algorithm::pooling_avg_include_padding, g.kernel, g.stride,
                       g.dilation, g.padding, {}};
    if (o_.divisor_override) {
      // oneDNN divides the sum by the kernel's size; PyTorch by the override.
      int64_t taps = 1;
      for (int64_t k : g.kernel) taps *= k;
      pool.post_ops.push_back({dnnl::algorithm::eltwise_linear,
                               static_cast<float>(taps) / static_cast<float>(*o_.divisor_override),
                               0.f});
    } else if (!o_.count_include_pad) {
      pool.algorithm = dnnl::algorithm::pooling_avg_exclude_padding;
    } else if (clipped_edge) {
      return AddWindowPooling(builder, in, o_.kind, windows, out_shape);
    }
    return AddOneDnnPooling(builder, in, pool, out_shape);
  }

 private:
  PoolOptions o_;
};

absl::StatusOr<std::unique_ptr<Module>> MakeMaxPool(const SeqCall& call, std::string_view file,
                                                    std::string type, int rank) {
  SEQ_ASSIGN_OR_RETURN(
      ModuleArgs args,
      ModuleArgs::Bind(call, type,
                       {Required("kernel_size"), Default("stride", NoneValue()),
                        Default("padding", IntValue(0)), Default("dilation", IntValue(1)),
                        Default("return_indices", BoolValue(false)),
                        Default("ceil_mode", BoolValue(false))},
                       file));
  SEQ_RETURN_IF_ERROR(RejectReturnIndices(args));
  PoolOptions options;
  options.type = std::move(type);
  options.kind = PoolKind::kMax;
  SEQ_ASSIGN_OR_RETURN(options.g, ReadPoolGeometry(args, options.type, rank,
                                                   /*has_padding=*/true, /*has_dilation=*/true));
  return std::make_unique<Pool>(std::move(options));
}

absl::StatusOr<std::unique_ptr<Module>> MakeAvgPool(const SeqCall& call, std::string_view file,
                                                    std::string type, int rank) {
  std::vector<ArgSpec> signature = {Required("kernel_size"), Default("stride", NoneValue()),
                                    Default("padding", IntValue(0)),
                                    Default("ceil_mode", BoolValue(false)),
                                    Default("count_include_pad", BoolValue(true))};
  // AvgPool1d has no divisor_override.
  if (rank > 1) signature.push_back(Default("divisor_override", NoneValue()));
  SEQ_ASSIGN_OR_RETURN(ModuleArgs args, ModuleArgs::Bind(call, type, signature, file));
  PoolOptions options;
  options.type = std::move(type);
  options.kind = PoolKind::kAvg;
  SEQ_ASSIGN_OR_RETURN(options.count_include_pad, args.Bool("count_include_pad"));
  if (rank > 1 && !args.IsNone("divisor_override")) {
    SEQ_ASSIGN_OR_RETURN(int64_t divisor, args.Int("divisor_override"));
    if (divisor == 0) return args.Error("divisor_override", "divisor must be not zero");
    options.divisor_override = divisor;
  }
  SEQ_ASSIGN_OR_RETURN(options.g, ReadPoolGeometry(args, options.type, rank,
                                                   /*has_padding=*/true, /*has_dilation=*/false));
  return std::make_unique<Pool>(std::move(options));
}

}  // namespace

absl::StatusOr<std::unique_ptr<Module>> MakeMaxPool1d(const SeqCall& call, std::string_view file) {
  return MakeMaxPool(call, file, "MaxPool1d", 1);
}

absl::StatusOr<std::unique_ptr<Module>> MakeMaxPool2d(const SeqCall& call, std::string_view file) {
  return MakeMaxPool(call, file, "MaxPool2d", 2);
}

absl::StatusOr<std::unique_ptr<Module>> MakeMaxPool3d(const SeqCall& call, std::string_view file) {
  return MakeMaxPool(call, file, "MaxPool3d", 3);
}

absl::StatusOr<std::unique_ptr<Module>> MakeAvgPool1d(const SeqCall& call, std::string_view file) {
  return MakeAvgPool(call, file, "AvgPool1d", 1);
}

absl::StatusOr<std::unique_ptr<Module>> MakeAvgPool2d(const SeqCall& call, std::string_view file) {
  return MakeAvgPool(call, file, "AvgPool2d", 2);
}

absl::StatusOr<std::unique_ptr<Module>> MakeAvgPool3d(const SeqCall& call, std::string_view file) {
  return MakeAvgPool(call, file, "AvgPool3d", 3);
}

}  // namespace seqserve
