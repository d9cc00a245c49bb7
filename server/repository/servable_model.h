// One loaded model version ready to serve: its completed serving config, the engine's
// Model (weights held once), the version's statistics, and the pipeline that serves it —
// a Scheduler (queue and workers) handing batches to a BatchRunner (gather, run, scatter).
// Requests hold a shared_ptr while in flight, so a version swapped out or unloaded by the
// repository finishes its requests before it goes away. Immutable after Create except the
// statistics, the runner and the scheduler, which are thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "core/model.h"
#include "server/config/model_config.h"
#include "server/scheduling/batch_runner.h"
#include "server/scheduling/clock.h"
#include "server/scheduling/model_stats.h"
#include "server/repository/thread_budget.h"
#include "server/scheduling/scheduler.h"

namespace seqserve {

struct ServableModel {
  // The workers' threads in the server-wide budget (empty when there is none). Declared
  // first, so it is released last: after the scheduler has joined its workers.
  ThreadBudget::Reservation threads;

  // Starts the version's runner and scheduler as `config` says (the scheduler names the
  // model `name` in its errors unless the config names it). `clock` (nullptr: the steady
  // clock) must outlive the servable. Errors as BatchRunner::Create and Scheduler::Create.
  static absl::StatusOr<std::unique_ptr<ServableModel>> Create(std::string name, int64_t version,
                                                               ServingConfig config,
                                                               std::shared_ptr<Model> model,
                                                               const Clock* clock = nullptr);

  std::string name;
  int64_t version = 0;
  ServingConfig config;
  std::shared_ptr<Model> model;
  // Recorded by the runner, and by front ends for requests they reject after finding this
  // version (e.g. a wrong shape).
  ModelStats stats;
  // Borrows `model` and `stats`.
  std::unique_ptr<BatchRunner> runner;
  // Borrows `runner`; declared last, so it is destroyed (stopped, workers joined) first.
  // Stopped by the repository before it drops its reference, so the last reference is never
  // released on one of the scheduler's own workers.
  std::unique_ptr<Scheduler> scheduler;
};

}  // namespace seqserve
