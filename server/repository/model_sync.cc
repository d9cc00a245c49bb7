// ModelRepository::SyncModels and its phases: how the repository brings the entries of some
// models in line with their files (read the disk, plan, load, swap in and retire). The rest
// of the lifecycle — the operations that call it, and the release of retired versions — is
// in model_repository.cc.
#include <functional>
#include <set>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/blocking_counter.h"
#include "server/repository/model_repository.h"
#include "server/repository/repository_log.h"
#include "spdlog/spdlog.h"

namespace seqserve {
namespace {

namespace fs = std::filesystem;

constexpr char kNoVersions[] = "no version directories";
constexpr char kReloadFailed[] = "reload failed, still serving the previous load: ";

// A load request's config in place of config.pbtxt. Its signature is one no file has, so
// that the next load without it, or a poll, sees a change and goes back to the file.
void OverrideConfig(const inference::ModelConfig& config, DiskModel& model) {
  // A directory that could not be read keeps its error (a bad config.pbtxt does not).
  if (!model.config.ok() && absl::IsInternal(model.config.status())) return;
  model.config = config;
  model.policy = VersionPolicyFromConfig(config);
  FileSignature signature;
  signature.exists = true;
  signature.mtime_ns = -1;  // never a file's
  signature.content_hash = std::hash<std::string>()(config.SerializeAsString());
  model.config_signature = signature;
  for (auto& [version, files] : model.signatures) files.config = signature;
}

}  // namespace

absl::Status ModelRepository::SyncModels(const std::map<std::string, fs::path>& dirs, bool force,
                                         const inference::ModelConfig* override_config) {
  // 1. Read the disk, without the lock: Get must not wait for file I/O.
  std::vector<DiskModel> disk;
  for (const auto& [name, dir] : dirs) {
    FilePolicy config_policy = options_.config_file;
    config_policy.confine_to = ConfineRoot(dir);
    disk.push_back(ReadDiskModel(name, dir, config_policy));
    if (override_config != nullptr) OverrideConfig(*override_config, disk.back());
  }

  // 2. Plan under the lock: entries in step with the disk, the loads to run.
  SyncPlan plan;
  Released released;
  {
    absl::MutexLock lock(&mu_);
    for (const DiskModel& found : disk) PlanModelLocked(found, force, plan, released);
  }
  released.clear();
  NotifyReadiness(plan.touched);

  // 3. Load, in parallel; the versions being replaced keep serving meanwhile.
  RunLoads(plan.jobs);

  // 4. Swap the new loads in, then let go of what is no longer selected.
  std::vector<std::string> unloading;
  {
    absl::MutexLock lock(&mu_);
    SwapInLocked(plan.jobs, plan.errors, released);
    unloading = RetireDeselectedLocked(plan.deselected, released);
  }
  for (const std::string& what : unloading) {
    RepositoryLog().info("unloading {}: its version policy no longer selects it", what);
  }
  released.clear();
  NotifyReadiness(plan.touched);

  if (plan.errors.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("load failed for ", absl::StrJoin(plan.errors, "; ")));
}

void ModelRepository::PlanModelLocked(const DiskModel& found, bool force, SyncPlan& plan,
                                      Released& released) {
  plan.touched.push_back(found.name);
  ModelEntry& model = models_[found.name];
  model.dir = found.dir;
  model.on_disk = true;
  model.wanted = true;
  if (!found.policy.ok()) return PlanUnreadableConfigLocked(found, model, force, plan);
  model.config_attempted = found.config_signature;

  const std::vector<int64_t> selected = found.policy->Select(found.versions);
  std::set<int64_t> keep(selected.begin(), selected.end());
  for (int64_t v : selected) {
    VersionEntry& entry = model.versions[v];
    const VersionSignature& signature = found.signatures.at(v);
    entry.selected = true;
    if (!force && entry.attempted == signature) continue;
    if (entry.servable == nullptr) {
      entry.state = ModelState::kLoading;
      entry.reason.clear();
      ++entry.generation;
    }
    LoadRequest request;
    request.name = found.name;
    request.version = v;
    request.version_dir = found.dir / std::to_string(v);
    request.config = *found.config;
    request.config_present = found.config_signature.exists;
    request.reload = entry.servable != nullptr;
    request.available_cpus = options_.available_cpus;
    request.file_limits = options_.file_limits;
    request.file_limits.seq_file.confine_to = ConfineRoot(found.dir);
    request.file_limits.safetensors_file.confine_to = ConfineRoot(found.dir);
    request.request_limits = options_.request_limits;
    request.thread_budget = thread_budget_.get();
    plan.jobs.push_back(LoadJob{std::move(request), signature, absl::UnknownError("not run")});
  }
  // A specific version the policy names but the disk lacks is listed with why.
  if (found.policy->kind == VersionPolicy::Kind::kSpecific) {
    for (int64_t v : found.policy->versions) {
      if (keep.count(v) > 0) continue;
      keep.insert(v);
      VersionEntry& entry = model.versions[v];
      if (entry.servable != nullptr) {
        RetireLocked(found.name, v, entry, RetireKind::kReplaced, released);
      }
      entry.selected = true;
      entry.state = ModelState::kUnavailable;
      entry.reason = absl::StrCat("version_policy specific names version ", v, ", but ",
                                  (found.dir / std::to_string(v)).string(), " does not exist");
      entry.attempted.reset();
    }
  }
  if (keep.empty()) {
    keep.insert(0);
    VersionEntry& entry = model.versions[0];
    entry.selected = true;
    entry.state = ModelState::kUnavailable;
    entry.reason = kNoVersions;
  }
  for (const auto& [version, entry] : model.versions) {
    if (entry.selected && keep.count(version) == 0) {
      plan.deselected.emplace_back(found.name, version);
    }
  }
}

void ModelRepository::PlanUnreadableConfigLocked(const DiskModel& found, ModelEntry& model,
                                                 bool force, SyncPlan& plan) {
  // An unchanged broken config was reported already: do not log it on every poll.
  if (!force && model.config_attempted == found.config_signature) return;
  model.config_attempted = found.config_signature;
  const std::string error(found.policy.status().message());
  plan.errors.push_back(absl::StrCat("model '", found.name, "': ", error));
  bool serving = false;
  for (auto& [version, entry] : model.versions) {
    if (entry.selected && entry.state == ModelState::kReady) {
      entry.reason = absl::StrCat(kReloadFailed, error);
      serving = true;
    }
  }
  if (serving) {
    RepositoryLog().error("failed to reload {}, still serving the previous load: {}", found.name,
                          error);
    return;
  }
  RepositoryLog().error("failed to load {}: {}", found.name, error);
  // Without a config the versions to serve are unknown: one entry tells why. Versions
  // still draining stay listed until they are gone.
  std::erase_if(model.versions, [](const auto& item) { return item.second.selected; });
  VersionEntry& entry = model.versions[0];
  entry.state = ModelState::kUnavailable;
  entry.reason = error;
}

void ModelRepository::RunLoads(std::vector<LoadJob>& jobs) {
  absl::BlockingCounter done(static_cast<int>(jobs.size()));
  for (LoadJob& job : jobs) {
    pool_->Submit([this, &job, &done] {
      absl::StatusOr<std::unique_ptr<ServableModel>> servable = LoadVersion(job.request);
      if (servable.ok()) {
        job.result = MakeHandle(*std::move(servable));
      } else {
        job.result = servable.status();
      }
      done.DecrementCount();
    });
  }
  done.Wait();
}

void ModelRepository::SwapInLocked(std::vector<LoadJob>& jobs, std::vector<std::string>& errors,
                                   Released& released) {
  for (LoadJob& job : jobs) {
    const std::string& name = job.request.name;
    const int64_t version = job.request.version;
    auto model = models_.find(name);
    if (model == models_.end()) continue;
    VersionEntry& entry = model->second.versions[version];
    entry.attempted = job.signature;
    if (job.result.ok()) {
      if (entry.servable != nullptr) {
        RetireLocked(name, version, entry, RetireKind::kReplaced, released);
      }
      entry.servable = *std::move(job.result);
      entry.state = ModelState::kReady;
      entry.reason.clear();
      continue;
    }
    const std::string error(job.result.status().message());
    errors.push_back(absl::StrCat("model '", name, "' version ", version, ": ", error));
    if (entry.servable != nullptr) {
      entry.reason = absl::StrCat(kReloadFailed, error);
    } else {
      entry.state = ModelState::kUnavailable;
      entry.reason = error;
    }
  }
}

std::vector<std::string> ModelRepository::RetireDeselectedLocked(
    const std::vector<std::pair<std::string, int64_t>>& deselected, Released& released) {
  std::vector<std::string> unloading;
  for (const auto& [name, version] : deselected) {
    auto model = models_.find(name);
    if (model == models_.end()) continue;
    auto entry = model->second.versions.find(version);
    if (entry == model->second.versions.end() || !entry->second.selected) continue;
    if (entry->second.servable != nullptr) {
      unloading.push_back(absl::StrCat(name, " version ", version));
      RetireLocked(name, version, entry->second, RetireKind::kForget, released);
      entry->second.selected = false;
    } else {
      model->second.versions.erase(entry);
    }
  }
  return unloading;
}

}  // namespace seqserve
