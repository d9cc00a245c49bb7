#include "core/modules/softmax.h"

#include <cstdint>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/module_args.h"
#include "core/modules/reshape.h"
#include "core/modules/softmax_kernels.h"
#include "common/status_macros.h"

namespace seqserve {
namespace {

enum class Kind { kSoftmax, kLogSoftmax, kSoftmin, kSoftmax2d };

std::string_view KindName(Kind kind) {
  switch (kind) {
    case Kind::kSoftmax: return "Softmax";
    case Kind::kLogSoftmax: return "LogSoftmax";
    case Kind::kSoftmin: return "Softmin";
    case Kind::kSoftmax2d: return "Softmax2d";
  }
  return "";
}

// The channel block size when `md` is a Conv's channel-blocked layout (nCw16c, nChw8c, ...)
// of a (N, C, *) value, dense, with channels on md dim `axis` == 1; else 0.
int64_t ChannelBlock(const dnnl::memory::desc& md, int axis) {
  const dnnl_memory_desc_t& d = md.data;
  if (axis != 1 || d.ndims < 2 || d.format_kind != dnnl_blocked || d.data_type != dnnl_f32 ||
      d.offset0 != 0) {
    return 0;
  }
  const dnnl_blocking_desc_t& blocking = d.format_desc.blocking;
  if (blocking.inner_nblks != 1 || blocking.inner_idxs[0] != 1 || blocking.inner_blks[0] % 4 != 0) {
    return 0;
  }
  const int64_t block = blocking.inner_blks[0];
  // Strides: batch, channel block, then the spatial dims row-major, each times the block.
  int64_t expected = block;
  for (int i = d.ndims - 1; i >= 2; --i) {
    if (d.padded_dims[i] != d.dims[i]) return 0;
    if (d.dims[i] != 1 && blocking.strides[i] != expected) return 0;
    expected *= d.dims[i];
  }
  if (d.dims[1] != 1 && blocking.strides[1] != expected) return 0;
  expected *= d.padded_dims[1] / block;
  if (d.dims[0] != 1 && blocking.strides[0] != expected) return 0;
  return block;
}

class Softmax : public Module {
 public:
  // `dim`: nullopt for PyTorch's legacy implicit choice (Softmax2d: always -3).
  Softmax(Kind kind, std::optional<int64_t> dim) : kind_(kind), dim_(dim) {}

  std::string_view type() const override { return KindName(kind_); }

  absl::StatusOr<Shape> OutputShape(const Shape& in) const override {
    SEQ_RETURN_IF_ERROR(Axis(in).status());
    return in;
  }

  std::optional<std::string> MixesAlongDim0(const Shape& in) const override {
    absl::StatusOr<int> axis = Axis(in);
    if (!axis.ok() || *axis != 0 || in.empty()) return std::nullopt;
    return absl::StrCat("it normalises across dim 0 of its input ", ShapeToString(in),
                        dim_.has_value() ? "" : " (PyTorch's implicit dim for this rank)");
  }

  // Per element: max, subtract, exp, sum, then normalise (multiply, or subtract the log),
  // plus the negation of Softmin.
  int64_t Flops(const Shape& in) const override {
    return (kind_ == Kind::kSoftmin ? 6 : 5) * NumElements(in);
  }

  absl::StatusOr<PlanValue> Compile(PlanBuilder& builder, const PlanValue& in,
                                    const Fusion& /*fusion*/) const override {
    SEQ_ASSIGN_OR_RETURN(int axis, Axis(in.shape));
    if (NumElements(in.shape) == 0) return in;  // nothing to normalise
    const bool log = kind_ == Kind::kLogSoftmax;
    const float sign = kind_ == Kind::kSoftmin ? -1.f : 1.f;
    const int rank = static_cast<int>(in.shape.size());
    // A Conv's blocked output, normalised over its channels: in place, no reorder. (An
    // unbatched value's md carries an extra leading unit dim.)
    const int md_axis = rank == 0 ? 0 : axis + in.md.data.ndims - rank;
    if (const int64_t block = ChannelBlock(in.md, md_axis); block > 0) {
      const dnnl::memory::dims dims = in.md.dims();
      int64_t positions = 1;
      for (size_t d = 2; d < dims.size(); ++d) positions *= dims[d];
      PlanValue dst = builder.InPlace(in);
      builder.AddKernel(BlockedChannelSoftmaxKernel(log, sign, dims[0], dims[1], block, positions),
                        in, dst);
      return dst;
    }
    PlanValue src = builder.Plain(in);
    PlanValue dst = builder.InPlace(src);
    int64_t outer = 1;
    int64_t inner = 1;
    for (int d = 0; d < axis; ++d) outer *= in.shape[d];
    for (int d = axis + 1; d < rank; ++d) inner *= in.shape[d];
    const int64_t n = rank == 0 ? 1 : in.shape[axis];
    builder.AddKernel(SoftmaxKernel(log, sign, outer, n, inner), src, dst);
    return dst;
  }

 private:
  absl::StatusOr<int> Axis(const Shape& in) const {
    const int rank = static_cast<int>(in.size());
    if (kind_ == Kind::kSoftmax2d && rank != 3 && rank != 4) {
      return absl::InvalidArgumentError(absl::StrCat("expected input to be 3D or 4D, got ", rank,
                                                     "D input ", ShapeToString(in), " instead"));
    }
    // torch.nn.functional._get_softmax_dim (PyTorch warns that it is deprecated).
    const int64_t dim = dim_.value_or(rank == 0 || rank == 1 || rank == 3 ? 0 : 1);
    absl::StatusOr<int> axis = WrapDimOrError(dim, rank, /*wrap_scalar=*/true);
    if (!axis.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(axis.status().message(), " for input of shape ", ShapeToString(in)));
    }
    return axis;
  }

  Kind kind_;
  std::optional<int64_t> dim_;
};

// Softmax, LogSoftmax, Softmin: (dim=None).
absl::StatusOr<std::unique_ptr<Module>> MakeSoftmaxLike(const SeqCall& call, std::string_view file,
                                                        Kind kind) {
  SEQ_ASSIGN_OR_RETURN(ModuleArgs args, ModuleArgs::Bind(call, KindName(kind),
                                                         {Default("dim", NoneValue())}, file));
  std::optional<int64_t> dim;
  if (!args.IsNone("dim")) {
    SEQ_ASSIGN_OR_RETURN(dim, args.Int("dim"));
  }
  return std::make_unique<Softmax>(kind, dim);
}

}  // namespace

absl::StatusOr<std::unique_ptr<Module>> MakeSoftmax(const SeqCall& call, std::string_view file) {
  return MakeSoftmaxLike(call, file, Kind::kSoftmax);
}

absl::StatusOr<std::unique_ptr<Module>> MakeLogSoftmax(const SeqCall& call, std::string_view file) {
  return MakeSoftmaxLike(call, file, Kind::kLogSoftmax);
}

absl::StatusOr<std::unique_ptr<Module>> MakeSoftmin(const SeqCall& call, std::string_view file) {
  return MakeSoftmaxLike(call, file, Kind::kSoftmin);
}

// Softmax2d(): softmax over the channels (dim -3) of a (C, H, W) or (N, C, H, W) input.
absl::StatusOr<std::unique_ptr<Module>> MakeSoftmax2d(const SeqCall& call, std::string_view file) {
  SEQ_RETURN_IF_ERROR(ModuleArgs::Bind(call, "Softmax2d", {}, file).status());
  return std::make_unique<Softmax>(Kind::kSoftmax2d, -3);
}

}  // namespace seqserve
