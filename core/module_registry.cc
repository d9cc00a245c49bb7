#include "core/module_registry.h"

#include <utility>

#include "core/modules/activations.h"
#include "core/modules/identity.h"
#include "core/modules/linear.h"
// module headers
#include "core/modules/adaptive_pooling.h"
#include "core/modules/fold.h"
#include "core/modules/lp_pooling.h"
#include "core/modules/padding.h"
#include "core/modules/pooling.h"
#include "core/modules/prelu.h"
#include "core/modules/reshape.h"
#include "core/modules/softmax.h"
#include "core/modules/conv.h"
#include "core/modules/conv_transpose.h"
#include "core/modules/batch_norm.h"
#include "core/modules/group_norm.h"
#include "core/modules/layer_norm.h"
#include "core/modules/glu.h"
#include "core/modules/instance_norm.h"
#include "core/modules/local_response_norm.h"
#include "core/modules/pixel_shuffle.h"
#include "core/modules/upsample.h"
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
    {"MaxPool3d", &MakeMaxPool3d},
    {"AvgPool3d", &MakeAvgPool3d},
    {"LPPool1d", &MakeLPPool1d},
    {"LPPool2d", &MakeLPPool2d},
    {"AdaptiveAvgPool3d", &MakeAdaptiveAvgPool3d},
    {"AdaptiveMaxPool1d", &MakeAdaptiveMaxPool1d},
    {"AdaptiveMaxPool3d", &MakeAdaptiveMaxPool3d},
    {"ZeroPad1d", &MakeZeroPad1d},
    {"ZeroPad2d", &MakeZeroPad2d},
    {"ZeroPad3d", &MakeZeroPad3d},
    {"ConstantPad1d", &MakeConstantPad1d},
    {"ConstantPad2d", &MakeConstantPad2d},
    {"ConstantPad3d", &MakeConstantPad3d},
    {"ReflectionPad1d", &MakeReflectionPad1d},
    {"ReflectionPad2d", &MakeReflectionPad2d},
    {"ReflectionPad3d", &MakeReflectionPad3d},
    {"ReplicationPad1d", &MakeReplicationPad1d},
    {"ReplicationPad2d", &MakeReplicationPad2d},
    {"ReplicationPad3d", &MakeReplicationPad3d},
    {"CircularPad1d", &MakeCircularPad1d},
    {"CircularPad2d", &MakeCircularPad2d},
    {"CircularPad3d", &MakeCircularPad3d},
    {"Flatten", &MakeFlatten},
    {"Unflatten", &MakeUnflatten},
    {"Softmax", &MakeSoftmax},
    {"LogSoftmax", &MakeLogSoftmax},
    {"PReLU", &MakePReLU},
    {"Conv1d", &MakeConv1d},
    {"Conv2d", &MakeConv2d},
    {"ConvTranspose1d", &MakeConvTranspose1d},
    {"ConvTranspose2d", &MakeConvTranspose2d},
    {"Conv3d", &MakeConv3d},
    {"ConvTranspose3d", &MakeConvTranspose3d},
    {"Unfold", &MakeUnfold},
    {"Fold", &MakeFold},
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
    // Issue 10: activations, norms, dropouts and vision modules.
    {"RReLU", &MakeRReLU},
    {"Hardshrink", &MakeHardshrink},
    {"Softshrink", &MakeSoftshrink},
    {"Threshold", &MakeThreshold},
    {"GLU", &MakeGLU},
    {"Softmin", &MakeSoftmin},
    {"Softmax2d", &MakeSoftmax2d},
    {"BatchNorm3d", &MakeBatchNorm3d},
    {"InstanceNorm1d", &MakeInstanceNorm1d},
    {"InstanceNorm2d", &MakeInstanceNorm2d},
    {"InstanceNorm3d", &MakeInstanceNorm3d},
    {"LocalResponseNorm", &MakeLocalResponseNorm},
    {"Dropout3d", &MakeDropout3d},
    {"FeatureAlphaDropout", &MakeFeatureAlphaDropout},
    {"PixelShuffle", &MakePixelShuffle},
    {"PixelUnshuffle", &MakePixelUnshuffle},
    {"ChannelShuffle", &MakeChannelShuffle},
    {"Upsample", &MakeUpsample},
    {"UpsamplingNearest2d", &MakeUpsamplingNearest2d},
    {"UpsamplingBilinear2d", &MakeUpsamplingBilinear2d},
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
