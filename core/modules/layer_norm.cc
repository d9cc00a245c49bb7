#include "core/modules/layer_norm.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/module_args.h"
#include "core/modules/moments.h"
#include "core/parallel.h"
#include "common/status_macros.h"

namespace seqserve {
namespace {

// Normalises `rows` rows of `size` floats; `weight`/`bias` (size floats) may be null.
void LayerNormRows(const float* x, float* y, int64_t rows, int64_t size, double eps,
                   const float* weight, const float* bias, int num_threads) {
  ParallelFor(
      rows, num_threads,
      [&](int64_t begin, int64_t end) {
        for (int64_t r = begin; r < end; ++r) {
          const float* xr = x + r * size;
          float* yr = y + r * size;
          const Moments m = ComputeMoments(xr, size);
          const float mean = static_cast<float>(m.mean);
          const float rstd = static_cast<float>(1.0 / std::sqrt(m.variance + eps));
          if (weight != nullptr && bias != nullptr) {
            for (int64_t i = 0; i < size; ++i) yr[i] = (xr[i] - mean) * rstd * weight[i] + bias[i];
          } else if (weight != nullptr) {
            for (int64_t i = 0; i < size; ++i) yr[i] = (xr[i] - mean) * rstd * weight[i];
          } else {
            for (int64_t i = 0; i < size; ++i) yr[i] = (xr[i] - mean) * rstd;
          }
        }
      },
      RowsPerChunk(size));
}

// `normalized_shape` as PyTorch takes it: an int, a tuple or list of ints, or torch.Size([...]).
absl::StatusOr<std::vector<int64_t>> NormalizedShape(const ModuleArgs& args) {
  const SeqValue& value = args.Get("normalized_shape");
  if (value.kind == SeqValue::Kind::kCall && value.call != nullptr &&
      value.call->receiver == nullptr &&
      (value.call->name == "torch.Size" || value.call->name == "Size")) {
    const SeqCall& size = *value.call;
    std::vector<int64_t> dims;
    bool ok =
        size.args.size() == 1 && size.kwargs.empty() &&
        (size.args[0].kind == SeqValue::Kind::kTuple || size.args[0].kind == SeqValue::Kind::kList);
    for (size_t i = 0; ok && i < size.args[0].items.size(); ++i) {
      ok = size.args[0].items[i].kind == SeqValue::Kind::kInt;
      if (ok) dims.push_back(size.args[0].items[i].int_value);
    }
    if (!ok) {
      return args.Error("normalized_shape",
                        "expected torch.Size with a list of ints, such as torch.Size([4, 5])");
    }
    return dims;
  }
  return args.IntList("normalized_shape");
}

class LayerNorm : public Module {
 public:
  LayerNorm(Shape normalized_shape, double eps, bool affine, bool bias)
      : normalized_(std::move(normalized_shape)),
        size_(NumElements(normalized_)),
        eps_(eps),
        affine_(affine),
        has_bias_(affine && bias) {}

  std::string_view type() const override { return "LayerNorm"; }

  std::vector<ParamSpec> params() const override {
    std::vector<ParamSpec> specs;
    if (affine_) specs.push_back({"weight", normalized_});
    if (has_bias_) specs.push_back({"bias", normalized_});
    return specs;
  }

  absl::Status SetParams(ParamMap params) override {
    // Shared with the plans' kernels, which may outlive this module.
    if (affine_) {
      weight_ = std::make_shared<const std::vector<float>>(std::move(params["weight"].data));
    }
    if (has_bias_) {
      bias_ = std::make_shared<const std::vector<float>>(std::move(params["bias"].data));
    }
    return absl::OkStatus();
  }

  absl::StatusOr<Shape> OutputShape(const Shape& in) const override {
    const size_t k = normalized_.size();
    if (in.size() < k || !std::equal(normalized_.begin(), normalized_.end(), in.end() - k)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "expected input of shape [*, ", absl::StrJoin(normalized_, ", "),
          "] (normalized_shape=", ShapeToString(normalized_), "), got ", ShapeToString(in)));
    }
    return in;
  }

  // Statistics (~3 per element: sum, square, accumulate) and normalisation (subtract,
  // multiply), plus a multiply-add for the affine.
  int64_t Flops(const Shape& in) const override {
    return NumElements(in) * (5 + (affine_ ? 2 : 0));
  }

  std::optional<Shape> InputDims() const override { return normalized_; }

  absl::StatusOr<PlanValue> Compile(PlanBuilder& builder, const PlanValue& in,
                                    const Fusion& /*fusion*/) const override {
    PlanValue src = builder.Plain(in);
    PlanValue dst = builder.InPlace(src);
    const int64_t rows = NumElements(in.shape) / size_;
    builder.AddKernel(
        [rows, size = size_, eps = eps_, weight = weight_, bias = bias_](const float* x, float* y,
                                                                         int threads) {
          LayerNormRows(x, y, rows, size, eps, weight ? weight->data() : nullptr,
                        bias ? bias->data() : nullptr, threads);
        },
        src, dst);
    return dst;
  }

 private:
  Shape normalized_;
  int64_t size_;  // elements in normalized_shape
  double eps_;
  bool affine_;
  bool has_bias_;
  std::shared_ptr<const std::vector<float>> weight_;  // null unless affine_
  std::shared_ptr<const std::vector<float>> bias_;    // null unless has_bias_
};

}  // namespace

// PyTorch 2.x: (normalized_shape, eps=1e-05, elementwise_affine=True, bias=True,
// device=None, dtype=None).
absl::StatusOr<std::unique_ptr<Module>> MakeLayerNorm(const SeqCall& call, std::string_view file) {
  SEQ_ASSIGN_OR_RETURN(
      ModuleArgs args,
      ModuleArgs::Bind(
          call, "LayerNorm",
          {Required("normalized_shape"), Default("eps", FloatValue(1e-5)),
           Default("elementwise_affine", BoolValue(true)), Default("bias", BoolValue(true)),
           Default("device", NoneValue()), Default("dtype", NoneValue())},
          file));
  SEQ_ASSIGN_OR_RETURN(std::vector<int64_t> normalized_shape, NormalizedShape(args));
  SEQ_ASSIGN_OR_RETURN(double eps, args.Float("eps"));
  SEQ_ASSIGN_OR_RETURN(bool elementwise_affine, args.Bool("elementwise_affine"));
  SEQ_ASSIGN_OR_RETURN(bool bias, args.Bool("bias"));
  if (normalized_shape.empty()) {
    // PyTorch builds the module but every forward fails with this.
    return args.Error("normalized_shape",
                      "Expected normalized_shape to be at least 1-dimensional, i.e., containing "
                      "at least one element, but got normalized_shape = []");
  }
  for (int64_t d : normalized_shape) {
    if (d <= 0) {
      return args.Error("normalized_shape", absl::StrCat("sizes must be positive, got ",
                                                         ShapeToString(normalized_shape)));
    }
  }
  return std::make_unique<LayerNorm>(std::move(normalized_shape), eps, elementwise_affine, bias);
}

}  // namespace seqserve
