// The load pipeline of one model version, from files to a servable ready for requests:
// engine options from the config (intra_op_threads within the CPU budget) → Model::Load
// (model.seq, weights, within the file limits) → the config completed against the model →
// the plan for one request compiled (warm-up) → the workers' threads reserved in the
// server-wide budget → ServableModel::Create (runner and scheduler started). Everything that
// can fail for a bad model fails here, at load time, rather than on the first request. Knows
// nothing of the repository's lifecycle: the repository decides what to load and what to do
// with the result.
// Thread-safe: loads of different versions may run at once.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "proto/model_config.pb.h"
#include "server/repository/servable_model.h"
#include "server/repository/thread_budget.h"

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
  // CPUs the process may use, for default worker sizing and the thread caps.
  int available_cpus = 1;
  // What the load may read: sizes of model.seq and model.safetensors, the parameters' bytes,
  // where symlinks may lead (core/model.h).
  ModelFileLimits file_limits;
  // The server's per-request limits, given to the servable.
  RequestLimits request_limits;
  // Where the workers' threads are reserved before they start; nullptr: no server-wide cap.
  // Borrowed: outlives the load (the servable keeps only its reservation).
  ThreadBudget* thread_budget = nullptr;
};

// Loads `request`'s version and logs the outcome on the "repository" logger ("loaded lenet
// version 1 in 12.3 ms: 2 workers x 1 thread, max batch 64", or the error). Never throws: an
// exception from a bad model becomes INTERNAL.
absl::StatusOr<std::unique_ptr<ServableModel>> LoadVersion(const LoadRequest& request);

}  // namespace seqserve
