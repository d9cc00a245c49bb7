#include "server/repository/model_repository.h"

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <tuple>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "server/config/config_parser.h"
#include "server/config/cpu_budget.h"
#include "server/repository/repository_log.h"
#include "spdlog/spdlog.h"

namespace seqserve {
namespace {

namespace fs = std::filesystem;

constexpr char kUnloaded[] = "unloaded";
constexpr char kNotLoaded[] = "not loaded";

std::string Plural(int64_t n, std::string_view word) {
  return absl::StrCat(n, " ", std::string(word), n == 1 ? "" : "s");
}

}  // namespace

const char* ModelControlModeName(ModelControlMode mode) {
  switch (mode) {
    case ModelControlMode::kNone:
      return "none";
    case ModelControlMode::kPoll:
      return "poll";
    case ModelControlMode::kExplicit:
      return "explicit";
  }
  return "unknown";
}

const char* ModelStateName(ModelState state) {
  switch (state) {
    case ModelState::kLoading:
      return "LOADING";
    case ModelState::kReady:
      return "READY";
    case ModelState::kUnloading:
      return "UNLOADING";
    case ModelState::kUnavailable:
      return "UNAVAILABLE";
  }
  return "UNKNOWN";
}

ModelRepository::ModelRepository(const RepositoryOptions& options) : options_(options) {}

ModelRepository::~ModelRepository() { Stop(); }

absl::StatusOr<std::unique_ptr<ModelRepository>> ModelRepository::Create(
    const RepositoryOptions& options) {
  if (options.roots.empty()) {
    return absl::InvalidArgumentError("no model repository given: pass --model-repository=DIR");
  }
  SEQ_ASSIGN_OR_RETURN(ModelDirs found, ScanRoots(options.roots));
  SEQ_RETURN_IF_ERROR(CheckUnique(found));

  std::unique_ptr<ModelRepository> repository(new ModelRepository(options));
  SEQ_ASSIGN_OR_RETURN(repository->pool_,
                       WorkPool::Create(std::max(1, options.load_threads), "loader"));
  repository->thread_budget_ = std::make_unique<ThreadBudget>(
      options.max_worker_threads > 0 ? options.max_worker_threads
                                     : DefaultMaxWorkerThreads(options.available_cpus),
      "--max-worker-threads");

  std::map<std::string, fs::path> load;
  const bool all = options.mode != ModelControlMode::kExplicit ||
                   std::find(options.startup_models.begin(), options.startup_models.end(), "*") !=
                       options.startup_models.end();
  if (all) {
    for (const auto& [name, paths] : found) load[name] = paths.front();
  } else {
    for (const std::string& name : options.startup_models) {
      auto it = found.find(name);
      if (it == found.end()) {
        // As Triton: logged, and the server starts with the models it has.
        RepositoryLog().error("cannot load model '{}' (--load-model): no model repository holds it",
                              name);
        continue;
      }
      load[name] = it->second.front();
    }
  }

  {
    absl::MutexLock control(&repository->control_mu_);
    // Load errors are logged and recorded per version; they do not fail the server.
    repository->SyncModels(load, /*force=*/false).IgnoreError();
  }
  int ready = 0;
  int versions = 0;
  {
    absl::ReaderMutexLock lock(&repository->mu_);
    for (const auto& [name, model] : repository->models_) {
      for (const auto& [version, entry] : model.versions) {
        ++versions;
        if (entry.state == ModelState::kReady) ++ready;
      }
    }
  }
  RepositoryLog().info("model repository ({} control): {} of {} ready",
                       ModelControlModeName(options.mode), ready,
                       Plural(versions, "model version"));
  return repository;
}

std::shared_ptr<ServableModel> ModelRepository::MakeHandle(
    std::unique_ptr<ServableModel> servable) {
  {
    absl::MutexLock lock(&mu_);
    ++live_servables_;
  }
  return std::shared_ptr<ServableModel>(servable.release(), [this](ServableModel* released) {
    // This may run on one of the servable's own scheduler workers (a finished request's
    // task held the last handle), which cannot stop and join the scheduler: hand it over.
    // pool_ outlives every servable (Stop waits for live_servables_ to reach zero).
    pool_->Submit([this, released] { Destroy(released); });
  });
}

void ModelRepository::RetireLocked(const std::string& name, int64_t version, VersionEntry& entry,
                                   RetireKind kind,
                                   Released& released) {
  Retirement retirement{name, version, 0, kind};
  if (kind != RetireKind::kReplaced) {
    ++entry.generation;
    entry.state = ModelState::kUnloading;
    entry.reason.clear();
    entry.attempted.reset();
    retirement.generation = entry.generation;
  }
  // Requests already queued on it should not wait out a batching delay for company that
  // will not come (at shutdown that delay would hold up the exit).
  entry.servable->scheduler->Flush();
  retiring_[reinterpret_cast<uintptr_t>(entry.servable.get())] = std::move(retirement);
  released.push_back(std::move(entry.servable));
  entry.servable = nullptr;
}

void ModelRepository::Destroy(ServableModel* servable) {
  // Nobody holds a handle any more, so nothing new can be queued: Stop only finishes what
  // requests queued before letting go of their handles, then joins the workers.
  servable->scheduler->Stop();
  const uintptr_t key = reinterpret_cast<uintptr_t>(servable);
  const std::string name = servable->name;
  const int64_t version = servable->version;
  delete servable;

  RetireKind kind = RetireKind::kReplaced;
  {
    absl::MutexLock lock(&mu_);
    --live_servables_;
    auto retiring = retiring_.find(key);
    if (retiring != retiring_.end()) {
      const Retirement retirement = std::move(retiring->second);
      retiring_.erase(retiring);
      kind = retirement.kind;
      auto model = models_.find(retirement.name);
      if (kind != RetireKind::kReplaced && model != models_.end()) {
        auto entry = model->second.versions.find(retirement.version);
        // A version loaded again meanwhile has a newer generation and is left alone.
        if (entry != model->second.versions.end() &&
            entry->second.generation == retirement.generation &&
            entry->second.state == ModelState::kUnloading) {
          if (kind == RetireKind::kUnload) {
            entry->second.state = ModelState::kUnavailable;
            entry->second.reason = kUnloaded;
          } else {
            model->second.versions.erase(entry);
          }
        }
        if (!model->second.on_disk && model->second.versions.empty()) models_.erase(model);
      }
    }
  }
  // Readiness does not change here: an UNLOADING version was not READY either.
  if (kind == RetireKind::kReplaced) {
    RepositoryLog().debug("released the previous load of {} version {}", name, version);
  } else {
    RepositoryLog().info("unloaded {} version {}", name, version);
  }
}

fs::path ModelRepository::ConfineRoot(const fs::path& model_dir) const {
  if (options_.allow_symlinks_outside_repository) return fs::path();
  // ScanRoots found the model as root/name.
  return model_dir.parent_path();
}

void ModelRepository::NotifyReadiness(const std::vector<std::string>& names) {
  absl::MutexLock lock(&listener_mu_);
  if (!listener_) return;
  for (const std::string& name : names) {
    bool ready = false;
    {
      absl::ReaderMutexLock state_lock(&mu_);
      ready = AnyReadyLocked(name);
    }
    listener_(name, ready);
  }
}

bool ModelRepository::AnyReadyLocked(std::string_view name) const {
  auto model = models_.find(name);
  if (model == models_.end()) return false;
  for (const auto& [version, entry] : model->second.versions) {
    if (entry.selected && entry.state == ModelState::kReady) return true;
  }
  return false;
}

absl::StatusOr<std::shared_ptr<ServableModel>> ModelRepository::Get(std::string_view name,
                                                                    int64_t version) const {
  absl::ReaderMutexLock lock(&mu_);
  auto model = models_.find(name);
  if (model == models_.end()) {
    return absl::NotFoundError(absl::StrCat("unknown model '", std::string(name), "'"));
  }
  const std::map<int64_t, VersionEntry>& versions = model->second.versions;
  auto shown = versions.end();
  if (version == 0) {
    for (auto it = versions.rbegin(); it != versions.rend(); ++it) {
      if (it->second.selected && it->second.state == ModelState::kReady) return it->second.servable;
    }
    // None is ready: tell why for the version that would be served.
    for (auto it = versions.rbegin(); it != versions.rend(); ++it) {
      if (it->second.selected) {
        shown = std::prev(it.base());
        break;
      }
    }
    if (shown == versions.end()) {
      return absl::UnavailableError(
          absl::StrCat("model '", std::string(name), "' has no version ready"));
    }
  } else {
    shown = versions.find(version);
    if (shown == versions.end() || !shown->second.selected) {
      return absl::NotFoundError(
          absl::StrCat("model '", std::string(name), "' has no version ", version));
    }
    if (shown->second.state == ModelState::kReady) return shown->second.servable;
  }
  const VersionEntry& entry = shown->second;
  const std::string which =
      shown->first == 0 ? absl::StrCat("model '", std::string(name), "'")
                        : absl::StrCat("model '", std::string(name), "' version ", shown->first);
  return absl::UnavailableError(absl::StrCat(which, " is not ready (", ModelStateName(entry.state),
                                             ")", entry.reason.empty() ? "" : ": ", entry.reason));
}

std::vector<ModelVersionStatus> ModelRepository::Index() const {
  // Models on disk that were never loaded are listed too (as Triton), so that a client in
  // explicit mode can see what it may load. A root that went missing only hides its models.
  const ModelDirs on_disk = ScanRoots(options_.roots).value_or(ModelDirs());
  std::vector<ModelVersionStatus> index;
  {
    absl::ReaderMutexLock lock(&mu_);
    for (const auto& [name, model] : models_) {
      for (const auto& [version, entry] : model.versions) {
        index.push_back(ModelVersionStatus{name, version, entry.state, entry.reason});
      }
    }
    for (const auto& [name, paths] : on_disk) {
      if (models_.count(name) == 0) {
        index.push_back(ModelVersionStatus{name, 0, ModelState::kUnavailable, kNotLoaded});
      }
    }
  }
  std::sort(index.begin(), index.end(), [](const auto& a, const auto& b) {
    return std::tie(a.name, a.version) < std::tie(b.name, b.version);
  });
  return index;
}

absl::Status ModelRepository::Load(std::string_view name,
                                   const std::optional<std::string>& config_json) {
  std::optional<inference::ModelConfig> override_config;
  if (config_json.has_value()) {
    absl::StatusOr<inference::ModelConfig> parsed =
        ParseModelConfigJson(*config_json, "parameter 'config'");
    if (!parsed.ok()) return parsed.status();
    override_config = std::move(*parsed);
  }
  absl::MutexLock control(&control_mu_);
  if (options_.mode == ModelControlMode::kNone) {
    return absl::FailedPreconditionError(
        "model control mode is none: start seqserve with --model-control-mode=explicit to load "
        "or unload models");
  }
  {
    absl::ReaderMutexLock lock(&mu_);
    if (stopped_) return absl::FailedPreconditionError("the model repository is stopped");
  }
  SEQ_ASSIGN_OR_RETURN(ModelDirs found, ScanRoots(options_.roots));
  auto it = found.find(std::string(name));
  if (it == found.end()) {
    return absl::NotFoundError(
        absl::StrCat("unknown model '", std::string(name), "': no model repository holds it"));
  }
  if (it->second.size() > 1) return DuplicateError(it->first, it->second);
  RepositoryLog().info("loading {} (requested{})", it->first,
                       override_config.has_value() ? ", with the request's config" : "");
  if (!override_config.has_value()) {
    return SyncModels({{it->first, it->second.front()}}, /*force=*/true);
  }
  const absl::Status loaded =
      SyncModels({{it->first, it->second.front()}}, /*force=*/true, &*override_config);
  if (loaded.ok()) return loaded;
  // The errors name config.pbtxt, whose place the request's config took.
  return absl::Status(loaded.code(), absl::StrCat("with the config of the request (parameter "
                                                  "'config' in place of config.pbtxt): ",
                                                  loaded.message()));
}

absl::Status ModelRepository::Unload(std::string_view name) {
  absl::MutexLock control(&control_mu_);
  if (options_.mode == ModelControlMode::kNone) {
    return absl::FailedPreconditionError(
        "model control mode is none: start seqserve with --model-control-mode=explicit to load "
        "or unload models");
  }
  std::vector<uintptr_t> draining;
  Released released;
  {
    absl::MutexLock lock(&mu_);
    if (stopped_) return absl::FailedPreconditionError("the model repository is stopped");
    auto model = models_.find(name);
    // As Triton: unloading a model that is not loaded succeeds and changes nothing.
    if (model == models_.end()) return absl::OkStatus();
    model->second.wanted = false;
    for (auto& [version, entry] : model->second.versions) {
      if (entry.servable != nullptr) {
        draining.push_back(reinterpret_cast<uintptr_t>(entry.servable.get()));
        RetireLocked(model->first, version, entry, RetireKind::kUnload, released);
      } else if (entry.selected) {
        entry.state = ModelState::kUnavailable;
        entry.reason = kUnloaded;
        entry.attempted.reset();
      }
    }
  }
  RepositoryLog().info("unloading {} (requested)", std::string(name));
  released.clear();
  NotifyReadiness({std::string(name)});

  // Blocks until the requests already holding these versions have finished (see header).
  absl::MutexLock lock(&mu_);
  auto drained = [this, &draining]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return std::none_of(draining.begin(), draining.end(),
                        [this](uintptr_t key) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
                          return retiring_.count(key) > 0;
                        });
  };
  mu_.Await(absl::Condition(&drained));
  return absl::OkStatus();
}

absl::Status ModelRepository::Poll() {
  absl::MutexLock control(&control_mu_);
  if (options_.mode != ModelControlMode::kPoll) {
    return absl::FailedPreconditionError(absl::StrCat(
        "model control mode is ", ModelControlModeName(options_.mode),
        ": start seqserve with --model-control-mode=poll to pick up repository changes"));
  }
  SEQ_ASSIGN_OR_RETURN(ModelDirs found, ScanRoots(options_.roots));
  SEQ_RETURN_IF_ERROR(CheckUnique(found));

  std::map<std::string, fs::path> sync;
  std::vector<std::string> removed;
  Released released;
  {
    absl::MutexLock lock(&mu_);
    if (stopped_) return absl::FailedPreconditionError("the model repository is stopped");
    for (const auto& [name, paths] : found) {
      auto model = models_.find(name);
      if (model != models_.end() && !model->second.wanted) continue;  // unloaded on request
      sync[name] = paths.front();
    }
    for (auto model = models_.begin(); model != models_.end();) {
      if (found.count(model->first) > 0 || !model->second.on_disk) {
        ++model;
        continue;
      }
      removed.push_back(model->first);
      model->second.on_disk = false;
      auto& versions = model->second.versions;
      for (auto entry = versions.begin(); entry != versions.end();) {
        if (entry->second.servable != nullptr) {
          RetireLocked(model->first, entry->first, entry->second, RetireKind::kForget, released);
          entry->second.selected = false;
          ++entry;
        } else if (entry->second.state == ModelState::kUnloading) {
          ++entry;  // already draining; Destroy drops it
        } else {
          entry = versions.erase(entry);
        }
      }
      model = versions.empty() ? models_.erase(model) : std::next(model);
    }
  }
  for (const std::string& name : removed) {
    RepositoryLog().info("unloading {}: its directory is gone from the model repository", name);
  }
  released.clear();
  NotifyReadiness(removed);
  // Load errors are logged and shown in the index; the poll itself succeeded.
  SyncModels(sync, /*force=*/false).IgnoreError();
  return absl::OkStatus();
}

void ModelRepository::SetReadinessListener(
    std::function<void(const std::string& name, bool ready)> listener) {
  absl::MutexLock lock(&listener_mu_);
  listener_ = std::move(listener);
}

void ModelRepository::Stop() {
  absl::MutexLock control(&control_mu_);
  std::vector<std::string> names;
  Released released;
  {
    absl::MutexLock lock(&mu_);
    if (stopped_) return;
    stopped_ = true;
    for (auto& [name, model] : models_) {
      names.push_back(name);
      for (auto& [version, entry] : model.versions) {
        if (entry.servable != nullptr) {
          RetireLocked(name, version, entry, RetireKind::kUnload, released);
        }
      }
    }
  }
  released.clear();
  NotifyReadiness(names);
  {
    absl::MutexLock lock(&mu_);
    auto all_destroyed = [this]()
                             ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return live_servables_ == 0; };
    mu_.Await(absl::Condition(&all_destroyed));
  }
  // No servable is left to hand itself to the pool, so it can go.
  pool_.reset();
  if (!names.empty()) RepositoryLog().info("model repository stopped: every model unloaded");
}

}  // namespace seqserve
