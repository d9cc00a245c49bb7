// torch.nn.MaxPool1d, MaxPool2d, AvgPool1d and AvgPool2d, and the two ways every pool
// (also the adaptive ones, adaptive_pooling.h) runs in a plan:
//  - oneDNN pooling on whatever layout arrives (a convolution's blocked layout stays
//    blocked), with padding_r chosen so that oneDNN's output size is PyTorch's;
//  - separable window kernels on plain layout for what oneDNN computes differently from
//    PyTorch or only in its slow reference implementation: dilated max pooling (oneDNN
//    has no fast dilated pooling, and a window that sees only padding is -inf in PyTorch),
//    average pooling whose ceil_mode edge window PyTorch divides by the window clipped to
//    the padded input (oneDNN divides by the whole kernel), and adaptive pooling with
//    non-uniform bins.
// Modules are immutable after construction; thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "core/module.h"
#include "core/plan_builder.h"
#include "core/seq_ast.h"
#include "dnnl.hpp"

namespace seqserve {

absl::StatusOr<std::unique_ptr<Module>> MakeMaxPool1d(const SeqCall& call, std::string_view file);
absl::StatusOr<std::unique_ptr<Module>> MakeMaxPool2d(const SeqCall& call, std::string_view file);
absl::StatusOr<std::unique_ptr<Module>> MakeAvgPool1d(const SeqCall& call, std::string_view file);
absl::StatusOr<std::unique_ptr<Module>> MakeAvgPool2d(const SeqCall& call, std::string_view file);

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

// MaxPool/AvgPool windows along one axis, for an `out` computed with PyTorch's rule.
// count[o] is PyTorch's divisor: the window clipped to [-padding, in + padding) when
// `count_include_pad`, else the number of input elements it covers.
PoolWindows FixedWindows(int64_t in, int64_t out, int64_t kernel, int64_t stride,
                         int64_t padding, int64_t dilation, bool count_include_pad);
// Adaptive pooling bins: [floor(o * in / out), ceil((o + 1) * in / out)).
PoolWindows AdaptiveWindows(int64_t in, int64_t out);

// Pools the last windows.size() (1 or 2) dims of `in` on plain layout, PyTorch's way (max
// propagates NaN; an average divides the window's sum by the product of the counts).
// `out_shape` is in.shape with those dims replaced by the windows' output sizes.
PlanValue AddWindowPooling(PlanBuilder& builder, const PlanValue& in, PoolKind kind,
                           const std::vector<PoolWindows>& windows, const Shape& out_shape);

// Geometry of a oneDNN pooling over the last kernel.size() dims; dilation as PyTorch
// counts it (1 = dense).
struct OneDnnPooling {
  dnnl::algorithm algorithm = dnnl::algorithm::pooling_max;
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
