// Helpers for the module tests of tests/core: load a model from a module's model.seq call,
// read its load error or output shape, give its parameters deterministic values, run it on
// given values (fused and unfused plans), and list the steps of its plan. Header-only;
// each test binary uses them from one thread.
#pragma once

#include <cmath>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "core/engine.h"
#include "core/executor.h"
#include "core/model.h"
#include "core/seq_parser.h"
#include "core/sequential_builder.h"
#include "gtest/gtest.h"

namespace seqserve::test {

inline ::testing::AssertionResult Contains(const std::string& text, const std::string& part) {
  if (text.find(part) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << "\"" << text << "\"\n  does not contain \"" << part << "\"";
}

// `nn.Sequential(<module>)` with `weights` (nullptr: the model must have no parameters).
inline absl::StatusOr<std::shared_ptr<Model>> LoadModule(const std::string& module,
                                                         const TensorMap* weights = nullptr,
                                                         const ModelOptions& options = {}) {
  return Model::FromSource("nn.Sequential(" + module + ")", "model.seq", weights,
                           "model.safetensors", options);
}

// The load error of `nn.Sequential(<module>)`; a failed expectation if it loads.
inline std::string LoadError(const std::string& module) {
  auto model = LoadModule(module);
  EXPECT_FALSE(model.ok()) << module << " loaded";
  return model.ok() ? "" : std::string(model.status().message());
}

inline std::shared_ptr<Model> MustLoad(const std::string& module,
                                       const TensorMap* weights = nullptr) {
  auto model = LoadModule(module, weights);
  EXPECT_TRUE(model.ok()) << module << ": " << model.status();
  return model.ok() ? *model : nullptr;
}

// The output shape of `module` for `in`, or the error message.
inline std::string ShapeOf(const std::string& module, const Shape& in) {
  std::shared_ptr<Model> model = MustLoad(module);
  if (model == nullptr) return "load failed";
  absl::StatusOr<Shape> out = model->OutputShape(in);
  return out.ok() ? ShapeToString(*out) : std::string(out.status().message());
}

// Parameters for every state_dict entry of the model.seq text `seq`: fill(name, index).
template <typename Fill>
TensorMap MakeWeights(const std::string& seq, Fill fill) {
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
      for (int64_t i = 0; i < t.numel(); ++i) t.data[i] = fill(spec.name, i);
      weights[path + "." + spec.name] = std::move(t);
    }
  }
  return weights;
}

// Runs `model` on `input`; an empty tensor (and a failed expectation) on error.
inline Tensor Run(Model& model, const Tensor& input) {
  Executor executor(CpuEngine());
  absl::StatusOr<Tensor> out = model.Run(executor, input);
  EXPECT_TRUE(out.ok()) << out.status();
  return out.ok() ? *std::move(out) : Tensor();
}

// Equal element by element, NaN matching NaN.
inline void ExpectSame(const Tensor& a, const Tensor& b, const std::string& what) {
  ASSERT_EQ(a.shape, b.shape) << what;
  for (int64_t i = 0; i < a.numel(); ++i) {
    if (std::isnan(a.data[i]) && std::isnan(b.data[i])) continue;
    ASSERT_EQ(a.data[i], b.data[i]) << what << ": element " << i;
  }
}

// Runs parameterless `module` on `values` of `shape` with fused and unfused plans, which
// must agree, and returns the output.
inline Tensor RunModule(const std::string& module, const Shape& shape,
                        const std::vector<float>& values) {
  Tensor result;
  for (bool fuse : {true, false}) {
    ModelOptions options;
    options.fuse = fuse;
    auto model = LoadModule(module, nullptr, options);
    EXPECT_TRUE(model.ok()) << module << ": " << model.status();
    if (!model.ok()) return {};
    Tensor out = Run(**model, Tensor(shape, values));
    if (fuse) {
      result = std::move(out);
    } else {
      ExpectSame(out, result, module + " fused vs unfused");
    }
  }
  return result;
}

// `actual` equals `expected` within 1e-6 relative; NaN matches NaN, an infinity only itself.
inline void ExpectValues(const std::vector<float>& actual, const std::vector<float>& expected) {
  ASSERT_EQ(actual.size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    if (std::isnan(expected[i])) {
      EXPECT_TRUE(std::isnan(actual[i])) << "element " << i << " is " << actual[i];
    } else if (std::isinf(expected[i])) {
      EXPECT_EQ(actual[i], expected[i]) << "element " << i;
    } else {
      EXPECT_NEAR(actual[i], expected[i], 1e-6 * (1 + std::fabs(expected[i])))
          << "element " << i;
    }
  }
}

// The names of the steps of `model`'s plan for `input`, one per line.
inline std::string StepNames(Model& model, const Shape& input) {
  absl::StatusOr<std::shared_ptr<const Plan>> plan = model.GetPlan(input);
  EXPECT_TRUE(plan.ok()) << plan.status();
  if (!plan.ok()) return "";
  std::string names;
  for (const PlanStep& step : (*plan)->steps()) names += step.name + "\n";
  return names;
}

}  // namespace seqserve::test
