#include "core/modules/embedding.h"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/module_args.h"
#include "core/parallel.h"
#include "common/status_macros.h"

namespace seqserve {
namespace {

using Table = std::shared_ptr<const std::vector<float>>;

// Parallel chunks of at least ~16K copied floats: below that threads cost more than they save.
constexpr int64_t kMinChunkFloats = 16384;

int64_t MinChunk(int64_t floats_per_item) {
  return std::max<int64_t>(1, kMinChunkFloats / std::max<int64_t>(floats_per_item, 1));
}

// Lowers `first` to `position` if that is smaller: chunks report their first bad id, and the
// smallest position wins, so the error names the same id whatever the thread count.
void RecordFirst(std::atomic<int64_t>& first, int64_t position) {
  int64_t current = first.load(std::memory_order_relaxed);
  while (position < current &&
         !first.compare_exchange_weak(current, position, std::memory_order_relaxed)) {
  }
}

// Whether `id` indexes a table of `num` rows; negative ids wrap to huge unsigned values.
template <typename Id>
bool InRange(Id id, int64_t num) {
  return static_cast<uint64_t>(id) < static_cast<uint64_t>(num);
}

// "id 1000 at position [0, 5] is out of range: num_embeddings is 1000, so ids must be in
// [0, 999]".
template <typename Id>
absl::Status OutOfRange(const Id* ids, int64_t position, const Shape& shape, int64_t num) {
  Shape index(shape.size());
  int64_t rest = position;
  for (size_t d = shape.size(); d-- > 0;) {
    index[d] = rest % shape[d];
    rest /= shape[d];
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "id ", static_cast<int64_t>(ids[position]), " at position ", ShapeToString(index),
      " of the input is out of range: num_embeddings is ", num,
      num > 0 ? absl::StrCat(", so ids must be in [0, ", num - 1, "]")
              : std::string(", so no id is valid")));
}

// out[r, :] = table[ids[r], :] for the `count` ids.
template <typename Id>
absl::Status Gather(const Id* ids, const Shape& shape, const float* table, int64_t num,
                    int64_t dim, float* out, int threads) {
  const int64_t count = NumElements(shape);
  std::atomic<int64_t> first_bad{count};
  ParallelFor(
      count, threads,
      [&](int64_t begin, int64_t end) {
        for (int64_t r = begin; r < end; ++r) {
          const Id id = ids[r];
          if (!InRange(id, num)) {
            RecordFirst(first_bad, r);
            return;
          }
          if (dim > 0) {
            std::memcpy(out + r * dim, table + static_cast<int64_t>(id) * dim, dim * sizeof(float));
          }
        }
      },
      MinChunk(dim));
  if (first_bad.load() < count) return OutOfRange(ids, first_bad.load(), shape, num);
  return absl::OkStatus();
}

enum class BagMode { kSum, kMean, kMax };

// out[b, :] = the reduction of table[ids[b, j], :] over the ids of bag b that are not
// `padding_idx` (-1: none); a bag with no such id gives zeros, as in PyTorch.
template <typename Id>
absl::Status ReduceBags(const Id* ids, const Shape& shape, const float* table, int64_t num,
                        int64_t dim, BagMode mode, int64_t padding_idx, float* out, int threads) {
  const int64_t bags = shape[0];
  const int64_t n = shape[1];
  std::atomic<int64_t> first_bad{bags * n};
  ParallelFor(
      bags, threads,
      [&](int64_t begin, int64_t end) {
        for (int64_t b = begin; b < end; ++b) {
          float* o = out + b * dim;
          int64_t used = 0;
          for (int64_t j = 0; j < n; ++j) {
            const Id id = ids[b * n + j];
            if (!InRange(id, num)) {
              RecordFirst(first_bad, b * n + j);
              return;
            }
            if (static_cast<int64_t>(id) == padding_idx) continue;
            const float* row = table + static_cast<int64_t>(id) * dim;
            if (used == 0) {
              if (dim > 0) std::memcpy(o, row, dim * sizeof(float));
            } else if (mode == BagMode::kMax) {
              for (int64_t k = 0; k < dim; ++k) o[k] = std::max(o[k], row[k]);
            } else {
              for (int64_t k = 0; k < dim; ++k) o[k] += row[k];
            }
            ++used;
          }
          if (used == 0) {
            std::fill(o, o + dim, 0.f);
          } else if (mode == BagMode::kMean) {
            const float size = static_cast<float>(used);
            for (int64_t k = 0; k < dim; ++k) o[k] /= size;
          }
        }
      },
      MinChunk(n * dim));
  if (first_bad.load() < bags * n) return OutOfRange(ids, first_bad.load(), shape, num);
  return absl::OkStatus();
}

absl::Status ExpectIds(const PlanValue& in) {
  if (in.dtype == DType::kFloat32) {
    return absl::InvalidArgumentError(
        "expected int64 or int32 ids (as the model's input), got float32");
  }
  return absl::OkStatus();
}

// The weight table, its size, and what both modules share.
class EmbeddingBase : public Module {
 public:
  EmbeddingBase(int64_t num, int64_t dim) : num_(num), dim_(dim) {}

  std::vector<ParamSpec> params() const override { return {{"weight", {num_, dim_}}}; }

  absl::Status SetParams(ParamMap params) override {
    // Shared with the plans' kernels, which may outlive this module.
    table_ = std::make_shared<const std::vector<float>>(std::move(params["weight"].data));
    return absl::OkStatus();
  }

  std::vector<DType> InputDTypes() const override { return {DType::kInt64, DType::kInt32}; }
  std::optional<int64_t> NumInputIds() const override { return num_; }
  // A sequence of ids of any length.
  std::optional<Shape> InputDims() const override { return Shape{-1}; }

 protected:
  int64_t num_;
  int64_t dim_;
  Table table_;
};

class Embedding : public EmbeddingBase {
 public:
  using EmbeddingBase::EmbeddingBase;

  std::string_view type() const override { return "Embedding"; }

  absl::StatusOr<Shape> OutputShape(const Shape& in) const override {
    Shape out = in;
    out.push_back(dim_);
    return out;
  }

  absl::StatusOr<PlanValue> Compile(PlanBuilder& builder, const PlanValue& in,
                                    const Fusion& /*fusion*/) const override {
    SEQ_RETURN_IF_ERROR(ExpectIds(in));
    SEQ_ASSIGN_OR_RETURN(Shape out_shape, OutputShape(in.shape));
    PlanValue dst = builder.NewValue(out_shape, PlainDesc(out_shape));
    auto kernel = [shape = in.shape, dtype = in.dtype, table = table_, num = num_, dim = dim_](
                      const void* src, float* out, int threads) {
      if (dtype == DType::kInt64) {
        return Gather(static_cast<const int64_t*>(src), shape, table->data(), num, dim, out,
                      threads);
      }
      return Gather(static_cast<const int32_t*>(src), shape, table->data(), num, dim, out,
                    threads);
    };
    builder.AddInputKernel(std::move(kernel), in, dst);
    return dst;
  }
};

class EmbeddingBag : public EmbeddingBase {
 public:
  EmbeddingBag(int64_t num, int64_t dim, BagMode mode, std::optional<int64_t> padding_idx)
      : EmbeddingBase(num, dim), mode_(mode), padding_idx_(padding_idx) {}

  std::string_view type() const override { return "EmbeddingBag"; }

  absl::StatusOr<Shape> OutputShape(const Shape& in) const override {
    if (in.size() == 1) {
      return absl::InvalidArgumentError(absl::StrCat(
          "expected 2-D input (B, N), B bags of N ids, got ", ShapeToString(in),
          ": 1-D input needs offsets, which a Sequential cannot pass"));
    }
    if (in.size() != 2) {
      return absl::InvalidArgumentError(absl::StrCat(
          "expected 2-D input (B, N), B bags of N ids, got ", ShapeToString(in)));
    }
    if (in[1] == 0) {
      // PyTorch fails here too: torch.arange(0, numel, 0) raises "step must be nonzero".
      return absl::InvalidArgumentError(
          absl::StrCat("expected bags of at least one id, got input of shape ", ShapeToString(in)));
    }
    return Shape{in[0], dim_};
  }

  // Per bag: an add (or compare) per id and element, and a divide per element for mean.
  int64_t Flops(const Shape& in) const override {
    if (in.size() != 2) return 0;
    return in[0] * dim_ * (in[1] + (mode_ == BagMode::kMean ? 1 : 0));
  }

  absl::StatusOr<PlanValue> Compile(PlanBuilder& builder, const PlanValue& in,
                                    const Fusion& /*fusion*/) const override {
    SEQ_RETURN_IF_ERROR(ExpectIds(in));
    SEQ_ASSIGN_OR_RETURN(Shape out_shape, OutputShape(in.shape));
    PlanValue dst = builder.NewValue(out_shape, PlainDesc(out_shape));
    auto kernel = [shape = in.shape, dtype = in.dtype, table = table_, num = num_, dim = dim_,
                   mode = mode_, padding = padding_idx_.value_or(-1)](const void* src, float* out,
                                                                      int threads) {
      if (dtype == DType::kInt64) {
        return ReduceBags(static_cast<const int64_t*>(src), shape, table->data(), num, dim, mode,
                          padding, out, threads);
      }
      return ReduceBags(static_cast<const int32_t*>(src), shape, table->data(), num, dim, mode,
                        padding, out, threads);
    };
    builder.AddInputKernel(std::move(kernel), in, dst);
    return dst;
  }

 private:
  BagMode mode_;
  std::optional<int64_t> padding_idx_;  // wrapped into [0, num_embeddings)
};

// The sizes, as torch.empty((num_embeddings, embedding_dim)) checks them.
absl::Status CheckSizes(const ModuleArgs& args, int64_t num, int64_t dim) {
  for (const auto& [name, value] : {std::pair{"num_embeddings", num}, {"embedding_dim", dim}}) {
    if (value < 0) {
      return args.Error(name, absl::StrCat("Trying to create tensor with negative dimension ",
                                           value, ": [", num, ", ", dim, "]"));
    }
  }
  return absl::OkStatus();
}

// padding_idx as PyTorch's constructor checks and wraps it (-1 is the last row).
absl::StatusOr<std::optional<int64_t>> PaddingIdx(const ModuleArgs& args, int64_t num,
                                                  std::string_view message) {
  if (args.IsNone("padding_idx")) return std::nullopt;
  SEQ_ASSIGN_OR_RETURN(int64_t padding_idx, args.Int("padding_idx"));
  // PyTorch asserts only for nonzero values, then fails filling row 0 of an empty table.
  if (padding_idx >= num || padding_idx < -num) return args.Error("padding_idx", message);
  return padding_idx < 0 ? padding_idx + num : padding_idx;
}

// The arguments that only matter for training (accepted with their types checked), and
// those a served model cannot honour.
absl::Status CheckTrainingArgs(const ModuleArgs& args) {
  if (!args.IsNone("max_norm")) {
    SEQ_RETURN_IF_ERROR(args.Float("max_norm").status());
    return args.Error("max_norm",
                      "is not supported: PyTorch renormalises the looked-up rows of the weight in "
                      "place during forward, so an answer would depend on earlier requests");
  }
  SEQ_RETURN_IF_ERROR(args.Float("norm_type").status());
  SEQ_RETURN_IF_ERROR(args.Bool("scale_grad_by_freq").status());
  SEQ_RETURN_IF_ERROR(args.Bool("sparse").status());
  if (!args.IsNone("_weight")) {
    return args.Error("_weight",
                      "is not supported: the weight comes from model.safetensors, under the "
                      "state_dict key 'weight'");
  }
  return absl::OkStatus();
}

}  // namespace

// PyTorch 2.1: (num_embeddings, embedding_dim, padding_idx=None, max_norm=None,
// norm_type=2.0, scale_grad_by_freq=False, sparse=False, _weight=None, _freeze=False,
// device=None, dtype=None).
absl::StatusOr<std::unique_ptr<Module>> MakeEmbedding(const SeqCall& call, std::string_view file) {
  SEQ_ASSIGN_OR_RETURN(
      ModuleArgs args,
      ModuleArgs::Bind(call, "Embedding",
                       {Required("num_embeddings"), Required("embedding_dim"),
                        Default("padding_idx", NoneValue()), Default("max_norm", NoneValue()),
                        Default("norm_type", FloatValue(2.0)),
                        Default("scale_grad_by_freq", BoolValue(false)),
                        Default("sparse", BoolValue(false)), Default("_weight", NoneValue()),
                        Default("_freeze", BoolValue(false)), Default("device", NoneValue()),
                        Default("dtype", NoneValue())},
                       file));
  SEQ_ASSIGN_OR_RETURN(int64_t num, args.Int("num_embeddings"));
  SEQ_ASSIGN_OR_RETURN(int64_t dim, args.Int("embedding_dim"));
  SEQ_RETURN_IF_ERROR(CheckSizes(args, num, dim));
  // Embedding's forward ignores padding_idx (it only keeps that row's gradient at zero), but
  // PyTorch still checks it.
  SEQ_RETURN_IF_ERROR(PaddingIdx(args, num, "Padding_idx must be within num_embeddings").status());
  SEQ_RETURN_IF_ERROR(CheckTrainingArgs(args));
  SEQ_RETURN_IF_ERROR(args.Bool("_freeze").status());
  return std::make_unique<Embedding>(num, dim);
}

// PyTorch 2.1: (num_embeddings, embedding_dim, max_norm=None, norm_type=2.0,
// scale_grad_by_freq=False, mode='mean', sparse=False, _weight=None,
// include_last_offset=False, padding_idx=None, device=None, dtype=None).
absl::StatusOr<std::unique_ptr<Module>> MakeEmbeddingBag(const SeqCall& call,
                                                         std::string_view file) {
  SEQ_ASSIGN_OR_RETURN(
      ModuleArgs args,
      ModuleArgs::Bind(call, "EmbeddingBag",
                       {Required("num_embeddings"), Required("embedding_dim"),
                        Default("max_norm", NoneValue()), Default("norm_type", FloatValue(2.0)),
                        Default("scale_grad_by_freq", BoolValue(false)),
                        Default("mode", StringValue("mean")), Default("sparse", BoolValue(false)),
                        Default("_weight", NoneValue()),
                        Default("include_last_offset", BoolValue(false)),
                        Default("padding_idx", NoneValue()), Default("device", NoneValue()),
                        Default("dtype", NoneValue())},
                       file));
  SEQ_ASSIGN_OR_RETURN(int64_t num, args.Int("num_embeddings"));
  SEQ_ASSIGN_OR_RETURN(int64_t dim, args.Int("embedding_dim"));
  SEQ_RETURN_IF_ERROR(CheckSizes(args, num, dim));
  SEQ_ASSIGN_OR_RETURN(std::optional<int64_t> padding_idx,
                       PaddingIdx(args, num, "padding_idx must be within num_embeddings"));
  SEQ_RETURN_IF_ERROR(CheckTrainingArgs(args));
  SEQ_ASSIGN_OR_RETURN(std::string mode_name, args.String("mode"));
  BagMode mode;
  if (mode_name == "sum") {
    mode = BagMode::kSum;
  } else if (mode_name == "mean") {
    mode = BagMode::kMean;
  } else if (mode_name == "max") {
    mode = BagMode::kMax;
  } else {
    return args.Error("mode", "mode has to be one of sum, mean or max");
  }
  if (mode == BagMode::kMax) {
    SEQ_ASSIGN_OR_RETURN(bool scale_grad_by_freq, args.Bool("scale_grad_by_freq"));
    SEQ_ASSIGN_OR_RETURN(bool sparse, args.Bool("sparse"));
    if (scale_grad_by_freq) {
      return args.Error("scale_grad_by_freq",
                        "max mode does not support scaling the gradient by the frequency");
    }
    if (sparse) return args.Error("sparse", "max mode does not support sparse weights");
  }
  SEQ_ASSIGN_OR_RETURN(bool include_last_offset, args.Bool("include_last_offset"));
  if (include_last_offset) {
    return args.Error("include_last_offset",
                      "True is not supported: on 2-D input PyTorch then takes the start of the "
                      "last bag as the end of the one before, so the output has one row fewer "
                      "than the input and the last sample of every batch is dropped");
  }
  return std::make_unique<EmbeddingBag>(num, dim, mode, padding_idx);
}

}  // namespace seqserve
