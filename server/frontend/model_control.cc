#include "server/frontend/model_control.h"

#include <exception>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "common/status_macros.h"
#include "server/frontend/model_queries.h"
#include "server/logging/named_logger.h"
#include "spdlog/spdlog.h"

namespace seqserve {
namespace {

spdlog::logger& Log() {
  static const std::shared_ptr<spdlog::logger> logger = NamedLogger("control");
  return *logger;
}

}  // namespace

absl::StatusOr<std::unique_ptr<ModelControl>> ModelControl::Create(ModelRepository& repository,
                                                                   const ServingState& state) {
  std::unique_ptr<ModelControl> control(new ModelControl(repository, state));
  SEQ_ASSIGN_OR_RETURN(std::unique_ptr<WorkPool> pool, WorkPool::Create(1, "control"));
  absl::MutexLock lock(&control->mu_);
  control->pool_ = std::move(pool);
  return control;
}

ModelControl::ModelControl(ModelRepository& repository, const ServingState& state)
    : repository_(repository), state_(state) {}

ModelControl::~ModelControl() { Stop(); }

bool ModelControl::stopping() const {
  absl::MutexLock lock(&mu_);
  return stopping_;
}

void ModelControl::Change(std::string_view repository_name, const std::string& model_name,
                          bool load, const RepositoryChangeParameters& parameters,
                          Done done) {
  absl::Status status =
      CheckRepositoryChange(repository_, repository_name, model_name, load, parameters);
  if (status.ok() && state_.shutting_down()) status = ShuttingDownError();
  if (!status.ok()) return done(status);
  auto job = [this, model_name, load, config = parameters.config, done] {
    absl::Status result;
    if (stopping()) {
      result = ShuttingDownError();
    } else {
      try {
        result = load ? repository_.Load(model_name, config) : repository_.Unload(model_name);
      } catch (const std::exception& e) {
        result = absl::InternalError(absl::StrCat(load ? "load" : "unload", " of '", model_name,
                                                  "': unexpected error: ", e.what()));
        Log().error("{}", std::string(result.message()));
      }
    }
    done(result);
  };
  {
    absl::MutexLock lock(&mu_);
    if (!stopping_) {
      pool_->Submit(std::move(job));
      return;
    }
  }
  done(ShuttingDownError());
}

absl::Status ModelControl::ChangeAndWait(std::string_view repository_name,
                                         const std::string& model_name, bool load,
                                         const RepositoryChangeParameters& parameters) {
  // Shared with the job, which may still be running its callback when Notify wakes this one.
  struct Answer {
    absl::Notification done;
    absl::Status status;
  };
  auto answer = std::make_shared<Answer>();
  Change(repository_name, model_name, load, parameters,
         [answer](const absl::Status& status) {
           answer->status = status;
           answer->done.Notify();
         });
  answer->done.WaitForNotification();
  return answer->status;
}

void ModelControl::Stop() {
  absl::MutexLock stop_lock(&stop_mu_);
  std::unique_ptr<WorkPool> pool;
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    pool = std::move(pool_);
  }
  // Runs the queued changes (which see stopping_ and answer UNAVAILABLE), then joins.
  pool.reset();
}

}  // namespace seqserve
