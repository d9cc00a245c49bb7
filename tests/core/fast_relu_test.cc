// Guarded plans (Plan::input_guard): ReLUs fused as one max(x, 0) post-op, which turns NaN
// into 0, behind an input check, with an exact twin for the inputs that fail it. The guard
// follows from the weights (MagnitudeBound), the plans agree bit for bit on ordinary input,
// and every input that could bring a NaN to a ReLU (a NaN or Inf in it, or a value large
// enough to overflow on the way) gets PyTorch's NaN. Expected values are IEEE arithmetic
// worked by hand, and were checked with PyTorch 1.13 (nn.Conv2d + nn.ReLU, weights filled as
// here): [3e38, 1e37, 2] through the overflow model gives [nan, 0, 0]; [nan, -1, 2, -inf, inf]
// through Conv2d(1, 1, 1) (weight 1, bias 0) and ReLU gives [nan, 0, 2, 0, inf].
#include <cmath>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "core/engine.h"
#include "core/executor.h"
#include "core/model.h"
#include "gtest/gtest.h"
#include "tests/util/module_test_util.h"

namespace seqserve {
namespace {

using testing::PseudoWeights;
using testing::Ramp;
using testing::SameFloats;

constexpr float kNan = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kMax = std::numeric_limits<float>::max();

std::shared_ptr<Model> Load(const std::string& seq, const TensorMap& weights, bool fast_relu) {
  ModelOptions options;
  options.fast_relu = fast_relu;
  options.tuning.mode = TuningMode::kOff;  // the same layouts in both, so bitwise comparable
  auto model = Model::FromSource(seq, "model.seq", &weights, "model.safetensors", options);
  EXPECT_TRUE(model.ok()) << model.status();
  return model.ok() ? *model : nullptr;
}

std::shared_ptr<const Plan> PlanFor(Model& model, const Shape& input) {
  absl::StatusOr<std::shared_ptr<const Plan>> plan = model.GetPlan(input);
  EXPECT_TRUE(plan.ok()) << plan.status();
  return plan.ok() ? *plan : nullptr;
}

std::vector<float> Forward(Model& model, Shape shape, std::vector<float> values) {
  Tensor input(std::move(shape));
  input.data = std::move(values);
  Executor executor(CpuEngine());
  absl::StatusOr<Tensor> out = model.Run(executor, input);
  EXPECT_TRUE(out.ok()) << out.status();
  return out.ok() ? out->data : std::vector<float>{};
}

// Conv2d(1, 1, 1) layers with the given weights and biases.
TensorMap PointwiseWeights(const std::vector<std::pair<float, float>>& layers,
                           const std::vector<std::string>& paths) {
  TensorMap weights;
  for (size_t i = 0; i < layers.size(); ++i) {
    Tensor w({1, 1, 1, 1});
    w.data[0] = layers[i].first;
    Tensor b({1});
    b.data[0] = layers[i].second;
    weights[paths[i] + ".weight"] = std::move(w);
    weights[paths[i] + ".bias"] = std::move(b);
  }
  return weights;
}

constexpr char kSeparable[] =
    "nn.Sequential(nn.Conv2d(3, 16, 3, stride=2, padding=1), nn.BatchNorm2d(16), nn.ReLU(),"
    " nn.Conv2d(16, 16, 3, padding=1, groups=16), nn.BatchNorm2d(16), nn.ReLU(),"
    " nn.Conv2d(16, 32, 1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 32, 1), nn.ReLU(),"
    " nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 8), nn.ReLU(), nn.Linear(8, 4))";

TEST(FastRelu, GuardedPlanAgreesBitForBitWithTheExactPlanOnOrdinaryInput) {
  const TensorMap weights = PseudoWeights(kSeparable);
  std::shared_ptr<Model> fast = Load(kSeparable, weights, true);
  std::shared_ptr<Model> exact = Load(kSeparable, weights, false);
  ASSERT_TRUE(fast && exact);
  const Shape shape = {2, 3, 20, 20};
  std::shared_ptr<const Plan> plan = PlanFor(*fast, shape);
  ASSERT_TRUE(plan);
  EXPECT_GT(plan->input_guard(), 0.f);
  ASSERT_NE(plan->exact_plan(), nullptr);
  EXPECT_EQ(plan->exact_plan()->exact_plan(), nullptr);
  // A server sizes a worker for whichever of the two runs.
  EXPECT_GE(Executor::WorkspaceBytes(*plan), Executor::WorkspaceBytes(*plan->exact_plan()));
  EXPECT_GE(Executor::WorkspaceBytes(*plan), plan->arena_bytes() + plan->scratchpad_bytes());
  std::shared_ptr<const Plan> exact_plan = PlanFor(*exact, shape);
  ASSERT_TRUE(exact_plan);
  EXPECT_EQ(exact_plan->input_guard(), 0.f);
  EXPECT_EQ(exact_plan->exact_plan(), nullptr);

  const Tensor input = Ramp(shape, 3.f);
  EXPECT_TRUE(SameFloats(Forward(*fast, shape, input.data), Forward(*exact, shape, input.data)));
}

// max|conv out| <= 2 * max|x| + 1 stays under FLT_MAX / 4 for |x| <= (FLT_MAX / 4 - 1) / 2.
TEST(FastRelu, GuardFollowsFromTheWeightsAndBias) {
  const std::string seq = "nn.Sequential(nn.Conv2d(1, 1, 1), nn.ReLU())";
  std::shared_ptr<Model> model = Load(seq, PointwiseWeights({{-2.f, 1.f}}, {"0"}), true);
  ASSERT_TRUE(model);
  std::shared_ptr<const Plan> plan = PlanFor(*model, {1, 1, 1, 3});
  ASSERT_TRUE(plan);
  EXPECT_FLOAT_EQ(plan->input_guard(), static_cast<float>((double{kMax} / 4 - 1) / 2));
}

// 2 * 3e38 overflows to Inf, ReLU keeps it, and 0 * Inf is NaN, which PyTorch's ReLU keeps;
// max(NaN, 0) would give 0. 3e38 is beyond the guard, so the exact twin runs it.
TEST(FastRelu, InputThatCanOverflowToNaNRunsTheExactPlan) {
  const std::string seq =
      "nn.Sequential(nn.Conv2d(1, 1, 1), nn.ReLU(), nn.Conv2d(1, 1, 1), nn.ReLU())";
  std::shared_ptr<Model> model =
      Load(seq, PointwiseWeights({{2.f, 0.f}, {0.f, 0.f}}, {"0", "2"}), true);
  ASSERT_TRUE(model);
  std::shared_ptr<const Plan> plan = PlanFor(*model, {1, 1, 1, 3});
  ASSERT_TRUE(plan);
  ASSERT_NE(plan->exact_plan(), nullptr);
  EXPECT_LT(plan->input_guard(), 3e38f);
  EXPECT_TRUE(SameFloats(Forward(*model, {1, 1, 1, 3}, {3e38f, 1e37f, 2.f}), {kNan, 0.f, 0.f}));
  // Within the guard: the guarded plan, the same answers as PyTorch.
  EXPECT_TRUE(SameFloats(Forward(*model, {1, 1, 1, 3}, {1e37f, -1e37f, 2.f}), {0.f, 0.f, 0.f}));
}

TEST(FastRelu, NaNAndInfInputsGetPyTorchsAnswers) {
  const std::string seq = "nn.Sequential(nn.Conv2d(1, 1, 1), nn.ReLU())";
  std::shared_ptr<Model> model = Load(seq, PointwiseWeights({{1.f, 0.f}}, {"0"}), true);
  ASSERT_TRUE(model);
  EXPECT_TRUE(SameFloats(Forward(*model, {1, 1, 1, 5}, {kNan, -1.f, 2.f, -kInf, kInf}),
                         {kNan, 0.f, 2.f, 0.f, kInf}));
  EXPECT_TRUE(SameFloats(Forward(*model, {1, 1, 1, 5}, {-3.f, -1.f, 2.f, 0.f, 5.f}),
                         {0.f, 0.f, 2.f, 0.f, 5.f}));
  // One NaN deep inside a longer input (the check runs block by block).
  std::vector<float> x(1000, -1.f), expected(1000, 0.f);
  x[700] = expected[700] = kNan;
  EXPECT_TRUE(SameFloats(Forward(*model, {1, 1, 1, 1000}, x), expected));
}

TEST(FastRelu, NoGuardWithoutABoundBeforeTheReLU) {
  // Tanh fuses into the first convolution, whose bound then is unknown: the chain stops.
  const std::string tanh_first =
      "nn.Sequential(nn.Conv2d(1, 1, 1), nn.Tanh(), nn.Conv2d(1, 1, 1), nn.ReLU())";
  std::shared_ptr<Model> model =
      Load(tanh_first, PointwiseWeights({{1.f, 0.f}, {1.f, 0.f}}, {"0", "2"}), true);
  ASSERT_TRUE(model);
  std::shared_ptr<const Plan> plan = PlanFor(*model, {1, 1, 2, 2});
  ASSERT_TRUE(plan);
  EXPECT_EQ(plan->input_guard(), 0.f);
  EXPECT_EQ(plan->exact_plan(), nullptr);

  // A NaN weight: no bound at all.
  const std::string seq = "nn.Sequential(nn.Conv2d(1, 1, 1), nn.ReLU())";
  model = Load(seq, PointwiseWeights({{kNan, 0.f}}, {"0"}), true);
  ASSERT_TRUE(model);
  plan = PlanFor(*model, {1, 1, 2, 2});
  ASSERT_TRUE(plan);
  EXPECT_EQ(plan->input_guard(), 0.f);
  EXPECT_EQ(plan->exact_plan(), nullptr);
}

}  // namespace
}  // namespace seqserve
