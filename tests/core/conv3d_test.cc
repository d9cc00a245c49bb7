// Conv3d and ConvTranspose3d (the N-d convolutions of conv.h and conv_transpose.h at three
// spatial dims): PyTorch's constructor checks, state_dict names, shape rules and errors,
// FLOPs, input dims, the padding modes on hand-derivable inputs, BatchNorm folding (with a
// stand-in for BatchNorm3d, which lives elsewhere: any module offering a ChannelAffine
// folds) checked against the unfused plan, and the plan a 3-d CNN compiles to. The PyTorch
// comparisons at many shapes are the conv3d*/conv_transpose3d* goldens.
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/compiler.h"
#include "core/module_registry.h"
#include "core/plan_builder.h"
#include "core/weight_cache.h"
#include "gtest/gtest.h"
#include "tests/util/run_module.h"

namespace seqserve {
namespace {

using test::Contains;
using test::LoadError;

std::unique_ptr<Module> MakeModule(std::string_view text) {
  absl::StatusOr<SeqValue> call = ParseModelSeq(text, "model.seq");
  EXPECT_TRUE(call.ok()) << call.status();
  if (!call.ok()) return nullptr;
  ModuleFactory factory = FindModuleFactory(StripNnPrefix(call->call->name));
  EXPECT_NE(factory, nullptr) << text;
  if (factory == nullptr) return nullptr;
  absl::StatusOr<std::unique_ptr<Module>> module = factory(*call->call, "model.seq");
  EXPECT_TRUE(module.ok()) << module.status();
  return module.ok() ? *std::move(module) : nullptr;
}

std::string ShapeText(std::string_view module_text, const Shape& in) {
  std::unique_ptr<Module> module = MakeModule(module_text);
  if (module == nullptr) return "";
  absl::StatusOr<Shape> out = module->OutputShape(in);
  return out.ok() ? ShapeToString(*out) : std::string(out.status().message());
}

float Pseudo(const std::string& /*name*/, int64_t i) {
  return static_cast<float>((i * 37 + 11) % 23) / 23.f - 0.5f;
}

// --- Construction ---

TEST(Conv3d, RejectsWhatPyTorchRejects) {
  EXPECT_EQ(LoadError("nn.Sequential(nn.Conv3d(4, 4, 3, groups=3))"),
            "model.seq:1:48: Conv3d: argument 'groups': in_channels (4) must be divisible by "
            "groups (3)");
  EXPECT_TRUE(Contains(LoadError("nn.Sequential(nn.Conv3d(2, 2, (3, 3)))"),
                       "Conv3d: argument 'kernel_size': expected an int or a tuple of 3 ints, got "
                       "a tuple of 2"));
  EXPECT_TRUE(Contains(LoadError("nn.Sequential(nn.Conv3d(2, 2, 3, stride=2, padding='same'))"),
                       "Conv3d: argument 'padding': padding='same' is not supported for strided "
                       "convolutions"));
  EXPECT_TRUE(Contains(LoadError("nn.Sequential(nn.Conv3d(2, 2, 3, padding_mode='mirror'))"),
                       "Conv3d: argument 'padding_mode': padding_mode must be one of {'zeros', "
                       "'reflect', 'replicate', 'circular'}, but got padding_mode='mirror'"));
  EXPECT_TRUE(Contains(LoadError("nn.Sequential(nn.Conv3d(2, 2, 3, padding=(1, -1, 0)))"),
                       "Conv3d: argument 'padding': negative padding is not supported, got (1, -1, "
                       "0)"));
  EXPECT_TRUE(Contains(LoadError("nn.Sequential(nn.ConvTranspose3d(2, 2, 3, padding_mode='reflect'))"),
                       "ConvTranspose3d: argument 'padding_mode': Only \"zeros\" padding mode is "
                       "supported for ConvTranspose3d"));
  EXPECT_TRUE(Contains(LoadError("nn.Sequential(nn.ConvTranspose3d(2, 2, 3, stride=2, "
                                 "output_padding=(0, 2, 0)))"),
                       "ConvTranspose3d: argument 'output_padding': output padding must be smaller "
                       "than either stride or dilation, but got output_padding=(0, 2, 0), "
                       "stride=(2, 2, 2), dilation=(1, 1, 1)"));
}

TEST(Conv3d, ParamsAreTheStateDictEntries) {
  auto specs = [](std::string_view text) {
    std::vector<std::pair<std::string, Shape>> out;
    std::unique_ptr<Module> module = MakeModule(text);
    if (module == nullptr) return out;
    for (const ParamSpec& spec : module->params()) out.emplace_back(spec.name, spec.shape);
    return out;
  };
  using Specs = std::vector<std::pair<std::string, Shape>>;
  EXPECT_EQ(specs("nn.Conv3d(4, 6, (2, 3, 1), groups=2)"),
            (Specs{{"weight", {6, 2, 2, 3, 1}}, {"bias", {6}}}));
  EXPECT_EQ(specs("nn.ConvTranspose3d(4, 6, 3, groups=2, bias=False)"),
            (Specs{{"weight", {4, 3, 3, 3, 3}}}));
}

// --- Shapes ---

TEST(Conv3d, ShapesFollowPyTorch) {
  EXPECT_EQ(ShapeText("nn.Conv3d(2, 4, 3)", {1, 2, 5, 6, 7}), "[1, 4, 3, 4, 5]");
  EXPECT_EQ(ShapeText("nn.Conv3d(2, 4, 3)", {2, 5, 6, 7}), "[4, 3, 4, 5]");
  // (4 + 2 - 3) / 2 + 1 = 2;  (7 - 2 * 2 - 1) + 1 = 3 at dilation 2.
  EXPECT_EQ(ShapeText("nn.Conv3d(2, 4, (3, 1, 3), stride=(2, 1, 1), padding=(1, 0, 0), "
                      "dilation=(1, 1, 2))",
                      {1, 2, 4, 5, 7}),
            "[1, 4, 2, 5, 3]");
  EXPECT_EQ(ShapeText("nn.Conv3d(2, 4, (2, 3, 4), padding='same', padding_mode='reflect')",
                      {2, 3, 4, 5}),
            "[4, 3, 4, 5]");
  // (3 - 1) * 2 - 2 + 3 + 1 = 6 per dim.
  EXPECT_EQ(ShapeText("nn.ConvTranspose3d(4, 2, 3, stride=2, padding=1, output_padding=1)",
                      {1, 4, 3, 3, 3}),
            "[1, 2, 6, 6, 6]");
  EXPECT_EQ(ShapeText("nn.Conv3d(2, 4, 3)", {0, 2, 3, 3, 3}), "[0, 4, 1, 1, 1]");
}

TEST(Conv3d, ShapeErrorsNameExpectedAndActual) {
  EXPECT_EQ(ShapeText("nn.Conv3d(2, 4, 3)", {5, 6, 7}),
            "expected 4D (unbatched) or 5D (batched) input, got [5, 6, 7]");
  EXPECT_EQ(ShapeText("nn.Conv3d(2, 4, 3)", {1, 3, 5, 5, 5}),
            "expected input with 2 channels, got [1, 3, 5, 5, 5]");
  EXPECT_EQ(ShapeText("nn.Conv3d(2, 4, 3, padding=(0, 1, 0))", {2, 2, 3, 4}),
            "expected an input at least as large as the kernel (3, 3, 3) after padding, got "
            "[2, 2, 3, 4] (padded size (2, 5, 4))");
  EXPECT_EQ(ShapeText("nn.Conv3d(2, 4, 3, padding=2, padding_mode='reflect')", {2, 2, 3, 4}),
            "expected padding (2, 2) smaller than the input size 2 of dimension 1 for "
            "padding_mode='reflect', got [2, 2, 3, 4]");
  EXPECT_EQ(ShapeText("nn.ConvTranspose3d(4, 2, 3, padding=3)", {1, 4, 1, 5, 5}),
            "expected an input large enough for a positive output size, got [1, 4, 1, 5, 5] "
            "(output size (-3, 1, 1))");
}

TEST(Conv3d, FlopsInputDimsAndFusableAxis) {
  // 4 * 3 * 4 * 5 outputs, each 2 * 27 multiply-adds and a bias.
  EXPECT_EQ(MakeModule("nn.Conv3d(2, 4, 3)")->Flops({1, 2, 5, 6, 7}), 240 * (2 * 2 * 27 + 1));
  // Every input element meets 2 * 8 taps; plus a bias per output.
  EXPECT_EQ(MakeModule("nn.ConvTranspose3d(4, 2, 2, stride=2)")->Flops({1, 4, 2, 2, 2}),
            2 * 32 * 16 + 2 * 64);
  EXPECT_EQ(MakeModule("nn.Conv3d(3, 6, 3)")->InputDims(), (Shape{3, -1, -1, -1}));
  EXPECT_EQ(MakeModule("nn.ConvTranspose3d(7, 6, 3)")->InputDims(), (Shape{7, -1, -1, -1}));
  EXPECT_EQ(MakeModule("nn.Conv3d(3, 6, 3)")->FusableChannelAxis({2, 3, 4, 4, 4}), 1);
  EXPECT_EQ(MakeModule("nn.Conv3d(3, 6, 3)")->FusableChannelAxis({3, 4, 4, 4}), 0);
}

// --- Padding modes (a 1x1x1 convolution with weight 1 returns its padded input) ---

TEST(Conv3d, PaddingModesPadAllThreeDims) {
  auto run = [](const std::string& conv, const Tensor& input) {
    const std::string seq = "nn.Sequential(" + conv + ")";
    const TensorMap weights = test::MakeWeights(seq, [](const std::string&, int64_t) { return 1.f; });
    auto model = Model::FromSource(seq, "model.seq", &weights, "model.safetensors");
    EXPECT_TRUE(model.ok()) << model.status();
    return model.ok() ? test::Run(**model, input) : Tensor();
  };
  // Depth 2 of 1x2 planes [[0, 1]] and [[2, 3]], padded (depth 1, width 1) both sides.
  const Tensor x({1, 2, 1, 2}, {0, 1, 2, 3});
  Tensor out = run("nn.Conv3d(1, 1, 1, bias=False, padding=(1, 0, 1), padding_mode='circular')", x);
  EXPECT_EQ(out.shape, (Shape{1, 4, 1, 4}));
  EXPECT_EQ(out.data, (std::vector<float>{3, 2, 3, 2, 1, 0, 1, 0, 3, 2, 3, 2, 1, 0, 1, 0}));
  out = run("nn.Conv3d(1, 1, 1, bias=False, padding=(1, 0, 1), padding_mode='replicate')", x);
  EXPECT_EQ(out.data, (std::vector<float>{0, 0, 1, 1, 0, 0, 1, 1, 2, 2, 3, 3, 2, 2, 3, 3}));
  out = run("nn.Conv3d(1, 1, 1, bias=False, padding=(1, 0, 1), padding_mode='reflect')", x);
  EXPECT_EQ(out.data, (std::vector<float>{3, 2, 3, 2, 1, 0, 1, 0, 3, 2, 3, 2, 1, 0, 1, 0}));
  out = run("nn.Conv3d(1, 1, 1, bias=False, padding=(1, 0, 1))", x);
  EXPECT_EQ(out.data, (std::vector<float>{0, 0, 0, 0, 0, 0, 1, 0, 0, 2, 3, 0, 0, 0, 0, 0}));
}

// --- BatchNorm folding, with a stand-in module ---

// y = x * scale[c] + shift[c] on axis 1, as BatchNorm at inference: it offers its
// ChannelAffine to the producer before it, or runs as a plain kernel when not folded.
class ChannelAffineModule : public Module {
 public:
  explicit ChannelAffineModule(ChannelAffine affine) : affine_(std::move(affine)) {}
  std::string_view type() const override { return "ChannelAffine"; }
  absl::StatusOr<Shape> OutputShape(const Shape& in) const override { return in; }
  const ChannelAffine* AsChannelAffine() const override { return &affine_; }
  absl::StatusOr<PlanValue> Compile(PlanBuilder& builder, const PlanValue& in,
                                    const Fusion& /*fusion*/) const override {
    const PlanValue x = builder.Plain(in);
    const PlanValue y = builder.NewValue(in.shape, PlainDesc(in.shape));
    const int64_t channels = in.shape[1];
    const int64_t inner = NumElements(in.shape) / (in.shape[0] * channels);
    builder.AddKernel(
        [a = affine_, channels, inner, n = NumElements(in.shape)](const float* src, float* dst,
                                                                   int /*threads*/) {
          for (int64_t i = 0; i < n; ++i) {
            const auto c = static_cast<size_t>((i / inner) % channels);
            dst[i] = src[i] * a.scale[c] + a.shift[c];
          }
        },
        x, y);
    return y;
  }

 private:
  ChannelAffine affine_;
};

struct CompiledRun {
  Tensor output;
  std::string steps;
};

// Compiles `layers` for `input` (folding when `fuse`) and runs the plan.
CompiledRun CompileAndRun(const std::vector<Layer>& layers, const Tensor& input, bool fuse) {
  WeightCache weights(CpuEngine());
  PlanBuilder builder(CpuEngine(), 1, weights, input.shape);
  builder.set_fuse(fuse);
  absl::StatusOr<PlanValue> out = CompileLayers(builder, layers, builder.input());
  EXPECT_TRUE(out.ok()) << out.status();
  if (!out.ok()) return {};
  absl::StatusOr<std::shared_ptr<const Plan>> plan = builder.Finish(*out);
  EXPECT_TRUE(plan.ok()) << plan.status();
  if (!plan.ok()) return {};
  CompiledRun run;
  run.output = Tensor((*plan)->output_shape());
  Executor executor(CpuEngine());
  EXPECT_TRUE(executor.Run(**plan, input.data.data(), run.output.data.data()).ok());
  for (const PlanStep& step : (*plan)->steps()) run.steps += step.name + "\n";
  return run;
}

TEST(Conv3d, FoldsAFollowingChannelAffineIntoWeightsAndBias) {
  for (const char* text :
       {"nn.Conv3d(3, 20, 3, padding=1)", "nn.Conv3d(4, 20, (2, 3, 1), groups=2, bias=False)",
        "nn.Conv3d(3, 20, 3, padding=1, padding_mode='circular')",
        "nn.ConvTranspose3d(4, 20, 3, stride=2, output_padding=1, groups=2)"}) {
    SCOPED_TRACE(text);
    std::unique_ptr<Module> conv = MakeModule(text);
    ASSERT_NE(conv, nullptr);
    ParamMap params;
    for (const ParamSpec& spec : conv->params()) {
      Tensor t(spec.shape);
      for (int64_t i = 0; i < t.numel(); ++i) t.data[i] = Pseudo(spec.name, i);
      params[spec.name] = std::move(t);
    }
    ASSERT_TRUE(conv->SetParams(std::move(params)).ok());
    ChannelAffine affine;
    for (int c = 0; c < 20; ++c) {
      affine.scale.push_back(0.5f + 0.1f * static_cast<float>(c));
      affine.shift.push_back(0.25f - 0.05f * static_cast<float>(c));
    }
    ChannelAffineModule bn(affine);
    std::unique_ptr<Module> relu = MakeModule("nn.ReLU()");
    const std::vector<Layer> layers = {{"0", conv.get()}, {"1", &bn}, {"2", relu.get()}};
    const int64_t in_channels = conv->InputDims()->front();
    Tensor input({2, in_channels, 4, 5, 3});
    for (int64_t i = 0; i < input.numel(); ++i) input.data[i] = Pseudo("x", i * 3);

    const CompiledRun fused = CompileAndRun(layers, input, true);
    const CompiledRun unfused = CompileAndRun(layers, input, false);
    EXPECT_FALSE(Contains(fused.steps, "1 (ChannelAffine)")) << fused.steps;
    EXPECT_FALSE(Contains(fused.steps, "2 (ReLU)")) << fused.steps;
    EXPECT_TRUE(Contains(unfused.steps, "1 (ChannelAffine)")) << unfused.steps;
    ASSERT_EQ(fused.output.shape, unfused.output.shape);
    for (int64_t i = 0; i < fused.output.numel(); ++i) {
      const float e = unfused.output.data[i];
      ASSERT_NEAR(fused.output.data[i], e, 1e-5 + 1e-5 * std::fabs(e)) << "element " << i;
    }
  }
}

// --- The compiled plan ---

TEST(Conv3d, A3dCnnReordersOnlyAtItsEdges) {
  const std::string seq =
      "nn.Sequential(nn.Conv3d(16, 16, 3, padding=1), nn.ReLU(), nn.Conv3d(16, 16, 3, padding=1, "
      "padding_mode='replicate'), nn.ReLU(), nn.MaxPool3d(2), nn.ConvTranspose3d(16, 16, 2, "
      "stride=2), nn.ReflectionPad3d(1), nn.Conv3d(16, 8, 3), nn.AvgPool3d(2))";
  const TensorMap weights = test::MakeWeights(seq, Pseudo);
  auto model = Model::FromSource(seq, "model.seq", &weights, "model.safetensors");
  ASSERT_TRUE(model.ok()) << model.status();
  const std::string steps = test::StepNames(**model, {2, 16, 8, 8, 8});
  size_t reorders = 0;
  for (size_t at = steps.find("reorder"); at != std::string::npos; at = steps.find("reorder", at + 1)) {
    ++reorders;
  }
  EXPECT_EQ(reorders, 2u) << steps;
  EXPECT_TRUE(steps.starts_with("0 (Conv3d) reorder\n")) << steps;
  EXPECT_TRUE(Contains(steps, "output (Plan) reorder\n")) << steps;
  // Another batch and size reuse the reordered weights.
  const size_t weight_bytes = (*model)->weight_bytes();
  test::StepNames(**model, {1, 16, 6, 4, 6});
  EXPECT_EQ((*model)->weight_bytes(), weight_bytes);
}

}  // namespace
}  // namespace seqserve
