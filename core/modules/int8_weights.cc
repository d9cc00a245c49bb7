#include "core/modules/int8_weights.h"

#include <algorithm>
#include <cmath>

namespace seqserve {

std::vector<float> Int8RowScales(const Tensor& weight, int64_t rows,
                                 const ChannelAffine* affine) {
  const int64_t per_row = rows > 0 ? weight.numel() / rows : 0;
  std::vector<float> scales(rows, 1.f);
  for (int64_t r = 0; r < rows; ++r) {
    float largest = 0;
    const float* row = weight.data.data() + r * per_row;
    for (int64_t i = 0; i < per_row; ++i) largest = std::max(largest, std::fabs(row[i]));
    if (affine != nullptr) largest *= std::fabs(affine->scale[r]);
    if (largest > 0 && std::isfinite(largest)) scales[r] = largest / 127.f;
  }
  return scales;
}

std::vector<int8_t> QuantizeRows(const Tensor& weight, const std::vector<float>& scales) {
  const int64_t rows = static_cast<int64_t>(scales.size());
  const int64_t per_row = rows > 0 ? weight.numel() / rows : 0;
  std::vector<int8_t> q(weight.numel());
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t i = 0; i < per_row; ++i) {
      const float v = std::nearbyint(weight.data[r * per_row + i] / scales[r]);
      q[r * per_row + i] = std::isnan(v) ? 0 : static_cast<int8_t>(std::clamp(v, -127.f, 127.f));
    }
  }
  return q;
}

std::vector<float> Int8OutputScales(const StepDTypes& dtypes,
                                    const std::vector<float>& weight_scales) {
  const float dst_scale = IsInt8(dtypes.dst) ? dtypes.dst_scale : 1.f;
  std::vector<float> scales(weight_scales.size());
  for (size_t o = 0; o < scales.size(); ++o) {
    scales[o] = dtypes.src_scale * weight_scales[o] / dst_scale;
  }
  return scales;
}

Tensor Int8Bias(const Tensor& bias, const StepDTypes& dtypes,
                const std::vector<float>& weight_scales) {
  Tensor b = bias;
  for (size_t o = 0; o < weight_scales.size(); ++o) {
    b.data[o] = bias.data[o] / (dtypes.src_scale * weight_scales[o]);
  }
  return b;
}

}  // namespace seqserve
