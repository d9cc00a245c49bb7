// ZeroPad, ConstantPad, ReflectionPad, ReplicationPad and CircularPad (1-3 d): PyTorch's
// argument checks, F.pad's rank rules and limits with errors naming expected and actual,
// hand-derivable values of every mode with positive and negative (cropping) padding (each
// also checked against PyTorch 1.13's F.pad when written), and the plan a pad between
// convolutions compiles to. The PyTorch comparisons at many shapes are the pad_* cases of
// golden_test.cc.
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/util/run_module.h"

namespace seqserve {
namespace {

using test::Contains;
using test::ExpectValues;
using test::LoadError;
using test::MustLoad;
using test::RunModule;
using test::ShapeOf;

std::vector<float> Ramp(int n) {
  std::vector<float> v(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) v[static_cast<size_t>(i)] = static_cast<float>(i);
  return v;
}

// ---------------------------------------------------------------------------------------
// Construction

TEST(Padding, AcceptsPyTorchSignatures) {
  for (const char* module : {
           "nn.ZeroPad1d(2)", "nn.ZeroPad2d((1, 2, 3, 4))", "nn.ZeroPad3d(padding=1)",
           "nn.ConstantPad1d(2, 3.5)", "nn.ConstantPad2d(padding=[1, 2, 3, 4], value=-1)",
           "nn.ConstantPad3d((1, 2, 3, 4, 5, 6), 0.0)", "nn.ReflectionPad1d((3, 1))",
           "nn.ReflectionPad2d(2)", "nn.ReflectionPad3d((1, 0, 1, 0, 1, 0))",
           "nn.ReplicationPad1d(padding=4)", "nn.ReplicationPad2d((-1, 2, 0, 1))",
           "nn.ReplicationPad3d(1)", "nn.CircularPad1d(1)", "nn.CircularPad2d((1, 1, 2, 0))",
           "nn.CircularPad3d(padding=(1, 2, 3, 0, 1, 1))",
           // F.pad takes any even length; fewer pairs pad fewer dims.
           "nn.ReflectionPad2d((1, 2))", "nn.ConstantPad1d((1, 2, 3, 4, 5, 6, 7, 8), 0.5)",
       }) {
    std::shared_ptr<Model> model = MustLoad(module);
    if (model != nullptr) {
      EXPECT_EQ(model->NumParams(), 0) << module;
    }
  }
}

TEST(Padding, RejectsWhatPyTorchRejects) {
  EXPECT_TRUE(Contains(LoadError("nn.ReflectionPad1d(2.0)"),
                       "model.seq:1:34: ReflectionPad1d: argument 'padding': expected an int or a "
                       "tuple of ints, got float (2.0)"));
  EXPECT_TRUE(Contains(LoadError("nn.ReflectionPad2d((1, 2, 3))"),
                       "ReflectionPad2d: argument 'padding': Padding length must be divisible by "
                       "2, got (1, 2, 3)"));
  EXPECT_TRUE(Contains(LoadError("nn.ReplicationPad3d((1, 1, 1, 1, 1, 1, 1, 1))"),
                       "ReplicationPad3d: argument 'padding': expected 2, 4 or 6 values (F.pad "
                       "pads 1 to 3 dims in mode 'replicate'), got (1, 1, 1, 1, 1, 1, 1, 1)"));
  EXPECT_TRUE(Contains(LoadError("nn.CircularPad1d(())"),
                       "CircularPad1d: argument 'padding': expected 2, 4 or 6 values"));
  EXPECT_TRUE(Contains(LoadError("nn.ConstantPad1d(2)"),
                       "ConstantPad1d: missing required argument 'value'"));
  EXPECT_TRUE(Contains(LoadError("nn.ConstantPad2d(1, 'a')"),
                       "ConstantPad2d: argument 'value': expected float, got str"));
  EXPECT_TRUE(Contains(LoadError("nn.ZeroPad2d(1, 0.0)"),
                       "ZeroPad2d: takes at most 1 positional argument (2 given)"));
  EXPECT_TRUE(Contains(LoadError("nn.ReflectionPad1d(1, mode='reflect')"),
                       "ReflectionPad1d: unexpected keyword argument 'mode'"));
  EXPECT_TRUE(Contains(LoadError("nn.CircularPad2d([1, 1.5])"),
                       "CircularPad2d: argument 'padding'"));
}

// ---------------------------------------------------------------------------------------
// Shapes

TEST(Padding, OutputShapesFollowFPad) {
  // Constant padding takes any rank with enough dims.
  EXPECT_EQ(ShapeOf("nn.ZeroPad2d(1)", {4, 3}), "[6, 5]");
  EXPECT_EQ(ShapeOf("nn.ZeroPad2d((1, 2, 0, 3))", {1, 1, 1, 3, 4}), "[1, 1, 1, 6, 7]");
  EXPECT_EQ(ShapeOf("nn.ConstantPad3d(1, 2.0)", {3, 4, 5}), "[5, 6, 7]");
  EXPECT_EQ(ShapeOf("nn.ZeroPad1d((1, 2))", {0, 2, 4}), "[0, 2, 7]");
  // Cropping may leave nothing, as in PyTorch.
  EXPECT_EQ(ShapeOf("nn.ConstantPad1d((-2, -2), 1.0)", {1, 2, 4}), "[1, 2, 0]");
  // The other modes take (N, C, *dims) or (C, *dims) for the dims the tuple pads.
  EXPECT_EQ(ShapeOf("nn.ReflectionPad2d((1, 2))", {2, 3, 4}), "[2, 3, 7]");
  EXPECT_EQ(ShapeOf("nn.ReflectionPad2d((1, 2, 0, 1))", {3, 4, 5}), "[3, 5, 8]");
  EXPECT_EQ(ShapeOf("nn.ReplicationPad1d(5)", {2, 1}), "[2, 11]");
  EXPECT_EQ(ShapeOf("nn.ReplicationPad3d((1, -1, 2, 0, 0, 3))", {0, 2, 1, 3, 4}),
            "[0, 2, 4, 5, 4]");
  EXPECT_EQ(ShapeOf("nn.CircularPad3d(1)", {2, 3, 4, 5}), "[2, 5, 6, 7]");
  EXPECT_EQ(ShapeOf("nn.CircularPad1d((3, -2))", {2, 3, 6}), "[2, 3, 7]");
}

TEST(Padding, ShapeErrorsNameExpectedAndActual) {
  EXPECT_EQ(ShapeOf("nn.ReflectionPad1d(3)", {1, 2, 3}),
            "0 (ReflectionPad1d): expected padding (3, 3) smaller than the input size 3 of "
            "dimension 2 for padding_mode='reflect', got [1, 2, 3]");
  EXPECT_EQ(ShapeOf("nn.ReflectionPad1d((-2, -2))", {1, 2, 4}),
            "0 (ReflectionPad1d): expected padding (-2, -2) to leave at least one element of "
            "dimension 2 (size 4) for padding_mode='reflect', got [1, 2, 4] (padded size 0)");
  EXPECT_EQ(ShapeOf("nn.CircularPad1d(5)", {1, 2, 4}),
            "0 (CircularPad1d): expected padding (5, 5) at most the input size 4 of dimension 2 "
            "for padding_mode='circular' (padding may wrap around only once), got [1, 2, 4]");
  // PyTorch wraps within what is left after cropping the other side.
  EXPECT_EQ(ShapeOf("nn.CircularPad1d((4, -3))", {1, 2, 6}),
            "0 (CircularPad1d): expected padding (4, -3) at most the input size 3 left after "
            "cropping of dimension 2 for padding_mode='circular' (padding may wrap around only "
            "once), got [1, 2, 6]");
  EXPECT_EQ(ShapeOf("nn.ConstantPad1d((-3, -2), 0.0)", {1, 2, 4}),
            "0 (ConstantPad1d): expected negative padding (-3, -2) to crop at most the size 4 "
            "of dimension 2, got [1, 2, 4]");
  EXPECT_EQ(ShapeOf("nn.ReflectionPad2d(1)", {3, 4}),
            "0 (ReflectionPad2d): expected 3D (C, H, W) or 4D (N, C, H, W) input with non-zero "
            "sizes (but the batch) for 4 padding values, got [3, 4]");
  EXPECT_EQ(ShapeOf("nn.ReplicationPad2d(1)", {1, 0, 2, 4}),
            "0 (ReplicationPad2d): expected 3D (C, H, W) or 4D (N, C, H, W) input with non-zero "
            "sizes (but the batch) for 4 padding values, got [1, 0, 2, 4]");
  EXPECT_EQ(ShapeOf("nn.CircularPad2d(1)", {1, 2, 3, 4, 5}),
            "0 (CircularPad2d): expected 3D (C, H, W) or 4D (N, C, H, W) input, got "
            "[1, 2, 3, 4, 5]");
  // CircularPad2d's own rank check passes, then F.pad's for two values fails.
  EXPECT_EQ(ShapeOf("nn.CircularPad2d((1, 1))", {1, 2, 3, 4}),
            "0 (CircularPad2d): expected 2D (C, W) or 3D (N, C, W) input for 2 padding values, "
            "got [1, 2, 3, 4]");
  EXPECT_EQ(ShapeOf("nn.ZeroPad3d(1)", {3, 4}),
            "0 (ZeroPad3d): expected an input with at least 3 dims for 6 padding values, got "
            "[3, 4]");
}

TEST(Padding, InputDimsFollowTheModeAndFlopsAreZero) {
  EXPECT_EQ(MustLoad("nn.ReflectionPad2d(1)")->InputDims(), (Shape{-1, -1, -1}));
  EXPECT_EQ(MustLoad("nn.CircularPad3d(1)")->InputDims(), (Shape{-1, -1, -1, -1}));
  EXPECT_EQ(MustLoad("nn.ReplicationPad2d((1, 2))")->InputDims(), (Shape{-1, -1}));
  // Constant padding takes any rank.
  EXPECT_EQ(MustLoad("nn.ZeroPad2d(1)")->InputDims(), std::nullopt);
  EXPECT_EQ(MustLoad("nn.ReflectionPad2d(1)")->root().Flops({2, 3, 4, 5}), 0);
}

// ---------------------------------------------------------------------------------------
// Values: [0, 1, 2, 3, 4, 5] padded in every mode, as F.pad computes it.

TEST(Padding, EveryModePadsAndCropsAsFPad) {
  const std::vector<float> row = Ramp(6);
  ExpectValues(RunModule("nn.ZeroPad1d((2, -1))", {1, 6}, row).data, {0, 0, 0, 1, 2, 3, 4});
  ExpectValues(RunModule("nn.ConstantPad1d((-2, -3), 7.0)", {1, 6}, row).data, {2});
  ExpectValues(RunModule("nn.ConstantPad1d((1, 2), -1.5)", {1, 6}, row).data,
               {-1.5, 0, 1, 2, 3, 4, 5, -1.5, -1.5});
  ExpectValues(RunModule("nn.ReflectionPad1d((2, 3))", {1, 6}, row).data,
               {2, 1, 0, 1, 2, 3, 4, 5, 4, 3, 2});
  // Reflection indexes the whole input even where the other side is cropped.
  ExpectValues(RunModule("nn.ReflectionPad1d((4, -3))", {1, 6}, row).data, {4, 3, 2, 1, 0, 1, 2});
  ExpectValues(RunModule("nn.ReflectionPad1d((-3, 4))", {1, 6}, row).data, {3, 4, 5, 4, 3, 2, 1});
  ExpectValues(RunModule("nn.ReplicationPad1d((3, -1))", {1, 6}, row).data,
               {0, 0, 0, 0, 1, 2, 3, 4});
  ExpectValues(RunModule("nn.ReplicationPad1d((-2, 3))", {1, 6}, row).data, {2, 3, 4, 5, 5, 5, 5});
  ExpectValues(RunModule("nn.CircularPad1d((2, 4))", {1, 6}, row).data,
               {4, 5, 0, 1, 2, 3, 4, 5, 0, 1, 2, 3});
  // Circular padding wraps within what is left after cropping.
  ExpectValues(RunModule("nn.CircularPad1d((3, -2))", {1, 6}, row).data, {1, 2, 3, 0, 1, 2, 3});
  ExpectValues(RunModule("nn.CircularPad1d((-2, 3))", {1, 6}, row).data, {2, 3, 4, 5, 2, 3, 4});
}

TEST(Padding, TwoAndThreeDimsPadEveryDim) {
  // PyTorch 2.1's documented example of CircularPad2d((1, 1, 2, 0)) on arange(9) as 3x3.
  ExpectValues(RunModule("nn.CircularPad2d((1, 1, 2, 0))", {1, 1, 3, 3}, Ramp(9)).data,
               {5, 3, 4, 5, 3,  //
                8, 6, 7, 8, 6,  //
                2, 0, 1, 2, 0,  //
                5, 3, 4, 5, 3,  //
                8, 6, 7, 8, 6});
  // 2x3 planes, depth 2: reflect one plane in front, replicate the last column.
  ExpectValues(RunModule("nn.ReflectionPad3d((0, 1, 0, 0, 1, 0))", {1, 2, 2, 3}, Ramp(12)).data,
               {6, 7, 8, 7, 9, 10, 11, 10,  //
                0, 1, 2, 1, 3, 4, 5, 4,     //
                6, 7, 8, 7, 9, 10, 11, 10});
  ExpectValues(RunModule("nn.ReplicationPad2d((1, -1, -1, 1))", {1, 2, 3}, Ramp(6)).data,
               {3, 3, 4, 3, 3, 4});
  ExpectValues(RunModule("nn.ConstantPad2d((0, 1, 1, 0), 9.0)", {2, 2}, Ramp(4)).data,
               {9, 9, 9, 0, 1, 9, 2, 3, 9});
}

TEST(Padding, CropToNothingRuns) {
  Tensor out = RunModule("nn.ConstantPad1d((-2, -2), 1.0)", {1, 2, 4}, Ramp(8));
  EXPECT_EQ(out.shape, (Shape{1, 2, 0}));
}

// ---------------------------------------------------------------------------------------
// Layouts

TEST(Padding, PadsBetweenConvolutionsInTheirBlockedLayout) {
  const std::string seq =
      "nn.Sequential(nn.Conv2d(3, 16, 3), nn.ReflectionPad2d(1), nn.Conv2d(16, 16, 3), "
      "nn.ZeroPad2d((1, -1, 0, 2)), nn.CircularPad2d(1), nn.ReplicationPad2d((0, 1, 1, 0)), "
      "nn.Conv2d(16, 4, 1))";
  const TensorMap weights = test::MakeWeights(seq, [](const std::string&, int64_t i) {
    return static_cast<float>(i % 7) / 7.f - 0.5f;
  });
  auto model = Model::FromSource(seq, "model.seq", &weights, "model.safetensors");
  ASSERT_TRUE(model.ok()) << model.status();
  const std::string steps = test::StepNames(**model, {2, 3, 11, 10});
  EXPECT_FALSE(Contains(steps, "Pad2d) reorder")) << steps;
  EXPECT_FALSE(Contains(steps, "2 (Conv2d) reorder")) << steps;
  EXPECT_FALSE(Contains(steps, "6 (Conv2d) reorder")) << steps;
  EXPECT_TRUE(Contains(steps, "1 (ReflectionPad2d)\n")) << steps;
}

TEST(Padding, ANonZeroConstantOverPaddedChannelsPadsOnPlainLayout) {
  // 20 channels leave part of the last channel block as padding, which oneDNN keeps zero: a
  // fill of 0.5 there would not be, so the pad runs on plain layout.
  const std::string seq =
      "nn.Sequential(nn.Conv2d(3, 20, 3), nn.ConstantPad2d(1, 0.5), nn.Conv2d(20, 4, 1))";
  const TensorMap weights =
      test::MakeWeights(seq, [](const std::string&, int64_t) { return 0.25f; });
  auto model = Model::FromSource(seq, "model.seq", &weights, "model.safetensors");
  ASSERT_TRUE(model.ok()) << model.status();
  const std::string steps = test::StepNames(**model, {1, 3, 6, 6});
  EXPECT_TRUE(Contains(steps, "1 (ConstantPad2d) reorder")) << steps;
  // A 1x1 convolution of all 0.25 over 20 channels of the 0.5 border: 20 * 0.125 + 0.25.
  Tensor out = test::Run(**model, Tensor({1, 3, 6, 6}, std::vector<float>(108, 1.f)));
  ASSERT_EQ(out.shape, (Shape{1, 4, 6, 6}));
  EXPECT_FLOAT_EQ(out.data[0], 20 * 0.125f + 0.25f);
}

}  // namespace
}  // namespace seqserve
