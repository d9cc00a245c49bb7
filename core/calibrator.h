// Measures what an int8 model is quantised with (core/int8_calibration.h): runs a model in
// fp32 over representative samples, one layer at a time, and records the range of the input
// of every layer that can compute in int8 (Conv, Linear): its extremes and the given
// percentile of its magnitudes (a clip that ignores rare outliers, which would otherwise
// stretch the 8-bit grid over values that almost never occur). Single-threaded use.
#pragma once

#include <cstdint>

#include "absl/status/statusor.h"
#include "common/tensor.h"
#include "core/int8_calibration.h"
#include "core/model.h"

namespace seqserve {

struct CalibrationOptions {
  // Samples run per forward pass.
  int64_t batch = 32;
  // The clip is this percentile of |x| over every element seen at a layer's input; 100: the
  // largest magnitude.
  double percentile = 99.99;
  int num_threads = 1;
};

// Whether `layer` computes in int8 in an int8 plan (and so needs a range).
bool IsInt8Layer(const Layer& layer);

// Samples [begin, end) of `samples` (N, *input), a batch to run.
TypedTensor SampleRows(const TypedTensor& samples, int64_t begin, int64_t end);

// `samples`: (N, *input) in a dtype the model takes, N >= 1. The ranges are of the model's
// own fp32 computation, tied to model.content_hash().
absl::StatusOr<Int8Calibration> CalibrateInt8(const Model& model, const TypedTensor& samples,
                                              const CalibrationOptions& options);

}  // namespace seqserve
