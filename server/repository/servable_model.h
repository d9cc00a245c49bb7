// One loaded model version ready to serve: its completed serving config, the engine's
// Model (weights held once) and the Scheduler (batcher + worker pool) that runs it.
// Requests hold a shared_ptr while in flight, so a version swapped out or unloaded by the
// repository finishes its requests before it goes away. Immutable after construction
// except the scheduler, which is thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "core/model.h"
#include "server/config/model_config.h"
#include "server/scheduling/scheduler.h"

namespace seqserve {

struct ServableModel {
  std::string name;
  int64_t version = 0;
  ServingConfig config;
  std::shared_ptr<Model> model;
  // Stopped (drained, workers joined) by the repository before it drops its reference,
  // so the last reference is never released on one of the scheduler's own workers.
  std::unique_ptr<Scheduler> scheduler;
};

}  // namespace seqserve
