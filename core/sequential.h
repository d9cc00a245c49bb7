// torch.nn.Sequential: an ordered list of named children (positional names "0", "1", ...
// or OrderedDict keys), possibly nested. The compiler works on its leaves, flattened
// with dotted paths ("features.0"), which are also the state_dict prefixes.
// Read-only after construction; thread-safe.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/module.h"

namespace seqserve {

// A leaf module and its dotted path in the model; `module` is owned by the Sequential
// the layer was flattened from, which outlives the layer list.
struct Layer {
  std::string path;
  const Module* module;
};

class Sequential : public Module {
 public:
  std::string_view type() const override { return "Sequential"; }

  void Append(std::string name, std::unique_ptr<Module> child);
  size_t size() const { return children_.size(); }
  bool HasChild(const std::string& name) const;
  const std::vector<std::pair<std::string, std::unique_ptr<Module>>>& children() const {
    return children_;
  }
  // Moves the children out (for the builder's slicing, `+`, .extend and .insert).
  std::vector<std::pair<std::string, std::unique_ptr<Module>>> TakeChildren() {
    return std::move(children_);
  }

  // Leaves in execution order, paths prefixed with `prefix` ("" for the root).
  std::vector<Layer> Flatten(const std::string& prefix = "") const;
  // Leaves, mutable, for loading parameters.
  std::vector<std::pair<std::string, Module*>> MutableLeaves(const std::string& prefix = "");

  absl::StatusOr<Shape> OutputShape(const Shape& in) const override;
  int64_t Flops(const Shape& in) const override;
  std::optional<Shape> InputDims() const override;
  std::vector<DType> InputDTypes() const override;
  std::optional<int64_t> NumInputIds() const override;
  // "1 (TransformerEncoder): <the module's reason>" for the first leaf that mixes, given the
  // shapes flowing through the chain; nullopt also when `in` does not fit the model.
  std::optional<std::string> MixesAlongDim0(const Shape& in) const override;
  absl::StatusOr<PlanValue> Compile(PlanBuilder& builder, const PlanValue& in,
                                    const Fusion& fusion) const override;

 private:
  std::vector<std::pair<std::string, std::unique_ptr<Module>>> children_;
};

}  // namespace seqserve
