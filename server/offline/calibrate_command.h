// `seqserve calibrate MODEL_DIR --data samples.npy`: measures the activation ranges an int8
// model is quantised with (core/calibrator.h) by running the model in fp32 over the samples,
// writes them beside the model (core/int8_calibration.h's file), prints them, and then runs
// the model in int8 and fp32 over held-out samples and prints how far apart they are (error
// relative to the outputs' range, cosine similarity, top-1 agreement of a classifier). Prints
// to stdout, errors to stderr, returns the process exit code.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace seqserve {

struct CalibrateOptions {
  std::string model_dir;
  std::optional<int64_t> version;
  // (N, *input): representative inputs, float32 (or the ids an Embedding model takes).
  std::string data_path;
  // Held-out inputs to measure the accuracy on; empty: every fifth sample of the data is held
  // out (and not calibrated on) when there are at least 10, else none is.
  std::string holdout_path;
  double percentile = 99.99;
  int64_t batch = 32;
  int num_threads = 1;
  // Where to write; empty: kInt8CalibrationFile in the version directory.
  std::string output_path;
};

int RunCalibrateCommand(const CalibrateOptions& options);

}  // namespace seqserve
