// The activation ranges an int8 model is quantised with: for each layer that computes in
// int8 (Conv, Linear), the range of its input that `seqserve calibrate` measured by running
// the model in fp32 over representative samples. Kept beside the model as a small text file,
// tied to the model's content so that ranges of another model (or of older weights) are never
// used. Plain data; thread-safe to read.
//
// The file (kInt8CalibrationFile in the version directory), one entry per line, '#' comments:
//   seqserve-int8-calibration 1
//   model <content hash of model.seq and its weights, 16 hex digits>
//   samples <how many samples were run>
//   percentile <the percentile of |x| the clip is, 100 = the maximum>
//   input <layer path> min <float> max <float> clip <float>
// `min`/`max` are the extremes seen at the layer's input; `clip` is the magnitude its
// quantisation covers (values beyond it saturate). Layers are named by their path in the
// model ("features.0", "3").
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace seqserve {

inline constexpr std::string_view kInt8CalibrationFile = "int8_calibration.txt";

struct ActivationRange {
  float min = 0;
  float max = 0;
  float clip = 0;  // > 0
  // Non-negative inputs (after a ReLU) quantise as u8 over [0, clip], others as s8 over
  // [-clip, clip]: one more bit for the common case.
  bool non_negative() const { return min >= 0; }
};

struct Int8Calibration {
  std::string model_hash;
  int64_t samples = 0;
  double percentile = 100;
  std::map<std::string, ActivationRange> inputs;  // by layer path
};

std::string FormatInt8Calibration(const Int8Calibration& calibration);
// INVALID_ARGUMENT naming `file` and the line for anything malformed.
absl::StatusOr<Int8Calibration> ParseInt8Calibration(std::string_view text, std::string_view file);

absl::Status WriteInt8Calibration(const std::filesystem::path& path,
                                  const Int8Calibration& calibration);

}  // namespace seqserve
