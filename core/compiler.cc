#include "core/compiler.h"

#include <string>

#include "absl/strings/str_cat.h"

namespace seqserve {
namespace {

// Whether `more` may join the post-op chain `chain`. oneDNN 2.6 computes a chain holding
// two eltwise_linear ops wrongly in matmul (brgemm and gemm alike: linear(2) then linear(3)
// gives 2x, not 6x), so such a chain is split: the rest runs as standalone eltwise steps.
bool CanExtendPostOps(const std::vector<EltwiseOp>& chain, const std::vector<EltwiseOp>& more) {
  int linear = 0;
  for (const std::vector<EltwiseOp>* ops : {&chain, &more}) {
    for (const EltwiseOp& op : *ops) linear += op.algorithm == dnnl::algorithm::eltwise_linear;
  }
  return linear <= 1;
}

std::string LayerName(const Layer& layer) {
  return absl::StrCat(layer.path, " (", std::string(layer.module->type()), ")");
}

// Prefixes a module's status with its path, keeping the code.
absl::Status AtLayer(const Layer& layer, const absl::Status& status) {
  return absl::Status(status.code(), absl::StrCat(LayerName(layer), ": ", status.message()));
}

}  // namespace

absl::StatusOr<std::vector<Shape>> InferShapes(const std::vector<Layer>& layers,
                                               const Shape& input) {
  std::vector<Shape> shapes;
  shapes.reserve(layers.size());
  const Shape* current = &input;
  for (const Layer& layer : layers) {
    absl::StatusOr<Shape> out = layer.module->OutputShape(*current);
    if (!out.ok()) return AtLayer(layer, out.status());
    shapes.push_back(*std::move(out));
    current = &shapes.back();
  }
  return shapes;
}

absl::StatusOr<PlanValue> CompileLayers(PlanBuilder& builder, const std::vector<Layer>& layers,
                                        const PlanValue& in) {
  PlanValue value = in;
  size_t i = 0;
  // Index of the next layer that computes something, from `j` on.
  auto next_real = [&](size_t j) {
    while (j < layers.size() && layers[j].module->IsIdentity()) ++j;
    return j;
  };
  while (i < layers.size()) {
    const Layer& layer = layers[i];
    const Module& module = *layer.module;
    builder.SetCurrentModule(layer.path, std::string(module.type()));
    if (module.IsIdentity()) {
      ++i;
      continue;
    }
    try {
      Fusion fusion;
      size_t next = i + 1;
      const int channel_axis = builder.fuse() ? module.FusableChannelAxis(value.shape) : -1;
      if (channel_axis == 1) {
        // Fold a BatchNorm (whose channel axis is always 1) and fuse the activations after it.
        size_t j = next_real(next);
        if (j < layers.size() && layers[j].module->AsChannelAffine() != nullptr) {
          fusion.affine = layers[j].module->AsChannelAffine();
          fusion.affine_path = layers[j].path;
          next = j + 1;
        }
      }
      if (channel_axis >= 0) {
        for (size_t j = next_real(next); j < layers.size(); j = next_real(j + 1)) {
          std::optional<std::vector<EltwiseOp>> ops = layers[j].module->AsEltwise();
          if (!ops || !CanExtendPostOps(fusion.post_ops, *ops)) break;
          fusion.post_ops.insert(fusion.post_ops.end(), ops->begin(), ops->end());
          next = j + 1;
        }
      }
      // A standalone activation compiles itself: oneDNN eltwise steps, or a kernel.
      absl::StatusOr<PlanValue> out = module.Compile(builder, value, fusion);
      if (!out.ok()) return AtLayer(layer, out.status());
      value = *std::move(out);
      i = next;
    } catch (const dnnl::error& e) {
      return AtLayer(layer, absl::InternalError(absl::StrCat("oneDNN: ", e.what())));
    }
  }
  return value;
}

}  // namespace seqserve
