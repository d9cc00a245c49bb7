// What an int8 Conv or Linear (precision int8) derives from its float32 weights: symmetric s8
// weights scaled per output channel, the output scales that take the int32 accumulators to
// the real (or the next layer's quantised) values, and the bias in accumulator units.
// Stateless functions; thread-safe.
#pragma once

#include <cstdint>
#include <vector>

#include "common/tensor.h"
#include "core/module.h"
#include "core/plan_builder.h"

namespace seqserve {

// One scale per row of a (rows, per_row) row-major matrix (a row is one output channel's
// weights), each row multiplied by |affine->scale[row]| when a BatchNorm is folded in (read
// in place: no copy of the weights): max |w| / 127, so the row's values map onto [-127, 127];
// 1 for an all-zero or non-finite row.
std::vector<float> Int8RowScales(const Tensor& weight, int64_t rows,
                                 const ChannelAffine* affine = nullptr);

// round(w / scale[row]) clamped to [-127, 127] (NaN to 0), in the matrix's order.
std::vector<int8_t> QuantizeRows(const Tensor& weight, const std::vector<float>& scales);

// src_scale * weight_scales[o] / dst_scale (dst_scale 1 when the step writes f32): what
// oneDNN multiplies each output channel's int32 sum (plus bias) by.
std::vector<float> Int8OutputScales(const StepDTypes& dtypes,
                                    const std::vector<float>& weight_scales);

// bias[o] / (src_scale * weight_scales[o]): oneDNN 2.x adds an int8 layer's bias to the int32
// accumulator before the output scales, so it must be given in the accumulator's units.
Tensor Int8Bias(const Tensor& bias, const StepDTypes& dtypes,
                const std::vector<float>& weight_scales);

}  // namespace seqserve
