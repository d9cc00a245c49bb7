// Flatten, Unflatten, Softmax, LogSoftmax and PReLU: PyTorch's constructor validation and
// messages, state_dict names, shape rules and errors, FLOPs, the plans they compile to (views
// without copies, no needless reorders, fusion), and hand-derivable numerics on every
// dim of ranks 0-5. The PyTorch comparisons are the misc_* goldens run by golden_test.cc.
#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/engine.h"
#include "core/executor.h"
#include "core/model.h"
#include "gtest/gtest.h"

namespace seqserve {
namespace {

// Whether `text` contains `part`, printing both when not (gtest here comes without gmock).
::testing::AssertionResult Contains(const std::string& text, const std::string& part) {
  if (text.find(part) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << "\"" << text << "\"\n  does not contain \"" << part << "\"";
}

absl::StatusOr<std::shared_ptr<Model>> Load(const std::string& seq,
                                            const TensorMap* weights = nullptr, bool fuse = true,
                                            int num_threads = 1) {
  ModelOptions options;
  options.fuse = fuse;
  options.num_threads = num_threads;
  return Model::FromSource(seq, "model.seq", weights, "model.safetensors", options);
}

// The load error of a model with one module and no weights file.
std::string LoadError(const std::string& module) {
  auto model = Load("nn.Sequential(" + module + ")");
  EXPECT_FALSE(model.ok()) << module << " loaded";
  return model.ok() ? "" : std::string(model.status().message());
}

std::shared_ptr<Model> MustLoad(const std::string& seq, const TensorMap* weights = nullptr,
                                bool fuse = true, int num_threads = 1) {
  auto model = Load(seq, weights, fuse, num_threads);
  EXPECT_TRUE(model.ok()) << seq << ": " << model.status();
  return model.ok() ? *model : nullptr;
}

// The output shape for `in`, or the error message.
std::string ShapeOrError(const Model& model, const Shape& in) {
  absl::StatusOr<Shape> out = model.OutputShape(in);
  return out.ok() ? ShapeToString(*out) : std::string(out.status().message());
}

// Deterministic values in [-scale, scale], different in every element.
Tensor Ramp(Shape shape, float scale = 1.f) {
  Tensor t(std::move(shape));
  for (int64_t i = 0; i < t.numel(); ++i) {
    t.data[i] = scale * std::sin(0.7f * static_cast<float>(i) + 0.3f);
  }
  return t;
}

Tensor RunModel(Model& model, const Tensor& input) {
  Executor executor(CpuEngine());
  absl::StatusOr<Tensor> out = model.Run(executor, input);
  EXPECT_TRUE(out.ok()) << out.status();
  return out.ok() ? *out : Tensor();
}

void ExpectNear(const Tensor& actual, const std::vector<double>& expected, double tol,
                const std::string& what) {
  ASSERT_EQ(actual.numel(), static_cast<int64_t>(expected.size())) << what;
  for (size_t i = 0; i < expected.size(); ++i) {
    ASSERT_NEAR(actual.data[i], expected[i], tol + tol * std::fabs(expected[i]))
        << what << " element " << i;
  }
}

// softmax / log_softmax of `x` along `axis`, in double: exp(x - max) / sum.
std::vector<double> ReferenceSoftmax(const Tensor& x, int axis, bool log) {
  int64_t outer = 1, inner = 1;
  for (int d = 0; d < axis; ++d) outer *= x.shape[d];
  for (size_t d = axis + 1; d < x.shape.size(); ++d) inner *= x.shape[d];
  const int64_t n = x.shape.empty() ? 1 : x.shape[axis];
  std::vector<double> y(x.data.size());
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t i = 0; i < inner; ++i) {
      auto at = [&](int64_t k) { return (o * n + k) * inner + i; };
      double max = -INFINITY;
      for (int64_t k = 0; k < n; ++k) max = std::max<double>(max, x.data[at(k)]);
      double sum = 0;
      for (int64_t k = 0; k < n; ++k) sum += std::exp(x.data[at(k)] - max);
      for (int64_t k = 0; k < n; ++k) {
        const double shifted = x.data[at(k)] - max;
        y[at(k)] = log ? shifted - std::log(sum) : std::exp(shifted) / sum;
      }
    }
  }
  return y;
}

int StepsNamed(const Plan& plan, const std::string& part) {
  int n = 0;
  for (const PlanStep& step : plan.steps()) n += step.name.find(part) != std::string::npos;
  return n;
}

std::string StepNames(const Plan& plan) {
  std::string names;
  for (const PlanStep& step : plan.steps()) names += step.name + "; ";
  return names;
}

// ---------------------------------------------------------------------------------------
// Flatten

TEST(Flatten, AcceptsPyTorchSignature) {
  auto model = MustLoad(
      "nn.Sequential(nn.Flatten(start_dim=0, end_dim=1), Flatten(1), "
      "torch.nn.Flatten())");
  ASSERT_NE(model, nullptr);
  EXPECT_EQ(model->NumParams(), 0);
  EXPECT_EQ(ShapeOrError(*model, {2, 3, 4, 5}), "[6, 20]");
}

TEST(Flatten, RejectsNonIntDims) {
  EXPECT_TRUE(Contains(LoadError("nn.Flatten(1.5)"),
                       "model.seq:1:26: Flatten: argument 'start_dim': expected int, got float"));
  EXPECT_TRUE(Contains(LoadError("nn.Flatten(end_dim=True)"),
                       "Flatten: argument 'end_dim': expected int, got bool"));
  EXPECT_TRUE(Contains(LoadError("nn.Flatten(1, 2, 3)"), "Flatten: takes at most 2"));
  EXPECT_TRUE(Contains(LoadError("nn.Flatten(dim=1)"), "unexpected keyword argument 'dim'"));
}

TEST(Flatten, ShapesAsPyTorch) {
  auto flatten = MustLoad("nn.Sequential(nn.Flatten())");
  EXPECT_EQ(ShapeOrError(*flatten, {2, 3, 4, 5}), "[2, 60]");
  EXPECT_EQ(ShapeOrError(*flatten, {2, 3}), "[2, 3]");
  EXPECT_EQ(ShapeOrError(*flatten, {2, 0, 3}), "[2, 0]");
  auto all = MustLoad("nn.Sequential(nn.Flatten(0))");
  EXPECT_EQ(ShapeOrError(*all, {7}), "[7]");
  EXPECT_EQ(ShapeOrError(*all, {}), "[1]");  // a scalar becomes a 1-element vector
  EXPECT_EQ(ShapeOrError(*all, {2, 3, 4}), "[24]");
  auto middle = MustLoad("nn.Sequential(nn.Flatten(-3, -2))");
  EXPECT_EQ(ShapeOrError(*middle, {2, 3, 4, 5}), "[2, 12, 5]");
  EXPECT_EQ(ShapeOrError(*middle, {3, 4, 5}), "[12, 5]");
  auto same = MustLoad("nn.Sequential(nn.Flatten(2, 2))");
  EXPECT_EQ(ShapeOrError(*same, {2, 3, 4}), "[2, 3, 4]");
}

TEST(Flatten, ShapeErrorsAsPyTorch) {
  auto flatten = MustLoad("nn.Sequential(nn.Flatten())");
  // A 1-D (unbatched) input has no dim 1.
  EXPECT_EQ(ShapeOrError(*flatten, {3}),
            "0 (Flatten): Dimension out of range (expected to be in range of [-1, 0], but got 1) "
            "for input of shape [3]");
  EXPECT_TRUE(Contains(ShapeOrError(*flatten, {}),
                       "Dimension out of range (expected to be in range of [-1, 0], but got 1)"));
  EXPECT_TRUE(Contains(ShapeOrError(*MustLoad("nn.Sequential(nn.Flatten(0, 5))"), {2, 3}),
                       "Dimension out of range (expected to be in range of [-2, 1], but got 5)"));
  EXPECT_TRUE(Contains(ShapeOrError(*MustLoad("nn.Sequential(nn.Flatten(3))"), {2, 3}),
                       "Dimension out of range (expected to be in range of [-2, 1], but got 3)"));
  EXPECT_TRUE(Contains(ShapeOrError(*MustLoad("nn.Sequential(nn.Flatten(-4))"), {2, 3, 4}),
                       "(expected to be in range of [-3, 2], but got -4)"));
  EXPECT_TRUE(Contains(ShapeOrError(*MustLoad("nn.Sequential(nn.Flatten(2, 1))"), {2, 3, 4}),
                       "flatten() has invalid args: start_dim cannot come after end_dim"));
  EXPECT_TRUE(Contains(ShapeOrError(*MustLoad("nn.Sequential(nn.Flatten(-1, 0))"), {2, 3}),
                       "start_dim cannot come after end_dim"));
}

TEST(Flatten, KeepsValuesInOrder) {
  auto model = MustLoad("nn.Sequential(nn.Flatten(0))");
  Tensor x = Ramp({2, 3, 4});
  Tensor y = RunModel(*model, x);
  EXPECT_EQ(y.shape, Shape({24}));
  EXPECT_EQ(y.data, x.data);
  Tensor scalar({}, {-2.5f});
  Tensor s = RunModel(*model, scalar);
  EXPECT_EQ(s.shape, Shape({1}));
  EXPECT_EQ(s.data, std::vector<float>({-2.5f}));
}

TEST(Flatten, CostsNothingBetweenLinears) {
  TensorMap w;
  w["0.weight"] = Ramp({6, 4});
  w["0.bias"] = Ramp({6});
  w["3.weight"] = Ramp({2, 6});
  w["3.bias"] = Ramp({2});
  auto model = MustLoad(
      "nn.Sequential(nn.Linear(4, 6), nn.Unflatten(1, (2, 3)), nn.Flatten(), nn.Linear(6, 2))", &w);
  ASSERT_NE(model, nullptr);
  auto plan = model->GetPlan({5, 4});
  ASSERT_TRUE(plan.ok()) << plan.status();
  // Two matmuls and nothing else: the views neither copy nor reorder.
  EXPECT_EQ((*plan)->steps().size(), 2u) << StepNames(**plan);
}

// ---------------------------------------------------------------------------------------
// Unflatten

TEST(Unflatten, AcceptsTuplesListsAndTorchSize) {
  for (const char* module :
       {"nn.Unflatten(1, (2, 3))", "nn.Unflatten(1, [2, 3])",
        "nn.Unflatten(dim=1, unflattened_size=(2, -1))", "nn.Unflatten(-1, torch.Size([2, 3]))",
        "nn.Unflatten(1, (True, 6, 1))"}) {
    auto model = MustLoad(std::string("nn.Sequential(") + module + ")");
    ASSERT_NE(model, nullptr);
    EXPECT_TRUE(Contains(ShapeOrError(*model, {4, 6}), "[4, ")) << module;
  }
}

TEST(Unflatten, RejectsWhatPyTorchRejectsForEveryInput) {
  EXPECT_TRUE(Contains(LoadError("nn.Unflatten(1, 6)"),
                       "model.seq:1:31: Unflatten: argument 'unflattened_size': unflattened_size "
                       "must be a tuple of ints, but found type int"));
  EXPECT_TRUE(Contains(LoadError("nn.Unflatten(1, (2, 3.0))"),
                       "unflattened_size must be tuple of ints, but found element of type float "
                       "at pos 1"));
  EXPECT_TRUE(Contains(LoadError("nn.Unflatten(1, (-1, -1))"),
                       "argument 'unflattened_size': only one dimension can be inferred"));
  EXPECT_TRUE(Contains(LoadError("nn.Unflatten(1, (2, -2))"),
                       "argument 'unflattened_size': invalid shape dimension -2"));
  EXPECT_TRUE(Contains(LoadError("nn.Unflatten(1, ())"), "unflatten: sizes must be non-empty"));
  EXPECT_TRUE(Contains(LoadError("nn.Unflatten(None, (2, 3))"),
                       "argument 'dim': invalid argument type for dim parameter"));
  EXPECT_TRUE(Contains(LoadError("nn.Unflatten(1.0, (2, 3))"),
                       "argument 'dim': invalid argument type for dim parameter"));
  EXPECT_TRUE(Contains(LoadError("nn.Unflatten('c', (('h', 2), ('w', 3)))"),
                       "argument 'dim': named dimensions are not supported"));
  EXPECT_TRUE(Contains(LoadError("nn.Unflatten(1)"),
                       "missing required argument "
                       "'unflattened_size'"));
}

TEST(Unflatten, ShapesAsPyTorch) {
  auto model = MustLoad("nn.Sequential(nn.Unflatten(1, (2, -1)))");
  EXPECT_EQ(ShapeOrError(*model, {4, 6}), "[4, 2, 3]");
  EXPECT_EQ(ShapeOrError(*model, {4, 8, 5}), "[4, 2, 4, 5]");
  EXPECT_EQ(ShapeOrError(*MustLoad("nn.Sequential(nn.Unflatten(-1, (2, 3)))"), {6}), "[2, 3]");
  EXPECT_EQ(ShapeOrError(*MustLoad("nn.Sequential(nn.Unflatten(1, (6,)))"), {4, 6}), "[4, 6]");
  EXPECT_EQ(ShapeOrError(*MustLoad("nn.Sequential(nn.Unflatten(1, (2, 0)))"), {4, 0}), "[4, 2, 0]");
}

TEST(Unflatten, ShapeErrorsAsPyTorch) {
  auto model = MustLoad("nn.Sequential(nn.Unflatten(1, (2, -1)))");
  EXPECT_EQ(ShapeOrError(*model, {4, 5}),
            "0 (Unflatten): unflatten: Provided sizes [2, -1] don't multiply up to the size of "
            "dim 1 (5) in the input tensor for input of shape [4, 5]");
  EXPECT_TRUE(Contains(ShapeOrError(*MustLoad("nn.Sequential(nn.Unflatten(-1, (4, 2)))"), {4, 6}),
                       "Provided sizes [4, 2] don't multiply up to the size of dim 1 (6)"));
  EXPECT_TRUE(Contains(ShapeOrError(*model, {4}),
                       "Dimension out of range (expected to be in range of [-1, 0], but got 1)"));
  EXPECT_TRUE(Contains(ShapeOrError(*MustLoad("nn.Sequential(nn.Unflatten(0, (1,)))"), {}),
                       "Dimension specified as 0 but tensor has no dimensions"));
  EXPECT_TRUE(Contains(ShapeOrError(*MustLoad("nn.Sequential(nn.Unflatten(1, (0, -1)))"), {4, 0}),
                       "cannot reshape tensor of 0 elements into shape [0, -1] because the "
                       "unspecified dimension size -1 can be any value and is ambiguous"));
  EXPECT_TRUE(Contains(ShapeOrError(*MustLoad("nn.Sequential(nn.Unflatten(1, (0, -1)))"), {4, 6}),
                       "Provided sizes [0, -1] don't multiply up to the size of dim 1 (6)"));
}

TEST(Unflatten, KeepsValuesInOrder) {
  auto model = MustLoad("nn.Sequential(nn.Unflatten(0, (3, -1)))");
  Tensor x = Ramp({12});
  Tensor y = RunModel(*model, x);
  EXPECT_EQ(y.shape, Shape({3, 4}));
  EXPECT_EQ(y.data, x.data);
}

// ---------------------------------------------------------------------------------------
// Softmax / LogSoftmax

TEST(Softmax, AcceptsPyTorchSignature) {
  for (const char* module : {"nn.Softmax()", "nn.Softmax(None)", "nn.Softmax(dim=-1)",
                             "nn.LogSoftmax(1)", "nn.LogSoftmax(dim=None)"}) {
    auto model = MustLoad(std::string("nn.Sequential(") + module + ")");
    ASSERT_NE(model, nullptr);
    EXPECT_EQ(model->NumParams(), 0);
  }
}

TEST(Softmax, RejectsNonIntDim) {
  EXPECT_TRUE(Contains(LoadError("nn.Softmax(1.0)"),
                       "model.seq:1:26: Softmax: argument 'dim': expected int, got float"));
  EXPECT_TRUE(Contains(LoadError("nn.LogSoftmax(dim='a')"),
                       "LogSoftmax: argument 'dim': expected int, got str"));
  EXPECT_TRUE(Contains(LoadError("nn.Softmax(True)"), "argument 'dim': expected int, got bool"));
  EXPECT_TRUE(Contains(LoadError("nn.Softmax(1, 2)"), "Softmax: takes at most 1"));
  EXPECT_TRUE(Contains(LoadError("nn.LogSoftmax(axis=1)"), "unexpected keyword argument 'axis'"));
}

TEST(Softmax, ShapeErrorsAsPyTorch) {
  EXPECT_EQ(ShapeOrError(*MustLoad("nn.Sequential(nn.Softmax(dim=2))"), {2, 3}),
            "0 (Softmax): Dimension out of range (expected to be in range of [-2, 1], but got 2) "
            "for input of shape [2, 3]");
  EXPECT_TRUE(Contains(ShapeOrError(*MustLoad("nn.Sequential(nn.LogSoftmax(-3))"), {2, 3}),
                       "0 (LogSoftmax): Dimension out of range (expected to be in range of "
                       "[-2, 1], but got -3)"));
  EXPECT_TRUE(Contains(ShapeOrError(*MustLoad("nn.Sequential(nn.Softmax(1))"), {3}),
                       "(expected to be in range of [-1, 0], but got 1)"));
  // A scalar takes dims 0 and -1.
  EXPECT_EQ(ShapeOrError(*MustLoad("nn.Sequential(nn.Softmax(-1))"), {}), "[]");
  // dim=None picks 0 or 1 by rank, always in range.
  auto implicit = MustLoad("nn.Sequential(nn.Softmax())");
  for (const Shape& shape :
       {Shape{}, Shape{3}, Shape{3, 4}, Shape{3, 4, 5}, Shape{2, 3, 4, 5}, Shape{2, 3, 4, 5, 6}}) {
    EXPECT_EQ(ShapeOrError(*implicit, shape), ShapeToString(shape));
  }
}

TEST(Softmax, CountsFiveFlopsPerElement) {
  EXPECT_EQ(MustLoad("nn.Sequential(nn.Softmax(1))")->root().Flops({2, 3, 4}), 5 * 24);
  EXPECT_EQ(MustLoad("nn.Sequential(nn.LogSoftmax(1))")->root().Flops({2, 3}), 5 * 6);
}

TEST(Softmax, HandDerivedValuesSurviveHugeLogits) {
  // exp(1000) overflows float; softmax must subtract the maximum first. The logits differ by
  // exactly 1 (representable at 1000), so softmax is 1 / (1 + e) and e / (1 + e).
  const double e = std::exp(1.0);
  Tensor x({2, 2}, {1000.f, 1001.f, -1000.f, -1000.f});
  ExpectNear(RunModel(*MustLoad("nn.Sequential(nn.Softmax(dim=1))"), x),
             {1 / (1 + e), e / (1 + e), 0.5, 0.5}, 1e-6, "softmax");
  ExpectNear(RunModel(*MustLoad("nn.Sequential(nn.LogSoftmax(dim=1))"), x),
             {-1 - std::log1p(1 / e), -std::log1p(1 / e), -std::log(2.0), -std::log(2.0)}, 1e-6,
             "log_softmax");
  ExpectNear(RunModel(*MustLoad("nn.Sequential(nn.Softmax(dim=0))"), x), {1, 1, 0, 0}, 1e-6,
             "softmax dim 0");
  // A scalar is its own maximum: softmax 1, log_softmax exactly 0.
  Tensor scalar({}, {123.f});
  ExpectNear(RunModel(*MustLoad("nn.Sequential(nn.Softmax())"), scalar), {1}, 0, "scalar");
  ExpectNear(RunModel(*MustLoad("nn.Sequential(nn.LogSoftmax(0))"), scalar), {0}, 0, "scalar log");
}

TEST(Softmax, EmptyInputsComputeNothing) {
  for (const char* module : {"nn.Softmax(0)", "nn.LogSoftmax(1)", "nn.Flatten()"}) {
    auto model = MustLoad(std::string("nn.Sequential(") + module + ")");
    ASSERT_NE(model, nullptr);
    EXPECT_EQ(RunModel(*model, Tensor({0, 3})).numel(), 0) << module;
  }
}

// A class that dominates by far has log-probability -exp(-margin): tiny and never positive
// (oneDNN's softmax_log says +1.4e-6, a probability above 1).
TEST(LogSoftmax, DominantClassIsNeverPositive) {
  Tensor x({3, 9});
  for (int64_t i = 0; i < x.numel(); ++i) x.data[i] = i % 9 == 4 ? 60.f : -40.f + (i % 5);
  for (const char* dim : {"1", "-1"}) {
    Tensor y = RunModel(*MustLoad(std::string("nn.Sequential(nn.LogSoftmax(") + dim + "))"), x);
    for (int64_t i = 4; i < y.numel(); i += 9) EXPECT_LE(y.data[i], 0.f) << dim << " " << i;
  }
  Tensor column = RunModel(*MustLoad("nn.Sequential(nn.LogSoftmax(0))"),
                           Tensor({2, 5}, {90, 90, 90, 90, 90, -10, -10, -10, -10, -10}));
  for (int i = 0; i < 5; ++i) EXPECT_LE(column.data[i], 0.f) << i;
}

TEST(LogSoftmax, PropagatesNaNAndInfinityAsPyTorch) {
  const float nan = NAN;
  const float inf = INFINITY;
  // A NaN or +inf poisons its row; -inf is a zero probability.
  Tensor x({3, 5}, {1, 2, nan, 4, 5, 1, inf, 3, 4, 5, -inf, 0, 0, -inf, 0});
  Tensor y = RunModel(*MustLoad("nn.Sequential(nn.LogSoftmax(1))"), x);
  for (int i = 0; i < 10; ++i) EXPECT_TRUE(std::isnan(y.data[i])) << i;
  const double log3 = std::log(3.0);
  ExpectNear(Tensor({3}, {y.data[11], y.data[12], y.data[14]}), {-log3, -log3, -log3}, 1e-6,
             "-inf row");
  EXPECT_EQ(y.data[10], -inf);
  EXPECT_EQ(y.data[13], -inf);
}

// Every dim (negative and implicit too) of ranks 1-5, against the formula in double; this
// walks both the direct path and the one that first makes the axis innermost.
TEST(Softmax, MatchesFormulaOnEveryDimOfRanksOneToFive) {
  const std::vector<Shape> shapes = {{7}, {4, 9}, {3, 5, 6}, {2, 3, 4, 5}, {2, 3, 2, 4, 3}};
  for (bool log : {false, true}) {
    for (const Shape& shape : shapes) {
      const int rank = static_cast<int>(shape.size());
      Tensor x = Ramp(shape, 30.f);
      for (int dim = -rank; dim <= rank; ++dim) {
        // dim == rank stands for dim=None.
        const bool implicit = dim == rank;
        const std::string seq = std::string("nn.Sequential(nn.") +
                                (log ? "LogSoftmax" : "Softmax") + "(" +
                                (implicit ? "" : std::to_string(dim)) + "))";
        const int axis = implicit ? (rank == 1 || rank == 3 ? 0 : 1) : (dim + rank) % rank;
        auto model = MustLoad(seq);
        ASSERT_NE(model, nullptr);
        Tensor y = RunModel(*model, x);
        EXPECT_EQ(y.shape, shape);
        ExpectNear(y, ReferenceSoftmax(x, axis, log), 2e-5, seq + " on " + ShapeToString(shape));
      }
    }
  }
}

TEST(Softmax, RunsInPlaceAfterLinearWithoutReorders) {
  TensorMap w;
  w["0.weight"] = Ramp({10, 16});
  w["0.bias"] = Ramp({10});
  auto model = MustLoad("nn.Sequential(nn.Linear(16, 10), nn.Softmax(dim=-1))", &w);
  ASSERT_NE(model, nullptr);
  auto plan = model->GetPlan({8, 16});
  ASSERT_TRUE(plan.ok()) << plan.status();
  ASSERT_EQ((*plan)->steps().size(), 2u) << StepNames(**plan);
  EXPECT_EQ(StepsNamed(**plan, "reorder"), 0) << StepNames(**plan);
  const PlanStep& softmax = (*plan)->steps()[1];
  EXPECT_EQ(softmax.args[0].buffer, softmax.args[1].buffer);  // src and dst
}

TEST(Softmax, OverBlockedConvChannelsNeedsNoReorder) {
  TensorMap w;
  w["0.weight"] = Ramp({32, 3, 3, 3});
  w["0.bias"] = Ramp({32});
  auto model = MustLoad("nn.Sequential(nn.Conv2d(3, 32, 3), nn.Softmax(dim=1))", &w);
  ASSERT_NE(model, nullptr);
  auto plan = model->GetPlan({2, 3, 9, 9});
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(StepsNamed(**plan, "1 (Softmax) reorder"), 0) << StepNames(**plan);
}

// Rows and column groups are independent, so splitting them over threads changes no bit.
TEST(LogSoftmax, ThreadsSplitTheWorkWithoutChangingResults) {
  for (const auto& [dim, shape] :
       {std::pair<int, Shape>{1, {64, 1000}}, std::pair<int, Shape>{1, {4, 64, 301}}}) {
    const std::string seq = "nn.Sequential(nn.LogSoftmax(" + std::to_string(dim) + "))";
    Tensor x = Ramp(shape, 20.f);
    Tensor serial = RunModel(*MustLoad(seq, nullptr, true, /*num_threads=*/1), x);
    Tensor parallel = RunModel(*MustLoad(seq, nullptr, true, /*num_threads=*/2), x);
    EXPECT_EQ(serial.data, parallel.data) << ShapeToString(shape);
    ExpectNear(parallel, ReferenceSoftmax(x, dim, /*log=*/true), 2e-6, ShapeToString(shape));
  }
}

// ---------------------------------------------------------------------------------------
// PReLU

TEST(PReLU, StateDictHasOneWeightPerParameter) {
  TensorMap none;
  auto model = Load("nn.Sequential(nn.PReLU(5))", &none);
  ASSERT_FALSE(model.ok());
  EXPECT_EQ(model.status().message(),
            "model.safetensors: missing key '0.weight' (expected shape [5])");
  auto named = Load("nn.Sequential(OrderedDict([('act', nn.PReLU())]))", &none);
  ASSERT_FALSE(named.ok());
  EXPECT_EQ(named.status().message(),
            "model.safetensors: missing key 'act.weight' (expected shape [1])");
  TensorMap w;
  w["0.weight"] = Ramp({5});
  auto loaded = MustLoad("nn.Sequential(nn.PReLU(5))", &w);
  ASSERT_NE(loaded, nullptr);
  EXPECT_EQ(loaded->NumParams(), 5);
}

TEST(PReLU, AcceptsPyTorchSignature) {
  TensorMap w;
  w["0.weight"] = Ramp({3});
  for (const char* module : {"nn.PReLU(3)", "nn.PReLU(3, 0.1)", "nn.PReLU(3, init=1)",
                             "nn.PReLU(num_parameters=3, init=True, device='cpu', dtype=None)"}) {
    EXPECT_NE(MustLoad(std::string("nn.Sequential(") + module + ")", &w), nullptr) << module;
  }
}

TEST(PReLU, RejectsWhatPyTorchRejects) {
  EXPECT_TRUE(Contains(LoadError("nn.PReLU(-1)"),
                       "model.seq:1:24: PReLU: argument 'num_parameters': Trying to create tensor "
                       "with negative dimension -1: [-1]"));
  EXPECT_TRUE(
      Contains(LoadError("nn.PReLU(2.0)"), "argument 'num_parameters': expected int, got float"));
  EXPECT_TRUE(
      Contains(LoadError("nn.PReLU(True)"), "argument 'num_parameters': expected int, got bool"));
  EXPECT_TRUE(Contains(LoadError("nn.PReLU(3, init='a')"), "argument 'init': expected float"));
  EXPECT_TRUE(Contains(LoadError("nn.PReLU(3, 0.2, None, None, 1)"), "PReLU: takes at most 4"));
}

TEST(PReLU, ShapesAsPyTorch) {
  TensorMap one;
  one["0.weight"] = Tensor({1}, {0.25f});
  auto single = MustLoad("nn.Sequential(nn.PReLU())", &one);
  for (const Shape& shape : {Shape{}, Shape{7}, Shape{2, 9}, Shape{2, 3, 4, 5, 6}}) {
    EXPECT_EQ(ShapeOrError(*single, shape), ShapeToString(shape));
  }
  TensorMap three;
  three["0.weight"] = Ramp({3});
  auto channels = MustLoad("nn.Sequential(nn.PReLU(3))", &three);
  EXPECT_EQ(ShapeOrError(*channels, {4, 3}), "[4, 3]");
  EXPECT_EQ(ShapeOrError(*channels, {2, 3, 5, 7}), "[2, 3, 5, 7]");
  // Channels are dim 1; a 1-D input counts as one channel, even when it has 3 elements.
  EXPECT_EQ(ShapeOrError(*channels, {3}),
            "0 (PReLU): Mismatch of parameter numbers and input channel size. Found parameter "
            "numbers = 3 and channel size = 1. Expected input of shape (N, 3, *), got [3]");
  EXPECT_TRUE(Contains(ShapeOrError(*channels, {3, 4}),
                       "Found parameter numbers = 3 and channel size = 4."));
  EXPECT_TRUE(Contains(ShapeOrError(*channels, {}), "0 (PReLU): Not allow zero-dim input tensor."));
  TensorMap empty;
  empty["0.weight"] = Tensor({0});
  EXPECT_EQ(ShapeOrError(*MustLoad("nn.Sequential(nn.PReLU(0))", &empty), {2, 0}), "[2, 0]");
}

TEST(PReLU, CountsOneFlopPerElement) {
  TensorMap w;
  w["0.weight"] = Ramp({3});
  EXPECT_EQ(MustLoad("nn.Sequential(nn.PReLU(3))", &w)->root().Flops({2, 3, 4}), 24);
}

TEST(PReLU, HandDerivedValues) {
  TensorMap w;
  w["0.weight"] = Tensor({3}, {0.1f, 0.2f, 0.3f});
  auto channels = MustLoad("nn.Sequential(nn.PReLU(3))", &w);
  // (2, 3, 2): channel c scales the negatives of x[:, c, :] by weight[c].
  Tensor x({2, 3, 2}, {-1, 2, -1, 2, -1, 2, -10, 0, -10, 0, -10, -0.5});
  ExpectNear(RunModel(*channels, x), {-0.1, 2, -0.2, 2, -0.3, 2, -1, 0, -2, 0, -3, -0.15}, 1e-7,
             "per channel");
  TensorMap one;
  one["0.weight"] = Tensor({1}, {-2.f});
  auto single = MustLoad("nn.Sequential(nn.PReLU())", &one);
  ExpectNear(RunModel(*single, Tensor({3}, {-1.f, 0.f, 4.f})), {2, 0, 4}, 0, "single");
  ExpectNear(RunModel(*single, Tensor({}, {-1.5f})), {3}, 0, "scalar");
}

TEST(PReLU, SingleWeightFusesIntoLinearPerChannelDoesNot) {
  TensorMap w;
  w["0.weight"] = Ramp({6, 4});
  w["0.bias"] = Ramp({6});
  w["1.weight"] = Tensor({1}, {0.3f});
  auto fused = MustLoad("nn.Sequential(nn.Linear(4, 6), nn.PReLU())", &w, /*fuse=*/true);
  auto unfused = MustLoad("nn.Sequential(nn.Linear(4, 6), nn.PReLU())", &w, /*fuse=*/false);
  ASSERT_NE(fused, nullptr);
  ASSERT_NE(unfused, nullptr);
  auto fused_plan = fused->GetPlan({3, 4});
  auto unfused_plan = unfused->GetPlan({3, 4});
  ASSERT_TRUE(fused_plan.ok() && unfused_plan.ok());
  EXPECT_EQ((*fused_plan)->steps().size(), 1u) << StepNames(**fused_plan);
  EXPECT_EQ((*unfused_plan)->steps().size(), 2u) << StepNames(**unfused_plan);
  Tensor x = Ramp({3, 4}, 2.f);
  EXPECT_EQ(RunModel(*fused, x).data, RunModel(*unfused, x).data);

  w["1.weight"] = Ramp({6});
  auto channels = MustLoad("nn.Sequential(nn.Linear(4, 6), nn.PReLU(6))", &w);
  ASSERT_NE(channels, nullptr);
  auto plan = channels->GetPlan({3, 4});
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(StepNames(**plan), "0 (Linear); 1 (PReLU); ");
}

TEST(PReLU, RunsOnBlockedConvOutputWithoutReorder) {
  TensorMap w;
  w["0.weight"] = Ramp({32, 3, 3, 3});
  w["0.bias"] = Ramp({32});
  w["1.weight"] = Ramp({32});
  auto model = MustLoad("nn.Sequential(nn.Conv2d(3, 32, 3), nn.PReLU(32))", &w);
  ASSERT_NE(model, nullptr);
  auto plan = model->GetPlan({2, 3, 9, 9});
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(StepsNamed(**plan, "1 (PReLU) reorder"), 0) << StepNames(**plan);
}

TEST(PReLU, ZeroChannelsComputeNothing) {
  TensorMap w;
  w["0.weight"] = Tensor({0});
  auto model = MustLoad("nn.Sequential(nn.PReLU(0))", &w);
  ASSERT_NE(model, nullptr);
  Tensor y = RunModel(*model, Tensor({2, 0}));
  EXPECT_EQ(y.shape, Shape({2, 0}));
}

}  // namespace
}  // namespace seqserve
