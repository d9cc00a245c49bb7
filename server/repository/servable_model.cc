#include "server/repository/servable_model.h"

#include <utility>

#include "common/status_macros.h"

namespace seqserve {

absl::StatusOr<std::unique_ptr<ServableModel>> ServableModel::Create(std::string name,
                                                                     int64_t version,
                                                                     ServingConfig config,
                                                                     std::shared_ptr<Model> model,
                                                                     const Clock* clock) {
  auto servable = std::make_unique<ServableModel>();
  SchedulerOptions scheduler_options = config.scheduler_options;
  if (scheduler_options.model_name.empty()) scheduler_options.model_name = name;
  BatchRunnerOptions runner_options;
  runner_options.model_name = scheduler_options.model_name;
  runner_options.workers = scheduler_options.instance_count;
  runner_options.batching = scheduler_options.batching.max_batch_size > 0;
  runner_options.max_activation_bytes = config.limits.max_activation_bytes;
  runner_options.worker_retain_bytes = config.limits.worker_retain_bytes;
  SEQ_ASSIGN_OR_RETURN(servable->runner,
                       BatchRunner::Create(model, runner_options, servable->stats, clock));
  SEQ_ASSIGN_OR_RETURN(servable->scheduler,
                       Scheduler::Create(scheduler_options, *servable->runner, clock));
  servable->name = std::move(name);
  servable->version = version;
  servable->config = std::move(config);
  servable->model = std::move(model);
  return servable;
}

}  // namespace seqserve
