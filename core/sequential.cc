#include "core/sequential.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "core/compiler.h"

namespace seqserve {

int64_t Module::NumParams() const {
  int64_t n = 0;
  for (const ParamSpec& p : params()) n += NumElements(p.shape);
  return n;
}

MagnitudeBound WeightedSumBound(const float* weight, int64_t rows, int64_t per_row,
                                const float* bias, const ChannelAffine* affine) {
  MagnitudeBound bound{0, 0};
  for (int64_t r = 0; r < rows; ++r) {
    const double scale = affine != nullptr ? std::fabs(double{affine->scale[r]}) : 1.0;
    double sum = 0;
    for (int64_t i = 0; i < per_row; ++i) sum += std::fabs(double{weight[r * per_row + i]});
    double offset = bias != nullptr ? double{bias[r]} : 0.0;
    if (affine != nullptr) offset = offset * affine->scale[r] + affine->shift[r];
    // NaN compares false: a non-finite weight makes the bound infinite.
    const double gain = sum * scale;
    bound.gain = std::isfinite(gain) ? std::max(bound.gain, gain) : HUGE_VAL;
    bound.offset = std::isfinite(offset) ? std::max(bound.offset, std::fabs(offset)) : HUGE_VAL;
  }
  return bound;
}

void Sequential::Append(std::string name, std::unique_ptr<Module> child) {
  children_.emplace_back(std::move(name), std::move(child));
}

bool Sequential::HasChild(const std::string& name) const {
  for (const auto& [n, child] : children_) {
    if (n == name) return true;
  }
  return false;
}

std::vector<Layer> Sequential::Flatten(const std::string& prefix) const {
  std::vector<Layer> layers;
  for (const auto& [name, child] : children_) {
    std::string path = prefix.empty() ? name : prefix + "." + name;
    if (const auto* nested = dynamic_cast<const Sequential*>(child.get())) {
      std::vector<Layer> inner = nested->Flatten(path);
      layers.insert(layers.end(), inner.begin(), inner.end());
    } else {
      layers.push_back(Layer{path, child.get()});
    }
  }
  return layers;
}

std::vector<std::pair<std::string, Module*>> Sequential::MutableLeaves(const std::string& prefix) {
  std::vector<std::pair<std::string, Module*>> leaves;
  for (auto& [name, child] : children_) {
    std::string path = prefix.empty() ? name : prefix + "." + name;
    if (auto* nested = dynamic_cast<Sequential*>(child.get())) {
      auto inner = nested->MutableLeaves(path);
      leaves.insert(leaves.end(), inner.begin(), inner.end());
    } else {
      leaves.emplace_back(path, child.get());
    }
  }
  return leaves;
}

absl::StatusOr<Shape> Sequential::OutputShape(const Shape& in) const {
  absl::StatusOr<std::vector<Shape>> shapes = InferShapes(Flatten(), in);
  if (!shapes.ok()) return shapes.status();
  return shapes->empty() ? in : shapes->back();
}

int64_t Sequential::Flops(const Shape& in) const {
  std::vector<Layer> layers = Flatten();
  absl::StatusOr<std::vector<Shape>> shapes = InferShapes(layers, in);
  if (!shapes.ok()) return 0;
  int64_t flops = 0;
  for (size_t i = 0; i < layers.size(); ++i) {
    flops += layers[i].module->Flops(i == 0 ? in : (*shapes)[i - 1]);
  }
  return flops;
}

std::optional<Shape> Sequential::InputDims() const {
  // The first module that computes something decides (Dropout in front changes nothing).
  for (const Layer& layer : Flatten()) {
    if (std::optional<Shape> dims = layer.module->InputDims()) return dims;
    if (!layer.module->IsIdentity()) return std::nullopt;
  }
  return std::nullopt;
}

std::vector<DType> Sequential::InputDTypes() const {
  for (const Layer& layer : Flatten()) {
    if (!layer.module->IsIdentity()) return layer.module->InputDTypes();
  }
  return {DType::kFloat32};
}

std::optional<int64_t> Sequential::NumInputIds() const {
  for (const Layer& layer : Flatten()) {
    if (!layer.module->IsIdentity()) return layer.module->NumInputIds();
  }
  return std::nullopt;
}

std::optional<std::string> Sequential::MixesAlongDim0(const Shape& in) const {
  const std::vector<Layer> layers = Flatten();
  absl::StatusOr<std::vector<Shape>> shapes = InferShapes(layers, in);
  if (!shapes.ok()) return std::nullopt;
  for (size_t i = 0; i < layers.size(); ++i) {
    const Layer& layer = layers[i];
    if (std::optional<std::string> why =
            layer.module->MixesAlongDim0(i == 0 ? in : (*shapes)[i - 1])) {
      return absl::StrCat(layer.path, " (", std::string(layer.module->type()), "): ", *why);
    }
  }
  return std::nullopt;
}

absl::StatusOr<PlanValue> Sequential::Compile(PlanBuilder& builder, const PlanValue& in,
                                              const Fusion& /*fusion*/) const {
  return CompileLayers(builder, Flatten(builder.current_path()), in);
}

}  // namespace seqserve
