// Argument and shape helpers every pooling module shares (pooling.h, lp_pooling.h,
// adaptive_pooling.h): ATen's reading of per-axis ints, its per-axis wording in messages,
// the refusal of return_indices=True, and the input-rank message. Stateless; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/tensor.h"
#include "core/module_args.h"

namespace seqserve {

// An int-or-tuple argument per spatial axis, as ATen reads it: an int for every axis, or one
// int per axis; a 2-d or 3-d pool also takes a 1-element tuple for all axes.
absl::StatusOr<std::vector<int64_t>> PoolAxisInts(const ModuleArgs& args, std::string_view name,
                                                  int rank);

// "kT: 3 kH: 3 kW: 2" (3-d), "kH: 3 kW: 2" (2-d) or "kW: 3" (1-d), as PyTorch's messages
// name per-axis values.
std::string PerAxis(const std::vector<int64_t>& values, std::string_view prefix);

// The name of spatial axis `axis` of a `rank`-d pool in shape messages: L; H, W; D, H, W.
std::string_view PoolAxisName(int rank, size_t axis);

// "3D (C, H, W) or 4D (N, C, H, W) input": the inputs a `rank`-d pool takes.
std::string PoolInputRanks(int rank);

// The fixed windows of MaxPool, AvgPool and LPPool, one entry per spatial axis.
struct PoolGeometry {
  int rank = 2;
  std::vector<int64_t> kernel;
  std::vector<int64_t> stride;
  std::vector<int64_t> padding;
  std::vector<int64_t> dilation;
  bool ceil_mode = false;
};

// Reads kernel_size, stride (None or () for the kernel size), padding and dilation when
// the signature has them (else 0 and 1), and ceil_mode, with ATen's checks and messages (kernel,
// stride and dilation positive, padding non-negative and at most half the effective
// kernel). `type` selects ATen's per-op quirks (max_pool1d and the 3-d pools compare the
// padding with the undilated kernel).
absl::StatusOr<PoolGeometry> ReadPoolGeometry(const ModuleArgs& args, std::string_view type,
                                              int rank, bool has_padding, bool has_dilation);

// PyTorch's output shape for `in`, or the error naming the inputs the pool takes (an empty
// batch is allowed, no other empty dim) or the smallest input per axis. avg_pool3d also
// wants the unpadded input at least as large as the kernel: `input_at_least_kernel`.
absl::StatusOr<Shape> PoolOutputShape(const Shape& in, const PoolGeometry& g,
                                      bool input_at_least_kernel = false);

// return_indices=True is a load error: the module would return (output, indices), which a
// Sequential cannot pass on.
absl::Status RejectReturnIndices(const ModuleArgs& args);

}  // namespace seqserve
