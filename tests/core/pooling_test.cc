// MaxPool1d/2d/3d, AvgPool1d/2d/3d and the 2-d adaptive pools: PyTorch's argument
// validation, shape rules (ceil_mode, unbatched inputs, errors), FLOPs, hand-derivable
// numerics for the cases the window kernels compute, NaN and infinities as PyTorch treats
// them, and the layouts pools run on (the PyTorch comparisons are the pool_* goldens run by
// golden_test.cc; LPPool and the other adaptive pools have their own tests).
#include <array>
#include <cmath>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "core/engine.h"
#include "core/executor.h"
#include "core/model.h"
#include "gtest/gtest.h"

namespace seqserve {
namespace {

::testing::AssertionResult Contains(const std::string& text, const std::string& part) {
  if (text.find(part) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << "\"" << text << "\"\n  does not contain \"" << part << "\"";
}

absl::StatusOr<std::shared_ptr<Model>> Load(const std::string& seq,
                                            const TensorMap* weights = nullptr) {
  return Model::FromSource(seq, "model.seq", weights, "model.safetensors");
}

// The load error of `nn.Sequential(<module>)`.
std::string LoadError(const std::string& module) {
  auto model = Load("nn.Sequential(" + module + ")");
  EXPECT_FALSE(model.ok()) << module << " loaded";
  return model.ok() ? "" : std::string(model.status().message());
}

std::shared_ptr<Model> MustLoad(const std::string& module) {
  auto model = Load("nn.Sequential(" + module + ")");
  EXPECT_TRUE(model.ok()) << module << ": " << model.status();
  return model.ok() ? *model : nullptr;
}

// The output shape of `module` for `in`, or the error message.
std::string ShapeOf(const std::string& module, const Shape& in) {
  std::shared_ptr<Model> model = MustLoad(module);
  if (model == nullptr) return "load failed";
  absl::StatusOr<Shape> out = model->OutputShape(in);
  return out.ok() ? ShapeToString(*out) : std::string(out.status().message());
}

// Runs `module` on `input` (fused and unfused plans) and returns the output values.
std::vector<float> RunModule(const std::string& module, const Shape& shape,
                       const std::vector<float>& values) {
  std::vector<float> result;
  for (bool fuse : {true, false}) {
    ModelOptions options;
    options.fuse = fuse;
    auto model = Model::FromSource("nn.Sequential(" + module + ")", "model.seq", nullptr,
                                   "model.safetensors", options);
    EXPECT_TRUE(model.ok()) << model.status();
    if (!model.ok()) return {};
    Executor executor(CpuEngine());
    absl::StatusOr<Tensor> out = (*model)->Run(executor, Tensor(shape, values));
    EXPECT_TRUE(out.ok()) << out.status();
    if (!out.ok()) return {};
    result = out->data;
  }
  return result;
}

void ExpectValues(const std::vector<float>& actual, const std::vector<float>& expected) {
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

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

// ---------------------------------------------------------------------------------------
// Construction

TEST(Pooling, AcceptsPyTorchSignatures) {
  for (const char* module : {
           "nn.MaxPool2d(3)",
           "nn.MaxPool2d(3, 2, 1, 1, False, True)",
           "nn.MaxPool2d(kernel_size=(3, 2), stride=(2, 1), padding=(1, 0), dilation=(1, 2), "
           "return_indices=False, ceil_mode=True)",
           "nn.MaxPool2d((3,), 2)",
           "nn.MaxPool2d(3, stride=None)",
           "nn.MaxPool2d(3, ())",
           "nn.MaxPool1d(4, 2, 2, 1, False, True)",
           "nn.MaxPool1d(kernel_size=(3,), stride=[2], padding=(1,), dilation=1)",
           "nn.AvgPool2d(3, None, 1, True, False, 2)",
           "nn.AvgPool2d(kernel_size=[2, 3], stride=1, padding=(1, 0), ceil_mode=False, "
           "count_include_pad=True, divisor_override=None)",
           "nn.AvgPool1d(3, (), 1, ceil_mode=True, count_include_pad=False)",
           "nn.AvgPool1d(3, 2, 1, True, True)",
           "nn.AdaptiveAvgPool1d(4)",
           "nn.AdaptiveAvgPool1d(output_size=(4,))",
           "nn.AdaptiveAvgPool2d(1)",
           "nn.AdaptiveAvgPool2d((None, 3))",
           "nn.AdaptiveAvgPool2d([2, None])",
           "nn.AdaptiveMaxPool2d(5, return_indices=False)",
           "nn.AdaptiveMaxPool2d(output_size=(3, 4), return_indices=False)",
       }) {
    std::shared_ptr<Model> model = MustLoad(module);
    if (model != nullptr) {
      EXPECT_EQ(model->NumParams(), 0) << module;
    }
  }
}

TEST(Pooling, RejectsWhatPyTorchRejects) {
  EXPECT_TRUE(Contains(LoadError("nn.MaxPool2d(0)"),
                       "MaxPool2d: argument 'kernel_size': kernel size should be greater than "
                       "zero, but got kH: 0 kW: 0"));
  EXPECT_TRUE(Contains(LoadError("nn.MaxPool1d(0)"),
                       "MaxPool1d: argument 'kernel_size': kernel size should be greater than "
                       "zero, but got kW: 0"));
  EXPECT_TRUE(Contains(LoadError("nn.AvgPool2d(3, (2, 0))"),
                       "AvgPool2d: argument 'stride': stride should be greater than zero, but "
                       "got dH: 2 dW: 0"));
  EXPECT_TRUE(Contains(LoadError("nn.AvgPool1d(3, -1)"),
                       "AvgPool1d: argument 'stride': stride should be greater than zero, but "
                       "got dW: -1"));
  EXPECT_TRUE(Contains(LoadError("nn.MaxPool2d(3, dilation=0)"),
                       "MaxPool2d: argument 'dilation': dilation should be greater than zero, "
                       "but got dilationH: 0 dilationW: 0"));
  EXPECT_TRUE(Contains(LoadError("nn.MaxPool2d(3, padding=-1)"),
                       "MaxPool2d: argument 'padding': pad must be non-negative, but got pad: -1"));
  EXPECT_TRUE(Contains(LoadError("nn.MaxPool2d(3, padding=2)"),
                       "MaxPool2d: argument 'padding': pad should be at most half of effective "
                       "kernel size, but got pad=2, kernel_size=3 and dilation=1"));
  EXPECT_TRUE(Contains(LoadError("nn.AvgPool2d((2, 4), padding=(1, 3))"),
                       "AvgPool2d: argument 'padding': pad should be at most half of effective "
                       "kernel size, but got pad=3, kernel_size=4 and dilation=1"));
  // Dilation widens the window, so a 2-d max pool takes the padding...
  EXPECT_NE(MustLoad("nn.MaxPool2d(3, padding=2, dilation=2)"), nullptr);
  // ...but max_pool1d checks the padding against the kernel size alone.
  EXPECT_TRUE(Contains(LoadError("nn.MaxPool1d(3, padding=2, dilation=2)"),
                       "MaxPool1d: argument 'padding': padding should be at most half of kernel "
                       "size, but got padding=2 and kernel_size=3"));
  EXPECT_TRUE(Contains(LoadError("nn.MaxPool2d(2, return_indices=True)"),
                       "MaxPool2d: argument 'return_indices': return_indices=True makes the "
                       "module return (output, indices), which a Sequential cannot pass to the "
                       "next module"));
  EXPECT_TRUE(Contains(LoadError("nn.AdaptiveMaxPool2d(2, True)"),
                       "AdaptiveMaxPool2d: argument 'return_indices': return_indices=True"));
  EXPECT_TRUE(Contains(LoadError("nn.AvgPool2d(2, divisor_override=0)"),
                       "AvgPool2d: argument 'divisor_override': divisor must be not zero"));
  EXPECT_TRUE(Contains(LoadError("nn.AvgPool2d(2, divisor_override=2.0)"),
                       "AvgPool2d: argument 'divisor_override'"));
  EXPECT_TRUE(Contains(LoadError("nn.AvgPool1d(2, divisor_override=2)"),
                       "AvgPool1d: unexpected keyword argument 'divisor_override'"));
  EXPECT_TRUE(Contains(LoadError("nn.MaxPool1d((2, 2))"), "MaxPool1d: argument 'kernel_size'"));
  EXPECT_TRUE(Contains(LoadError("nn.MaxPool2d((2, 2, 2))"), "MaxPool2d: argument 'kernel_size'"));
  EXPECT_TRUE(Contains(LoadError("nn.MaxPool2d(2.0)"), "MaxPool2d: argument 'kernel_size'"));
  EXPECT_TRUE(Contains(LoadError("nn.MaxPool2d()"), "MaxPool2d"));
  EXPECT_TRUE(Contains(LoadError("nn.AdaptiveAvgPool2d(None)"),
                       "AdaptiveAvgPool2d: argument 'output_size': expected an int or a tuple of "
                       "2 ints or Nones, got None"));
  EXPECT_TRUE(Contains(LoadError("nn.AdaptiveAvgPool2d((3,))"),
                       "AdaptiveAvgPool2d: argument 'output_size': expected an int or a tuple of "
                       "2 ints or Nones, got tuple of 1"));
  EXPECT_TRUE(Contains(LoadError("nn.AdaptiveAvgPool1d(None)"),
                       "AdaptiveAvgPool1d: argument 'output_size'"));
  EXPECT_TRUE(Contains(LoadError("nn.AdaptiveAvgPool2d((2, -1))"),
                       "AdaptiveAvgPool2d: argument 'output_size': elements of output_size must "
                       "be greater than zero, got (2, -1)"));
  EXPECT_TRUE(Contains(LoadError("nn.AdaptiveAvgPool1d(0)"),
                       "AdaptiveAvgPool1d: argument 'output_size': elements of output_size must "
                       "be greater than zero, got (0)"));
}

TEST(Pooling, ErrorsPointAtTheArgument) {
  EXPECT_TRUE(Contains(LoadError("nn.MaxPool2d(3,\n padding=2)"), "model.seq:2:2: MaxPool2d"));
}

// ---------------------------------------------------------------------------------------
// Shapes

TEST(Pooling, OutputShapesFollowPyTorch) {
  EXPECT_EQ(ShapeOf("nn.MaxPool2d(3, 2)", {1, 3, 7, 7}), "[1, 3, 3, 3]");
  EXPECT_EQ(ShapeOf("nn.MaxPool2d(3, 2)", {1, 3, 8, 8}), "[1, 3, 3, 3]");
  EXPECT_EQ(ShapeOf("nn.MaxPool2d(3, 2, ceil_mode=True)", {1, 3, 8, 8}), "[1, 3, 4, 4]");
  // Unbatched (C, H, W) and (C, L).
  EXPECT_EQ(ShapeOf("nn.MaxPool2d((2, 3), (1, 2), (1, 0))", {3, 5, 9}), "[3, 6, 4]");
  EXPECT_EQ(ShapeOf("nn.AvgPool1d(3, 2, 1)", {4, 10}), "[4, 5]");
  EXPECT_EQ(ShapeOf("nn.MaxPool1d(2, 2, 1, ceil_mode=True)", {2, 4, 8}), "[2, 4, 5]");
  // In ceil mode the last window must start inside the input or the left padding:
  // ceil((5 + 2 - 2) / 2) + 1 = 4 windows, but the fourth would start at 6 - 1 = 5 = L.
  EXPECT_EQ(ShapeOf("nn.MaxPool1d(2, 2, 1, ceil_mode=True)", {2, 5}), "[2, 3]");
  // Dilation: (9 + 2 - 2 * 2 - 1) / 1 + 1 = 7.
  EXPECT_EQ(ShapeOf("nn.MaxPool2d(3, 1, 1, 2)", {1, 2, 9, 9}), "[1, 2, 7, 7]");
  EXPECT_EQ(ShapeOf("nn.AvgPool2d(3, 2, 1, ceil_mode=True)", {2, 1, 8, 5}), "[2, 1, 5, 3]");
  // An empty batch is allowed, as in PyTorch.
  EXPECT_EQ(ShapeOf("nn.MaxPool2d(2)", {0, 3, 4, 4}), "[0, 3, 2, 2]");

  EXPECT_EQ(ShapeOf("nn.AdaptiveAvgPool2d((None, 3))", {1, 2, 5, 7}), "[1, 2, 5, 3]");
  EXPECT_EQ(ShapeOf("nn.AdaptiveAvgPool2d(1)", {2, 8, 3}), "[2, 1, 1]");
  EXPECT_EQ(ShapeOf("nn.AdaptiveMaxPool2d((7, None))", {2, 3, 5, 4}), "[2, 3, 7, 4]");
  EXPECT_EQ(ShapeOf("nn.AdaptiveAvgPool1d(4)", {2, 3, 10}), "[2, 3, 4]");
  EXPECT_EQ(ShapeOf("nn.AdaptiveAvgPool1d(4)", {3, 10}), "[3, 4]");
}

TEST(Pooling, ShapeErrorsNameExpectedAndActual) {
  EXPECT_EQ(ShapeOf("nn.MaxPool2d(2)", {3, 4}),
            "0 (MaxPool2d): expected 3D (C, H, W) or 4D (N, C, H, W) input with non-zero C, H "
            "and W, got [3, 4]");
  EXPECT_EQ(ShapeOf("nn.MaxPool2d(2)", {0, 4, 4}),
            "0 (MaxPool2d): expected 3D (C, H, W) or 4D (N, C, H, W) input with non-zero C, H "
            "and W, got [0, 4, 4]");
  EXPECT_EQ(ShapeOf("nn.AvgPool1d(2)", {1, 2, 3, 4}),
            "0 (AvgPool1d): expected 2D (C, L) or 3D (N, C, L) input with non-zero C and L, got "
            "[1, 2, 3, 4]");
  EXPECT_EQ(ShapeOf("nn.MaxPool2d(3)", {1, 3, 2, 5}),
            "0 (MaxPool2d): Output size is too small: expected an input with H >= 3 and W >= 3, "
            "got [1, 3, 2, 5] (calculated output size [1, 3, 0, 1])");
  // Padding and ceil_mode lower the minimum.
  EXPECT_EQ(ShapeOf("nn.MaxPool1d(5, 3, 2, ceil_mode=True)", {2, 4, 0}),
            "0 (MaxPool1d): expected 2D (C, L) or 3D (N, C, L) input with non-zero C and L, got "
            "[2, 4, 0]");
  EXPECT_EQ(ShapeOf("nn.AvgPool1d(6, 4)", {2, 5}),
            "0 (AvgPool1d): Output size is too small: expected an input with L >= 6, got [2, 5] "
            "(calculated output size [2, 0])");
  EXPECT_EQ(ShapeOf("nn.AvgPool1d(6, 4, ceil_mode=True)", {2, 2}),
            "0 (AvgPool1d): Output size is too small: expected an input with L >= 3, got [2, 2] "
            "(calculated output size [2, 0])");
  EXPECT_EQ(ShapeOf("nn.AdaptiveAvgPool2d(2)", {4, 4}),
            "0 (AdaptiveAvgPool2d): expected 3D (C, H, W) or 4D (N, C, H, W) input with non-zero "
            "H and W, got [4, 4]");
  EXPECT_EQ(ShapeOf("nn.AdaptiveMaxPool2d(2)", {2, 0, 4, 4}),
            "0 (AdaptiveMaxPool2d): expected 3D (C, H, W) or 4D (N, C, H, W) input with non-zero "
            "H and W (and C when batched), got [2, 0, 4, 4]");
  EXPECT_EQ(ShapeOf("nn.AdaptiveAvgPool1d(2)", {3, 0}),
            "0 (AdaptiveAvgPool1d): expected 2D (C, L) or 3D (N, C, L) input with non-zero L, "
            "got [3, 0]");
}

TEST(Pooling, FlopsCountEveryWindowTap) {
  // 2 * 4 * 3 * 3 outputs, 9 taps each.
  EXPECT_EQ(MustLoad("nn.MaxPool2d(3, 2)")->root().Flops({2, 4, 7, 7}), 2 * 4 * 3 * 3 * 9);
  EXPECT_EQ(MustLoad("nn.AvgPool1d(3)")->root().Flops({5, 9}), 5 * 3 * 3);
  // 7 -> 3 bins are [0, 3), [2, 5), [4, 7): 9 taps per axis.
  EXPECT_EQ(MustLoad("nn.AdaptiveAvgPool2d(3)")->root().Flops({1, 2, 7, 7}), 2 * 9 * 9);
  EXPECT_EQ(MustLoad("nn.AdaptiveMaxPool2d(1)")->root().Flops({2, 3, 4, 5}), 2 * 3 * 4 * 5);
}

// ---------------------------------------------------------------------------------------
// Values the kernels compute where oneDNN differs from PyTorch

TEST(Pooling, DilatedMaxPoolWindowOverPaddingOnlyIsMinusInfinity) {
  // Windows start at -2, -1, 0 with taps 3 apart: {-2, 1}, {-1, 2}, {0, 3} over [5, 7].
  ExpectValues(RunModule("nn.MaxPool2d((1, 2), 1, (0, 2), (1, 3))", {1, 1, 1, 2}, {5, 7}),
               {7, -kInf, 5});
}

TEST(Pooling, MaxPoolKernelPropagatesNaN) {
  ExpectValues(RunModule("nn.MaxPool1d(2, 1, 0, 2)", {1, 4}, {1, kNaN, 3, 0}), {3, kNaN});
}

TEST(Pooling, CeilModeEdgeWindowDividesByWindowClippedToPaddedInput) {
  // Windows [-1, 2), [1, 4), [3, 6); the last is clipped to [3, 5): divisor 2, not 3.
  ExpectValues(RunModule("nn.AvgPool1d(3, 2, 1, ceil_mode=True)", {1, 4}, {1, 2, 3, 4}), {1, 3, 2});
  // Without count_include_pad only input elements count.
  ExpectValues(RunModule("nn.AvgPool1d(3, 2, 1, ceil_mode=True, count_include_pad=False)", {1, 4},
                   {1, 2, 3, 4}),
               {1.5, 3, 4});
}

TEST(Pooling, DivisorOverrideDividesTheSum) {
  ExpectValues(RunModule("nn.AvgPool2d(2, divisor_override=3)", {1, 1, 2, 2}, {1, 2, 3, 4}),
               {10.f / 3});
  ExpectValues(RunModule("nn.AvgPool2d(2, divisor_override=-2)", {1, 1, 2, 2}, {1, 1, 1, 1}), {-2});
}

TEST(Pooling, AdaptiveBinsOverlapAndUpsample) {
  ExpectValues(RunModule("nn.AdaptiveAvgPool1d(3)", {1, 7}, {0, 1, 2, 3, 4, 5, 6}), {1, 3, 5});
  // 5 -> 7: [0, 1), [0, 2), [1, 3), [2, 3), [2, 4), [3, 5), [4, 5).
  ExpectValues(RunModule("nn.AdaptiveAvgPool1d(7)", {1, 5}, {1, 2, 3, 4, 5}),
               {1, 1.5, 2.5, 3, 3.5, 4.5, 5});
  std::vector<float> ramp(20);
  for (int i = 0; i < 20; ++i) ramp[i] = static_cast<float>(i);
  // Rows 4 -> 2 (uniform), columns 5 -> 3: [0, 2), [1, 4), [3, 5).
  ExpectValues(RunModule("nn.AdaptiveMaxPool2d((2, 3))", {1, 4, 5}, ramp), {6, 8, 9, 16, 18, 19});
  ExpectValues(RunModule("nn.AdaptiveAvgPool2d((None, 3))", {1, 4, 5}, ramp),
               {0.5, 2, 3.5, 5.5, 7, 8.5, 10.5, 12, 13.5, 15.5, 17, 18.5});
}

// On a ramp (each plane increasing along rows and columns) a window's maximum is its last
// tap and its mean is the mean of its first and last rows and columns: checkable at sizes
// where the kernels split their rows across threads.
TEST(Pooling, KernelsOnTwoThreadsMatchRampFormulas) {
  const int64_t planes = 4 * 16, height = 33, width = 35;
  Tensor ramp({4, 16, height, width});
  for (int64_t i = 0; i < ramp.numel(); ++i) ramp.data[i] = static_cast<float>(i);
  ModelOptions options;
  options.num_threads = 2;
  auto run = [&](const std::string& module) {
    auto model = Model::FromSource("nn.Sequential(" + module + ")", "model.seq", nullptr,
                                   "model.safetensors", options);
    EXPECT_TRUE(model.ok()) << model.status();
    Executor executor(CpuEngine());
    absl::StatusOr<Tensor> out = (*model)->Run(executor, ramp);
    EXPECT_TRUE(out.ok()) << out.status();
    return out.ok() ? *out : Tensor();
  };
  // PyTorch's adaptive bins.
  auto lo = [](int64_t o, int64_t in, int64_t out) { return o * in / out; };
  auto hi = [](int64_t o, int64_t in, int64_t out) { return ((o + 1) * in + out - 1) / out; };

  const Tensor max = run("nn.AdaptiveMaxPool2d((5, 7))");
  const Tensor avg = run("nn.AdaptiveAvgPool2d((6, 4))");
  ASSERT_EQ(max.shape, (Shape{4, 16, 5, 7}));
  ASSERT_EQ(avg.shape, (Shape{4, 16, 6, 4}));
  for (int64_t p = 0; p < planes; ++p) {
    const double base = static_cast<double>(p * height * width);
    for (int64_t oh = 0; oh < 5; ++oh) {
      for (int64_t ow = 0; ow < 7; ++ow) {
        const double last = base + (hi(oh, height, 5) - 1) * width + hi(ow, width, 7) - 1;
        ASSERT_EQ(max.data[(p * 5 + oh) * 7 + ow], last) << p << " " << oh << " " << ow;
      }
    }
    for (int64_t oh = 0; oh < 6; ++oh) {
      for (int64_t ow = 0; ow < 4; ++ow) {
        const double mean = base +
                            (lo(oh, height, 6) + hi(oh, height, 6) - 1) / 2.0 * width +
                            (lo(ow, width, 4) + hi(ow, width, 4) - 1) / 2.0;
        ASSERT_NEAR(avg.data[(p * 6 + oh) * 4 + ow], mean, 1e-6 * mean)
            << p << " " << oh << " " << ow;
      }
    }
  }

  // Dilated max pooling: taps at start, start + 2, start + 4 of start = 2 * o - 1; the last
  // one inside the input wins.
  const Tensor dilated = run("nn.MaxPool2d(3, 2, 1, dilation=2)");
  const int64_t out_h = (height + 2 - 4 - 1) / 2 + 1, out_w = (width + 2 - 4 - 1) / 2 + 1;
  ASSERT_EQ(dilated.shape, (Shape{4, 16, out_h, out_w}));
  auto last_tap = [](int64_t o, int64_t in) {
    int64_t tap = 2 * o - 1 + 4;
    while (tap >= in) tap -= 2;
    return tap;
  };
  for (int64_t p = 0; p < planes; ++p) {
    for (int64_t oh = 0; oh < out_h; ++oh) {
      for (int64_t ow = 0; ow < out_w; ++ow) {
        const double last = static_cast<double>(p * height * width) +
                            last_tap(oh, height) * width + last_tap(ow, width);
        ASSERT_EQ(dilated.data[(p * out_h + oh) * out_w + ow], last) << p << " " << oh;
      }
    }
  }
}

TEST(Pooling, EmptyBatchRuns) {
  ExpectValues(RunModule("nn.MaxPool2d(2)", {0, 3, 4, 4}, {}), {});
  ExpectValues(RunModule("nn.AdaptiveAvgPool2d(3)", {0, 3, 4, 4}, {}), {});
}

// ---------------------------------------------------------------------------------------
// Layouts

// The names of a plan's steps, one per line.
std::string StepNames(const std::string& seq, const TensorMap& weights, const Shape& input) {
  auto model = Load(seq, &weights);
  EXPECT_TRUE(model.ok()) << model.status();
  if (!model.ok()) return "";
  absl::StatusOr<std::shared_ptr<const Plan>> plan = (*model)->GetPlan(input);
  EXPECT_TRUE(plan.ok()) << plan.status();
  if (!plan.ok()) return "";
  std::string names;
  for (const PlanStep& step : (*plan)->steps()) names += step.name + "\n";
  return names;
}

TEST(Pooling, PoolsAfterAConvolutionInItsBlockedLayout) {
  TensorMap weights;
  weights["0.weight"] = Tensor({16, 3, 3, 3});
  weights["0.bias"] = Tensor({16});
  const std::string steps =
      StepNames("nn.Sequential(nn.Conv2d(3, 16, 3), nn.ReLU(), nn.MaxPool2d(2), "
                "nn.AvgPool2d(3, 2, 1), nn.AdaptiveAvgPool2d(1))",
                weights, {1, 3, 17, 17});
  EXPECT_FALSE(Contains(steps, "(MaxPool2d) reorder")) << steps;
  EXPECT_FALSE(Contains(steps, "(AvgPool2d) reorder")) << steps;
  EXPECT_FALSE(Contains(steps, "(AdaptiveAvgPool2d) reorder")) << steps;
}

// ---------------------------------------------------------------------------------------
// MaxPool3d and AvgPool3d

TEST(Pooling3d, AcceptsPyTorchSignatures) {
  for (const char* module : {
           "nn.MaxPool3d(3)",
           "nn.MaxPool3d((3, 2, 1), (2, 1, 1), (1, 1, 0), (1, 2, 1), False, True)",
           "nn.MaxPool3d((2,), 2)",
           "nn.MaxPool3d(kernel_size=2, stride=None, padding=1, dilation=3, "
           "return_indices=False, ceil_mode=False)",
           "nn.AvgPool3d(3, None, 1, True, False, 2)",
           "nn.AvgPool3d(kernel_size=[2, 3, 2], stride=(), padding=(1, 1, 0), "
           "count_include_pad=True, divisor_override=None)",
       }) {
    EXPECT_NE(MustLoad(module), nullptr) << module;
  }
}

TEST(Pooling3d, RejectsWhatPyTorchRejects) {
  EXPECT_TRUE(Contains(LoadError("nn.MaxPool3d(0)"),
                       "MaxPool3d: argument 'kernel_size': kernel size should be greater than "
                       "zero, but got kT: 0 kH: 0 kW: 0"));
  EXPECT_TRUE(Contains(LoadError("nn.AvgPool3d(2, (1, 0, 1))"),
                       "AvgPool3d: argument 'stride': stride should be greater than zero, but "
                       "got dT: 1 dH: 0 dW: 1"));
  EXPECT_TRUE(Contains(LoadError("nn.MaxPool3d(2, dilation=(1, 1, 0))"),
                       "dilation should be greater than zero, but got dilationT: 1 dilationH: 1 "
                       "dilationW: 0"));
  // The 3-d pools compare the padding with the undilated kernel (pool3d_shape_check)...
  EXPECT_TRUE(Contains(LoadError("nn.MaxPool3d(3, padding=2, dilation=2)"),
                       "MaxPool3d: argument 'padding': pad should be at most half of kernel size "
                       "(its dilation aside), but got pad=2, kernel_size=3 and dilation=2"));
  // ...where the 2-d ones take the dilated one.
  EXPECT_NE(MustLoad("nn.MaxPool2d(3, padding=2, dilation=2)"), nullptr);
  EXPECT_TRUE(Contains(LoadError("nn.AvgPool3d(2, padding=2)"),
                       "AvgPool3d: argument 'padding': pad should be at most half of effective "
                       "kernel size"));
  EXPECT_TRUE(Contains(LoadError("nn.AvgPool3d(2, divisor_override=0)"),
                       "AvgPool3d: argument 'divisor_override': divisor must be not zero"));
  EXPECT_TRUE(Contains(LoadError("nn.MaxPool3d(2, return_indices=True)"),
                       "MaxPool3d: argument 'return_indices': return_indices=True makes the "
                       "module return (output, indices)"));
  EXPECT_TRUE(Contains(LoadError("nn.MaxPool3d((2, 2))"), "MaxPool3d: argument 'kernel_size'"));
  EXPECT_TRUE(Contains(LoadError("nn.AvgPool3d(2, padding=(1, 1))"),
                       "AvgPool3d: argument 'padding'"));
}

TEST(Pooling3d, OutputShapesFollowPyTorch) {
  EXPECT_EQ(ShapeOf("nn.MaxPool3d(2)", {1, 3, 4, 6, 5}), "[1, 3, 2, 3, 2]");
  EXPECT_EQ(ShapeOf("nn.MaxPool3d(2)", {3, 4, 5, 6}), "[3, 2, 2, 3]");
  EXPECT_EQ(ShapeOf("nn.MaxPool3d(3, 2, 1, ceil_mode=True)", {1, 2, 6, 7, 8}), "[1, 2, 4, 4, 5]");
  EXPECT_EQ(ShapeOf("nn.MaxPool3d((2, 3, 2), (1, 2, 1), 1, (2, 1, 3), ceil_mode=True)",
                    {2, 5, 6, 7}),
            "[2, 5, 4, 6]");
  EXPECT_EQ(ShapeOf("nn.AvgPool3d(2, 1, 1, ceil_mode=True)", {1, 16, 3, 4, 4}),
            "[1, 16, 4, 5, 5]");
  // Max pooling takes an input smaller than its kernel when the padding makes up for it.
  EXPECT_EQ(ShapeOf("nn.MaxPool3d(3, padding=1)", {1, 1, 2, 4, 4}), "[1, 1, 1, 2, 2]");
  EXPECT_EQ(ShapeOf("nn.MaxPool3d(2)", {0, 2, 3, 3, 3}), "[0, 2, 1, 1, 1]");
}

TEST(Pooling3d, ShapeErrorsNameExpectedAndActual) {
  EXPECT_EQ(ShapeOf("nn.MaxPool3d(2)", {3, 4, 5}),
            "0 (MaxPool3d): expected 4D (C, D, H, W) or 5D (N, C, D, H, W) input with non-zero "
            "C, D, H and W, got [3, 4, 5]");
  EXPECT_EQ(ShapeOf("nn.AvgPool3d(2)", {2, 0, 3, 3, 3}),
            "0 (AvgPool3d): expected 4D (C, D, H, W) or 5D (N, C, D, H, W) input with non-zero "
            "C, D, H and W, got [2, 0, 3, 3, 3]");
  // avg_pool3d wants the unpadded input at least as large as the kernel.
  EXPECT_EQ(ShapeOf("nn.AvgPool3d(3, padding=1)", {1, 1, 2, 4, 4}),
            "0 (AvgPool3d): expected an input at least as large as the kernel (kT: 3 kH: 3 "
            "kW: 3) before padding, got [1, 1, 2, 4, 4]");
  EXPECT_EQ(ShapeOf("nn.MaxPool3d(7)", {2, 6, 6, 6}),
            "0 (MaxPool3d): Output size is too small: expected an input with D >= 7 and H >= 7 "
            "and W >= 7, got [2, 6, 6, 6] (calculated output size [2, 0, 0, 0])");
}

TEST(Pooling3d, FlopsAndInputDims) {
  EXPECT_EQ(MustLoad("nn.MaxPool3d(2)")->root().Flops({1, 2, 4, 4, 4}), 2 * 2 * 2 * 2 * 8);
  EXPECT_EQ(MustLoad("nn.AvgPool3d(3, 1, 1)")->root().Flops({2, 3, 3, 3}), 2 * 27 * 27);
  EXPECT_EQ(MustLoad("nn.MaxPool3d(2)")->InputDims(), (Shape{-1, -1, -1, -1}));
  EXPECT_EQ(MustLoad("nn.AvgPool2d(2)")->InputDims(), (Shape{-1, -1, -1}));
  EXPECT_EQ(MustLoad("nn.MaxPool1d(2)")->InputDims(), (Shape{-1, -1}));
}

TEST(Pooling3d, KernelsComputeHandDerivedWindows) {
  // 2x2x3 ramp, window (2, 1, 2) stride 1: the max is the last tap, the mean the mean of
  // the first and last.
  std::vector<float> ramp(12);
  for (int i = 0; i < 12; ++i) ramp[i] = static_cast<float>(i);
  ExpectValues(RunModule("nn.MaxPool3d((2, 1, 2), 1)", {1, 2, 2, 3}, ramp), {7, 8, 10, 11});
  ExpectValues(RunModule("nn.AvgPool3d((2, 1, 2), 1)", {1, 2, 2, 3}, ramp),
               {3.5, 4.5, 6.5, 7.5});
  // ceil_mode adds a depth window [2, 4) over 3 planes, which PyTorch clips to [2, 3): the
  // divisor of the (2, 2, 3) window is 1 * 2 * 3 there, 2 * 2 * 3 for the first.
  std::vector<float> ramp18(18);
  for (int i = 0; i < 18; ++i) ramp18[i] = static_cast<float>(i);
  ExpectValues(RunModule("nn.AvgPool3d((2, 2, 3), (2, 1, 1), ceil_mode=True)", {1, 3, 2, 3},
                         ramp18),
               {66 / 12.f, (12 + 13 + 14 + 15 + 16 + 17) / 6.f});
}

// ---------------------------------------------------------------------------------------
// NaN and infinities, as PyTorch: a NaN in a max window wins; a window of -inf is -inf
// (oneDNN's max pooling answers NaN-free maxima and -FLT_MAX there, so max pools never run
// on it); an average of inf and -inf is NaN.

TEST(PoolingNaN, MaxPoolPropagatesNaNAndKeepsMinusInfinity) {
  const std::vector<float> x = {1, kNaN, -kInf, -kInf,  //
                                2, 3, -kInf, -kInf};
  ExpectValues(RunModule("nn.MaxPool2d(2)", {1, 1, 2, 4}, x), {kNaN, -kInf});
  ExpectValues(RunModule("nn.MaxPool1d(2)", {2, 4}, x), {kNaN, -kInf, 3, -kInf});
  ExpectValues(RunModule("nn.MaxPool3d((1, 2, 2))", {1, 1, 2, 4}, x), {kNaN, -kInf});
  ExpectValues(RunModule("nn.MaxPool2d((1, 2), ceil_mode=True)", {1, 1, 1, 3}, {kInf, kNaN, 5}),
               {kNaN, 5});
  ExpectValues(RunModule("nn.AdaptiveMaxPool2d((1, 2))", {1, 2, 4}, x), {kNaN, -kInf});
}

// A max pooling window as PyTorch reduces it: a NaN wins, an empty window is -inf.
float ReferenceMax(const std::vector<float>& plane, int64_t width, int64_t height,
                   int64_t oh, int64_t ow, int64_t kernel, int64_t stride, int64_t padding,
                   int64_t dilation) {
  float m = -kInf;
  for (int64_t kh = 0; kh < kernel; ++kh) {
    for (int64_t kw = 0; kw < kernel; ++kw) {
      const int64_t ih = oh * stride - padding + kh * dilation;
      const int64_t iw = ow * stride - padding + kw * dilation;
      if (ih < 0 || ih >= height || iw < 0 || iw >= width) continue;
      const float v = plane[ih * width + iw];
      if (std::isnan(v) || v > m) m = v;
      if (std::isnan(m)) return m;
    }
  }
  return m;
}

// Max pooling straight on a depthwise convolution's channel-blocked output (16 and 8 channel
// blocks, and channels-last when tuning picks it), whose 2x2 and 3x3 windows are unrolled:
// NaN, -inf and +inf in the windows, padding and dilation, against the rule above. The
// convolution has weight 1 and bias 0, so it passes its input through exactly.
TEST(PoolingNaN, MaxPoolOnChannelBlocksPropagatesNaNAndInfinities) {
  for (int64_t channels : {8, 16, 32}) {
    for (const auto& [kernel, stride, padding, dilation] :
         std::vector<std::array<int64_t, 4>>{{2, 2, 0, 1}, {3, 2, 1, 1}, {3, 1, 1, 1},
                                              {2, 1, 1, 2}, {3, 3, 0, 1}}) {
      const int64_t height = 7, width = 6;
      std::vector<float> x(static_cast<size_t>(channels * height * width));
      for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>((i * 37) % 23) - 11.f;
      for (size_t i = 5; i < x.size(); i += 19) x[i] = kNaN;
      for (size_t i = 3; i < x.size(); i += 29) x[i] = -kInf;
      for (size_t i = 11; i < x.size(); i += 31) x[i] = kInf;
      TensorMap weights;
      weights["0.weight"] = Tensor({channels, 1, 1, 1}, std::vector<float>(channels, 1.f));
      weights["0.bias"] = Tensor({channels});
      const std::string seq = "nn.Sequential(nn.Conv2d(" + std::to_string(channels) + ", " +
                              std::to_string(channels) + ", 1, groups=" +
                              std::to_string(channels) + "), nn.MaxPool2d(" +
                              std::to_string(kernel) + ", " + std::to_string(stride) + ", " +
                              std::to_string(padding) + ", " + std::to_string(dilation) + "))";
      const int64_t out_h = (height + 2 * padding - dilation * (kernel - 1) - 1) / stride + 1;
      const int64_t out_w = (width + 2 * padding - dilation * (kernel - 1) - 1) / stride + 1;
      std::vector<float> expected;
      for (int64_t c = 0; c < channels; ++c) {
        const std::vector<float> plane(x.begin() + c * height * width,
                                       x.begin() + (c + 1) * height * width);
        for (int64_t oh = 0; oh < out_h; ++oh) {
          for (int64_t ow = 0; ow < out_w; ++ow) {
            expected.push_back(
                ReferenceMax(plane, width, height, oh, ow, kernel, stride, padding, dilation));
          }
        }
      }
      for (int forced : {0, 1, 2, 3}) {
        ModelOptions options;
        options.tuning.mode = forced == 0 ? TuningMode::kOff : TuningMode::kForced;
        options.tuning.forced_candidate = forced;
        auto model = Model::FromSource(seq, "model.seq", &weights, "model.safetensors", options);
        ASSERT_TRUE(model.ok()) << model.status();
        Executor executor(CpuEngine());
        absl::StatusOr<Tensor> out =
            (*model)->Run(executor, Tensor({1, channels, height, width}, x));
        ASSERT_TRUE(out.ok()) << out.status();
        SCOPED_TRACE(seq + " candidate " + std::to_string(forced));
        ExpectValues(out->data, expected);
      }
    }
  }
}

TEST(PoolingNaN, AveragesOfInfinitiesFollowIEEE) {
  ExpectValues(RunModule("nn.AvgPool2d((1, 2))", {1, 1, 1, 6}, {kInf, -kInf, kInf, 1, kNaN, 1}),
               {kNaN, kInf, kNaN});
  ExpectValues(RunModule("nn.AvgPool1d(2, ceil_mode=True)", {1, 3}, {-kInf, 2, -kInf}),
               {-kInf, -kInf});
  ExpectValues(RunModule("nn.AvgPool3d(1, divisor_override=2)", {1, 1, 1, 2}, {kInf, 4}),
               {kInf, 2});
}

// ---------------------------------------------------------------------------------------
// Layouts and threads

TEST(Pooling3d, PoolsAfterAConvolutionInItsBlockedLayout) {
  TensorMap weights;
  weights["0.weight"] = Tensor({20, 2, 3, 3, 3});
  weights["0.bias"] = Tensor({20});
  const std::string steps =
      StepNames("nn.Sequential(nn.Conv3d(2, 20, 3), nn.MaxPool3d(2, ceil_mode=True), "
                "nn.AvgPool3d(2, 1, 1, ceil_mode=True), nn.AdaptiveAvgPool3d((2, 3, 2)), "
                "nn.AdaptiveMaxPool3d(1))",
                weights, {2, 2, 9, 10, 11});
  EXPECT_FALSE(Contains(steps, "Pool3d) reorder")) << steps;
  EXPECT_TRUE(Contains(steps, "2 (AvgPool3d)\n")) << steps;
}

// The window kernels split rows across threads, on plain and on blocked layouts; every
// output element is computed the same way whatever the split.
TEST(Pooling3d, TwoThreadsGiveTheSameAnswerAsOne) {
  const std::string seq =
      "nn.Sequential(nn.Conv3d(2, 20, 3, padding=1), nn.MaxPool3d(2, ceil_mode=True), "
      "nn.AvgPool3d(3, 1, 1, ceil_mode=True), nn.AdaptiveAvgPool3d((3, 5, 4)), "
      "nn.Flatten(0, 1), nn.MaxPool2d(2, 1, 1, dilation=2), nn.AdaptiveMaxPool2d((3, 2)))";
  TensorMap weights;
  weights["0.weight"] = Tensor({20, 2, 3, 3, 3});
  weights["0.bias"] = Tensor({20});
  for (int64_t i = 0; i < weights["0.weight"].numel(); ++i) {
    weights["0.weight"].data[i] = static_cast<float>((i * 37) % 19) / 19.f - 0.5f;
  }
  Tensor input({2, 2, 13, 14, 15});
  for (int64_t i = 0; i < input.numel(); ++i) {
    input.data[i] = static_cast<float>((i * 7919) % 1009) / 1009.f;
  }
  std::vector<Tensor> outputs;
  for (int threads : {1, 2}) {
    ModelOptions options;
    options.num_threads = threads;
    auto model = Model::FromSource(seq, "model.seq", &weights, "model.safetensors", options);
    ASSERT_TRUE(model.ok()) << model.status();
    Executor executor(CpuEngine());
    absl::StatusOr<Tensor> out = (*model)->Run(executor, input);
    ASSERT_TRUE(out.ok()) << out.status();
    outputs.push_back(*std::move(out));
  }
  ASSERT_EQ(outputs[0].shape, outputs[1].shape);
  for (int64_t i = 0; i < outputs[0].numel(); ++i) {
    ASSERT_EQ(outputs[0].data[i], outputs[1].data[i]) << "element " << i;
  }
}

}  // namespace
}  // namespace seqserve
