#include "core/modules/pool_common.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "core/modules/pool_kernels.h"

namespace seqserve {

absl::StatusOr<std::vector<int64_t>> PoolAxisInts(const ModuleArgs& args, std::string_view name,
                                                  int rank) {
  const SeqValue& v = args.Get(name);
  const bool sequence = v.kind == SeqValue::Kind::kTuple || v.kind == SeqValue::Kind::kList;
  if (sequence && v.items.size() == 1 && v.items[0].kind == SeqValue::Kind::kInt) {
    return std::vector<int64_t>(static_cast<size_t>(rank), v.items[0].int_value);
  }
  return args.IntTuple(name, rank);
}

std::string PerAxis(const std::vector<int64_t>& values, std::string_view prefix) {
  std::string text;
  const char* axes[] = {"T", "H", "W"};
  const size_t skip = 3 - values.size();
  for (size_t a = 0; a < values.size(); ++a) {
    absl::StrAppend(&text, a == 0 ? "" : " ", std::string(prefix), axes[a + skip], ": ",
                    values[a]);
  }
  return text;
}

std::string_view PoolAxisName(int rank, size_t axis) {
  static constexpr std::string_view kNames[] = {"D", "H", "W"};
  if (rank == 1) return "L";
  return kNames[axis + 3 - static_cast<size_t>(rank)];
}

std::string PoolInputRanks(int rank) {
  switch (rank) {
    case 1: return "2D (C, L) or 3D (N, C, L) input";
    case 2: return "3D (C, H, W) or 4D (N, C, H, W) input";
    default: return "4D (C, D, H, W) or 5D (N, C, D, H, W) input";
  }
}

namespace {

bool AnyBelow(const std::vector<int64_t>& values, int64_t bound) {
  return std::any_of(values.begin(), values.end(), [&](int64_t v) { return v < bound; });
}

}  // namespace

absl::StatusOr<PoolGeometry> ReadPoolGeometry(const ModuleArgs& args, std::string_view type,
                                              int rank, bool has_padding, bool has_dilation) {
  PoolGeometry g;
  g.rank = rank;
  SEQ_ASSIGN_OR_RETURN(g.kernel, PoolAxisInts(args, "kernel_size", rank));
  const SeqValue& stride = args.Get("stride");
  const bool empty_stride = (stride.kind == SeqValue::Kind::kTuple ||
                             stride.kind == SeqValue::Kind::kList) &&
                            stride.items.empty();
  if (args.IsNone("stride") || empty_stride) {
    g.stride = g.kernel;
  } else {
    SEQ_ASSIGN_OR_RETURN(g.stride, PoolAxisInts(args, "stride", rank));
  }
  g.padding.assign(static_cast<size_t>(rank), 0);
  if (has_padding) {
    SEQ_ASSIGN_OR_RETURN(g.padding, PoolAxisInts(args, "padding", rank));
  }
  g.dilation.assign(static_cast<size_t>(rank), 1);
  if (has_dilation) {
    SEQ_ASSIGN_OR_RETURN(g.dilation, PoolAxisInts(args, "dilation", rank));
  }
  SEQ_ASSIGN_OR_RETURN(g.ceil_mode, args.Bool("ceil_mode"));

  if (AnyBelow(g.kernel, 1)) {
    return args.Error("kernel_size", absl::StrCat("kernel size should be greater than zero, "
                                                  "but got ", PerAxis(g.kernel, "k")));
  }
  if (AnyBelow(g.stride, 1)) {
    return args.Error("stride", absl::StrCat("stride should be greater than zero, but got ",
                                             PerAxis(g.stride, "d")));
  }
  if (AnyBelow(g.dilation, 1)) {
    return args.Error("dilation", absl::StrCat("dilation should be greater than zero, but got ",
                                               PerAxis(g.dilation, "dilation")));
  }
  for (size_t a = 0; a < g.padding.size(); ++a) {
    const int64_t pad = g.padding[a];
    const int64_t kernel = g.kernel[a];
    const int64_t dilation = g.dilation[a];
    if (pad < 0) {
      return args.Error("padding", absl::StrCat("pad must be non-negative, but got pad: ", pad));
    }
    if (type == "MaxPool1d" && pad > kernel / 2) {
      // max_pool1d's own check ignores the dilation.
      return args.Error("padding",
                        absl::StrCat("padding should be at most half of kernel size, but got "
                                     "padding=", pad, " and kernel_size=", kernel));
    }
    if (pad > ((kernel - 1) * dilation + 1) / 2) {
      return args.Error("padding",
                        absl::StrCat("pad should be at most half of effective kernel size, but "
                                     "got pad=", pad, ", kernel_size=", kernel,
                                     " and dilation=", dilation));
    }
    if (rank == 3 && pad > kernel / 2) {
      // pool3d_shape_check's own check, again without the dilation.
      return args.Error("padding", absl::StrCat("pad should be at most half of kernel size (its "
                                                "dilation aside), but got pad=",
                                                pad, ", kernel_size=", kernel,
                                                " and dilation=", dilation));
    }
  }
  return g;
}

absl::StatusOr<Shape> PoolOutputShape(const Shape& in, const PoolGeometry& g,
                                      bool input_at_least_kernel) {
  const size_t rank = static_cast<size_t>(g.rank);
  bool ok = in.size() == rank + 1 || in.size() == rank + 2;
  // PyTorch allows an empty batch, but no other empty dim.
  for (size_t i = in.size() == rank + 2 ? 1 : 0; ok && i < in.size(); ++i) ok = in[i] != 0;
  if (!ok) {
    std::vector<std::string> names = {"C"};
    for (size_t a = 0; a < rank; ++a) names.emplace_back(PoolAxisName(g.rank, a));
    return absl::InvalidArgumentError(absl::StrCat(
        "expected ", PoolInputRanks(g.rank), " with non-zero ",
        absl::StrJoin(names.begin(), names.end() - 1, ", "), " and ", names.back(), ", got ",
        ShapeToString(in)));
  }
  if (input_at_least_kernel) {
    for (size_t a = 0; a < rank; ++a) {
      if (in[in.size() - rank + a] < g.kernel[a]) {
        return absl::InvalidArgumentError(absl::StrCat(
            "expected an input at least as large as the kernel (", PerAxis(g.kernel, "k"),
            ") before padding, got ", ShapeToString(in)));
      }
    }
  }
  Shape out = in;
  bool too_small = false;
  std::vector<std::string> minimum;
  for (size_t a = 0; a < rank; ++a) {
    const size_t d = in.size() - rank + a;
    out[d] = PoolOutputSize(in[d], g.kernel[a], g.stride[a], g.padding[a], g.dilation[a],
                            g.ceil_mode);
    too_small = too_small || out[d] < 1;
    int64_t min_in = 1;
    while (PoolOutputSize(min_in, g.kernel[a], g.stride[a], g.padding[a], g.dilation[a],
                          g.ceil_mode) < 1) {
      ++min_in;
    }
    minimum.push_back(absl::StrCat(std::string(PoolAxisName(g.rank, a)), " >= ", min_in));
  }
  if (too_small) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Output size is too small: expected an input with ", absl::StrJoin(minimum, " and "),
        ", got ", ShapeToString(in), " (calculated output size ", ShapeToString(out), ")"));
  }
  return out;
}

absl::Status RejectReturnIndices(const ModuleArgs& args) {
  SEQ_ASSIGN_OR_RETURN(bool return_indices, args.Bool("return_indices"));
  if (return_indices) {
    return args.Error("return_indices",
                      "return_indices=True makes the module return (output, indices), which a "
                      "Sequential cannot pass to the next module");
  }
  return absl::OkStatus();
}

}  // namespace seqserve
