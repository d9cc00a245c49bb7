// BatchNorm3d, InstanceNorm1d/2d/3d, LocalResponseNorm, Dropout3d and FeatureAlphaDropout:
// PyTorch's constructor checks and messages, state_dict names, shape rules and errors, input
// dims for config inference, and hand-derivable values. The comparisons with real PyTorch
// are the norm2_* goldens run by golden_test.cc.
#include <cmath>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/util/module_test_util.h"

namespace seqserve {
namespace {

using testing::Contains;
using testing::LoadError;
using testing::MissingKeys;
using testing::MustLoad;
using testing::MustLoadWithWeights;
using testing::Ramp;
using testing::RunModel;
using testing::SameFloats;
using testing::ShapeOrError;

TEST(BatchNorm3d, TakesOnly5DInputWithItsChannels) {
  EXPECT_EQ(MissingKeys("nn.BatchNorm3d(2)"),
            "model.safetensors: missing key '0.weight' (expected shape [2])\n"
            "model.safetensors: missing key '0.bias' (expected shape [2])\n"
            "model.safetensors: missing key '0.running_mean' (expected shape [2])\n"
            "model.safetensors: missing key '0.running_var' (expected shape [2])");
  auto model = MustLoadWithWeights("nn.Sequential(nn.BatchNorm3d(3))");
  ASSERT_NE(model, nullptr);
  EXPECT_EQ(ShapeOrError(*model, {2, 3, 4, 5, 6}), "[2, 3, 4, 5, 6]");
  EXPECT_EQ(ShapeOrError(*model, {3, 4, 5, 6}),
            "0 (BatchNorm3d): expected 5D input (got 4D input [3, 4, 5, 6])");
  EXPECT_EQ(ShapeOrError(*model, {2, 4, 4, 5, 6}),
            "0 (BatchNorm3d): expected input with 3 channels (num_features=3) in dim 1, got "
            "[2, 4, 4, 5, 6]");
  EXPECT_EQ(model->InputDims(), (Shape{3, -1, -1, -1}));
  EXPECT_EQ(LoadError("nn.BatchNorm3d(0)"),
            "model.seq:1:30: BatchNorm3d: argument 'num_features': must be positive, got 0");
  EXPECT_TRUE(Contains(LoadError("nn.BatchNorm3d(3, track_running_stats=False)"),
                       "BatchNorm3d: argument 'track_running_stats': track_running_stats=False is "
                       "not supported"));
}

TEST(InstanceNorm, StateDictHoldsWhatAffineAndTrackingCreate) {
  EXPECT_EQ(MissingKeys("nn.InstanceNorm2d(4)"), "");  // no parameters at all
  EXPECT_EQ(MissingKeys("nn.InstanceNorm1d(3, affine=True)"),
            "model.safetensors: missing key '0.weight' (expected shape [3])\n"
            "model.safetensors: missing key '0.bias' (expected shape [3])");
  EXPECT_EQ(MissingKeys("nn.InstanceNorm3d(2, track_running_stats=True)"),
            "model.safetensors: missing key '0.running_mean' (expected shape [2])\n"
            "model.safetensors: missing key '0.running_var' (expected shape [2])");
  EXPECT_EQ(MissingKeys("nn.InstanceNorm2d(2, affine=True, track_running_stats=True)"),
            "model.safetensors: missing key '0.weight' (expected shape [2])\n"
            "model.safetensors: missing key '0.bias' (expected shape [2])\n"
            "model.safetensors: missing key '0.running_mean' (expected shape [2])\n"
            "model.safetensors: missing key '0.running_var' (expected shape [2])");
}

TEST(InstanceNorm, RejectsWhatPyTorchRejects) {
  EXPECT_EQ(LoadError("nn.InstanceNorm2d(-2, affine=True)"),
            "model.seq:1:33: InstanceNorm2d: argument 'num_features': Trying to create tensor "
            "with negative dimension -2: [-2]");
  // Without weights or statistics PyTorch never uses num_features.
  EXPECT_NE(MustLoad("nn.Sequential(nn.InstanceNorm2d(-2))"), nullptr);
  EXPECT_TRUE(Contains(LoadError("nn.InstanceNorm1d(4, eps='x')"),
                       "InstanceNorm1d: argument 'eps': expected float, got str ('x')"));
  EXPECT_TRUE(Contains(LoadError("nn.InstanceNorm3d()"),
                       "InstanceNorm3d: missing required argument 'num_features'"));
  EXPECT_NE(MustLoad("nn.Sequential(nn.InstanceNorm1d(4, 1e-3, None, False, False, 'cpu', None))"),
            nullptr);
}

TEST(InstanceNorm, ShapesAsPyTorch) {
  auto plain = MustLoad("nn.Sequential(nn.InstanceNorm2d(3))");
  ASSERT_NE(plain, nullptr);
  EXPECT_EQ(ShapeOrError(*plain, {2, 3, 4, 5}), "[2, 3, 4, 5]");
  EXPECT_EQ(ShapeOrError(*plain, {3, 4, 5}), "[3, 4, 5]");
  EXPECT_EQ(ShapeOrError(*plain, {2, 7, 4, 5}), "[2, 7, 4, 5]");  // PyTorch only warns
  EXPECT_EQ(ShapeOrError(*plain, {4, 5}),
            "0 (InstanceNorm2d): expected 3D or 4D input (got 2D input [4, 5])");
  EXPECT_EQ(ShapeOrError(*plain, {3, 1, 1}),
            "0 (InstanceNorm2d): Expected more than 1 spatial element when training, got input "
            "size [1, 3, 1, 1]");
  EXPECT_EQ(plain->InputDims(), (Shape{3, -1, -1}));

  auto affine = MustLoadWithWeights("nn.Sequential(nn.InstanceNorm1d(4, affine=True))");
  ASSERT_NE(affine, nullptr);
  EXPECT_EQ(ShapeOrError(*affine, {2, 5, 6}),
            "0 (InstanceNorm1d): expected input's size at dim=1 to match num_features (4), but "
            "got: 5 (input of shape [2, 5, 6])");
  EXPECT_EQ(ShapeOrError(*affine, {5, 6}),
            "0 (InstanceNorm1d): expected input's size at dim=0 to match num_features (4), but "
            "got: 5 (input of shape [5, 6])");
  EXPECT_EQ(affine->InputDims(), (Shape{4, -1}));

  // With running statistics a single position is fine: nothing is computed from the input.
  auto tracked = MustLoadWithWeights("nn.Sequential(nn.InstanceNorm3d(2, track_running_stats=True))");
  ASSERT_NE(tracked, nullptr);
  EXPECT_EQ(ShapeOrError(*tracked, {2, 1, 1, 1}), "[2, 1, 1, 1]");
  EXPECT_TRUE(Contains(ShapeOrError(*tracked, {3, 2, 2, 2}), "to match num_features (2)"));
}

// Each (sample, channel) is normalised over its own positions: (x - mean) / sqrt(var + eps).
TEST(InstanceNorm, NormalisesEachChannelOfEachSample) {
  auto model = MustLoad("nn.Sequential(nn.InstanceNorm1d(2, eps=0.0))");
  ASSERT_NE(model, nullptr);
  // Channel 0: 1, 3 (mean 2, var 1); channel 1: 10, 10, so var 0 and 0 / 0 is NaN.
  const Tensor y = RunModel(*model, Tensor({2, 2}, {1, 3, 10, 10}));
  EXPECT_TRUE(SameFloats(y.data, {-1.f, 1.f, NAN, NAN}));
}

// The even window sits asymmetrically: channel c sums channels c - 1 and c (size 2), the one
// before channel 0 being zero padding, and divides by size whatever the edge.
TEST(LocalResponseNorm, UsesPyTorchsWindowAndFormula) {
  auto model = MustLoad("nn.Sequential(nn.LocalResponseNorm(2, alpha=1.0, beta=1.0, k=1.0))");
  ASSERT_NE(model, nullptr);
  const Tensor y = RunModel(*model, Tensor({1, 3, 1}, {1, 2, 3}));
  ASSERT_EQ(y.numel(), 3);
  EXPECT_FLOAT_EQ(y.data[0], 1.f / 1.5f);   // (0 + 1) / 2 + 1
  EXPECT_FLOAT_EQ(y.data[1], 2.f / 3.5f);   // (1 + 4) / 2 + 1
  EXPECT_FLOAT_EQ(y.data[2], 3.f / 7.5f);   // (4 + 9) / 2 + 1
  auto odd = MustLoad("nn.Sequential(nn.LocalResponseNorm(3, alpha=3.0, beta=0.5, k=0.0))");
  ASSERT_NE(odd, nullptr);
  // Channel 1 sums all three: (1 + 4 + 4) / 3 * 3 = 9, sqrt 3.
  const Tensor z = RunModel(*odd, Tensor({1, 3, 1}, {1, 2, -2}));
  EXPECT_FLOAT_EQ(z.data[1], 2.f / 3.f);
}

TEST(LocalResponseNorm, RejectsWhatPyTorchRejects) {
  EXPECT_EQ(LoadError("nn.LocalResponseNorm(0)"),
            "model.seq:1:36: LocalResponseNorm: argument 'size': must be positive (the channel "
            "window of the average pool), got 0");
  EXPECT_EQ(LoadError("nn.LocalResponseNorm(2.0)"),
            "model.seq:1:36: LocalResponseNorm: argument 'size': expected int, got float (2.0)");
  EXPECT_EQ(LoadError("nn.LocalResponseNorm(3, beta='x')"),
            "model.seq:1:39: LocalResponseNorm: argument 'beta': expected float, got str ('x')");
  EXPECT_TRUE(Contains(LoadError("nn.LocalResponseNorm()"), "missing required argument 'size'"));
  auto model = MustLoad("nn.Sequential(nn.LocalResponseNorm(3))");
  ASSERT_NE(model, nullptr);
  EXPECT_EQ(ShapeOrError(*model, {4, 5}),
            "0 (LocalResponseNorm): Expected 3D or higher dimensionality input (got 2 "
            "dimensions, input of shape [4, 5])");
  EXPECT_EQ(ShapeOrError(*model, {1, 2, 3, 4, 5, 6}), "[1, 2, 3, 4, 5, 6]");
}

TEST(Dropouts, Dropout3dAndFeatureAlphaDropoutAreIdentitiesThatCheckP) {
  EXPECT_EQ(LoadError("nn.Dropout3d(p=-0.1)"),
            "model.seq:1:28: Dropout3d: argument 'p': dropout probability has to be between 0 "
            "and 1, but got -0.1");
  EXPECT_EQ(LoadError("nn.FeatureAlphaDropout(1.5)"),
            "model.seq:1:38: FeatureAlphaDropout: argument 'p': dropout probability has to be "
            "between 0 and 1, but got 1.5");
  auto model = MustLoad("nn.Sequential(nn.Dropout3d(), nn.FeatureAlphaDropout(0.2, True))");
  ASSERT_NE(model, nullptr);
  const Tensor x = Ramp({2, 3});
  EXPECT_TRUE(SameFloats(RunModel(*model, x).data, x.data));
  EXPECT_EQ(ShapeOrError(*model, {7}), "[7]");
}

// Work split over threads changes no bit.
TEST(Normalization, ThreadsSplitTheWorkWithoutChangingResults) {
  const Tensor x = Ramp({4, 32, 16, 16}, 3.f);
  for (const char* module : {"nn.InstanceNorm2d(32, affine=True)",
                             "nn.InstanceNorm2d(32, track_running_stats=True)",
                             "nn.LocalResponseNorm(5, alpha=0.1)", "nn.BatchNorm2d(32)"}) {
    const std::string seq = std::string("nn.Sequential(") + module + ")";
    auto serial = MustLoadWithWeights(seq, true, 1);
    auto parallel = MustLoadWithWeights(seq, true, 2);
    ASSERT_TRUE(serial != nullptr && parallel != nullptr);
    EXPECT_TRUE(SameFloats(RunModel(*parallel, x).data, RunModel(*serial, x).data)) << module;
  }
}

}  // namespace
}  // namespace seqserve
