// TransformerEncoderLayer and TransformerEncoder: PyTorch 2.1's constructor checks (messages
// from torch's transformer.py / activation.py where it has them), state_dict names (as
// torch 1.13 lists them for the same modules; bias=False leaves out exactly the biases, as
// 2.1 does), shape rules, FLOPs, and the plan a layer compiles to (nine oneDNN steps, no
// reorders). The numerics against real PyTorch are the transformer_* goldens of golden_test.cc
// and the bundled text classifier's samples.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "common/npy.h"
#include "core/engine.h"
#include "core/executor.h"
#include "core/model.h"
#include "core/seq_parser.h"
#include "core/sequential_builder.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace seqserve {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

absl::StatusOr<std::shared_ptr<Model>> Load(const std::string& seq, const TensorMap* weights,
                                            bool fuse = true) {
  ModelOptions options;
  options.fuse = fuse;
  return Model::FromSource(seq, "model.seq", weights, "model.safetensors", options);
}

std::string LoadError(const std::string& module) {
  auto model = Load("nn.Sequential(" + module + ")", nullptr);
  EXPECT_FALSE(model.ok()) << module << " loaded";
  return model.ok() ? "" : std::string(model.status().message());
}

// The state_dict keys the model expects, in order.
std::vector<std::string> Keys(const Model& model) {
  std::vector<std::string> keys;
  for (const Layer& layer : model.layers()) {
    for (const ParamSpec& spec : layer.module->params()) keys.push_back(layer.path + "." + spec.name);
  }
  return keys;
}

// Every parameter of `seq`, as the module tree declares it, with values 0.5 + 0.01 * (i % 7).
TensorMap FillWeights(const std::string& seq) {
  TensorMap weights;
  absl::StatusOr<SeqValue> ast = ParseModelSeq(seq, "model.seq");
  EXPECT_TRUE(ast.ok()) << ast.status();
  if (!ast.ok()) return weights;
  absl::StatusOr<std::unique_ptr<Sequential>> root = BuildSequential(*ast, "model.seq");
  EXPECT_TRUE(root.ok()) << root.status();
  if (!root.ok()) return weights;
  for (const Layer& layer : (*root)->Flatten()) {
    for (const ParamSpec& spec : layer.module->params()) {
      Tensor t(spec.shape);
      for (int64_t i = 0; i < t.numel(); ++i) t.data[i] = 0.5f + 0.01f * static_cast<float>(i % 7);
      weights[layer.path + "." + spec.name] = t;
    }
  }
  return weights;
}

TEST(TransformerEncoderLayer, HasPyTorchsStateDictNames) {
  const std::string seq = "nn.Sequential(nn.TransformerEncoderLayer(8, 2, 16))";
  const TensorMap weights = FillWeights(seq);
  auto model = Load(seq, &weights);
  ASSERT_TRUE(model.ok()) << model.status();
  // torch: [k for k in nn.TransformerEncoderLayer(8, 2, 16).state_dict()], with shapes.
  EXPECT_THAT(Keys(**model),
              ElementsAre("0.self_attn.in_proj_weight", "0.self_attn.in_proj_bias",
                          "0.self_attn.out_proj.weight", "0.self_attn.out_proj.bias",
                          "0.linear1.weight", "0.linear1.bias", "0.linear2.weight",
                          "0.linear2.bias", "0.norm1.weight", "0.norm1.bias", "0.norm2.weight",
                          "0.norm2.bias"));
  EXPECT_EQ(weights.at("0.self_attn.in_proj_weight").shape, (Shape{24, 8}));
  EXPECT_EQ(weights.at("0.linear1.weight").shape, (Shape{16, 8}));
  EXPECT_EQ(weights.at("0.linear2.weight").shape, (Shape{8, 16}));
  EXPECT_EQ((*model)->NumParams(), 24 * 8 + 24 + 64 + 8 + 128 + 16 + 128 + 8 + 4 * 8);
}

TEST(TransformerEncoderLayer, WithoutBiasHasNoBiases) {
  const std::string seq = "nn.Sequential(nn.TransformerEncoderLayer(8, 2, 16, bias=False))";
  const TensorMap weights = FillWeights(seq);
  auto model = Load(seq, &weights);
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_THAT(Keys(**model),
              ElementsAre("0.self_attn.in_proj_weight", "0.self_attn.out_proj.weight",
                          "0.linear1.weight", "0.linear2.weight", "0.norm1.weight",
                          "0.norm2.weight"));
}

TEST(TransformerEncoder, NamesLayersAndTheFinalNormAsPyTorch) {
  const std::string seq =
      "nn.Sequential(OrderedDict(enc=nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, "
      "16), 2, norm=nn.LayerNorm(8))))";
  const TensorMap weights = FillWeights(seq);
  auto model = Load(seq, &weights);
  ASSERT_TRUE(model.ok()) << model.status();
  std::vector<std::string> keys = Keys(**model);
  ASSERT_EQ(keys.size(), 26u);
  EXPECT_EQ(keys[0], "enc.layers.0.self_attn.in_proj_weight");
  EXPECT_EQ(keys[11], "enc.layers.0.norm2.bias");
  EXPECT_EQ(keys[12], "enc.layers.1.self_attn.in_proj_weight");
  EXPECT_EQ(keys[24], "enc.norm.weight");
  EXPECT_EQ(keys[25], "enc.norm.bias");
}

TEST(TransformerEncoderLayer, TakesSequencesOfDModelFeatures) {
  const std::string seq = "nn.Sequential(nn.TransformerEncoderLayer(8, 2, 16, batch_first=True))";
  const TensorMap weights = FillWeights(seq);
  auto model = Load(seq, &weights);
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ(*(*model)->OutputShape({3, 5, 8}), (Shape{3, 5, 8}));
  EXPECT_EQ(*(*model)->OutputShape({5, 8}), (Shape{5, 8}));
  EXPECT_EQ((*model)->OutputShape({3, 5, 7}).status().message(),
            "0 (TransformerEncoderLayer): expected input of shape (S, E) or (N, S, E) with E = "
            "d_model = 8, got [3, 5, 7]");
  EXPECT_EQ((*model)->OutputShape({8}).status().message(),
            "0 (TransformerEncoderLayer): expected input of shape (S, E) or (N, S, E) with E = "
            "d_model = 8, got [8]");
  EXPECT_EQ((*model)->InputDims(), (Shape{-1, 8}));

  const std::string seq_first = "nn.Sequential(nn.TransformerEncoderLayer(8, 2, 16))";
  const TensorMap seq_first_weights = FillWeights(seq_first);
  auto seq_first_model = Load(seq_first, &seq_first_weights);
  ASSERT_TRUE(seq_first_model.ok()) << seq_first_model.status();
  EXPECT_THAT(std::string((*seq_first_model)->OutputShape({1, 2, 3, 8}).status().message()),
              HasSubstr("(S, E) or (S, N, E)"));
  // Sequence-first input has its batch in dim 1, so no batch-first input dims are implied.
  EXPECT_EQ((*seq_first_model)->InputDims(), std::nullopt);
}

TEST(TransformerEncoderLayer, CompilesToNineOneDnnStepsWithoutReorders) {
  const std::string seq = "nn.Sequential(nn.TransformerEncoderLayer(8, 2, 16, batch_first=True))";
  const TensorMap weights = FillWeights(seq);
  auto model = Load(seq, &weights);
  ASSERT_TRUE(model.ok()) << model.status();
  auto plan = (*model)->GetPlan({2, 5, 8});
  ASSERT_TRUE(plan.ok()) << plan.status();
  // q/k/v projection, q k^T, softmax, (softmax) v, output projection + residual, norm1,
  // linear1 + ReLU, linear2 + residual, norm2.
  ASSERT_EQ((*plan)->steps().size(), 9u);
  for (const PlanStep& step : (*plan)->steps()) {
    EXPECT_TRUE(step.primitive) << step.name;
    EXPECT_EQ(step.name, "0 (TransformerEncoderLayer)");
  }
  // Unfused (the tests' mode): ReLU and both residual adds become steps of their own.
  auto unfused = Load(seq, &weights, /*fuse=*/false);
  ASSERT_TRUE(unfused.ok()) << unfused.status();
  auto unfused_plan = (*unfused)->GetPlan({2, 5, 8});
  ASSERT_TRUE(unfused_plan.ok()) << unfused_plan.status();
  EXPECT_EQ((*unfused_plan)->steps().size(), 12u);
}

TEST(TransformerEncoderLayer, CountsFlops) {
  const std::string seq = "nn.Sequential(nn.TransformerEncoderLayer(8, 2, 16, batch_first=True))";
  const TensorMap weights = FillWeights(seq);
  auto model = Load(seq, &weights);
  ASSERT_TRUE(model.ok()) << model.status();
  // N=2, S=5, E=8, F=16, T=10 tokens, 2 heads. GEMMs: 2*T*E*3E + 2*T*E*E + 4*T*E*F = 10240;
  // attention: 4*N*S*S*E + 5*N*H*S*S = 2100; biases T*(3E+E+F+E) = 560, residuals 2*T*E =
  // 160, norms 14*T*E = 1120, activation T*F = 160.
  EXPECT_EQ((*model)->layers()[0].module->Flops({2, 5, 8}), 10240 + 2100 + 560 + 160 + 1120 + 160);
}

TEST(TransformerEncoderLayer, ChecksArgumentsAsPyTorch) {
  EXPECT_EQ(LoadError("nn.TransformerEncoderLayer(8, 3)"),
            "model.seq:1:45: TransformerEncoderLayer: argument 'nhead': embed_dim must be "
            "divisible by num_heads");
  EXPECT_EQ(LoadError("nn.TransformerEncoderLayer(8, 2, activation='tanh')"),
            "model.seq:1:48: TransformerEncoderLayer: argument 'activation': activation should "
            "be relu/gelu, not tanh");
  EXPECT_EQ(LoadError("nn.TransformerEncoderLayer(8, 2, dropout=2.0)"),
            "model.seq:1:48: TransformerEncoderLayer: argument 'dropout': dropout probability "
            "has to be between 0 and 1, but got 2");
  EXPECT_EQ(LoadError("nn.TransformerEncoderLayer(8, 0)"),
            "model.seq:1:45: TransformerEncoderLayer: argument 'nhead': must be positive, got 0");
  EXPECT_EQ(LoadError("nn.TransformerEncoderLayer(0, 1)"),
            "model.seq:1:42: TransformerEncoderLayer: argument 'd_model': must be positive, got 0");
  EXPECT_EQ(LoadError("nn.TransformerEncoderLayer(8, 2)"),
            "model.safetensors: file is missing, and the model has parameters (the first is "
            "'0.self_attn.in_proj_weight' of shape [24, 8])");
  EXPECT_THAT(LoadError("nn.TransformerEncoderLayer(8, 2, activation=torch.tanh)"),
              HasSubstr("argument 'activation': expected 'relu', 'gelu', F.relu, F.gelu or an "
                        "activation module such as nn.GELU(), got name 'torch.tanh'"));
  EXPECT_THAT(LoadError("nn.TransformerEncoderLayer(8, 2, activation=nn.PReLU())"),
              HasSubstr("got call to PReLU, which is not an elementwise activation without "
                        "parameters"));
  EXPECT_THAT(LoadError("nn.TransformerEncoderLayer(8, 2, batch_first=None)"),
              HasSubstr("argument 'batch_first': expected bool"));
}

TEST(TransformerEncoderLayer, AcceptsEveryActivationSpelling) {
  for (const std::string activation :
       {"'relu'", "'gelu'", "F.relu", "F.gelu", "torch.nn.functional.gelu", "nn.ReLU()",
        "nn.GELU(approximate='tanh')", "nn.SiLU()"}) {
    const std::string seq = "nn.Sequential(nn.TransformerEncoderLayer(8, 2, 16, activation=" +
                            activation + ", device=None, dtype=None))";
    auto model = Load(seq, nullptr);
    ASSERT_FALSE(model.ok());
    EXPECT_THAT(std::string(model.status().message()), HasSubstr("file is missing"))
        << activation;
  }
}

TEST(TransformerEncoder, ChecksItsArguments) {
  EXPECT_EQ(LoadError("nn.TransformerEncoder(nn.Linear(2, 2), 2)"),
            "model.seq:1:37: TransformerEncoder: argument 'encoder_layer': expected "
            "nn.TransformerEncoderLayer(...), got call to Linear");
  EXPECT_EQ(LoadError("nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2), -1)"),
            "model.seq:1:71: TransformerEncoder: argument 'num_layers': must be >= 0, got -1");
  EXPECT_EQ(LoadError("nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 3), 1)"),
            "model.seq:1:67: TransformerEncoderLayer: argument 'nhead': embed_dim must be "
            "divisible by num_heads");
  EXPECT_THAT(
      LoadError("nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2), 1, norm='layer')"),
      HasSubstr("argument 'norm': expected None or a module such as nn.LayerNorm(d_model), got "
                "str"));
  EXPECT_THAT(LoadError("nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2), 1, "
                        "norm=nn.LayerNorm(8, eps='x'))"),
              HasSubstr("LayerNorm: argument 'eps'"));
}

TEST(TransformerEncoder, ChecksTheFinalNormsShape) {
  const std::string seq =
      "nn.Sequential(nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, 16), 1, "
      "norm=nn.LayerNorm(4)))";
  const TensorMap weights = FillWeights(seq);
  auto model = Load(seq, &weights);
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_THAT(std::string((*model)->OutputShape({3, 1, 8}).status().message()),
              HasSubstr("0 (TransformerEncoder): norm (LayerNorm): expected input of shape [*, "
                        "4]"));
}

TEST(TransformerEncoder, WithNoLayersIsItsNorm) {
  // Hand-derived: LayerNorm of (1, 3) with weight 0.5 and bias 0.5 + 0.01 * (i % 7).
  const std::string seq =
      "nn.Sequential(nn.TransformerEncoder(nn.TransformerEncoderLayer(2, 1, 4), 0, "
      "norm=nn.LayerNorm(2)))";
  const TensorMap weights = FillWeights(seq);
  auto model = Load(seq, &weights);
  ASSERT_TRUE(model.ok()) << model.status();
  Executor executor(CpuEngine());
  auto out = (*model)->Run(executor, Tensor({1, 2}, {1, 3}));
  ASSERT_TRUE(out.ok()) << out.status();
  // (x - 2) / sqrt(1 + 1e-5) * w + b with w = (0.5, 0.51), b = (0.5, 0.51).
  EXPECT_NEAR(out->data[0], -1 / std::sqrt(1 + 1e-5) * 0.5 + 0.5, 1e-6);
  EXPECT_NEAR(out->data[1], 1 / std::sqrt(1 + 1e-5) * 0.51 + 0.51, 1e-6);
}

// The bundled text classifier (models/make_models.py, trained and evaluated by real PyTorch):
// its four samples of int64 ids give PyTorch's scores, and the predicted classes are the
// labels of the synthetic task.
TEST(TextClassifier, ReproducesPyTorchOnItsBundledSamples) {
  const std::filesystem::path data(SEQSERVE_TEST_DATA_DIR);
  auto model =
      Model::Load(std::filesystem::path(SEQSERVE_SOURCE_DIR) / "models" / "textclass" / "1");
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_THAT((*model)->InputDTypes(), ElementsAre(DType::kInt64, DType::kInt32));
  EXPECT_EQ((*model)->InputDims(), Shape{-1});
  absl::StatusOr<TypedTensor> input = ReadTypedNpy(data / "bundled" / "textclass" / "input.npy");
  absl::StatusOr<Tensor> expected = ReadNpy(data / "bundled" / "textclass" / "expected.npy");
  absl::StatusOr<Tensor> labels = ReadNpy(data / "bundled" / "textclass" / "labels.npy");
  ASSERT_TRUE(input.ok() && expected.ok() && labels.ok());
  ASSERT_EQ(input->shape, (Shape{4, 128}));
  Executor executor(CpuEngine());
  absl::StatusOr<Tensor> out = (*model)->Run(executor, input->view());
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_EQ(out->shape, (Shape{4, 4}));
  for (int64_t i = 0; i < out->numel(); ++i) {
    EXPECT_NEAR(out->data[i], expected->data[i], 1e-4 + 1e-4 * std::fabs(expected->data[i]));
  }
  for (int64_t row = 0; row < 4; ++row) {
    const float* scores = out->data.data() + 4 * row;
    EXPECT_EQ(std::max_element(scores, scores + 4) - scores,
              static_cast<int64_t>(labels->data[row]))
        << "sample " << row;
  }
}

}  // namespace
}  // namespace seqserve
