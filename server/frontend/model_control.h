// The one path of the repository's load and unload requests, for both protocols
// (RepositoryModelLoad / Unload over gRPC, POST /v2/repository/models/{m}/load|unload over
// REST): the request is checked (CheckRepositoryChange, then the serving state), then the
// change runs on a control thread of its own — a load blocks for as long as the model takes
// to load, an unload until its requests drain, and neither may hold a protocol's thread: gRPC
// reactions must not block, and REST's threads serve the other requests. The answer comes
// through a callback on that thread (gRPC finishes its reactor there); ChangeAndWait waits
// for it (REST). Changes run one at a time, in the order asked.
// Thread-safe: Change, ChangeAndWait and Stop may be called from any thread.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "server/frontend/model_queries.h"
#include "server/frontend/serving_state.h"
#include "server/repository/model_repository.h"
#include "server/repository/work_pool.h"

namespace seqserve {

class ModelControl {
 public:
  using Done = std::function<void(const absl::Status& status)>;

  // `repository` and `state` must outlive the control. RESOURCE_EXHAUSTED when its thread
  // cannot start.
  static absl::StatusOr<std::unique_ptr<ModelControl>> Create(ModelRepository& repository,
                                                              const ServingState& state);
  ~ModelControl();  // Stop()s

  // Loads (`load`) or unloads `model_name` as ModelRepository::Load / Unload do (a load with
  // parameters.config), after CheckRepositoryChange(repository_name, model_name, load,
  // parameters). `done` runs
  // exactly once: at once, on this thread, when the request is refused (or shutdown has
  // begun); otherwise on the control thread with the repository's answer.
  void Change(std::string_view repository_name, const std::string& model_name, bool load,
              const RepositoryChangeParameters& parameters, Done done);
  // Change, waiting for the answer.
  absl::Status ChangeAndWait(std::string_view repository_name, const std::string& model_name,
                             bool load, const RepositoryChangeParameters& parameters);

  // Shutdown, step 2: answers the changes still queued with ShuttingDownError(), waits for
  // the running one and stops the control thread; later changes get ShuttingDownError() at
  // once. Idempotent.
  void Stop();

 private:
  ModelControl(ModelRepository& repository, const ServingState& state);
  bool stopping() const;

  ModelRepository& repository_;  // outlives the control (see Create)
  const ServingState& state_;    // likewise

  mutable absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  // One thread: changes run one at a time. Moved out (and joined) by Stop.
  std::unique_ptr<WorkPool> pool_ ABSL_GUARDED_BY(mu_);
  absl::Mutex stop_mu_;  // serialises Stop's join
};

}  // namespace seqserve
