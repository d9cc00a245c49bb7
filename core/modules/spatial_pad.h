// F.pad over the last one to three dims, in every mode: what the padding modules
// (ConstantPad*, ZeroPad*, ReflectionPad*, ReplicationPad*, CircularPad*) compute, and what
// a convolution with padding_mode 'reflect', 'replicate' or 'circular' does before it
// convolves without padding. Negative padding crops, as in PyTorch. The kernel runs on plain
// layout or, for the modes that only move elements, on oneDNN's channel-blocked layout
// (channel_blocks.h), so a pad between two convolutions costs no reorders. Stateless
// functions; the kernels they add are read-only and safe to run from several workers.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "core/plan_builder.h"
#include "common/tensor.h"

namespace seqserve {

// kZeros is a convolution's padding_mode='zeros' (the convolution pads by itself);
// kConstant fills with a value (F.pad's mode='constant').
enum class PadMode { kZeros, kConstant, kReflect, kReplicate, kCircular };

// A convolution's padding_mode names: 'zeros', 'reflect', 'replicate', 'circular'.
std::optional<PadMode> ParsePadMode(std::string_view name);
// F.pad's mode names: 'constant' (for kZeros too), 'reflect', 'replicate', 'circular'.
std::string_view PadModeName(PadMode mode);

// F.pad's limits for the last pad_before.size() dims of `in` (pads may be negative):
// 'reflect' needs each pad smaller than its dim, 'circular' at most what is left of the dim
// after cropping (a single wrap-around), 'reflect' and 'replicate' a non-empty result, the
// other modes a result that is empty at worst.
absl::Status CheckSpatialPad(const Shape& in, PadMode mode, const std::vector<int64_t>& pad_before,
                             const std::vector<int64_t>& pad_after);

// `in` with its last pad_before.size() dims grown by the pads.
Shape PaddedShape(const Shape& in, const std::vector<int64_t>& pad_before,
                  const std::vector<int64_t>& pad_after);

// Adds a kernel padding the last 1 to 3 dims of `in` in `mode` (kZeros and kConstant fill
// with `value`) and returns the padded value: in `in`'s channel-blocked layout when it has
// one and the pads are spatial (the dims after N and C), else plain. Shapes must pass
// CheckSpatialPad.
PlanValue AddSpatialPad(PlanBuilder& builder, const PlanValue& in, PadMode mode,
                        const std::vector<int64_t>& pad_before,
                        const std::vector<int64_t>& pad_after, float value = 0.f);

}  // namespace seqserve
