// AdaptiveMaxPool1d, AdaptiveAvgPool3d and AdaptiveMaxPool3d (the 2-d adaptive pools and
// AdaptiveAvgPool1d are in pooling_test.cc): PyTorch's argument checks, shapes and errors,
// FLOPs, hand-derivable bins, and NaN in max bins, which oneDNN's max pooling would drop.
// The PyTorch comparisons at many shapes are the pool_adaptive_* goldens.
#include <limits>
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

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

std::vector<float> Ramp(int n) {
  std::vector<float> v(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) v[static_cast<size_t>(i)] = static_cast<float>(i);
  return v;
}

TEST(AdaptivePooling, AcceptsPyTorchSignatures) {
  for (const char* module : {
           "nn.AdaptiveMaxPool1d(4)", "nn.AdaptiveMaxPool1d(output_size=(4,), return_indices=False)",
           "nn.AdaptiveAvgPool3d(2)", "nn.AdaptiveAvgPool3d((2, None, 3))",
           "nn.AdaptiveMaxPool3d([1, 2, None], False)",
       }) {
    EXPECT_NE(MustLoad(module), nullptr) << module;
  }
}

TEST(AdaptivePooling, RejectsWhatPyTorchRejects) {
  EXPECT_TRUE(Contains(LoadError("nn.AdaptiveMaxPool1d(None)"),
                       "AdaptiveMaxPool1d: argument 'output_size': expected an int or a tuple of "
                       "1 int, got None"));
  EXPECT_TRUE(Contains(LoadError("nn.AdaptiveMaxPool1d((2, 3))"),
                       "AdaptiveMaxPool1d: argument 'output_size'"));
  EXPECT_TRUE(Contains(LoadError("nn.AdaptiveAvgPool3d((2, 3))"),
                       "AdaptiveAvgPool3d: argument 'output_size': expected an int or a tuple of "
                       "3 ints or Nones, got tuple of 2"));
  EXPECT_TRUE(Contains(LoadError("nn.AdaptiveMaxPool3d(0)"),
                       "AdaptiveMaxPool3d: argument 'output_size': elements of output_size must "
                       "be greater than zero, got (0, 0, 0)"));
  EXPECT_TRUE(Contains(LoadError("nn.AdaptiveMaxPool1d(2, True)"),
                       "AdaptiveMaxPool1d: argument 'return_indices': return_indices=True"));
  EXPECT_TRUE(Contains(LoadError("nn.AdaptiveMaxPool3d(2, return_indices=True)"),
                       "AdaptiveMaxPool3d: argument 'return_indices': return_indices=True"));
  EXPECT_TRUE(Contains(LoadError("nn.AdaptiveAvgPool3d(2, return_indices=False)"),
                       "AdaptiveAvgPool3d: unexpected keyword argument 'return_indices'"));
}

TEST(AdaptivePooling, ShapesAndErrors) {
  EXPECT_EQ(ShapeOf("nn.AdaptiveMaxPool1d(4)", {3, 10}), "[3, 4]");
  EXPECT_EQ(ShapeOf("nn.AdaptiveMaxPool1d(7)", {2, 3, 5}), "[2, 3, 7]");
  EXPECT_EQ(ShapeOf("nn.AdaptiveAvgPool3d((2, None, 3))", {3, 5, 4, 6}), "[3, 2, 4, 3]");
  EXPECT_EQ(ShapeOf("nn.AdaptiveMaxPool3d((None, 5, 3))", {1, 2, 3, 4, 2}), "[1, 2, 3, 5, 3]");
  // An unbatched input may have no channels, a batched one not (ATen's checks).
  EXPECT_EQ(ShapeOf("nn.AdaptiveMaxPool1d(2)", {0, 3}), "[0, 2]");
  EXPECT_EQ(ShapeOf("nn.AdaptiveMaxPool1d(2)", {2, 0, 3}),
            "0 (AdaptiveMaxPool1d): expected 2D (C, L) or 3D (N, C, L) input with non-zero L (and "
            "C when batched), got [2, 0, 3]");
  EXPECT_EQ(ShapeOf("nn.AdaptiveAvgPool3d(2)", {2, 0, 3, 3, 3}),
            "0 (AdaptiveAvgPool3d): expected 4D (C, D, H, W) or 5D (N, C, D, H, W) input with "
            "non-zero D, H and W (and C when batched), got [2, 0, 3, 3, 3]");
  EXPECT_EQ(ShapeOf("nn.AdaptiveMaxPool3d(2)", {3, 3, 3}),
            "0 (AdaptiveMaxPool3d): expected 4D (C, D, H, W) or 5D (N, C, D, H, W) input with "
            "non-zero D, H and W (and C when batched), got [3, 3, 3]");
}

TEST(AdaptivePooling, FlopsAndInputDims) {
  // Uniform bins read every element once.
  EXPECT_EQ(MustLoad("nn.AdaptiveAvgPool3d(2)")->root().Flops({1, 2, 4, 4, 4}), 128);
  // 7 -> 3 bins are [0, 3), [2, 5), [4, 7): 9 taps per row.
  EXPECT_EQ(MustLoad("nn.AdaptiveMaxPool1d(3)")->root().Flops({2, 7}), 18);
  EXPECT_EQ(MustLoad("nn.AdaptiveMaxPool1d(3)")->InputDims(), (Shape{-1, -1}));
  EXPECT_EQ(MustLoad("nn.AdaptiveAvgPool3d(3)")->InputDims(), (Shape{-1, -1, -1, -1}));
}

TEST(AdaptivePooling, BinsAsPyTorch) {
  ExpectValues(RunModule("nn.AdaptiveMaxPool1d(3)", {1, 7}, Ramp(7)).data, {2, 4, 6});
  // 5 -> 7: [0, 1), [0, 2), [1, 3), [2, 3), [2, 4), [3, 5), [4, 5).
  ExpectValues(RunModule("nn.AdaptiveMaxPool1d(7)", {1, 5}, Ramp(5)).data, {0, 1, 2, 2, 3, 4, 4});
  // A 2x2x2 ramp: the two width bins average depth and height.
  ExpectValues(RunModule("nn.AdaptiveAvgPool3d((1, 1, 2))", {1, 2, 2, 2}, Ramp(8)).data, {3, 4});
  ExpectValues(RunModule("nn.AdaptiveAvgPool3d((1, 2, None))", {1, 2, 2, 2}, Ramp(8)).data,
               {2, 3, 4, 5});
  ExpectValues(RunModule("nn.AdaptiveMaxPool3d((2, 1, 1))", {1, 2, 2, 2}, Ramp(8)).data, {3, 7});
}

TEST(AdaptivePooling, MaxBinsPropagateNaNAndKeepMinusInfinity) {
  // Uniform bins, which oneDNN would pool (dropping the NaN, answering -FLT_MAX for -inf).
  ExpectValues(RunModule("nn.AdaptiveMaxPool1d(2)", {1, 4}, {1, kNaN, -kInf, -kInf}).data,
               {kNaN, -kInf});
  ExpectValues(
      RunModule("nn.AdaptiveMaxPool3d(1)", {2, 1, 2, 2}, {0, 1, kNaN, 3, -kInf, -kInf, -kInf, -kInf})
          .data,
      {kNaN, -kInf});
  ExpectValues(RunModule("nn.AdaptiveAvgPool3d(1)", {1, 1, 1, 2}, {kInf, -kInf}).data, {kNaN});
}

}  // namespace
}  // namespace seqserve
