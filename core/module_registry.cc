#include "core/module_registry.h"

#include <utility>

#include "core/modules/activations.h"
#include "core/modules/identity.h"
#include "core/modules/linear.h"
// module headers
#include "core/modules/adaptive_pooling.h"
#include "core/modules/pooling.h"
#include "core/modules/prelu.h"
#include "core/modules/reshape.h"
#include "core/modules/softmax.h"
#include "core/modules/conv.h"
#include "core/modules/conv_transpose.h"
#include "core/modules/batch_norm.h"
#include "core/modules/group_norm.h"
#include "core/modules/layer_norm.h"
#include "core/modules/embedding.h"
#include "core/modules/transformer.h"

namespace seqserve {
namespace {

constexpr std::pair<std::string_view, ModuleFactory> kModules[] = {
    {"Identity", &MakeIdentity},
    {"Dropout", &MakeDropout},
    {"Dropout1d", &MakeDropout1d},
    {"Dropout2d", &MakeDropout2d},
    {"AlphaDropout", &MakeAlphaDropout},
    {"Linear", &MakeLinear},
    // module table
    {"MaxPool1d", &MakeMaxPool1d},
    {"MaxPool2d", &MakeMaxPool2d},
    {"AvgPool1d", &MakeAvgPool1d},
    {"AvgPool2d", &MakeAvgPool2d},
    {"AdaptiveAvgPool1d", &MakeAdaptiveAvgPool1d},
    {"AdaptiveAvgPool2d", &MakeAdaptiveAvgPool2d},
    {"AdaptiveMaxPool2d", &MakeAdaptiveMaxPool2d},
    {"Flatten", &MakeFlatten},
    {"Unflatten", &MakeUnflatten},
    {"Softmax", &MakeSoftmax},
    {"LogSoftmax", &MakeLogSoftmax},
    {"PReLU", &MakePReLU},
    {"Conv1d", &MakeConv1d},
    {"Conv2d", &MakeConv2d},
    {"ConvTranspose1d", &MakeConvTranspose1d},
    {"ConvTranspose2d", &MakeConvTranspose2d},
    {"BatchNorm1d", &MakeBatchNorm1d},
    {"BatchNorm2d", &MakeBatchNorm2d},
    {"LayerNorm", &MakeLayerNorm},
    {"GroupNorm", &MakeGroupNorm},
    {"ReLU", &MakeReLU},
    {"ReLU6", &MakeReLU6},
    {"LeakyReLU", &MakeLeakyReLU},
    {"ELU", &MakeELU},
    {"SELU", &MakeSELU},
    {"CELU", &MakeCELU},
    {"GELU", &MakeGELU},
    {"SiLU", &MakeSiLU},
    {"Mish", &MakeMish},
    {"Sigmoid", &MakeSigmoid},
    {"Tanh", &MakeTanh},
    {"Hardswish", &MakeHardswish},
    {"Hardsigmoid", &MakeHardsigmoid},
    {"Hardtanh", &MakeHardtanh},
    {"Softplus", &MakeSoftplus},
    {"Softsign", &MakeSoftsign},
    {"Tanhshrink", &MakeTanhshrink},
    {"LogSigmoid", &MakeLogSigmoid},
    {"Embedding", &MakeEmbedding},
    {"EmbeddingBag", &MakeEmbeddingBag},
    {"TransformerEncoderLayer", &MakeTransformerEncoderLayer},
    {"TransformerEncoder", &MakeTransformerEncoder},
};

}  // namespace

ModuleFactory FindModuleFactory(std::string_view type) {
  for (const auto& [name, factory] : kModules) {
    if (name == type) return factory;
  }
  return nullptr;
}

std::vector<std::string> ModuleTypes() {
  std::vector<std::string> types;
  for (const auto& [name, factory] : kModules) types.emplace_back(name);
  return types;
}

}  // namespace seqserve
