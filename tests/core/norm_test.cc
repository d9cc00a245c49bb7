// BatchNorm1d/2d, LayerNorm and GroupNorm: PyTorch's constructor validation, state_dict
// names, shape rules, FLOPs, and hand-derivable numerics (the PyTorch comparisons are the
// norm_* goldens run by golden_test.cc).
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

// Whether `text` contains `part`, printing both when not.
::testing::AssertionResult Contains(const std::string& text, const std::string& part) {
  if (text.find(part) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << "\"" << text << "\"\n  does not contain \"" << part << "\"";
}

absl::StatusOr<std::shared_ptr<Model>> Load(const std::string& seq, const TensorMap* weights,
                                            bool fuse = true) {
  ModelOptions options;
  options.fuse = fuse;
  return Model::FromSource(seq, "model.seq", weights, "model.safetensors", options);
}

// The load error of a model with one module and no weights file.
std::string LoadError(const std::string& module) {
  auto model = Load("nn.Sequential(" + module + ")", nullptr);
  EXPECT_FALSE(model.ok()) << module << " loaded";
  return model.ok() ? "" : std::string(model.status().message());
}

// Every key the model expects, as CheckStateDict reports them for an empty weights map.
std::string MissingKeys(const std::string& module) {
  TensorMap none;
  auto model = Load("nn.Sequential(" + module + ")", &none);
  if (model.ok()) return "";
  return std::string(model.status().message());
}

Tensor Full(Shape shape, float value) {
  Tensor t(std::move(shape));
  for (float& v : t.data) v = value;
  return t;
}

absl::StatusOr<Tensor> RunOnce(Model& model, const Tensor& input) {
  Executor executor(CpuEngine());
  return model.Run(executor, input);
}

// ---------------------------------------------------------------------------------------
// BatchNorm

TEST(BatchNorm, StateDictHasWeightBiasAndRunningStats) {
  EXPECT_EQ(MissingKeys("nn.BatchNorm2d(4)"),
            "model.safetensors: missing key '0.weight' (expected shape [4])\n"
            "model.safetensors: missing key '0.bias' (expected shape [4])\n"
            "model.safetensors: missing key '0.running_mean' (expected shape [4])\n"
            "model.safetensors: missing key '0.running_var' (expected shape [4])");
  EXPECT_EQ(MissingKeys("nn.BatchNorm1d(3, affine=False)"),
            "model.safetensors: missing key '0.running_mean' (expected shape [3])\n"
            "model.safetensors: missing key '0.running_var' (expected shape [3])");
}

TEST(BatchNorm, AcceptsPyTorchSignatureAndIgnoresTrainingArguments) {
  TensorMap w;
  w["0.running_mean"] = Full({3}, 0);
  w["0.running_var"] = Full({3}, 1);
  for (const char* seq : {
           "nn.Sequential(nn.BatchNorm1d(3, 1e-3, 0.5, False, True, 'cpu', None))",
           "nn.Sequential(nn.BatchNorm1d(num_features=3, eps=1, momentum=None, affine=False, "
           "track_running_stats=True, device='cpu', dtype=None))",
           "nn.Sequential(nn.BatchNorm1d(3, affine=False, dtype=torch.float32))",
       }) {
    auto model = Load(seq, &w);
    EXPECT_TRUE(model.ok()) << seq << ": " << model.status();
  }
}

TEST(BatchNorm, TrackRunningStatsFalseIsALoadErrorThatSaysWhy) {
  const std::string error = LoadError("nn.BatchNorm2d(8, track_running_stats=False)");
  EXPECT_TRUE(Contains(error,
                       "model.seq:1:33: BatchNorm2d: argument 'track_running_stats': "
                       "track_running_stats=False is not supported"));
  EXPECT_TRUE(Contains(error, "statistics of the batch"));
  EXPECT_TRUE(Contains(error, "depend on which other requests were batched with it"));
}

TEST(BatchNorm, RejectsInvalidArguments) {
  EXPECT_TRUE(Contains(LoadError("nn.BatchNorm1d(0)"),
                       "BatchNorm1d: argument 'num_features': must be positive, got 0"));
  EXPECT_TRUE(Contains(LoadError("nn.BatchNorm2d(-1)"),
                       "BatchNorm2d: argument 'num_features': must be positive, got -1"));
  EXPECT_TRUE(Contains(LoadError("nn.BatchNorm2d(2.0)"),
                       "argument 'num_features': expected int, got float (2.0)"));
  EXPECT_TRUE(
      Contains(LoadError("nn.BatchNorm2d(2, eps='x')"), "argument 'eps': expected float, got str"));
  EXPECT_TRUE(Contains(LoadError("nn.BatchNorm2d(2, momentum='x')"),
                       "argument 'momentum': expected float, got str"));
  EXPECT_TRUE(Contains(LoadError("nn.BatchNorm2d()"),
                       "BatchNorm2d: missing required argument 'num_features'"));
  EXPECT_TRUE(Contains(LoadError("nn.BatchNorm2d(2, inplace=True)"),
                       "BatchNorm2d: unexpected keyword argument 'inplace'"));
}

class BatchNormShapes : public ::testing::Test {
 protected:
  void SetUp() override {
    w_["0.weight"] = Full({3}, 1);
    w_["0.bias"] = Full({3}, 0);
    w_["0.running_mean"] = Full({3}, 0);
    w_["0.running_var"] = Full({3}, 1);
  }
  std::shared_ptr<Model> MustLoad(const std::string& module) {
    auto model = Load("nn.Sequential(" + module + ")", &w_);
    EXPECT_TRUE(model.ok()) << model.status();
    return model.ok() ? *model : nullptr;
  }
  static std::string ShapeError(const Model& model, const Shape& in) {
    auto out = model.OutputShape(in);
    EXPECT_FALSE(out.ok()) << ShapeToString(in);
    return out.ok() ? "" : std::string(out.status().message());
  }
  TensorMap w_;
};

TEST_F(BatchNormShapes, BatchNorm1dTakesNCAndNCL) {
  auto model = MustLoad("nn.BatchNorm1d(3)");
  ASSERT_NE(model, nullptr);
  EXPECT_EQ(*model->OutputShape({5, 3}), (Shape{5, 3}));
  EXPECT_EQ(*model->OutputShape({1, 3, 7}), (Shape{1, 3, 7}));
  EXPECT_EQ(ShapeError(*model, {3}), "0 (BatchNorm1d): expected 2D or 3D input (got 1D input [3])");
  EXPECT_EQ(ShapeError(*model, {2, 3, 4, 5}),
            "0 (BatchNorm1d): expected 2D or 3D input (got 4D input [2, 3, 4, 5])");
  EXPECT_EQ(ShapeError(*model, {5, 4}),
            "0 (BatchNorm1d): expected input with 3 channels (num_features=3) in dim 1, got "
            "[5, 4]");
  EXPECT_EQ(model->InputDims(), (Shape{3}));
  EXPECT_EQ(model->root().Flops({5, 3, 7}), 2 * 5 * 3 * 7);
}

TEST_F(BatchNormShapes, BatchNorm2dTakesOnly4D) {
  // PyTorch 1.13 and 2.x alike: BatchNorm2d rejects an unbatched (C, H, W) input.
  auto model = MustLoad("nn.BatchNorm2d(3)");
  ASSERT_NE(model, nullptr);
  EXPECT_EQ(*model->OutputShape({1, 3, 5, 7}), (Shape{1, 3, 5, 7}));
  EXPECT_EQ(ShapeError(*model, {3, 5, 7}),
            "0 (BatchNorm2d): expected 4D input (got 3D input [3, 5, 7])");
  EXPECT_EQ(ShapeError(*model, {1, 4, 5, 7}),
            "0 (BatchNorm2d): expected input with 3 channels (num_features=3) in dim 1, got "
            "[1, 4, 5, 7]");
  EXPECT_EQ(model->InputDims(), (Shape{3, -1, -1}));
}

// weight [2, 0.5, 1], bias [1, -1, 0], running_mean [3, -2, 0], running_var [3, 0, 15],
// eps 1: sqrt(var + eps) = [2, 1, 4], so scale = [1, 0.5, 0.25] and
// shift = bias - mean * scale = [-2, 0, 0].
TensorMap HandBatchNorm(const std::string& prefix) {
  TensorMap w;
  w[prefix + "weight"] = Tensor({3}, {2, 0.5f, 1});
  w[prefix + "bias"] = Tensor({3}, {1, -1, 0});
  w[prefix + "running_mean"] = Tensor({3}, {3, -2, 0});
  w[prefix + "running_var"] = Tensor({3}, {3, 0, 15});
  return w;
}

TEST(BatchNorm, ChannelAffineFoldsTheStatistics) {
  TensorMap w = HandBatchNorm("0.");
  auto model = Load("nn.Sequential(nn.BatchNorm1d(3, eps=1))", &w);
  ASSERT_TRUE(model.ok()) << model.status();
  const ChannelAffine* affine = (*model)->layers()[0].module->AsChannelAffine();
  ASSERT_NE(affine, nullptr);
  EXPECT_EQ(affine->scale, (std::vector<float>{1, 0.5f, 0.25f}));
  EXPECT_EQ(affine->shift, (std::vector<float>{-2, 0, 0}));
}

TEST(BatchNorm, StandaloneComputesTheInferenceTransform) {
  TensorMap w = HandBatchNorm("0.");
  for (const char* seq :
       {"nn.Sequential(nn.BatchNorm1d(3, eps=1))", "nn.Sequential(nn.BatchNorm2d(3, eps=1))"}) {
    auto model = Load(seq, &w);
    ASSERT_TRUE(model.ok()) << model.status();
    const bool is_2d = std::string(seq).find("2d") != std::string::npos;
    // Two samples, x[n][c] = [[0, 2, 4], [4, -2, 8]] -> y = x * scale + shift.
    Tensor x(is_2d ? Shape{2, 3, 1, 1} : Shape{2, 3}, {0, 2, 4, 4, -2, 8});
    auto y = RunOnce(**model, x);
    ASSERT_TRUE(y.ok()) << y.status();
    EXPECT_EQ(y->shape, x.shape);
    EXPECT_EQ(y->data, (std::vector<float>{-2, 1, 1, 2, -1, 2})) << seq;
    // The plan's input belongs to the caller and must survive an in-place step.
    EXPECT_EQ(x.data, (std::vector<float>{0, 2, 4, 4, -2, 8}));
  }
}

// Linear(2, 3) with W = [[1, 0], [0, 1], [1, 1]], b = [1, 0, -1], then the BatchNorm above:
// x = [1, 2] -> Linear [2, 2, 2] -> BatchNorm [0, 1, 0.5].
TEST(BatchNorm, FoldedIntoLinearMatchesUnfused) {
  TensorMap w = HandBatchNorm("1.");
  w["0.weight"] = Tensor({3, 2}, {1, 0, 0, 1, 1, 1});
  w["0.bias"] = Tensor({3}, {1, 0, -1});
  for (bool fuse : {true, false}) {
    auto model = Load("nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3, eps=1))", &w, fuse);
    ASSERT_TRUE(model.ok()) << model.status();
    auto y = RunOnce(**model, Tensor({1, 2}, {1, 2}));
    ASSERT_TRUE(y.ok()) << y.status();
    EXPECT_EQ(y->data, (std::vector<float>{0, 1, 0.5f})) << "fuse=" << fuse;
  }
}

// ---------------------------------------------------------------------------------------
// LayerNorm

TEST(LayerNorm, StateDictFollowsElementwiseAffineAndBias) {
  EXPECT_EQ(MissingKeys("nn.LayerNorm([2, 3])"),
            "model.safetensors: missing key '0.weight' (expected shape [2, 3])\n"
            "model.safetensors: missing key '0.bias' (expected shape [2, 3])");
  EXPECT_EQ(MissingKeys("nn.LayerNorm(5, bias=False)"),
            "model.safetensors: missing key '0.weight' (expected shape [5])");
  EXPECT_EQ(MissingKeys("nn.LayerNorm((4,), elementwise_affine=False)"), "");
  EXPECT_EQ(MissingKeys("nn.LayerNorm(4, 1e-3, False, True, None, None)"), "");
  EXPECT_EQ(MissingKeys("nn.LayerNorm(torch.Size([2, 3]), bias=False)"),
            "model.safetensors: missing key '0.weight' (expected shape [2, 3])");
}

TEST(LayerNorm, RejectsInvalidArguments) {
  EXPECT_TRUE(Contains(LoadError("nn.LayerNorm(())"),
                       "LayerNorm: argument 'normalized_shape': Expected normalized_shape to be "
                       "at least 1-dimensional"));
  EXPECT_TRUE(Contains(LoadError("nn.LayerNorm((3, 0))"),
                       "argument 'normalized_shape': sizes must be positive, got [3, 0]"));
  EXPECT_TRUE(Contains(LoadError("nn.LayerNorm(-1)"),
                       "argument 'normalized_shape': sizes must be positive, got [-1]"));
  EXPECT_TRUE(Contains(LoadError("nn.LayerNorm(2.5)"),
                       "argument 'normalized_shape': expected an int or a tuple of ints"));
  EXPECT_TRUE(
      Contains(LoadError("nn.LayerNorm(4, bias='no')"), "argument 'bias': expected bool, got str"));
  EXPECT_TRUE(Contains(LoadError("nn.LayerNorm(4, momentum=0.1)"),
                       "LayerNorm: unexpected keyword argument 'momentum'"));
}

TEST(LayerNorm, TrailingDimsMustEqualNormalizedShape) {
  auto model = Load("nn.Sequential(nn.LayerNorm((3, 4), elementwise_affine=False))", nullptr);
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ(*(*model)->OutputShape({3, 4}), (Shape{3, 4}));
  EXPECT_EQ(*(*model)->OutputShape({2, 5, 3, 4}), (Shape{2, 5, 3, 4}));
  auto bad = (*model)->OutputShape({2, 4, 3});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(),
            "0 (LayerNorm): expected input of shape [*, 3, 4] (normalized_shape=[3, 4]), got "
            "[2, 4, 3]");
  EXPECT_FALSE((*model)->OutputShape({4}).ok());
  EXPECT_EQ((*model)->InputDims(), (Shape{3, 4}));
  EXPECT_EQ((*model)->root().Flops({2, 3, 4}), 5 * 24);
}

// x = 1e6 + [-1, 0, 1] per row: mean 1e6, variance 2/3. A float sum of squares would lose
// every digit here; PyTorch's (and our) statistics do not.
TEST(LayerNorm, NormalisesExactlyDespiteALargeOffset) {
  TensorMap w;
  w["0.weight"] = Tensor({3}, {1, 2, 3});
  w["0.bias"] = Tensor({3}, {0, 0, 1});
  auto model = Load("nn.Sequential(nn.LayerNorm(3))", &w);
  ASSERT_TRUE(model.ok()) << model.status();
  auto y = RunOnce(**model, Tensor({2, 3}, {999999, 1000000, 1000001, 1000001, 1000000, 999999}));
  ASSERT_TRUE(y.ok()) << y.status();
  const double r = 1.0 / std::sqrt(2.0 / 3.0 + 1e-5);
  const std::vector<double> expected = {-r, 0, 3 * r + 1, r, 0, -3 * r + 1};
  for (size_t i = 0; i < expected.size(); ++i) EXPECT_NEAR(y->data[i], expected[i], 1e-6) << i;
}

// ---------------------------------------------------------------------------------------
// GroupNorm

TEST(GroupNorm, StateDictIsPerChannelWeightAndBias) {
  EXPECT_EQ(MissingKeys("nn.GroupNorm(2, 6)"),
            "model.safetensors: missing key '0.weight' (expected shape [6])\n"
            "model.safetensors: missing key '0.bias' (expected shape [6])");
  EXPECT_EQ(MissingKeys("nn.GroupNorm(num_groups=2, num_channels=6, eps=1e-3, affine=False, "
                        "device='cpu', dtype=None)"),
            "");
}

TEST(GroupNorm, RejectsWhatPyTorchRejects) {
  EXPECT_TRUE(Contains(LoadError("nn.GroupNorm(3, 4)"),
                       "GroupNorm: argument 'num_groups': num_channels must be divisible by "
                       "num_groups (num_channels=4, num_groups=3)"));
  EXPECT_TRUE(Contains(LoadError("nn.GroupNorm(0, 4)"),
                       "argument 'num_groups': ZeroDivisionError: integer modulo by zero"));
  EXPECT_TRUE(Contains(LoadError("nn.GroupNorm(-2, 4)"),
                       "argument 'num_groups': Expected num groups to be greater than 0, got -2"));
  EXPECT_TRUE(Contains(LoadError("nn.GroupNorm(2, 0)"),
                       "argument 'num_channels': must be positive, got 0"));
  EXPECT_TRUE(Contains(LoadError("nn.GroupNorm(2)"),
                       "GroupNorm: missing required argument 'num_channels'"));
}

TEST(GroupNorm, TakesNCStarAndNeedsTheChannelsOnlyForTheWeight) {
  TensorMap w;
  w["0.weight"] = Full({4}, 1);
  w["0.bias"] = Full({4}, 0);
  auto affine = Load("nn.Sequential(nn.GroupNorm(2, 4))", &w);
  ASSERT_TRUE(affine.ok()) << affine.status();
  EXPECT_EQ(*(*affine)->OutputShape({2, 4}), (Shape{2, 4}));
  EXPECT_EQ(*(*affine)->OutputShape({1, 4, 3, 2, 5}), (Shape{1, 4, 3, 2, 5}));
  EXPECT_EQ((*affine)->OutputShape({4}).status().message(),
            "0 (GroupNorm): expected input of shape (N, C, *) with at least 2 dimensions, got "
            "[4]");
  // PyTorch reads a 2-D input as (N, C), never as unbatched (C, L).
  EXPECT_EQ((*affine)->OutputShape({4, 3}).status().message(),
            "0 (GroupNorm): expected input with 4 channels (num_channels=4) in dim 1, got [4, 3]");
  EXPECT_EQ((*affine)->InputDims(), (Shape{4, -1, -1}));
  EXPECT_EQ((*affine)->root().Flops({2, 4, 3}), 7 * 24);

  auto plain = Load("nn.Sequential(nn.GroupNorm(2, 4, affine=False))", nullptr);
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_EQ(*(*plain)->OutputShape({2, 6, 3}), (Shape{2, 6, 3}));
  EXPECT_EQ((*plain)->OutputShape({2, 5, 3}).status().message(),
            "0 (GroupNorm): expected input whose channels (dim 1) are divisible by "
            "num_groups=2, got [2, 5, 3]");
}

// Groups of 2 channels x 2 positions: group 0 = [1, 3, 1, 3] (mean 2, variance 1) and
// group 1 = [4, 6, 4, 6] (mean 5, variance 1) both normalise to [-1, 1, -1, 1].
TEST(GroupNorm, NormalisesEachGroupThenAppliesItsChannelsAffine) {
  TensorMap w;
  w["0.weight"] = Tensor({4}, {1, 2, 3, 4});
  w["0.bias"] = Tensor({4}, {0, 1, 2, 3});
  auto model = Load("nn.Sequential(nn.GroupNorm(2, 4, eps=0))", &w);
  ASSERT_TRUE(model.ok()) << model.status();
  auto y = RunOnce(**model, Tensor({1, 4, 2}, {1, 3, 1, 3, 4, 6, 4, 6}));
  ASSERT_TRUE(y.ok()) << y.status();
  EXPECT_EQ(y->data, (std::vector<float>{-1, 1, -1, 3, -1, 5, -1, 7}));
}

// ---------------------------------------------------------------------------------------
// The kernels split rows across threads: every element must be computed exactly once.

ModelOptions TwoThreads() {
  ModelOptions options;
  options.num_threads = 2;
  return options;
}

TEST(NormKernels, CoverEveryElementOnSeveralThreads) {
  Executor executor(CpuEngine());
  // BatchNorm on plain data: y = x * [1, 0.5, 0.25][c] + [-2, 0, 0][c].
  {
    TensorMap w = HandBatchNorm("0.");
    auto model = Model::FromSource("nn.Sequential(nn.BatchNorm2d(3, eps=1))", "model.seq", &w,
                                   "model.safetensors", TwoThreads());
    ASSERT_TRUE(model.ok()) << model.status();
    Tensor x({4, 3, 40, 40});
    for (int64_t i = 0; i < x.numel(); ++i) x.data[i] = static_cast<float>(i % 97) - 48;
    auto y = (*model)->Run(executor, x);
    ASSERT_TRUE(y.ok()) << y.status();
    const float scale[] = {1, 0.5f, 0.25f}, shift[] = {-2, 0, 0};
    for (int64_t i = 0; i < x.numel(); ++i) {
      const int64_t c = (i / 1600) % 3;
      ASSERT_EQ(y->data[i], x.data[i] * scale[c] + shift[c]) << i;
    }
  }
  // LayerNorm(64) on rows r + [0, 1, ..., 63]: mean r + 31.5, variance (64^2 - 1) / 12.
  {
    auto model = Model::FromSource("nn.Sequential(nn.LayerNorm(64, elementwise_affine=False))",
                                   "model.seq", nullptr, "model.safetensors", TwoThreads());
    ASSERT_TRUE(model.ok()) << model.status();
    Tensor x({3, 200, 64});
    for (int64_t i = 0; i < x.numel(); ++i) x.data[i] = static_cast<float>(i / 64 + i % 64);
    auto y = (*model)->Run(executor, x);
    ASSERT_TRUE(y.ok()) << y.status();
    const double rstd = 1.0 / std::sqrt((64.0 * 64.0 - 1.0) / 12.0 + 1e-5);
    for (int64_t i = 0; i < x.numel(); ++i) {
      ASSERT_NEAR(y->data[i], (i % 64 - 31.5) * rstd, 1e-5) << i;
    }
  }
  // GroupNorm(2, 4) on (6, 4, 32, 32): each (sample, group) block is b + [0, 1, ..., 2047].
  {
    auto model = Model::FromSource("nn.Sequential(nn.GroupNorm(2, 4, affine=False))", "model.seq",
                                   nullptr, "model.safetensors", TwoThreads());
    ASSERT_TRUE(model.ok()) << model.status();
    Tensor x({6, 4, 32, 32});
    for (int64_t i = 0; i < x.numel(); ++i) x.data[i] = static_cast<float>(i / 2048 + i % 2048);
    auto y = (*model)->Run(executor, x);
    ASSERT_TRUE(y.ok()) << y.status();
    const double rstd = 1.0 / std::sqrt((2048.0 * 2048.0 - 1.0) / 12.0 + 1e-5);
    for (int64_t i = 0; i < x.numel(); ++i) {
      ASSERT_NEAR(y->data[i], (i % 2048 - 1023.5) * rstd, 1e-5) << i;
    }
  }
}

}  // namespace
}  // namespace seqserve
