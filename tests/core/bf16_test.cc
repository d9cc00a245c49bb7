// Precision bf16 (core/precision.h): Conv and Linear compute on bfloat16 activations and
// weights with float32 accumulation, everything else in float32, the model's input and output
// in float32. Checked against real PyTorch float32 outputs (the bundled models' samples in
// tests/data/bundled/ and golden cases in tests/data/golden/, both made by PyTorch 1.13) with
// a tolerance derived from bfloat16's precision:
//
//   bfloat16 keeps 8 significant bits, so rounding a value to it is off by at most
//   u = 2^-8 relative. A bf16 layer rounds its input and its weights, so each product
//   w*x it sums is off by at most 2u + u^2 relative, and the fp32 sum of K such products by
//   at most (2u + u^2) * sum|w*x| (fp32's own rounding, 2^-24 per add, is negligible). On
//   these models sum|w*x| stays within twice the output's largest magnitude (ReLU nets
//   without heavy cancellation), so one layer adds at most ~4u * max|output|; errors of L
//   bf16 layers in a row add up to first order. Hence per element:
//       |bf16 - pytorch| <= L * 4u * max|pytorch output|     (L = bf16 layers in the plan)
//   For LeNet (L = 5) that is 7.8% of the largest score, a worst case; measured errors are
//   0.1-0.8% of it. The test also holds the mean error to L * u * max|output|, and the
//   maximum to issue 16's acceptance bound, 2e-2 of the output's range.
//
// Classifiers must keep PyTorch's top-1 class on every sample. The tests skip, saying so,
// on a CPU without AVX512_BF16, where a bf16 model runs fp32 (PrecisionFallback tests that
// path; ctest also runs it with DNNL_MAX_CPU_ISA=AVX512_CORE to force it on any CPU).
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/npy.h"
#include "core/engine.h"
#include "core/executor.h"
#include "core/model.h"
#include "core/precision.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/util/temp_dir.h"

namespace seqserve {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

constexpr double kUnitRoundoff = 1.0 / 256;  // bfloat16: 8 significant bits

constexpr char kNoBf16[] =
    "this CPU (or DNNL_MAX_CPU_ISA) has no AVX512_BF16: bf16 models run fp32 here "
    "(see PrecisionFallback)";

ModelOptions Bf16Options() {
  ModelOptions options;
  options.precision = Precision::kBf16;
  return options;
}

bool IsBf16(const dnnl::memory::desc& md) {
  return md.data_type() == dnnl::memory::data_type::bf16;
}

// The layers that compute in bf16.
int Bf16Layers(const Plan& plan) { return plan.reduced_layers(); }

struct Errors {
  double max_abs = 0;
  double mean_abs = 0;
  double max_expected = 0;  // max |expected|
  double range = 0;         // max(expected) - min(expected)
};

Errors Compare(const Tensor& actual, const Tensor& expected) {
  Errors e;
  double sum = 0;
  double lo = 0, hi = 0;
  for (int64_t i = 0; i < expected.numel(); ++i) {
    lo = std::min(lo, static_cast<double>(expected.data[i]));
    hi = std::max(hi, static_cast<double>(expected.data[i]));
    const double d = std::fabs(static_cast<double>(actual.data[i]) - expected.data[i]);
    e.max_abs = std::max(e.max_abs, d);
    sum += d;
    e.max_expected = std::max(e.max_expected, std::fabs(static_cast<double>(expected.data[i])));
  }
  e.mean_abs = expected.numel() > 0 ? sum / static_cast<double>(expected.numel()) : 0;
  e.range = hi - lo;
  return e;
}

// The model in `dir` with precision bf16 against PyTorch's `expected` for `input`: within
// the bound above, and (for a 2-D output with `classifier`) the same top-1 class per row.
// `forced`: 0 for the default implementations, k > 0 to force candidate k of every tunable
// layer (core/tuner.h; channels-last and 8-channel-block convolutions, inner products), so
// that each bf16 implementation is checked.
void ExpectWithinBf16Bound(const std::string& label, const fs::path& dir,
                           const TypedTensor& input, const Tensor& expected, bool classifier,
                           int forced = 0) {
  ModelOptions options = Bf16Options();
  if (forced > 0) {
    options.tuning.mode = TuningMode::kForced;
    options.tuning.forced_candidate = forced;
  }
  absl::StatusOr<std::shared_ptr<Model>> model = Model::Load(dir, options);
  ASSERT_TRUE(model.ok()) << model.status();
  ASSERT_EQ((*model)->precision(), Precision::kBf16);
  absl::StatusOr<std::shared_ptr<const Plan>> plan =
      (*model)->GetPlan(input.shape, input.dtype);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ((*plan)->precision(), Precision::kBf16);
  // Forced candidates may be the fp32 implementations tuning also offers ("fp32:...").
  const int layers = std::max(1, Bf16Layers(**plan));
  // By default, a bf16 plan without a bf16 layer would test nothing.
  if (forced == 0) {
    ASSERT_GT(Bf16Layers(**plan), 0) << "no layer of " << dir << " computes in bf16";
  }
  Executor executor(CpuEngine());
  absl::StatusOr<Tensor> output = (*model)->Run(executor, input.view());
  ASSERT_TRUE(output.ok()) << output.status();
  ASSERT_EQ(output->shape, expected.shape);
  const Errors e = Compare(*output, expected);
  const double bound = layers * 4 * kUnitRoundoff * e.max_expected;
  EXPECT_LE(e.max_abs, bound) << dir << ": " << layers << " bf16 layers";
  EXPECT_LE(e.mean_abs, layers * kUnitRoundoff * e.max_expected) << dir;
  // Issue 16's acceptance bound, whatever the depth: 2e-2 of the output's range.
  EXPECT_LE(e.max_abs, 2e-2 * e.range) << dir;
  // bf16 did change the result: the comparison is of a bf16 computation, not of fp32.
  if (Bf16Layers(**plan) > 0) {
    EXPECT_GT(e.max_abs, 0) << dir;
  }
  std::printf("%s: %d bf16 layer(s), max error %.3g (%.2f%% of max|y| %.4g; bound %.2f%%), "
              "mean %.3g\n",
              label.c_str(), layers, e.max_abs,
              100 * e.max_abs / e.max_expected, e.max_expected,
              100 * bound / e.max_expected, e.mean_abs);
  if (classifier && expected.shape.size() == 2) {
    const int64_t cols = expected.shape[1];
    for (int64_t r = 0; r < expected.shape[0]; ++r) {
      const float* want = expected.data.data() + r * cols;
      const float* got = output->data.data() + r * cols;
      EXPECT_EQ(std::max_element(got, got + cols) - got, std::max_element(want, want + cols) - want)
          << dir << ": top-1 class of sample " << r;
    }
  }
}

TEST(Bf16, BundledModelsStayWithinTheBf16BoundOfPyTorch) {
  if (!CpuHasBf16()) GTEST_SKIP() << kNoBf16;
  // lenet, mlp and textclass are classifiers (10 and 4 scores per sample).
  for (const std::string name : {"lenet", "mlp", "seed", "superres", "textclass"}) {
    SCOPED_TRACE(name);
    const fs::path samples = fs::path(SEQSERVE_TEST_DATA_DIR) / "bundled" / name;
    absl::StatusOr<TypedTensor> input = ReadTypedNpy(samples / "input.npy");
    absl::StatusOr<Tensor> expected = ReadNpy(samples / "expected.npy");
    ASSERT_TRUE(input.ok() && expected.ok());
    ExpectWithinBf16Bound(name, fs::path(SEQSERVE_SOURCE_DIR) / "models" / name / "1", *input,
                          *expected, /*classifier=*/name != "seed" && name != "superres");
  }
}

// Golden cases of Conv (1d, 2d, 3d; groups, depthwise, dilation, stride, no bias, folded
// BatchNorm, fused activations) and Linear (3-D input, folded BatchNorm1d), with each
// implementation tuning may choose.
TEST(Bf16, GoldenConvAndLinearCasesStayWithinTheBf16Bound) {
  if (!CpuHasBf16()) GTEST_SKIP() << kNoBf16;
  for (const std::string name :
       {"conv1d", "conv1d_bn_relu", "conv1d_depthwise", "conv3d", "conv3d_blocked_chain",
        "conv3d_stride_pad", "conv_bn_relu", "conv_depthwise", "conv_groups", "conv_groups_wide",
        "conv_no_bias", "conv_nobias_bn_relu6", "conv_same_dilated", "conv_seed",
        "conv_stride_pad_dilation", "conv_vgg_block", "linear",
        "linear_3d_bn1d", "linear_no_bias", "linear_nobias_bn1d", "mlp"}) {
    SCOPED_TRACE(name);
    const fs::path dir = fs::path(SEQSERVE_TEST_DATA_DIR) / "golden" / name;
    ASSERT_TRUE(fs::exists(dir / "input_0.npy")) << dir;
    for (int k = 0; fs::exists(dir / ("input_" + std::to_string(k) + ".npy")); ++k) {
      absl::StatusOr<TypedTensor> input =
          ReadTypedNpy(dir / ("input_" + std::to_string(k) + ".npy"));
      absl::StatusOr<Tensor> expected = ReadNpy(dir / ("expected_" + std::to_string(k) + ".npy"));
      ASSERT_TRUE(input.ok() && expected.ok());
      for (int forced = 0; forced <= 5; ++forced) {
        SCOPED_TRACE(forced);
        ExpectWithinBf16Bound(forced == 0 ? name : absl::StrCat(name, " forced", forced), dir,
                              *input, *expected, /*classifier=*/false, forced);
      }
    }
  }
}

// Where bf16 runs: Conv and Linear read and keep bf16, write bf16 when the next layer is a
// bf16 layer too, and f32 before a module without a bf16 form (MaxPool, Flatten) and at the
// end (the classifier head's output keeps its f32 accumulation). No kernel step sees bf16.
TEST(Bf16, OnlyConvAndLinearComputeInBf16) {
  if (!CpuHasBf16()) GTEST_SKIP() << kNoBf16;
  absl::StatusOr<std::shared_ptr<Model>> model =
      Model::Load(fs::path(SEQSERVE_SOURCE_DIR) / "models" / "lenet" / "1", Bf16Options());
  ASSERT_TRUE(model.ok()) << model.status();
  absl::StatusOr<std::shared_ptr<const Plan>> plan = (*model)->GetPlan({2, 1, 28, 28});
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(Bf16Layers(**plan), 5);  // 2 Conv2d, 3 Linear
  EXPECT_EQ((*plan)->weighted_layers(), 5);
  for (const PlanStep& step : (*plan)->steps()) {
    SCOPED_TRACE(step.name);
    const bool conv_or_linear = step.name.find("Conv2d") != std::string::npos ||
                                step.name.find("Linear") != std::string::npos;
    for (const StepArg& arg : step.args) {
      if (step.kernel || step.input_kernel) {
        EXPECT_FALSE(IsBf16(arg.md));
      }
      if (!conv_or_linear) {
        EXPECT_FALSE(IsBf16(arg.md)) << "arg " << arg.arg;
      }
    }
  }
  // Linears 7 and 9 feed further Linears through ReLUs fused into them: bf16 in between.
  // The last Linear (11) writes f32: it is the output.
  auto dst_of = [&](const std::string& name) {
    for (const PlanStep& step : (*plan)->steps()) {
      if (step.name != name) continue;
      for (const StepArg& arg : step.args) {
        if (arg.arg == DNNL_ARG_DST) return arg.md.data_type();
      }
    }
    return dnnl::memory::data_type::undef;
  };
  EXPECT_EQ(dst_of("7 (Linear)"), dnnl::memory::data_type::bf16);
  EXPECT_EQ(dst_of("9 (Linear)"), dnnl::memory::data_type::bf16);
  EXPECT_EQ(dst_of("11 (Linear)"), dnnl::memory::data_type::f32);
  // The Conv2d layers before MaxPool2d write f32 for it.
  EXPECT_EQ(dst_of("0 (Conv2d)"), dnnl::memory::data_type::f32);
  EXPECT_EQ(dst_of("3 (Conv2d)"), dnnl::memory::data_type::f32);
}

// With tuning, a bf16 layer's fp32 implementations are candidates too ("fp32:" ids): forcing
// one runs that layer exactly as an fp32 plan does.
TEST(Bf16, TuningCanKeepALayerInFp32) {
  if (!CpuHasBf16()) GTEST_SKIP() << kNoBf16;
  const fs::path dir = fs::path(SEQSERVE_SOURCE_DIR) / "models" / "mlp" / "1";
  // Linear's candidates: matmul, inner_product, inner_product_oi, then the same in fp32.
  ModelOptions options = Bf16Options();
  options.tuning.mode = TuningMode::kForced;
  options.tuning.forced_candidate = 3;
  absl::StatusOr<std::shared_ptr<Model>> forced = Model::Load(dir, options);
  absl::StatusOr<std::shared_ptr<Model>> fp32 = Model::Load(dir);
  ASSERT_TRUE(forced.ok() && fp32.ok());
  absl::StatusOr<TypedTensor> input =
      ReadTypedNpy(fs::path(SEQSERVE_TEST_DATA_DIR) / "bundled" / "mlp" / "input.npy");
  ASSERT_TRUE(input.ok()) << input.status();
  absl::StatusOr<std::shared_ptr<const Plan>> plan = (*forced)->GetPlan(input->shape);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ((*plan)->precision(), Precision::kBf16);
  EXPECT_EQ((*plan)->reduced_layers(), 0);
  EXPECT_EQ((*plan)->weighted_layers(), 3);
  Executor executor(CpuEngine());
  absl::StatusOr<Tensor> a = (*forced)->Run(executor, input->view());
  absl::StatusOr<Tensor> b = (*fp32)->Run(executor, input->view());
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->data, b->data);
}

// Timed choices, bf16 or fp32 per layer, are cached like any other and read back as they
// were made (an "fp32:" id is not taken for an unknown implementation).
TEST(Bf16, TunedChoicesRoundTripThroughTheCache) {
  if (!CpuHasBf16()) GTEST_SKIP() << kNoBf16;
  testing::TempDir cache("bf16_tuning");
  ModelOptions options = Bf16Options();
  options.tuning.mode = TuningMode::kOn;
  options.tuning.cache_dir = cache.path().string();
  options.tuning.budget_ms = 10000;
  const fs::path dir = fs::path(SEQSERVE_SOURCE_DIR) / "models" / "seed" / "1";
  const Shape input = {4, 1, 28, 28};
  absl::StatusOr<std::shared_ptr<Model>> first = Model::Load(dir, options);
  ASSERT_TRUE(first.ok()) << first.status();
  absl::StatusOr<std::shared_ptr<const Plan>> timed = (*first)->GetPlan(input);
  ASSERT_TRUE(timed.ok()) << timed.status();
  EXPECT_EQ((*timed)->tuning().timed_layers, 2);
  absl::StatusOr<std::shared_ptr<Model>> second = Model::Load(dir, options);
  ASSERT_TRUE(second.ok()) << second.status();
  absl::StatusOr<std::shared_ptr<const Plan>> cached = (*second)->GetPlan(input);
  ASSERT_TRUE(cached.ok()) << cached.status();
  EXPECT_EQ((*cached)->tuning().cached_layers, 2);
  EXPECT_EQ((*cached)->tuning().timed_layers, 0);
  EXPECT_EQ((*cached)->reduced_layers(), (*timed)->reduced_layers());
  std::printf("seed, batch 4: tuning kept %d of 2 layers in bf16\n", (*timed)->reduced_layers());
}

TEST(Precision, NamesParseAndOthersAreErrorsNamingThem) {
  EXPECT_EQ(*ParsePrecision("fp32"), Precision::kFp32);
  EXPECT_EQ(*ParsePrecision("bf16"), Precision::kBf16);
  EXPECT_EQ(PrecisionName(Precision::kBf16), "bf16");
  EXPECT_EQ(*ParsePrecision("int8"), Precision::kInt8);
  EXPECT_EQ(PrecisionName(Precision::kInt8), "int8");
  EXPECT_EQ(ParsePrecision("BF16").status().message(),
            "unknown precision 'BF16' (supported: fp32, bf16, int8)");
}

TEST(Precision, Fp32PlansHoldNoBf16) {
  absl::StatusOr<std::shared_ptr<Model>> model =
      Model::Load(fs::path(SEQSERVE_SOURCE_DIR) / "models" / "lenet" / "1");
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ((*model)->precision(), Precision::kFp32);
  absl::StatusOr<std::shared_ptr<const Plan>> plan = (*model)->GetPlan({2, 1, 28, 28});
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ((*plan)->precision(), Precision::kFp32);
  for (const PlanStep& step : (*plan)->steps()) {
    for (const StepArg& arg : step.args) EXPECT_FALSE(IsBf16(arg.md)) << step.name;
  }
}

// Without AVX512_BF16 a model asking for bf16 runs fp32, says why, and gives fp32's results
// exactly. ctest runs this with DNNL_MAX_CPU_ISA=AVX512_CORE (the bf16_fallback test), which
// makes oneDNN ignore AVX512_BF16 on any CPU.
TEST(PrecisionFallback, WithoutAvx512Bf16ABf16ModelRunsFp32AndSaysWhy) {
  if (CpuHasBf16()) {
    GTEST_SKIP() << "this CPU has AVX512_BF16; ctest's bf16_fallback runs this test with "
                    "DNNL_MAX_CPU_ISA=AVX512_CORE";
  }
  const fs::path dir = fs::path(SEQSERVE_SOURCE_DIR) / "models" / "lenet" / "1";
  absl::StatusOr<std::shared_ptr<Model>> bf16 = Model::Load(dir, Bf16Options());
  ASSERT_TRUE(bf16.ok()) << bf16.status();
  EXPECT_EQ((*bf16)->options().precision, Precision::kBf16);
  EXPECT_EQ((*bf16)->precision(), Precision::kFp32);
  EXPECT_THAT((*bf16)->precision_fallback_reason(), HasSubstr("AVX512_BF16"));
  EXPECT_THAT((*bf16)->precision_fallback_reason(), HasSubstr("runs in fp32"));
  absl::StatusOr<std::shared_ptr<Model>> fp32 = Model::Load(dir);
  ASSERT_TRUE(fp32.ok()) << fp32.status();
  absl::StatusOr<TypedTensor> input =
      ReadTypedNpy(fs::path(SEQSERVE_TEST_DATA_DIR) / "bundled" / "lenet" / "input.npy");
  ASSERT_TRUE(input.ok()) << input.status();
  Executor executor(CpuEngine());
  absl::StatusOr<Tensor> a = (*bf16)->Run(executor, input->view());
  absl::StatusOr<Tensor> b = (*fp32)->Run(executor, input->view());
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->data, b->data);
}

}  // namespace
}  // namespace seqserve
