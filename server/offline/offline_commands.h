// The offline subcommands of the seqserve binary: `check` validates a model and prints its
// input (shape and dtype) and its layers; `run` runs one forward pass from a .npy file
// (float32, or int64/int32 ids for a model that starts with an Embedding) to a float32 .npy
// file; `modules` prints the module types model.seq may use. They print to stdout, report
// errors to stderr, and return the process exit code.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace seqserve {

struct CheckOptions {
  std::string model_dir;
  std::optional<int64_t> version;
  std::string input_shape;  // "1,1,28,28"; empty: derived from the first module
};

struct RunOptions {
  std::string model_dir;
  std::optional<int64_t> version;
  std::string input_path;
  std::string output_path;
  int num_threads = 1;
};

int RunCheckCommand(const CheckOptions& options);
int RunRunCommand(const RunOptions& options);
// The engine's module registry (core/module_registry.h), one type per line, in table order.
int RunModulesCommand();

}  // namespace seqserve
