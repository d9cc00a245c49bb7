// The activations issue 10 adds (Hardshrink, Softshrink, Threshold, RReLU, GLU, Softmin,
// Softmax2d) and the NaN/Inf handling of every activation (issue 13): PyTorch's constructor
// checks and messages, shape errors, which ones fuse and which run as kernels in place, and
// hand-derivable values on NaN, +-Inf and the thresholds themselves. The comparisons with
// real PyTorch are the act2_* and nan_* goldens run by golden_test.cc.
#include <cmath>
#include <algorithm>
#include <limits>
#include <utility>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/util/module_test_util.h"

namespace seqserve {
namespace {

using testing::Contains;
using testing::LoadError;
using testing::MustLoad;
using testing::MustLoadWithWeights;
using testing::Ramp;
using testing::RunModel;
using testing::SameFloats;
using testing::ShapeOrError;
using testing::StepNames;

constexpr float kNan = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

// The output of nn.Sequential(`module`) on a 1-D input.
std::vector<float> Apply(const std::string& module, const std::vector<float>& x) {
  auto model = MustLoad("nn.Sequential(" + module + ")");
  if (model == nullptr) return {};
  return RunModel(*model, Tensor({static_cast<int64_t>(x.size())}, x)).data;
}

TEST(NewActivations, RejectWhatPyTorchRejectsNamingFileLineColumnAndArgument) {
  EXPECT_EQ(LoadError("nn.Softshrink(-1.0)"),
            "model.seq:1:29: Softshrink: argument 'lambd': lambda must be greater or equal to 0, "
            "but found to be -1");
  EXPECT_EQ(LoadError("nn.RReLU(0.5, 0.1)"),
            "model.seq:1:29: RReLU: argument 'upper': Lower bound should be less than or equal to "
            "the upper bound (lower=0.5, upper=0.1)");
  EXPECT_TRUE(Contains(LoadError("nn.RReLU(upper=0.01)"), "model.seq:1:24: RReLU: argument 'upper'"));
  EXPECT_EQ(LoadError("nn.Threshold(0.5)"),
            "model.seq:1:15: Threshold: missing required argument 'value'");
  EXPECT_EQ(LoadError("nn.Threshold(0.5, value='x')"),
            "model.seq:1:33: Threshold: argument 'value': expected float, got str ('x')");
  EXPECT_EQ(LoadError("nn.GLU(dim=1.0)"),
            "model.seq:1:22: GLU: argument 'dim': expected int, got float (1.0)");
  EXPECT_EQ(LoadError("nn.Softmin(dim='x')"),
            "model.seq:1:26: Softmin: argument 'dim': expected int, got str ('x')");
  EXPECT_EQ(LoadError("nn.Softmax2d(1)"),
            "model.seq:1:28: Softmax2d: takes no positional arguments (1 given)");
  EXPECT_EQ(LoadError("nn.Hardshrink(lambd=None)"),
            "model.seq:1:29: Hardshrink: argument 'lambd': expected float, got None");
  EXPECT_TRUE(Contains(LoadError("nn.GLU(2, 3)"), "GLU: takes at most 1 positional argument"));
}

TEST(NewActivations, AcceptPyTorchSignatures) {
  for (const char* module :
       {"nn.Hardshrink(0.3)", "nn.Hardshrink(lambd=2)", "nn.Softshrink(lambd=0)",
        "nn.Threshold(1, 2, True)", "nn.Threshold(threshold=0.1, value=-1, inplace=False)",
        "nn.RReLU(0.1, 0.1)", "nn.RReLU(lower=0, upper=1, inplace=True)", "nn.GLU(dim=-2)",
        "nn.Softmin(0)", "nn.Softmin(dim=None)", "nn.Softmax2d()"}) {
    EXPECT_NE(MustLoad(std::string("nn.Sequential(") + module + ")"), nullptr) << module;
  }
}

TEST(GLU, HalvesTheDimOrSaysWhyNot) {
  auto model = MustLoad("nn.Sequential(nn.GLU())");
  ASSERT_NE(model, nullptr);
  EXPECT_EQ(ShapeOrError(*model, {2, 3, 8}), "[2, 3, 4]");
  EXPECT_EQ(ShapeOrError(*model, {2, 3, 7}),
            "0 (GLU): Halving dimension must be even, but dimension 2 is size 7 (input of shape "
            "[2, 3, 7])");
  EXPECT_EQ(ShapeOrError(*model, {}),
            "0 (GLU): glu does not support scalars because halving size must be even, got input "
            "of shape []");
  auto dim3 = MustLoad("nn.Sequential(nn.GLU(3))");
  ASSERT_NE(dim3, nullptr);
  EXPECT_EQ(ShapeOrError(*dim3, {2, 4}),
            "0 (GLU): Dimension out of range (expected to be in range of [-2, 1], but got 3) for "
            "input of shape [2, 4]");
  auto dim0 = MustLoad("nn.Sequential(nn.GLU(0))");
  ASSERT_NE(dim0, nullptr);
  EXPECT_EQ(ShapeOrError(*dim0, {6, 5}), "[3, 5]");
}

// a * sigmoid(b) as PyTorch computes it, a * (1 / (1 + exp(-b))): sigmoid(+-Inf) is 1, 0, so
// Inf * sigmoid(-Inf) is NaN.
TEST(GLU, ComputesASigmoidGateWithPyTorchsInfinities) {
  const std::vector<float> a = {1, 2, kInf, kInf, 3, kNan, -4, 5};
  const std::vector<float> b = {0, kInf, kInf, -kInf, -kInf, 1, kNan, 40};
  std::vector<float> x = a;
  x.insert(x.end(), b.begin(), b.end());
  const std::vector<float> y = Apply("nn.GLU()", x);
  ASSERT_EQ(y.size(), 8u);
  EXPECT_EQ(y[0], 0.5f);
  EXPECT_EQ(y[1], 2.f);
  EXPECT_EQ(y[2], kInf);
  EXPECT_TRUE(std::isnan(y[3]));
  EXPECT_EQ(y[4], 0.f);
  EXPECT_TRUE(std::isnan(y[5]));
  EXPECT_TRUE(std::isnan(y[6]));
  EXPECT_EQ(y[7], 5.f);
}

TEST(Softmax2d, TakesOnly3DOr4DInput) {
  auto model = MustLoad("nn.Sequential(nn.Softmax2d())");
  ASSERT_NE(model, nullptr);
  EXPECT_EQ(ShapeOrError(*model, {2, 3, 4, 5}), "[2, 3, 4, 5]");
  EXPECT_EQ(ShapeOrError(*model, {3, 4, 5}), "[3, 4, 5]");
  EXPECT_EQ(ShapeOrError(*model, {3, 4}),
            "0 (Softmax2d): expected input to be 3D or 4D, got 2D input [3, 4] instead");
  EXPECT_EQ(ShapeOrError(*model, {1, 2, 3, 4, 5}),
            "0 (Softmax2d): expected input to be 3D or 4D, got 5D input [1, 2, 3, 4, 5] instead");
}

// Softmin is the softmax of -x: the smallest logit gets the largest probability.
TEST(Softmin, IsTheSoftmaxOfTheNegatedInput) {
  const std::vector<float> y = Apply("nn.Softmin(0)", {0.f, std::log(2.f), kInf});
  ASSERT_EQ(y.size(), 3u);
  EXPECT_NEAR(y[0], 2.0 / 3.0, 1e-7);
  EXPECT_NEAR(y[1], 1.0 / 3.0, 1e-7);
  EXPECT_EQ(y[2], 0.f);
  // -Inf is +Inf after negation: the whole row becomes NaN, as in PyTorch.
  for (float v : Apply("nn.Softmin(0)", {1.f, -kInf, 2.f})) EXPECT_TRUE(std::isnan(v));
}

// The shrinks and Threshold at and around their thresholds, and on NaN/Inf, as PyTorch 2.1's
// CPU kernels compute them (Softshrink maps NaN to 0: none of its comparisons holds).
TEST(NewActivations, MatchPyTorchsFormulasAtTheThresholdsAndOnNaN) {
  const std::vector<float> x = {-2.f, -0.5f, -0.25f, 0.f, 0.5f, 0.75f, kInf, -kInf, kNan};
  EXPECT_TRUE(SameFloats(Apply("nn.Hardshrink()", x),
                         {-2.f, 0.f, 0.f, 0.f, 0.f, 0.75f, kInf, -kInf, kNan}));
  EXPECT_TRUE(SameFloats(Apply("nn.Softshrink()", x),
                         {-1.5f, 0.f, 0.f, 0.f, 0.f, 0.25f, kInf, -kInf, 0.f}));
  EXPECT_TRUE(SameFloats(Apply("nn.Threshold(0.5, -7)", x),
                         {-7.f, -7.f, -7.f, -7.f, -7.f, 0.75f, kInf, -7.f, kNan}));
  // RReLU in eval: slope (1/8 + 1/3) / 2 = 11/48.
  const std::vector<float> rrelu = Apply("nn.RReLU()", {-48.f, 3.f, kNan, -kInf});
  EXPECT_TRUE(SameFloats(rrelu, {-48.f * static_cast<float>(11.0 / 48.0), 3.f, kNan, -kInf}));
}

// What issue 13 found: ReLU mapped NaN to 0. PyTorch's relu and clamp propagate NaN; a leaky
// ReLU of slope 0 is x * 0, which makes -Inf NaN.
TEST(Activations, PropagateNaNAndInfinityAsPyTorch) {
  const std::vector<float> x = {kNan, kInf, -kInf, -1.f, 0.5f, 9.f};
  EXPECT_TRUE(SameFloats(Apply("nn.ReLU()", x), {kNan, kInf, 0.f, 0.f, 0.5f, 9.f}));
  EXPECT_TRUE(SameFloats(Apply("nn.ReLU6()", x), {kNan, 6.f, 0.f, 0.f, 0.5f, 6.f}));
  EXPECT_TRUE(SameFloats(Apply("nn.Hardtanh(-2, 2)", x), {kNan, 2.f, -2.f, -1.f, 0.5f, 2.f}));
  EXPECT_TRUE(SameFloats(Apply("nn.Hardsigmoid()", x),
                         {kNan, 1.f, 0.f, 2.f / 6.f, 3.5f / 6.f, 1.f}));
  EXPECT_TRUE(SameFloats(Apply("nn.LeakyReLU(0.0)", x), {kNan, kInf, kNan, -0.f, 0.5f, 9.f}));
  EXPECT_TRUE(SameFloats(Apply("nn.LeakyReLU(0.5)", x), {kNan, kInf, -kInf, -0.5f, 0.5f, 9.f}));
}

// The same, fused into a Linear(1, 1) of weight 1: its output is its input. (One feature per
// row: in a wider row a single NaN or Inf would make every output NaN, through 0 * Inf.)
TEST(Activations, FusedIntoALinearStillPropagateNaN) {
  TensorMap weights;
  weights["0.weight"] = Tensor({1, 1}, {1});
  weights["0.bias"] = Tensor({1}, {0});
  const Tensor x({6, 1}, {kNan, -kInf, -2.f, kInf, 0.25f, 7.f});
  for (const auto& [act, expected] : std::vector<std::pair<std::string, std::vector<float>>>{
           {"nn.ReLU()", {kNan, 0.f, 0.f, kInf, 0.25f, 7.f}},
           {"nn.ReLU6()", {kNan, 0.f, 0.f, 6.f, 0.25f, 6.f}},
           {"nn.LeakyReLU(0.0)", {kNan, kNan, -0.f, kInf, 0.25f, 7.f}},
           {"nn.RReLU(0.5, 0.5)", {kNan, -kInf, -1.f, kInf, 0.25f, 7.f}}}) {
    for (bool fuse : {true, false}) {
      auto model = MustLoad("nn.Sequential(nn.Linear(1, 1), " + act + ")", &weights, fuse);
      ASSERT_NE(model, nullptr);
      EXPECT_TRUE(SameFloats(RunModel(*model, x).data, expected)) << act << " fuse " << fuse;
    }
  }
}

// oneDNN 2.6's jit post-op chains give every op of one algorithm the parameters of the
// first (elu(1) then elu(0) computes elu(1) twice; linear(2) then linear(3) gives 4x), in
// Conv, Linear and every implementation tuning may pick. Such a chain must not be fused.
// Expected values by hand: ReLU(ELU(x)) = max(x, 0); LeakyReLU(0.5) of LeakyReLU(0.25) is
// x / 8 for x < 0; ELU(0.5) then ReLU then ELU(2) is max(x, 0).
TEST(Activations, ChainsOfOneAlgorithmWithOtherParametersStayCorrectWhenFused) {
  TensorMap weights;
  weights["0.weight"] = Tensor({1, 1}, {1});
  weights["0.bias"] = Tensor({1}, {0});
  const Tensor x({4, 1}, {-2.f, -0.5f, 0.25f, 3.f});
  for (const auto& [acts, expected] : std::vector<std::pair<std::string, std::vector<float>>>{
           {"nn.ELU(), nn.ReLU()", {0.f, 0.f, 0.25f, 3.f}},
           {"nn.LeakyReLU(0.25), nn.LeakyReLU(0.5)", {-0.25f, -0.0625f, 0.25f, 3.f}},
           {"nn.ELU(0.5), nn.ReLU(), nn.ELU(2.0)", {0.f, 0.f, 0.25f, 3.f}}}) {
    for (const std::string& producer : {std::string("nn.Linear(1, 1)"),
                                        std::string("nn.Conv1d(1, 1, 1)")}) {
      TensorMap w = weights;
      if (producer != "nn.Linear(1, 1)") w["0.weight"] = Tensor({1, 1, 1}, {1});
      auto model = MustLoad("nn.Sequential(" + producer + ", " + acts + ")", &w);
      ASSERT_NE(model, nullptr);
      const Tensor input = producer == "nn.Linear(1, 1)" ? x : Tensor({4, 1, 1}, x.data);
      EXPECT_TRUE(SameFloats(RunModel(*model, input).data, expected)) << producer << ", " << acts;
    }
  }
}

// ReLU and a leaky ReLU fuse into the Conv; the clamps and the new elementwise kernels run
// in place on the Conv's blocked output (they map 0 to 0, so its padding stays zero); a
// kernel that does not (Hardsigmoid(0) = 0.5) works on plain layout.
TEST(Activations, FuseOrRunInPlaceOnTheConvsLayout) {
  auto steps = [](const std::string& act) {
    auto model =
        MustLoadWithWeights("nn.Sequential(nn.Conv2d(3, 20, 3), " + act + ", nn.Conv2d(20, 4, 1))");
    return model == nullptr ? std::vector<std::string>{} : StepNames(*model, {2, 3, 9, 9});
  };
  const std::vector<std::string> fused = {"0 (Conv2d)", "2 (Conv2d)", "output (Plan) reorder"};
  EXPECT_EQ(steps("nn.ReLU()"), fused);
  EXPECT_EQ(steps("nn.RReLU()"), fused);
  for (const auto& [act, type] : std::vector<std::pair<std::string, std::string>>{
           {"nn.ReLU6()", "ReLU6"}, {"nn.Hardtanh()", "Hardtanh"},
           {"nn.Hardshrink()", "Hardshrink"}, {"nn.Softshrink()", "Softshrink"},
           {"nn.Threshold(-1, 5)", "Threshold"}, {"nn.LeakyReLU(0.0)", "LeakyReLU"}}) {
    EXPECT_EQ(steps(act), (std::vector<std::string>{"0 (Conv2d)", "1 (" + type + ")", "2 (Conv2d)",
                                                    "output (Plan) reorder"}));
  }
  std::vector<std::string> plain = steps("nn.Hardsigmoid()");
  EXPECT_NE(std::find(plain.begin(), plain.end(), "1 (Hardsigmoid) reorder"), plain.end());
}

// A standalone ReLU is one in-place kernel step, not oneDNN's two (elu, linear).
TEST(Activations, StandaloneReLUIsOneKernelStep) {
  auto model =
      MustLoadWithWeights("nn.Sequential(nn.Linear(4, 4), nn.Dropout(), nn.Softsign(), nn.ReLU())");
  ASSERT_NE(model, nullptr);
  EXPECT_EQ(StepNames(*model, {2, 4}),
            (std::vector<std::string>{"0 (Linear)", "2 (Softsign)", "3 (ReLU)"}));
}

// Work split over threads changes no bit (elementwise kernels and GLU).
TEST(NewActivations, ThreadsSplitTheWorkWithoutChangingResults) {
  const Tensor x = Ramp({16, 4096}, 5.f);
  for (const char* module : {"nn.Hardshrink()", "nn.Softshrink(1)", "nn.GLU()", "nn.ReLU6()",
                             "nn.Softmin(1)", "nn.Threshold(0.2, 4)"}) {
    const std::string seq = std::string("nn.Sequential(") + module + ")";
    auto serial = MustLoad(seq, nullptr, true, 1);
    auto parallel = MustLoad(seq, nullptr, true, 2);
    ASSERT_TRUE(serial != nullptr && parallel != nullptr);
    EXPECT_TRUE(SameFloats(RunModel(*parallel, x).data, RunModel(*serial, x).data)) << module;
  }
}

}  // namespace
}  // namespace seqserve
