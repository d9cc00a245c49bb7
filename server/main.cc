// seqserve: the server binary. Subcommands `check` and `run` work offline on a model
// directory (SPEC §5).
#include <cstdint>
#include <optional>
#include <string>

#include "CLI/CLI.hpp"
#include "server/offline_commands.h"

int main(int argc, char** argv) {
  CLI::App app{"seqserve: serves PyTorch nn.Sequential models on CPU"};
  app.require_subcommand(1);

  seqserve::CheckOptions check;
  int64_t check_version = 0;
  CLI::App* check_cmd = app.add_subcommand("check", "validate a model and print its layers");
  check_cmd->add_option("MODEL_DIR", check.model_dir, "model or version directory")->required();
  check_cmd->add_option("--version", check_version, "version to check (default: latest)");
  check_cmd->add_option("--input-shape", check.input_shape,
                        "input shape with batch, e.g. 1,3,224,224 (default: from the model)");

  seqserve::RunOptions run;
  int64_t run_version = 0;
  CLI::App* run_cmd = app.add_subcommand("run", "run one forward pass from .npy to .npy");
  run_cmd->add_option("MODEL_DIR", run.model_dir, "model or version directory")->required();
  run_cmd->add_option("--input", run.input_path, "input .npy (float32 or float64)")->required();
  run_cmd->add_option("--output", run.output_path, "output .npy (float32)")->required();
  run_cmd->add_option("--version", run_version, "version to run (default: latest)");
  run_cmd->add_option("--threads", run.num_threads, "oneDNN threads")->check(CLI::Range(1, 1024));

  CLI11_PARSE(app, argc, argv);
  if (check_cmd->parsed()) {
    if (check_version > 0) check.version = check_version;
    return seqserve::RunCheckCommand(check);
  }
  if (run_version > 0) run.version = run_version;
  return seqserve::RunRunCommand(run);
}
