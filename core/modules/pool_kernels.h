// What every pooling module (pooling.h, lp_pooling.h, adaptive_pooling.h) computes with:
//  - oneDNN pooling on whatever layout arrives (a convolution's blocked layout stays
//    blocked), with padding_r chosen so that oneDNN's output size is PyTorch's; used for
//    average pooling where oneDNN's answer is PyTorch's;
//  - separable window kernels (one pass per pooled axis), on plain layout or directly on
//    oneDNN's channel-blocked layout (channel_blocks.h), for what oneDNN computes
//    differently from PyTorch or only in its slow reference implementation: every max
//    pooling (oneDNN 2.6 drops NaN, where PyTorch's max propagates it, and answers
//    -FLT_MAX for a window of -inf, where PyTorch answers -inf; dilated windows, and
//    windows that see only padding, are -inf in PyTorch too), average pooling whose
//    ceil_mode edge window PyTorch divides by the window clipped to the padded input
//    (oneDNN divides by the whole kernel), and adaptive pooling with non-uniform bins.
// Stateless functions; the kernels they add are read-only and safe on several workers.
#pragma once

#include <cstdint>
#include <vector>

#include "common/tensor.h"
#include "core/eltwise.h"
#include "core/plan_builder.h"
#include "dnnl.hpp"

namespace seqserve {

enum class PoolKind { kMax, kAvg };

// The windows of one pooled axis: output index o reduces the input indices lo[o],
// lo[o] + step, ... below hi[o] (an empty range when lo[o] >= hi[o]), and an average
// divides by the product over the axes of count[o].
struct PoolWindows {
  int64_t in = 0;
  int64_t out = 0;
  std::vector<int64_t> lo;
  std::vector<int64_t> hi;
  std::vector<int64_t> count;
  int64_t step = 1;
  // Set for the fixed-size windows of MaxPool/AvgPool (o starts at o * stride - padding,
  // `kernel` taps `step` apart), which lets the kernels vectorise the interior windows;
  // 0 for adaptive bins.
  int64_t kernel = 0;
  int64_t stride = 0;
  int64_t padding = 0;

  // Every output is its own input element (the axis is not pooled at all).
  bool IsIdentity() const;
};

// PyTorch's pooling_output_shape: floor (or ceil) division, and in ceil mode the last
// window must start inside the input or its left padding.
int64_t PoolOutputSize(int64_t in, int64_t kernel, int64_t stride, int64_t padding,
                       int64_t dilation, bool ceil_mode);

// MaxPool/AvgPool windows along one axis, for an `out` computed with PyTorch's rule.
// count[o] is PyTorch's divisor: the window clipped to [-padding, in + padding) when
// `count_include_pad`, else the number of input elements it covers.
PoolWindows FixedWindows(int64_t in, int64_t out, int64_t kernel, int64_t stride,
                         int64_t padding, int64_t dilation, bool count_include_pad);
// Adaptive pooling bins: [floor(o * in / out), ceil((o + 1) * in / out)).
PoolWindows AdaptiveWindows(int64_t in, int64_t out);

// Pools the last windows.size() (1 to 3) dims of `in`, PyTorch's way (max propagates NaN,
// an empty window is -inf; an average divides the window's sum by the product of the
// counts, once), on `in`'s channel-blocked layout when it has one, else on plain layout.
// `out_shape` is in.shape with those dims replaced by the windows' output sizes.
PlanValue AddWindowPooling(PlanBuilder& builder, const PlanValue& in, PoolKind kind,
                           const std::vector<PoolWindows>& windows, const Shape& out_shape);

// Geometry of a oneDNN pooling over the last kernel.size() dims; dilation as PyTorch
// counts it (1 = dense).
struct OneDnnPooling {
  dnnl::algorithm algorithm = dnnl::algorithm::pooling_avg_include_padding;
  std::vector<int64_t> kernel;
  std::vector<int64_t> stride;
  std::vector<int64_t> dilation;
  std::vector<int64_t> padding;
  std::vector<EltwiseOp> post_ops;
};

// Pools `in` (any layout; an unbatched input is seen with a leading unit batch) with
// oneDNN, producing `out_shape` in the layout oneDNN prefers for it.
PlanValue AddOneDnnPooling(PlanBuilder& builder, const PlanValue& in, const OneDnnPooling& pool,
                           const Shape& out_shape);

}  // namespace seqserve
