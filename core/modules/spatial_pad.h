// The non-zero padding modes of Conv1d/Conv2d ('reflect', 'replicate', 'circular'): PyTorch
// pads the input with F.pad and then convolves without padding, and so do we, with a
// kernel on plain layout. Stateless functions; the kernels they add are read-only and
// safe to run from several workers at once.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "core/plan_builder.h"
#include "common/tensor.h"

namespace seqserve {

enum class PadMode { kZeros, kReflect, kReplicate, kCircular };

// PyTorch's padding_mode names: 'zeros', 'reflect', 'replicate', 'circular'.
std::optional<PadMode> ParsePadMode(std::string_view name);
std::string_view PadModeName(PadMode mode);

// F.pad's limits for the last `pad_before.size()` dims of `in`: 'reflect' needs each pad
// smaller than its dim, 'circular' at most its dim (a single wrap-around).
absl::Status CheckSpatialPad(const Shape& in, PadMode mode, const std::vector<int64_t>& pad_before,
                             const std::vector<int64_t>& pad_after);

// `in` with its last pad_before.size() dims grown by the pads.
Shape PaddedShape(const Shape& in, const std::vector<int64_t>& pad_before,
                  const std::vector<int64_t>& pad_after);

// Adds a kernel padding the last one or two dims of `in` (made plain first) in `mode`
// (not kZeros) and returns the padded, plain value. Shapes must pass CheckSpatialPad.
PlanValue AddSpatialPad(PlanBuilder& builder, const PlanValue& in, PadMode mode,
                        const std::vector<int64_t>& pad_before,
                        const std::vector<int64_t>& pad_after);

}  // namespace seqserve
