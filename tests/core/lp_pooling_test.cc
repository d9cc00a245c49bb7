// LPPool1d and LPPool2d: PyTorch's argument checks (F.lp_pool's own limits on kernel_size
// and norm_type included), shapes and errors, FLOPs, and F.lp_pool's formula on
// hand-derivable inputs: (kernel_size * avg_pool(x ^ p)) ^ (1 / p), where avg_pool divides
// a ceil_mode edge window by its clipped size (each value also checked against PyTorch 1.13
// when written). The PyTorch comparisons at many shapes are the pool_lp* goldens.
#include <cmath>
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

TEST(LPPool, AcceptsPyTorchSignatures) {
  for (const char* module : {
           "nn.LPPool1d(2, 3)", "nn.LPPool1d(2.5, 3, 2, True)",
           "nn.LPPool1d(norm_type=1, kernel_size=2, stride=(1,), ceil_mode=False)",
           "nn.LPPool2d(2, (3, 2))", "nn.LPPool2d(4, 3, stride=(2, 1), ceil_mode=True)",
           "nn.LPPool2d(2, [2, 2], None)",
       }) {
    std::shared_ptr<Model> model = MustLoad(module);
    if (model != nullptr) {
      EXPECT_EQ(model->NumParams(), 0) << module;
    }
  }
}

TEST(LPPool, RejectsWhatPyTorchRejects) {
  // F.lp_pool1d multiplies by kernel_size, F.lp_pool2d unpacks it into two.
  EXPECT_TRUE(Contains(LoadError("nn.LPPool1d(2, (3,))"),
                       "LPPool1d: argument 'kernel_size': expected an int (F.lp_pool1d "
                       "multiplies the output by it), got tuple"));
  EXPECT_TRUE(Contains(LoadError("nn.LPPool2d(2, (3,))"),
                       "LPPool2d: argument 'kernel_size': expected an int or a tuple of 2 ints"));
  EXPECT_TRUE(Contains(LoadError("nn.LPPool2d(0, 2)"),
                       "LPPool2d: argument 'norm_type': norm_type must not be 0"));
  EXPECT_TRUE(Contains(LoadError("nn.LPPool1d('2', 2)"),
                       "LPPool1d: argument 'norm_type': expected float, got str"));
  EXPECT_TRUE(Contains(LoadError("nn.LPPool1d(2, 0)"),
                       "LPPool1d: argument 'kernel_size': kernel size should be greater than "
                       "zero, but got kW: 0"));
  EXPECT_TRUE(Contains(LoadError("nn.LPPool2d(2, 2, (1, 0))"),
                       "LPPool2d: argument 'stride': stride should be greater than zero, but got "
                       "dH: 1 dW: 0"));
  EXPECT_TRUE(Contains(LoadError("nn.LPPool1d(2, 2, padding=1)"),
                       "LPPool1d: unexpected keyword argument 'padding'"));
}

TEST(LPPool, ShapesFollowAvgPoolWithoutPadding) {
  EXPECT_EQ(ShapeOf("nn.LPPool1d(2, 3)", {4, 8}), "[4, 2]");
  EXPECT_EQ(ShapeOf("nn.LPPool1d(2, 3, 2, ceil_mode=True)", {1, 3, 10}), "[1, 3, 5]");
  EXPECT_EQ(ShapeOf("nn.LPPool2d(2, (3, 2))", {2, 6, 7}), "[2, 2, 3]");
  EXPECT_EQ(ShapeOf("nn.LPPool2d(2, 3)", {3, 4}),
            "0 (LPPool2d): expected 3D (C, H, W) or 4D (N, C, H, W) input with non-zero C, H and "
            "W, got [3, 4]");
  EXPECT_EQ(ShapeOf("nn.LPPool1d(2, 5)", {2, 3}),
            "0 (LPPool1d): Output size is too small: expected an input with L >= 5, got [2, 3] "
            "(calculated output size [2, 0])");
  EXPECT_EQ(MustLoad("nn.LPPool2d(2, 2)")->InputDims(), (Shape{-1, -1, -1}));
  // A power per input (36), a sum per tap and a scale and root per output (12 * 5).
  EXPECT_EQ(MustLoad("nn.LPPool1d(2, 3)")->root().Flops({4, 9}), 36 + 12 * 5);
}

TEST(LPPool, ComputesFLpPoolsFormula) {
  // Windows [0, 3), [2, 5) and, in ceil mode, [4, 6) (clipped): F.lp_pool multiplies the
  // clipped average by the whole kernel, so the last is sqrt(3 * (25 + 36) / 2).
  ExpectValues(RunModule("nn.LPPool1d(2, 3, 2, ceil_mode=True)", {1, 6}, {1, 2, 3, 4, 5, 6}).data,
               {std::sqrt(14.f), std::sqrt(50.f), std::sqrt(3 * 61 / 2.f)});
  // The same in 2-d on a 3x3 ramp with 2x2 windows.
  ExpectValues(RunModule("nn.LPPool2d(2, 2, ceil_mode=True)", {1, 3, 3},
                         {0, 1, 2, 3, 4, 5, 6, 7, 8})
                   .data,
               {std::sqrt(26.f), std::sqrt(4 * 29 / 2.f), std::sqrt(4 * 85 / 2.f), 16});
  // p = 1 keeps the sign of the sum; an odd p of a negative sum has no real root.
  ExpectValues(RunModule("nn.LPPool1d(1, 2)", {1, 4}, {-1, 3, 2, -5}).data, {2, -3});
  ExpectValues(RunModule("nn.LPPool1d(3, 2)", {1, 4}, {-1, -3, 1, 2}).data,
               {kNaN, std::cbrt(9.f)});
}

TEST(LPPool, PropagatesNaNAndInfinity) {
  ExpectValues(RunModule("nn.LPPool1d(2, 2)", {1, 6}, {kNaN, 3, kInf, -5, -kInf, 1}).data,
               {kNaN, kInf, kInf});
}

}  // namespace
}  // namespace seqserve
