// The offline subcommands of the seqserve binary: `check` validates a model and prints its
// input (shape and dtype) and its layers (and, with a reduced --precision, how far that
// precision's outputs are from fp32's on random inputs); `run` runs one forward pass from a
// .npy file (float32, or int64/int32 ids for a model that starts with an Embedding) to a
// float32 .npy file; `modules` prints the module types model.seq may use. They print to
// stdout, report errors to stderr, and return the process exit code.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace seqserve {

struct CheckOptions {
  std::string model_dir;
  std::optional<int64_t> version;
  std::string input_shape;  // "1,1,28,28"; empty: derived from the first module
  // "fp32" or "bf16" (core/precision.h). Other than fp32: also runs kCheckSamples random
  // inputs through both precisions and prints the error against fp32 (max and mean, relative
  // to the range of the fp32 outputs) and, for 2-D outputs (a classifier's scores), the
  // top-1 agreement of the rows.
  std::string precision = "fp32";
};

// Random inputs `check` compares a reduced precision with fp32 on.
inline constexpr int kCheckSamples = 32;

struct RunOptions {
  std::string model_dir;
  std::optional<int64_t> version;
  std::string input_path;
  std::string output_path;
  int num_threads = 1;
  std::string precision = "fp32";  // as CheckOptions::precision
};

int RunCheckCommand(const CheckOptions& options);
int RunRunCommand(const RunOptions& options);
// The engine's module registry (core/module_registry.h), one type per line, in table order.
int RunModulesCommand();

}  // namespace seqserve
