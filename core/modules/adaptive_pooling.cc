#include "core/modules/adaptive_pooling.h"

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/module_args.h"
#include "core/modules/pooling.h"
#include "common/status_macros.h"

namespace seqserve {
namespace {

struct AdaptiveOptions {
  std::string type;
  PoolKind kind = PoolKind::kAvg;
  // One entry per spatial axis; nullopt keeps the input's size (PyTorch's None).
  std::vector<std::optional<int64_t>> output_size;
  // adaptive_max_pool2d also rejects an empty channel dim when batched.
  bool nonzero_batched_channels = false;
};

class AdaptivePool : public Module {
 public:
  explicit AdaptivePool(AdaptiveOptions options) : o_(std::move(options)) {}

  std::string_view type() const override { return o_.type; }

  absl::StatusOr<Shape> OutputShape(const Shape& in) const override {
    const size_t rank = o_.output_size.size();
    bool ok = in.size() == rank + 1 || in.size() == rank + 2;
    for (size_t i = ok ? in.size() - rank : 0; ok && i < in.size(); ++i) ok = in[i] != 0;
    if (ok && o_.nonzero_batched_channels && in.size() == rank + 2) ok = in[1] != 0;
    if (!ok) {
      std::string expected =
          rank == 1 ? "2D (C, L) or 3D (N, C, L) input with non-zero L"
                    : "3D (C, H, W) or 4D (N, C, H, W) input with non-zero H and W";
      if (o_.nonzero_batched_channels) absl::StrAppend(&expected, " (and C when batched)");
      return absl::InvalidArgumentError(
          absl::StrCat("expected ", expected, ", got ", ShapeToString(in)));
    }
    Shape out = in;
    for (size_t a = 0; a < rank; ++a) {
      if (o_.output_size[a]) out[in.size() - rank + a] = *o_.output_size[a];
    }
    return out;
  }

  int64_t Flops(const Shape& in) const override {
    absl::StatusOr<Shape> out = OutputShape(in);
    if (!out.ok()) return 0;
    // Every bin reads count[o] elements along each axis: sum over bins of the product.
    const size_t rank = o_.output_size.size();
    int64_t flops = NumElements(in);
    for (size_t a = 0; a < rank; ++a) {
      const size_t d = in.size() - rank + a;
      const PoolWindows w = AdaptiveWindows(in[d], (*out)[d]);
      int64_t taps = 0;
      for (int64_t c : w.count) taps += c;
      flops = flops / in[d] * taps;
    }
    return flops;
  }

  absl::StatusOr<PlanValue> Compile(PlanBuilder& builder, const PlanValue& in,
                                    const Fusion& /*fusion*/) const override {
    SEQ_ASSIGN_OR_RETURN(Shape out_shape, OutputShape(in.shape));
    const size_t rank = o_.output_size.size();
    std::vector<PoolWindows> windows;
    bool uniform = true;
    OneDnnPooling pool;
    pool.algorithm = o_.kind == PoolKind::kMax ? dnnl::algorithm::pooling_max
                                                : dnnl::algorithm::pooling_avg_exclude_padding;
    for (size_t a = 0; a < rank; ++a) {
      const size_t d = in.shape.size() - rank + a;
      const int64_t in_size = in.shape[d];
      const int64_t out_size = out_shape[d];
      windows.push_back(AdaptiveWindows(in_size, out_size));
      uniform = uniform && in_size % out_size == 0;
      const int64_t kernel = uniform ? in_size / out_size : 0;
      pool.kernel.push_back(kernel);
      pool.stride.push_back(kernel);
      pool.dilation.push_back(1);
      pool.padding.push_back(0);
    }
    if (in.shape == out_shape) return in;
    if (uniform) return AddOneDnnPooling(builder, in, pool, out_shape);
    return AddWindowPooling(builder, in, o_.kind, windows, out_shape);
  }

 private:
  AdaptiveOptions o_;
};

absl::Status CheckPositive(const ModuleArgs& args, const std::vector<int64_t>& sizes) {
  for (int64_t size : sizes) {
    if (size < 1) {
      // PyTorch returns an empty tensor for 0; an empty answer is no use to a client.
      return args.Error("output_size",
                        absl::StrCat("elements of output_size must be greater than zero, got (",
                                     absl::StrJoin(sizes, ", "), ")"));
    }
  }
  return absl::OkStatus();
}

// An int for both axes, or a tuple/list of two entries, each an int or None.
absl::StatusOr<std::vector<std::optional<int64_t>>> OutputSize2d(const ModuleArgs& args) {
  const SeqValue& v = args.Get("output_size");
  if (v.kind == SeqValue::Kind::kInt) {
    SEQ_RETURN_IF_ERROR(CheckPositive(args, {v.int_value, v.int_value}));
    return std::vector<std::optional<int64_t>>(2, v.int_value);
  }
  const bool sequence = v.kind == SeqValue::Kind::kTuple || v.kind == SeqValue::Kind::kList;
  std::vector<std::optional<int64_t>> sizes;
  std::vector<int64_t> given;
  for (const SeqValue& item : sequence ? v.items : std::vector<SeqValue>{}) {
    if (item.kind == SeqValue::Kind::kInt) {
      sizes.emplace_back(item.int_value);
      given.push_back(item.int_value);
    } else if (item.kind == SeqValue::Kind::kNone) {
      sizes.emplace_back(std::nullopt);
    } else {
      sizes.clear();
      break;
    }
  }
  if (!sequence || sizes.size() != 2 || v.items.size() != 2) {
    return args.Error("output_size",
                      absl::StrCat("expected an int or a tuple of 2 ints or Nones, got ",
                                   v.Describe(),
                                   sequence ? absl::StrCat(" of ", v.items.size()) : ""));
  }
  SEQ_RETURN_IF_ERROR(CheckPositive(args, given));
  return sizes;
}

absl::StatusOr<std::unique_ptr<Module>> MakeAdaptive2d(const SeqCall& call, std::string_view file,
                                                       std::string type, PoolKind kind) {
  std::vector<ArgSpec> signature = {Required("output_size")};
  if (kind == PoolKind::kMax) signature.push_back(Default("return_indices", BoolValue(false)));
  SEQ_ASSIGN_OR_RETURN(ModuleArgs args, ModuleArgs::Bind(call, type, signature, file));
  AdaptiveOptions options;
  options.type = std::move(type);
  options.kind = kind;
  options.nonzero_batched_channels = kind == PoolKind::kMax;
  SEQ_ASSIGN_OR_RETURN(options.output_size, OutputSize2d(args));
  if (kind == PoolKind::kMax) {
    SEQ_ASSIGN_OR_RETURN(bool return_indices, args.Bool("return_indices"));
    if (return_indices) {
      return args.Error("return_indices",
                        "return_indices=True makes the module return (output, indices), which "
                        "a Sequential cannot pass to the next module");
    }
  }
  return std::make_unique<AdaptivePool>(std::move(options));
}

}  // namespace

absl::StatusOr<std::unique_ptr<Module>> MakeAdaptiveAvgPool1d(const SeqCall& call,
                                                              std::string_view file) {
  SEQ_ASSIGN_OR_RETURN(ModuleArgs args, ModuleArgs::Bind(call, "AdaptiveAvgPool1d",
                                                         {Required("output_size")}, file));
  SEQ_ASSIGN_OR_RETURN(std::vector<int64_t> size, args.IntTuple("output_size", 1));
  SEQ_RETURN_IF_ERROR(CheckPositive(args, size));
  AdaptiveOptions options;
  options.type = "AdaptiveAvgPool1d";
  options.kind = PoolKind::kAvg;
  options.output_size = {size[0]};
  return std::make_unique<AdaptivePool>(std::move(options));
}

absl::StatusOr<std::unique_ptr<Module>> MakeAdaptiveAvgPool2d(const SeqCall& call,
                                                              std::string_view file) {
  return MakeAdaptive2d(call, file, "AdaptiveAvgPool2d", PoolKind::kAvg);
}

absl::StatusOr<std::unique_ptr<Module>> MakeAdaptiveMaxPool2d(const SeqCall& call,
                                                              std::string_view file) {
  return MakeAdaptive2d(call, file, "AdaptiveMaxPool2d", PoolKind::kMax);
}

}  // namespace seqserve
