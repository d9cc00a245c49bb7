// Helpers for module tests: load a model from model.seq text (and weights), read its load
// or shape errors, run it once, list its plan's steps. Header-only; each test is one thread.
#pragma once

#include <cmath>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/engine.h"
#include "core/executor.h"
#include "core/model.h"
#include "core/seq_parser.h"
#include "core/sequential_builder.h"
#include "gtest/gtest.h"

namespace seqserve::testing {

// Whether `text` contains `part`, printing both when not.
inline ::testing::AssertionResult Contains(const std::string& text, const std::string& part) {
  if (text.find(part) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << "\"" << text << "\"\n  does not contain \"" << part << "\"";
}

inline absl::StatusOr<std::shared_ptr<Model>> LoadModel(const std::string& seq,
                                                        const TensorMap* weights = nullptr,
                                                        bool fuse = true, int num_threads = 1) {
  ModelOptions options;
  options.fuse = fuse;
  options.num_threads = num_threads;
  return Model::FromSource(seq, "model.seq", weights, "model.safetensors", options);
}

// The load error of nn.Sequential(`module`) without a weights file ("" if it loads).
inline std::string LoadError(const std::string& module) {
  auto model = LoadModel("nn.Sequential(" + module + ")");
  EXPECT_FALSE(model.ok()) << module << " loaded";
  return model.ok() ? "" : std::string(model.status().message());
}

// Every key the model expects, as the state_dict check reports them for an empty map.
inline std::string MissingKeys(const std::string& module) {
  TensorMap none;
  auto model = LoadModel("nn.Sequential(" + module + ")", &none);
  return model.ok() ? "" : std::string(model.status().message());
}

// Deterministic parameters for every state_dict entry of `seq`: values in [-0.5, 0.5), and
// running_var in [0.5, 1.5).
inline TensorMap PseudoWeights(const std::string& seq) {
  TensorMap weights;
  absl::StatusOr<SeqValue> ast = ParseModelSeq(seq, "model.seq");
  EXPECT_TRUE(ast.ok()) << ast.status();
  if (!ast.ok()) return weights;
  absl::StatusOr<std::unique_ptr<Sequential>> root = BuildSequential(*ast, "model.seq");
  EXPECT_TRUE(root.ok()) << root.status();
  if (!root.ok()) return weights;
  for (const auto& [path, module] : (*root)->MutableLeaves()) {
    for (const ParamSpec& spec : module->params()) {
      Tensor t(spec.shape);
      for (int64_t i = 0; i < t.numel(); ++i) {
        const float v = static_cast<float>((i * 37 + 11) % 23) / 23.f - 0.5f;
        t.data[i] = spec.name == "running_var" ? 1.f + v : v;
      }
      weights[path + "." + spec.name] = std::move(t);
    }
  }
  return weights;
}

inline std::shared_ptr<Model> MustLoad(const std::string& seq, const TensorMap* weights = nullptr,
                                       bool fuse = true, int num_threads = 1) {
  auto model = LoadModel(seq, weights, fuse, num_threads);
  EXPECT_TRUE(model.ok()) << seq << ": " << model.status();
  return model.ok() ? *model : nullptr;
}

// MustLoad with PseudoWeights.
inline std::shared_ptr<Model> MustLoadWithWeights(const std::string& seq, bool fuse = true,
                                                  int num_threads = 1) {
  const TensorMap weights = PseudoWeights(seq);
  return MustLoad(seq, &weights, fuse, num_threads);
}

// The output shape for `in`, or the error message.
inline std::string ShapeOrError(const Model& model, const Shape& in) {
  absl::StatusOr<Shape> out = model.OutputShape(in);
  return out.ok() ? ShapeToString(*out) : std::string(out.status().message());
}

inline Tensor RunModel(Model& model, const Tensor& input) {
  Executor executor(CpuEngine());
  absl::StatusOr<Tensor> out = model.Run(executor, input);
  EXPECT_TRUE(out.ok()) << out.status();
  return out.ok() ? *out : Tensor();
}

// Deterministic values in [-scale, scale], different in every element.
inline Tensor Ramp(Shape shape, float scale = 1.f) {
  Tensor t(std::move(shape));
  for (int64_t i = 0; i < t.numel(); ++i) {
    t.data[i] = scale * std::sin(0.7f * static_cast<float>(i) + 0.3f);
  }
  return t;
}

// The names of the plan's steps for `input`.
inline std::vector<std::string> StepNames(Model& model, const Shape& input) {
  absl::StatusOr<std::shared_ptr<const Plan>> plan = model.GetPlan(input);
  EXPECT_TRUE(plan.ok()) << plan.status();
  std::vector<std::string> names;
  if (plan.ok()) {
    for (const PlanStep& step : (*plan)->steps()) names.push_back(step.name);
  }
  return names;
}

// Bit-level equality that counts NaN equal to NaN; +0 and -0 differ.
inline ::testing::AssertionResult SameFloats(const std::vector<float>& actual,
                                             const std::vector<float>& expected) {
  if (actual.size() != expected.size()) {
    return ::testing::AssertionFailure() << actual.size() << " values, expected " << expected.size();
  }
  for (size_t i = 0; i < actual.size(); ++i) {
    const bool same = (std::isnan(actual[i]) && std::isnan(expected[i])) ||
                      (actual[i] == expected[i] &&
                       std::signbit(actual[i]) == std::signbit(expected[i]));
    if (!same) {
      return ::testing::AssertionFailure()
             << "element " << i << " is " << actual[i] << ", expected " << expected[i];
    }
  }
  return ::testing::AssertionSuccess();
}

}  // namespace seqserve::testing
