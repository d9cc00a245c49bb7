// Turns a list of layers into plan steps: shape inference with errors that name the
// module path, then compilation with BatchNorm folded into the Conv/Linear before it and
// elementwise activations fused as post-ops, and each Conv/Linear in the implementation
// compile-time tuning chose. Stateless functions; thread-safe.
#pragma once

#include <vector>

#include "absl/status/statusor.h"
#include "core/plan_builder.h"
#include "core/sequential.h"
#include "core/tuner.h"
#include "common/tensor.h"

namespace seqserve {

// The shape after each layer (result[i] is layer i's output), or an error such as
// "features.3 (Conv2d): expected input with 20 channels, got [1, 64, 12, 12]".
absl::StatusOr<std::vector<Shape>> InferShapes(const std::vector<Layer>& layers,
                                               const Shape& input);

// Adds the layers to `builder`, starting from `in`; returns the last output (f32, or in a
// reduced-precision plan possibly bf16: PlanBuilder::Finish makes it f32). In a plan of
// builder.precision() other than fp32, each layer that ComputesIn it gets the element types
// of StepDTypes, the others f32 input; with tuning, such a layer also has its fp32
// implementations among its candidates (ids prefixed "fp32:") and runs in the faster. With
// `tuning` (and its mode not kOff), each chain of tunable layers (Conv, ConvTranspose,
// Linear, each feeding the next) gets the implementations tuning chooses for it: from
// tuning->cached, else timed by tuning->tuner, else the defaults.
absl::StatusOr<PlanValue> CompileLayers(PlanBuilder& builder, const std::vector<Layer>& layers,
                                        const PlanValue& in, PlanTuning* tuning = nullptr);

}  // namespace seqserve
