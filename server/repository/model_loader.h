// The load pipeline of one model version, from files to a servable ready for requests:
// engine options from the config → Model::Load (model.seq, weights) → the config completed
// against the model → the plan for one request compiled (warm-up) → ServableModel::Create
// (runner and scheduler started). Everything that can fail for a bad model fails here, at
// load time, rather than on the first request. Knows nothing of the repository's lifecycle:
// the repository decides what to load and what to do with the result.
// Thread-safe: loads of different versions may run at once.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "proto/model_config.pb.h"
#include "server/repository/servable_model.h"

namespace seqserve {

struct LoadRequest {
  std::string name;
  int64_t version = 0;
  std::filesystem::path version_dir;
  // The model's parsed config.pbtxt (empty when `config_present` is false).
  inference::ModelConfig config;
  bool config_present = false;
  // A READY version is being replaced (only the log lines differ).
  bool reload = false;
  // CPUs the process may use, for default worker sizing.
  int available_cpus = 1;
};

// Loads `request`'s version and logs the outcome on the "repository" logger ("loaded lenet
// version 1 in 12.3 ms: 2 workers x 1 thread, max batch 64", or the error). Never throws: an
// exception from a bad model becomes INTERNAL.
absl::StatusOr<std::unique_ptr<ServableModel>> LoadVersion(const LoadRequest& request);

}  // namespace seqserve
