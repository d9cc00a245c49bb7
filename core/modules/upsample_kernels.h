// The arithmetic of torch.nn.functional.interpolate (PyTorch 2.1's CPU kernels, UpSample.h and
// UpSampleKernel.cpp), as plain functions: for each spatial axis, the input indices and
// weights ("taps") each output index reads, with PyTorch's coordinate rules in float; and
// kernels that apply them to plain (N, C, *spatial) data, separably and in PyTorch's order
// (the last axis innermost), every tap computed even at weight 0, so that NaN and Inf spread
// as in PyTorch. Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "core/plan.h"

namespace seqserve {

// For one axis: output index o reads input indices index[o * taps + k] with weights
// weight[o * taps + k] (no weights for nearest: taps == 1).
struct AxisTaps {
  int taps = 1;
  std::vector<int64_t> index;
  std::vector<float> weight;  // empty for nearest
};

// PyTorch's compute_scales_value: 1 / scale (rounded to float) when a scale factor is used
// directly (given and positive), else input / output in float.
float ScaleValue(std::optional<double> scale, int64_t input, int64_t output);

// mode='nearest': floor(o * scale) capped at input - 1. `shortcuts`: PyTorch's nearest_idx,
// which copies when output == input and halves the index when output == 2 * input whatever
// the scale (PyTorch 2.1 takes it for 2-D outputs with H + W <= 128; otherwise the plain rule).
AxisTaps NearestTaps(int64_t input, int64_t output, std::optional<double> scale, bool shortcuts);
// mode='nearest-exact': floor((o + 0.5) * scale) capped, PyTorch's half-pixel rule.
// `direct`: nearest_exact_idx's rounding (2-D outputs with H + W <= 128) rather than the
// generic kernel's max((o + 0.5) * scale - 0.5, 0) + 0.5.
AxisTaps NearestExactTaps(int64_t input, int64_t output, std::optional<double> scale, bool direct);
// mode='linear' | 'bilinear' | 'trilinear' (one axis): two taps.
AxisTaps LinearTaps(int64_t input, int64_t output, bool align_corners,
                    std::optional<double> scale);
// mode='bicubic' (one axis): four taps, A = -0.75, indices clamped to the input.
AxisTaps CubicTaps(int64_t input, int64_t output, bool align_corners, std::optional<double> scale);

// Applies `axes` (1 to 3, for the trailing spatial dims) to plain (planes, *in_spatial) data,
// writing plain (planes, *out_spatial). Every axis has the same kind of taps.
KernelFn InterpolateKernel(int64_t planes, const std::vector<int64_t>& in_spatial,
                           std::vector<AxisTaps> axes);

// mode='area': adaptive average pooling of plain (planes, *in_spatial) to out_spatial,
// windows [floor(o * in / out), ceil((o + 1) * in / out)), as PyTorch's adaptive_avg_pool.
KernelFn AreaKernel(int64_t planes, const std::vector<int64_t>& in_spatial,
                    const std::vector<int64_t>& out_spatial);

}  // namespace seqserve
