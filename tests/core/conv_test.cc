// Conv1d, Conv2d, ConvTranspose1d and ConvTranspose2d: PyTorch's constructor checks and
// messages, state_dict names, shape rules and errors, FLOPs, the padding modes on
// hand-derivable inputs, unbatched circular padding against PyTorch's batched goldens, and
// the plan a CNN compiles to (no reorders between layers, weights reordered once). The
// PyTorch comparisons at many shapes are the conv_* cases of golden_test.cc.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/engine.h"
#include "core/executor.h"
#include "core/model.h"
#include "core/module_registry.h"
#include "common/npy.h"
#include "core/seq_parser.h"
#include "core/sequential_builder.h"
#include "gtest/gtest.h"

namespace seqserve {
namespace {

namespace fs = std::filesystem;

// One module built from its model.seq call, e.g. "nn.Conv2d(3, 4, 3)".
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

// The load error of a model, "" if it loads.
std::string LoadError(std::string_view seq) {
  absl::StatusOr<std::shared_ptr<Model>> model =
      Model::FromSource(seq, "model.seq", nullptr, "model.safetensors");
  if (model.ok()) return "";
  EXPECT_EQ(model.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(model.status().message());
}

// Parameters for every state_dict entry of `seq`: `fill(key, index)` for each element.
template <typename Fill>
TensorMap MakeWeights(std::string_view seq, Fill fill) {
  TensorMap weights;
  absl::StatusOr<SeqValue> ast = ParseModelSeq(seq, "model.seq");
  EXPECT_TRUE(ast.ok()) << ast.status();
  if (!ast.ok()) return weights;
  absl::StatusOr<std::unique_ptr<Sequential>> root = BuildSequential(*ast, "model.seq");
  EXPECT_TRUE(root.ok()) << root.status();
  if (!root.ok()) return weights;
  for (const auto& [path, module] : (*root)->MutableLeaves()) {
    for (const ParamSpec& spec : module->params()) {
      const std::string key = path + "." + spec.name;
      Tensor t(spec.shape);
      for (int64_t i = 0; i < t.numel(); ++i) t.data[i] = fill(spec.name, i);
      weights[key] = std::move(t);
    }
  }
  return weights;
}

std::shared_ptr<Model> LoadWithWeights(std::string_view seq, const TensorMap& weights,
                                       const ModelOptions& options = {}) {
  absl::StatusOr<std::shared_ptr<Model>> model =
      Model::FromSource(seq, "model.seq", &weights, "model.safetensors", options);
  EXPECT_TRUE(model.ok()) << model.status();
  return model.ok() ? *model : nullptr;
}

// Small deterministic values, different per element and parameter kind; BatchNorm's
// running_var stays positive.
float Pseudo(const std::string& name, int64_t i) {
  const float v = static_cast<float>((i * 37 + 11) % 23) / 23.f - 0.5f;
  return name == "running_var" ? 1.f + v : v;
}

std::string ShapeError(std::string_view module_text, const Shape& in) {
  std::unique_ptr<Module> module = MakeModule(module_text);
  if (module == nullptr) return "";
  absl::StatusOr<Shape> out = module->OutputShape(in);
  EXPECT_FALSE(out.ok()) << module_text << " accepted " << ShapeToString(in);
  if (out.ok()) return "";
  EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(out.status().message());
}

Shape OutShape(std::string_view module_text, const Shape& in) {
  std::unique_ptr<Module> module = MakeModule(module_text);
  if (module == nullptr) return {};
  absl::StatusOr<Shape> out = module->OutputShape(in);
  EXPECT_TRUE(out.ok()) << out.status();
  return out.ok() ? *out : Shape{};
}

// --- Construction ---

TEST(Conv, RejectsWhatPyTorchsConstructorRejects) {
  EXPECT_EQ(LoadError("nn.Sequential(nn.Conv2d(4, 4, 3, groups=0))"),
            "model.seq:1:34: Conv2d: argument 'groups': groups must be a positive integer");
  EXPECT_EQ(LoadError("nn.Sequential(nn.Conv2d(3, 4, 3, groups=2))"),
            "model.seq:1:34: Conv2d: argument 'groups': in_channels (3) must be divisible by "
            "groups (2)");
  EXPECT_EQ(LoadError("nn.Sequential(nn.Conv2d(4, 3, 3, groups=2))"),
            "model.seq:1:34: Conv2d: argument 'groups': out_channels (3) must be divisible by "
            "groups (2)");
  EXPECT_EQ(LoadError("nn.Sequential(nn.Conv2d(4, 4, 3, padding='full'))"),
            "model.seq:1:34: Conv2d: argument 'padding': Invalid padding string 'full', should "
            "be one of {'valid', 'same'}");
  EXPECT_EQ(LoadError("nn.Sequential(nn.Conv2d(4, 4, 3, 2, 'same'))"),
            "model.seq:1:37: Conv2d: argument 'padding': padding='same' is not supported for "
            "strided convolutions");
  EXPECT_EQ(LoadError("nn.Sequential(nn.Conv1d(4, 4, 3, stride=(2,), padding='same'))"),
            "model.seq:1:47: Conv1d: argument 'padding': padding='same' is not supported for "
            "strided convolutions");
  EXPECT_EQ(LoadError("nn.Sequential(nn.Conv2d(4, 4, 3, padding_mode='mirror'))"),
            "model.seq:1:34: Conv2d: argument 'padding_mode': padding_mode must be one of "
            "{'zeros', 'reflect', 'replicate', 'circular'}, but got padding_mode='mirror'");
  EXPECT_EQ(LoadError("nn.Sequential(nn.Conv2d(4, 4, 3, padding=-1))"),
            "model.seq:1:34: Conv2d: argument 'padding': negative padding is not supported, got "
            "(-1, -1)");
  EXPECT_EQ(LoadError("nn.Sequential(nn.Conv2d(4, 4, 3, padding=(1,)))"),
            "model.seq:1:34: Conv2d: argument 'padding': expected an int or a tuple of 2 ints, "
            "got a tuple of 1");
  EXPECT_EQ(LoadError("nn.Sequential(nn.Conv2d(4, 4, (3, 3, 3)))"),
            "model.seq:1:31: Conv2d: argument 'kernel_size': expected an int or a tuple of 2 "
            "ints, got a tuple of 3");
  EXPECT_EQ(LoadError("nn.Sequential(nn.Conv2d(4, 4, (3, 0)))"),
            "model.seq:1:31: Conv2d: argument 'kernel_size': kernel size should be greater than "
            "zero, got (3, 0)");
  EXPECT_EQ(LoadError("nn.Sequential(nn.Conv1d(4, 4, 3, stride=0))"),
            "model.seq:1:34: Conv1d: argument 'stride': non-positive stride is not supported, got "
            "(0,)");
  EXPECT_EQ(LoadError("nn.Sequential(nn.Conv2d(4, 4, 3, dilation=(1, 0)))"),
            "model.seq:1:34: Conv2d: argument 'dilation': dilation should be greater than zero, "
            "got (1, 0)");
  EXPECT_EQ(LoadError("nn.Sequential(nn.Conv2d(0, 4, 3))"),
            "model.seq:1:25: Conv2d: argument 'in_channels': must be positive, got 0");
  EXPECT_EQ(LoadError("nn.Sequential(nn.Conv2d(4, 4, 3, bias='yes'))"),
            "model.seq:1:34: Conv2d: argument 'bias': expected bool, got str ('yes')");
  EXPECT_EQ(LoadError("nn.Sequential(nn.Conv2d(4, 4, 3, output_padding=1))"),
            "model.seq:1:34: Conv2d: unexpected keyword argument 'output_padding'");
  EXPECT_EQ(LoadError("nn.Sequential(nn.Conv2d(4, 4))"),
            "model.seq:1:15: Conv2d: missing required argument 'kernel_size'");
}

TEST(ConvTranspose, RejectsWhatPyTorchRejects) {
  EXPECT_EQ(LoadError("nn.Sequential(nn.ConvTranspose2d(4, 4, 3, padding_mode='reflect'))"),
            "model.seq:1:43: ConvTranspose2d: argument 'padding_mode': Only \"zeros\" padding "
            "mode is supported for ConvTranspose2d");
  EXPECT_EQ(LoadError("nn.Sequential(nn.ConvTranspose1d(4, 6, 3, groups=4))"),
            "model.seq:1:43: ConvTranspose1d: argument 'groups': out_channels (6) must be "
            "divisible by groups (4)");
  // PyTorch's forward rejects these for any input; here they are load errors.
  EXPECT_EQ(LoadError("nn.Sequential(nn.ConvTranspose2d(4, 4, 3, output_padding=1))"),
            "model.seq:1:43: ConvTranspose2d: argument 'output_padding': output padding must be "
            "smaller than either stride or dilation, but got output_padding=(1, 1), "
            "stride=(1, 1), dilation=(1, 1)");
  EXPECT_EQ(LoadError("nn.Sequential(nn.ConvTranspose1d(4, 4, 3, stride=2, dilation=3, "
                      "output_padding=3))"),
            "model.seq:1:65: ConvTranspose1d: argument 'output_padding': output padding must be "
            "smaller than either stride or dilation, but got output_padding=(3,), stride=(2,), "
            "dilation=(3,)");
  EXPECT_EQ(LoadError("nn.Sequential(nn.ConvTranspose2d(4, 4, 3, output_padding=(0, -1)))"),
            "model.seq:1:43: ConvTranspose2d: argument 'output_padding': negative output_padding "
            "is not supported, got (0, -1)");
  EXPECT_EQ(LoadError("nn.Sequential(nn.ConvTranspose2d(4, 4, 3, padding='same'))"),
            "model.seq:1:43: ConvTranspose2d: argument 'padding': expected an int or a tuple of "
            "2 ints, got str ('same')");
}

TEST(Conv, BindsPyTorchsPositionalOrder) {
  // Conv2d(in, out, kernel_size, stride, padding, dilation, groups, bias, padding_mode).
  std::unique_ptr<Module> conv = MakeModule("nn.Conv2d(4, 6, (3, 2), 2, 1, 2, 2, False, 'zeros')");
  ASSERT_NE(conv, nullptr);
  // H: (9 + 2 - 5) / 2 + 1 = 4;  W: (8 + 2 - 3) / 2 + 1 = 4.
  EXPECT_EQ(*conv->OutputShape({1, 4, 9, 8}), (Shape{1, 6, 4, 4}));
  EXPECT_EQ(conv->params().size(), 1u);
  // ConvTranspose2d(in, out, kernel_size, stride, padding, output_padding, groups, bias,
  // dilation, padding_mode): H = (3 - 1) * 2 - 2 * 1 + 3 * (3 - 1) + 1 + 1 = 10.
  std::unique_ptr<Module> deconv =
      MakeModule("nn.ConvTranspose2d(4, 6, 3, 2, 1, 1, 2, False, 3, 'zeros', None, None)");
  ASSERT_NE(deconv, nullptr);
  EXPECT_EQ(*deconv->OutputShape({4, 3, 3}), (Shape{6, 10, 10}));
  EXPECT_EQ(deconv->params().size(), 1u);
}

TEST(Conv, ParamsAreTheStateDictEntries) {
  auto specs = [](std::string_view text) {
    std::vector<std::pair<std::string, Shape>> out;
    std::unique_ptr<Module> module = MakeModule(text);
    if (module == nullptr) return out;
    for (const ParamSpec& spec : module->params()) out.emplace_back(spec.name, spec.shape);
    return out;
  };
  using Specs = std::vector<std::pair<std::string, Shape>>;
  EXPECT_EQ(specs("nn.Conv2d(4, 6, (3, 2), groups=2)"),
            (Specs{{"weight", {6, 2, 3, 2}}, {"bias", {6}}}));
  EXPECT_EQ(specs("nn.Conv1d(3, 5, 4, bias=False)"), (Specs{{"weight", {5, 3, 4}}}));
  EXPECT_EQ(specs("nn.ConvTranspose2d(4, 6, 3, groups=2)"),
            (Specs{{"weight", {4, 3, 3, 3}}, {"bias", {6}}}));
  EXPECT_EQ(specs("nn.ConvTranspose1d(3, 5, 4, bias=False)"), (Specs{{"weight", {3, 5, 4}}}));
}

// --- Shapes ---

TEST(Conv, OutputShapeFollowsPyTorch) {
  // (11 + 2 - 3) / 2 + 1 = 6;  (13 + 4 - 2 * (5 - 1) - 1) / 1 + 1 = 9.
  EXPECT_EQ(OutShape("nn.Conv2d(3, 6, (3, 5), stride=(2, 1), padding=(1, 2), dilation=(1, 2))",
                     {2, 3, 11, 13}),
            (Shape{2, 6, 6, 9}));
  EXPECT_EQ(OutShape("nn.Conv2d(3, 6, 4, padding='same', padding_mode='circular')", {3, 5, 4}),
            (Shape{6, 5, 4}));
  EXPECT_EQ(OutShape("nn.Conv1d(3, 6, 4, padding='valid')", {3, 5}), (Shape{6, 2}));
  EXPECT_EQ(OutShape("nn.Conv2d(3, 6, 3)", {0, 3, 5, 5}), (Shape{0, 6, 3, 3}));
  // (5 - 1) * 3 - 2 * 2 + 2 * (3 - 1) + 2 + 1 = 15.
  EXPECT_EQ(OutShape("nn.ConvTranspose1d(6, 4, 3, stride=3, padding=2, output_padding=2, "
                     "groups=2, dilation=2)",
                     {2, 6, 5}),
            (Shape{2, 4, 15}));
}

TEST(Conv, ShapeErrorsNameExpectedAndActual) {
  EXPECT_EQ(ShapeError("nn.Conv2d(4, 4, 3)", {4, 5}),
            "expected 3D (unbatched) or 4D (batched) input, got [4, 5]");
  EXPECT_EQ(ShapeError("nn.Conv1d(4, 4, 3)", {1, 1, 4, 5}),
            "expected 2D (unbatched) or 3D (batched) input, got [1, 1, 4, 5]");
  EXPECT_EQ(ShapeError("nn.Conv2d(4, 4, 3)", {1, 3, 5, 5}),
            "expected input with 4 channels, got [1, 3, 5, 5]");
  EXPECT_EQ(ShapeError("nn.Conv2d(4, 4, 3)", {4, 2, 5}),
            "expected an input at least as large as the kernel (3, 3) after padding, got "
            "[4, 2, 5] (padded size (2, 5))");
  EXPECT_EQ(ShapeError("nn.Conv1d(4, 4, 3, padding=1, dilation=3)", {1, 4, 4}),
            "expected an input at least as large as the dilated kernel (7,) after padding, got "
            "[1, 4, 4] (padded size (6,))");
  EXPECT_EQ(ShapeError("nn.Conv2d(4, 4, 3, padding=2)", {1, 4, 0, 5}),
            "expected non-empty spatial dimensions (only the batch may be empty), got "
            "[1, 4, 0, 5]");
  EXPECT_EQ(ShapeError("nn.Conv2d(4, 4, 3, padding=(1, 3), padding_mode='reflect')", {1, 4, 5, 3}),
            "expected padding (3, 3) smaller than the input size 3 of dimension 3 for "
            "padding_mode='reflect', got [1, 4, 5, 3]");
  EXPECT_EQ(ShapeError("nn.Conv1d(4, 4, 3, padding=4, padding_mode='circular')", {4, 3}),
            "expected padding (4, 4) at most the input size 3 of dimension 1 for "
            "padding_mode='circular' (padding may wrap around only once), got [4, 3]");
  EXPECT_EQ(ShapeError("nn.ConvTranspose2d(4, 4, 3, padding=3)", {1, 4, 1, 5}),
            "expected an input large enough for a positive output size, got [1, 4, 1, 5] "
            "(output size (-3, 1))");
  EXPECT_EQ(ShapeError("nn.ConvTranspose2d(4, 4, 3)", {1, 3, 1, 5}),
            "expected input with 4 channels, got [1, 3, 1, 5]");
}

TEST(Conv, ShapeErrorsThroughTheModelNameTheModulePath) {
  const std::string seq = "nn.Sequential(nn.Conv2d(1, 20, 5), nn.ReLU(), nn.Conv2d(20, 64, 5))";
  std::shared_ptr<Model> model = LoadWithWeights(seq, MakeWeights(seq, Pseudo));
  ASSERT_NE(model, nullptr);
  absl::StatusOr<Shape> out = model->OutputShape({1, 3, 28, 28});
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().message(),
            "0 (Conv2d): expected input with 1 channels, got [1, 3, 28, 28]");
  out = model->OutputShape({1, 1, 8, 8});
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().message(),
            "2 (Conv2d): expected an input at least as large as the kernel (5, 5) after padding, "
            "got [1, 20, 4, 4] (padded size (4, 4))");
}

// --- FLOPs, input dims, fusion axis ---

TEST(Conv, FlopsCountAMultiplyAddAsTwo) {
  // [2, 6, 6, 6] outputs, each 3 * 3 * 3 multiply-adds and a bias add.
  EXPECT_EQ(MakeModule("nn.Conv2d(3, 6, 3)")->Flops({2, 3, 8, 8}), 432 * (2 * 27 + 1));
  EXPECT_EQ(MakeModule("nn.Conv2d(3, 6, 3, bias=False)")->Flops({3, 8, 8}), 216 * 2 * 27);
  // Groups: each output sees in_channels / groups = 2 channels.
  EXPECT_EQ(MakeModule("nn.Conv2d(4, 6, 3, groups=2)")->Flops({1, 4, 5, 5}), 54 * (2 * 18 + 1));
  // Each of the 16 input elements meets 3 * 3 * 3 taps; 96 outputs get a bias.
  EXPECT_EQ(MakeModule("nn.ConvTranspose2d(4, 6, 3, groups=2)")->Flops({1, 4, 2, 2}),
            2 * 16 * 27 + 96);
  EXPECT_EQ(MakeModule("nn.Conv2d(3, 6, 3)")->Flops({1, 3, 2, 2}), 0);  // invalid input
}

TEST(Conv, InputDimsAreChannelsAndAnySpatialSize) {
  EXPECT_EQ(MakeModule("nn.Conv2d(3, 6, 3)")->InputDims(), (Shape{3, -1, -1}));
  EXPECT_EQ(MakeModule("nn.Conv1d(5, 6, 3)")->InputDims(), (Shape{5, -1}));
  EXPECT_EQ(MakeModule("nn.ConvTranspose2d(7, 6, 3)")->InputDims(), (Shape{7, -1, -1}));
  EXPECT_EQ(MakeModule("nn.ConvTranspose1d(2, 6, 3)")->InputDims(), (Shape{2, -1}));
}

TEST(Conv, FusesBatchNormOnlyIntoBatchedOutput) {
  std::unique_ptr<Module> conv = MakeModule("nn.Conv2d(3, 6, 3)");
  EXPECT_EQ(conv->FusableChannelAxis({2, 3, 8, 8}), 1);
  EXPECT_EQ(conv->FusableChannelAxis({3, 8, 8}), 0);
  std::unique_ptr<Module> deconv = MakeModule("nn.ConvTranspose1d(3, 6, 3)");
  EXPECT_EQ(deconv->FusableChannelAxis({2, 3, 8}), 1);
  EXPECT_EQ(deconv->FusableChannelAxis({3, 8}), 0);
}

// --- Padding modes (hand-derivable: a 1x1 convolution with weight 1 returns its input) ---

Tensor RunIdentityConv(std::string_view conv, const Tensor& input) {
  const std::string seq = "nn.Sequential(" + std::string(conv) + ")";
  std::shared_ptr<Model> model =
      LoadWithWeights(seq, MakeWeights(seq, [](const std::string&, int64_t) { return 1.f; }));
  if (model == nullptr) return {};
  Executor executor(CpuEngine());
  absl::StatusOr<Tensor> out = model->Run(executor, input);
  EXPECT_TRUE(out.ok()) << out.status();
  return out.ok() ? *out : Tensor();
}

TEST(Conv, PaddingModesPadAsFPad) {
  const Tensor row({1, 4}, {1, 2, 3, 4});
  EXPECT_EQ(
      RunIdentityConv("nn.Conv1d(1, 1, 1, bias=False, padding=2, padding_mode='reflect')", row)
          .data,
      (std::vector<float>{3, 2, 1, 2, 3, 4, 3, 2}));
  EXPECT_EQ(
      RunIdentityConv("nn.Conv1d(1, 1, 1, bias=False, padding=2, padding_mode='replicate')", row)
          .data,
      (std::vector<float>{1, 1, 1, 2, 3, 4, 4, 4}));
  EXPECT_EQ(
      RunIdentityConv("nn.Conv1d(1, 1, 1, bias=False, padding=4, padding_mode='circular')", row)
          .data,
      (std::vector<float>{1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4}));
  EXPECT_EQ(
      RunIdentityConv("nn.Conv1d(1, 1, 1, bias=False, padding=1, padding_mode='zeros')", row).data,
      (std::vector<float>{0, 1, 2, 3, 4, 0}));

  // 2x3 image, padding (1, 2): rows -1 and 2 map to 1 and 0 (reflect), 0 and 1
  // (replicate), 1 and 0 (circular).
  const Tensor image({1, 1, 2, 3}, {1, 2, 3, 4, 5, 6});
  Tensor out = RunIdentityConv(
      "nn.Conv2d(1, 1, 1, bias=False, padding=(1, 2), padding_mode='circular')", image);
  EXPECT_EQ(out.shape, (Shape{1, 1, 4, 7}));
  EXPECT_EQ(out.data, (std::vector<float>{5, 6, 4, 5, 6, 4, 5,  //
                                          2, 3, 1, 2, 3, 1, 2,  //
                                          5, 6, 4, 5, 6, 4, 5,  //
                                          2, 3, 1, 2, 3, 1, 2}));
  out = RunIdentityConv("nn.Conv2d(1, 1, 1, bias=False, padding=(1, 2), padding_mode='reflect')",
                        image);
  EXPECT_EQ(out.data, (std::vector<float>{6, 5, 4, 5, 6, 5, 4,  //
                                          3, 2, 1, 2, 3, 2, 1,  //
                                          6, 5, 4, 5, 6, 5, 4,  //
                                          3, 2, 1, 2, 3, 2, 1}));
  out = RunIdentityConv("nn.Conv2d(1, 1, 1, bias=False, padding=(1, 2), padding_mode='replicate')",
                        Tensor({1, 2, 3}, {1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(out.shape, (Shape{1, 4, 7}));
  EXPECT_EQ(out.data, (std::vector<float>{1, 1, 1, 2, 3, 3, 3,  //
                                          1, 1, 1, 2, 3, 3, 3,  //
                                          4, 4, 4, 5, 6, 6, 6,  //
                                          4, 4, 4, 5, 6, 6, 6}));
}

// PyTorch 1.13 (which made the goldens) pads circularly only batched input; PyTorch 2.x
// takes unbatched input too, with the result of the batch of one. So unbatched sample k
// must give PyTorch's batched answer for it.
TEST(Conv, UnbatchedCircularPaddingGivesPyTorchsBatchedAnswer) {
  for (const char* name : {"conv_circular", "conv1d_circular", "conv3d_circular"}) {
    const fs::path dir = fs::path(SEQSERVE_TEST_DATA_DIR) / "golden" / name;
    absl::StatusOr<std::shared_ptr<Model>> model = Model::Load(dir);
    ASSERT_TRUE(model.ok()) << model.status();
    absl::StatusOr<Tensor> input = ReadNpy(dir / "input_0.npy");
    absl::StatusOr<Tensor> expected = ReadNpy(dir / "expected_0.npy");
    ASSERT_TRUE(input.ok() && expected.ok());
    const int64_t batch = input->shape[0];
    const int64_t in_size = input->numel() / batch;
    const int64_t out_size = expected->numel() / batch;
    Executor executor(CpuEngine());
    for (int64_t k = 0; k < batch; ++k) {
      Tensor sample(Shape(input->shape.begin() + 1, input->shape.end()),
                    std::vector<float>(input->data.begin() + k * in_size,
                                       input->data.begin() + (k + 1) * in_size));
      absl::StatusOr<Tensor> out = (*model)->Run(executor, sample);
      ASSERT_TRUE(out.ok()) << out.status();
      ASSERT_EQ(out->shape, Shape(expected->shape.begin() + 1, expected->shape.end()));
      for (int64_t i = 0; i < out_size; ++i) {
        const float e = expected->data[k * out_size + i];
        ASSERT_NEAR(out->data[i], e, 1e-5 + 1e-4 * std::fabs(e)) << name << " sample " << k;
      }
    }
  }
}

TEST(Conv, EmptyBatchGivesEmptyOutput) {
  const std::string seq =
      "nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.ConvTranspose2d(4, 2, 2))";
  std::shared_ptr<Model> model = LoadWithWeights(seq, MakeWeights(seq, Pseudo));
  ASSERT_NE(model, nullptr);
  Executor executor(CpuEngine());
  absl::StatusOr<Tensor> out = model->Run(executor, Tensor({0, 3, 5, 5}));
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->shape, (Shape{0, 2, 4, 4}));
}

// --- The compiled plan ---

// Names of the plan's steps for `input`.
std::vector<std::string> StepNames(Model& model, const Shape& input) {
  absl::StatusOr<std::shared_ptr<const Plan>> plan = model.GetPlan(input);
  EXPECT_TRUE(plan.ok()) << plan.status();
  std::vector<std::string> names;
  if (plan.ok()) {
    for (const PlanStep& step : (*plan)->steps()) names.push_back(step.name);
  }
  return names;
}

TEST(Conv, ACnnReordersOnlyAtItsEdgesAndFusesEverythingElse) {
  const std::string seq =
      "nn.Sequential(nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(), nn.Conv2d(64, 64, 3, padding=1),"
      " nn.BatchNorm2d(64), nn.ReLU(), nn.ConvTranspose2d(64, 32, 2, stride=2), nn.ReLU(),"
      " nn.Conv2d(32, 32, 3))";
  std::shared_ptr<Model> model = LoadWithWeights(seq, MakeWeights(seq, Pseudo));
  ASSERT_NE(model, nullptr);
  EXPECT_EQ(
      StepNames(*model, {8, 64, 14, 14}),
      (std::vector<std::string>{"0 (Conv2d) reorder", "0 (Conv2d)", "2 (Conv2d)",
                                "5 (ConvTranspose2d)", "7 (Conv2d)", "output (Plan) reorder"}));
  // Another batch and size reuse the reordered weights: nothing new is reordered.
  const size_t weight_bytes = model->weight_bytes();
  EXPECT_GT(weight_bytes, 0u);
  StepNames(*model, {1, 64, 9, 11});
  EXPECT_EQ(model->weight_bytes(), weight_bytes);
}

TEST(Conv, UnfusedPlansRunBatchNormAndActivationsSeparately) {
  const std::string seq =
      "nn.Sequential(nn.Conv2d(16, 16, 3), nn.BatchNorm2d(16), nn.ReLU(), nn.Conv2d(16, 16, 1))";
  ModelOptions options;
  options.fuse = false;
  std::shared_ptr<Model> model = LoadWithWeights(seq, MakeWeights(seq, Pseudo), options);
  ASSERT_NE(model, nullptr);
  std::vector<std::string> names = StepNames(*model, {2, 16, 6, 6});
  EXPECT_NE(std::find(names.begin(), names.end(), "1 (BatchNorm2d)"), names.end());
  EXPECT_NE(std::find(names.begin(), names.end(), "2 (ReLU)"), names.end());
}

}  // namespace
}  // namespace seqserve
