#include "core/modules/adaptive_pooling.h"

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/module_args.h"
#include "core/modules/pool_common.h"
#include "core/modules/pool_kernels.h"
#include "common/status_macros.h"

namespace seqserve {
namespace {

struct AdaptiveOptions {
  std::string type;
  PoolKind kind = PoolKind::kAvg;
  // One entry per spatial axis; nullopt keeps the input's size (PyTorch's None).
  std::vector<std::optional<int64_t>> output_size;
  // Besides the spatial dims, ATen rejects an empty channel dim when batched (the max
  // pools, and the 3-d average pool).
  bool nonzero_batched_channels = false;
};

class AdaptivePool : public Module {
 public:
  explicit AdaptivePool(AdaptiveOptions options) : o_(std::move(options)) {}

  std::string_view type() const override { return o_.type; }

  // A maximum or a mean of inputs is no larger than the largest.
  std::optional<MagnitudeBound> OutputBound(const Shape& /*in*/,
                                            const Fusion& /*fusion*/) const override {
    return MagnitudeBound{1, 0};
  }

  absl::StatusOr<Shape> OutputShape(const Shape& in) const override {
    const size_t rank = o_.output_size.size();
    bool ok = in.size() == rank + 1 || in.size() == rank + 2;
    for (size_t i = ok ? in.size() - rank : 0; ok && i < in.size(); ++i) ok = in[i] != 0;
    if (ok && o_.nonzero_batched_channels && in.size() == rank + 2) ok = in[1] != 0;
    if (!ok) {
      std::vector<std::string> names;
      for (size_t a = 0; a < rank; ++a) {
        names.emplace_back(PoolAxisName(static_cast<int>(rank), a));
      }
      std::string expected = absl::StrCat(PoolInputRanks(static_cast<int>(rank)), " with non-zero ");
      if (rank == 1) {
        absl::StrAppend(&expected, names[0]);
      } else {
        absl::StrAppend(&expected, absl::StrJoin(names.begin(), names.end() - 1, ", "), " and ",
                        names.back());
      }
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

  std::optional<Shape> InputDims() const override {
    return Shape(o_.output_size.size() + 1, -1);
  }

  absl::StatusOr<PlanValue> Compile(PlanBuilder& builder, const PlanValue& in,
                                    const Fusion& /*fusion*/) const override {
    SEQ_ASSIGN_OR_RETURN(Shape out_shape, OutputShape(in.shape));
    const size_t rank = o_.output_size.size();
    std::vector<PoolWindows> windows;
    bool uniform = true;
    OneDnnPooling pool;
    pool.algorithm = dnnl::algorithm::pooling_avg_exclude_padding;
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
    // oneDNN's max pooling drops NaN and answers -FLT_MAX for bins of -inf.
    if (uniform && o_.kind == PoolKind::kAvg) return AddOneDnnPooling(builder, in, pool, out_shape);
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

// An int for every axis, or a tuple/list of `rank` entries, each an int or None (2-d and
// 3-d), or an int or a tuple of one int (1-d).
absl::StatusOr<std::vector<std::optional<int64_t>>> OutputSize(const ModuleArgs& args,
                                                               size_t rank) {
  if (rank == 1) {
    SEQ_ASSIGN_OR_RETURN(std::vector<int64_t> size, args.IntTuple("output_size", 1));
    SEQ_RETURN_IF_ERROR(CheckPositive(args, size));
    return std::vector<std::optional<int64_t>>{size[0]};
  }
  const SeqValue& v = args.Get("output_size");
  if (v.kind == SeqValue::Kind::kInt) {
    SEQ_RETURN_IF_ERROR(CheckPositive(args, std::vector<int64_t>(rank, v.int_value)));
    return std::vector<std::optional<int64_t>>(rank, v.int_value);
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
  if (!sequence || sizes.size() != rank || v.items.size() != rank) {
    return args.Error("output_size",
                      absl::StrCat("expected an int or a tuple of ", rank, " ints or Nones, got ",
                                   v.Describe(),
                                   sequence ? absl::StrCat(" of ", v.items.size()) : ""));
  }
  SEQ_RETURN_IF_ERROR(CheckPositive(args, given));
  return sizes;
}

absl::StatusOr<std::unique_ptr<Module>> MakeAdaptive(const SeqCall& call, std::string_view file,
                                                     std::string type, PoolKind kind,
                                                     size_t rank) {
  std::vector<ArgSpec> signature = {Required("output_size")};
  if (kind == PoolKind::kMax) signature.push_back(Default("return_indices", BoolValue(false)));
  SEQ_ASSIGN_OR_RETURN(ModuleArgs args, ModuleArgs::Bind(call, type, signature, file));
  AdaptiveOptions options;
  options.type = std::move(type);
  options.kind = kind;
  options.nonzero_batched_channels = kind == PoolKind::kMax || rank == 3;
  SEQ_ASSIGN_OR_RETURN(options.output_size, OutputSize(args, rank));
  if (kind == PoolKind::kMax) SEQ_RETURN_IF_ERROR(RejectReturnIndices(args));
  return std::make_unique<AdaptivePool>(std::move(options));
}

}  // namespace

absl::StatusOr<std::unique_ptr<Module>> MakeAdaptiveAvgPool1d(const SeqCall& call,
                                                              std::string_view file) {
  return MakeAdaptive(call, file, "AdaptiveAvgPool1d", PoolKind::kAvg, 1);
}

absl::StatusOr<std::unique_ptr<Module>> MakeAdaptiveAvgPool2d(const SeqCall& call,
                                                              std::string_view file) {
  return MakeAdaptive(call, file, "AdaptiveAvgPool2d", PoolKind::kAvg, 2);
}

absl::StatusOr<std::unique_ptr<Module>> MakeAdaptiveAvgPool3d(const SeqCall& call,
                                                              std::string_view file) {
  return MakeAdaptive(call, file, "AdaptiveAvgPool3d", PoolKind::kAvg, 3);
}

absl::StatusOr<std::unique_ptr<Module>> MakeAdaptiveMaxPool1d(const SeqCall& call,
                                                              std::string_view file) {
  return MakeAdaptive(call, file, "AdaptiveMaxPool1d", PoolKind::kMax, 1);
}

absl::StatusOr<std::unique_ptr<Module>> MakeAdaptiveMaxPool2d(const SeqCall& call,
                                                              std::string_view file) {
  return MakeAdaptive(call, file, "AdaptiveMaxPool2d", PoolKind::kMax, 2);
}

absl::StatusOr<std::unique_ptr<Module>> MakeAdaptiveMaxPool3d(const SeqCall& call,
                                                              std::string_view file) {
  return MakeAdaptive(call, file, "AdaptiveMaxPool3d", PoolKind::kMax, 3);
}

}  // namespace seqserve
