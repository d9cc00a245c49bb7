#include "server/repository/model_repository.h"

#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <deque>
#include <exception>
#include <fstream>
#include <iterator>
#include <set>
#include <system_error>
#include <thread>
#include <tuple>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/blocking_counter.h"
#include "common/status_macros.h"
#include "server/config/config_parser.h"
#include "server/config/model_config.h"
#include "server/repository/model_dir.h"
#include "server/logging/named_logger.h"
#include "spdlog/spdlog.h"

namespace seqserve {
namespace {

namespace fs = std::filesystem;

constexpr char kConfigFile[] = "config.pbtxt";
constexpr char kSeqFile[] = "model.seq";
constexpr char kWeightsFile[] = "model.safetensors";
constexpr char kUnloaded[] = "unloaded";
constexpr char kNotLoaded[] = "not loaded";
constexpr char kNoVersions[] = "no version directories";
constexpr char kReloadFailed[] = "reload failed, still serving the previous load: ";
// The text files hashed for change detection are small; a bigger one is compared by size,
// mtime and inode only, so a poll never reads much.
constexpr uint64_t kMaxHashedBytes = uint64_t{1} << 20;

spdlog::logger& Log() {
  static const std::shared_ptr<spdlog::logger> logger = NamedLogger("repository");
  return *logger;
}

uint64_t Fnv1a(std::string_view bytes) {
  uint64_t hash = 14695981039346656037ull;
  for (char c : bytes) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 1099511628211ull;
  }
  return hash;
}

// Model directories by name, each with every root that holds one of that name.
using ModelDirs = std::map<std::string, std::vector<fs::path>>;

// The subdirectories of every root. Hidden ones (".git", editors' temporaries) are not
// models. NOT_FOUND naming a root that is not a directory.
absl::StatusOr<ModelDirs> ScanRoots(const std::vector<fs::path>& roots) {
  ModelDirs dirs;
  for (const fs::path& root : roots) {
    std::error_code ec;
    if (!fs::is_directory(root, ec)) {
      return absl::NotFoundError(
          absl::StrCat("model repository '", root.string(), "' ",
                       fs::exists(root, ec) ? "is not a directory" : "does not exist"));
    }
    for (const fs::directory_entry& entry : fs::directory_iterator(root, ec)) {
      const std::string name = entry.path().filename().string();
      std::error_code entry_ec;
      if (name.empty() || name[0] == '.' || !entry.is_directory(entry_ec)) continue;
      dirs[name].push_back(entry.path());
    }
    if (ec) {
      return absl::UnavailableError(
          absl::StrCat("cannot list model repository '", root.string(), "': ", ec.message()));
    }
  }
  return dirs;
}

absl::Status DuplicateError(const std::string& name, const std::vector<fs::path>& paths) {
  std::vector<std::string> shown;
  for (const fs::path& path : paths) shown.push_back(path.string());
  return absl::InvalidArgumentError(
      absl::StrCat("model '", name, "' is in ", paths.size(),
                   " model repositories: ", absl::StrJoin(shown, " and ")));
}

// As Triton, a model name must be unique across the roots: which one to serve would
// otherwise depend on the order of the flags.
absl::Status CheckUnique(const ModelDirs& dirs) {
  for (const auto& [name, paths] : dirs) {
    if (paths.size() > 1) return DuplicateError(name, paths);
  }
  return absl::OkStatus();
}


// Loads one version up to a running scheduler. Everything that can fail for a bad model
// fails here, at load time, rather than on the first request.
absl::StatusOr<std::unique_ptr<ServableModel>> LoadServable(
    const std::string& name, int64_t version, const fs::path& version_dir,
    const inference::ModelConfig& config, bool config_present, int available_cpus) {
  SEQ_ASSIGN_OR_RETURN(ModelOptions model_options, ModelOptionsFromConfig(config));
  SEQ_ASSIGN_OR_RETURN(std::shared_ptr<Model> model, Model::Load(version_dir, model_options));
  SEQ_ASSIGN_OR_RETURN(ServingConfig serving,
                       CompleteModelConfig(config, name, config_present, *model, available_cpus));
  for (const std::string& warning : serving.warnings) {
    Log().warn("{} version {}: {}", name, version, warning);
  }
  // Compile the plan for one request now, so the first request does not pay for it and a
  // model oneDNN cannot compile fails its load. With free (-1) dims the shape of the first
  // request is unknown, so there is nothing to compile yet.
  Shape warm_up = serving.input_dims;
  if (serving.max_batch_size > 0) warm_up.insert(warm_up.begin(), 1);
  if (std::find(warm_up.begin(), warm_up.end(), int64_t{-1}) == warm_up.end()) {
    absl::StatusOr<std::shared_ptr<const Plan>> plan = model->GetPlan(warm_up);
    if (!plan.ok()) {
      return absl::Status(plan.status().code(),
                          absl::StrCat("warm-up with input ", ShapeToString(warm_up),
                                       " failed: ", plan.status().message()));
    }
  }
  return ServableModel::Create(name, version, std::move(serving), std::move(model));
}

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

// A fixed set of threads running jobs in FIFO order. Jobs still queued when it is destroyed
// run before the threads are joined.
class ModelRepository::WorkPool {
 public:
  static absl::StatusOr<std::unique_ptr<WorkPool>> Create(int threads) {
    std::unique_ptr<WorkPool> pool(new WorkPool());
    try {
      for (int i = 0; i < threads; ++i) {
        pool->threads_.emplace_back([p = pool.get()] { p->Loop(); });
      }
    } catch (const std::system_error& e) {
      // The destructor joins the threads already started.
      return absl::ResourceExhaustedError(
          absl::StrCat("cannot start a model loading thread: ", e.what()));
    }
    return pool;
  }

  ~WorkPool() {
    {
      absl::MutexLock lock(&mu_);
      stopping_ = true;
    }
    for (std::thread& thread : threads_) thread.join();
  }

  // Any thread may submit, including the pool's own. Unlocking wakes a waiting thread (the
  // mutex re-evaluates their conditions), so nothing touches the pool after the unlock.
  void Submit(std::function<void()> job) {
    absl::MutexLock lock(&mu_);
    jobs_.push_back(std::move(job));
  }

 private:
  WorkPool() = default;

  bool HasWorkOrStopping() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return stopping_ || !jobs_.empty();
  }

  void Loop() {
    for (;;) {
      std::function<void()> job;
      {
        absl::MutexLock lock(&mu_);
        mu_.Await(absl::Condition(this, &WorkPool::HasWorkOrStopping));
        if (jobs_.empty()) return;
        job = std::move(jobs_.front());
        jobs_.pop_front();
      }
      job();
    }
  }

  absl::Mutex mu_;
  std::deque<std::function<void()>> jobs_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

struct ModelRepository::LoadJob {
  std::string name;
  int64_t version = 0;
  fs::path version_dir;
  std::shared_ptr<const inference::ModelConfig> config;
  bool config_present = false;
  VersionSignature signature;
  // A READY version is being replaced (it keeps serving until the new one is in).
  bool reload = false;
  absl::StatusOr<std::shared_ptr<ServableModel>> result = absl::UnknownError("not run");
};

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
  SEQ_ASSIGN_OR_RETURN(repository->pool_, WorkPool::Create(std::max(1, options.load_threads)));

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
        Log().error("cannot load model '{}' (--load-model): no model repository holds it", name);
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
  Log().info("model repository ({} control): {} of {} ready",
             ModelControlModeName(options.mode), ready, Plural(versions, "model version"));
  return repository;
}

ModelRepository::FileSignature ModelRepository::ReadSignature(const fs::path& file,
                                                              bool hash_content) {
  FileSignature signature;
  struct stat info {};
  if (::stat(file.c_str(), &info) != 0) return signature;
  signature.exists = true;
  signature.size = static_cast<uint64_t>(info.st_size);
  signature.mtime_ns = static_cast<int64_t>(info.st_mtim.tv_sec) * 1'000'000'000 +
                       static_cast<int64_t>(info.st_mtim.tv_nsec);
  signature.inode = static_cast<uint64_t>(info.st_ino);
  if (hash_content && signature.size <= kMaxHashedBytes) {
    std::ifstream in(file, std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    signature.content_hash = Fnv1a(bytes);
  }
  return signature;
}

ModelRepository::VersionSignature ModelRepository::ReadVersionSignature(
    const FileSignature& config, const fs::path& version_dir) {
  return VersionSignature{config, ReadSignature(version_dir / kSeqFile, /*hash_content=*/true),
                          ReadSignature(version_dir / kWeightsFile, /*hash_content=*/false)};
}

absl::Status ModelRepository::SyncModels(const std::map<std::string, fs::path>& dirs, bool force) {
  // Read the disk first, without the lock: Get must not wait for file I/O.
  struct DiskModel {
    std::string name;
    fs::path dir;
    FileSignature config_signature;
    absl::StatusOr<inference::ModelConfig> config;
    absl::StatusOr<VersionPolicy> policy;
    std::vector<int64_t> versions;
    std::map<int64_t, VersionSignature> signatures;
  };
  std::vector<DiskModel> disk;
  for (const auto& [name, dir] : dirs) {
    DiskModel model{name,
                    dir,
                    ReadSignature(dir / kConfigFile, /*hash_content=*/true),
                    inference::ModelConfig(),
                    VersionPolicy{},
                    ListVersions(dir),
                    {}};
    if (model.config_signature.exists) model.config = ParseModelConfig(dir / kConfigFile);
    model.policy = model.config.ok() ? VersionPolicyFromConfig(*model.config) : model.config.status();
    for (int64_t v : model.versions) {
      model.signatures[v] = ReadVersionSignature(model.config_signature, dir / std::to_string(v));
    }
    disk.push_back(std::move(model));
  }

  std::vector<LoadJob> jobs;
  std::vector<std::string> touched;
  std::vector<std::string> errors;
  std::vector<std::shared_ptr<ServableModel>> released;
  // Versions no longer selected: let go only after the loads, so that the version they
  // make way for is serving first.
  std::vector<std::pair<std::string, int64_t>> deselected;
  {
    absl::MutexLock lock(&mu_);
    for (DiskModel& found : disk) {
      touched.push_back(found.name);
      ModelEntry& model = models_[found.name];
      model.dir = found.dir;
      model.on_disk = true;
      model.wanted = true;

      if (!found.policy.ok()) {
        // An unchanged broken config was reported already: do not log it on every poll.
        if (!force && model.config_attempted == found.config_signature) continue;
        model.config_attempted = found.config_signature;
        const std::string error(found.policy.status().message());
        errors.push_back(absl::StrCat("model '", found.name, "': ", error));
        bool serving = false;
        for (auto& [version, entry] : model.versions) {
          if (entry.selected && entry.state == ModelState::kReady) {
            entry.reason = absl::StrCat(kReloadFailed, error);
            serving = true;
          }
        }
        if (serving) {
          Log().error("failed to reload {}, still serving the previous load: {}", found.name,
                      error);
          continue;
        }
        Log().error("failed to load {}: {}", found.name, error);
        // Without a config the versions to serve are unknown: one entry tells why. Versions
        // still draining stay listed until they are gone.
        std::erase_if(model.versions, [](const auto& item) { return item.second.selected; });
        VersionEntry& entry = model.versions[0];
        entry.state = ModelState::kUnavailable;
        entry.reason = error;
        continue;
      }
      model.config_attempted = found.config_signature;

      auto config = std::make_shared<const inference::ModelConfig>(*found.config);
      const std::vector<int64_t> selected = found.policy->Select(found.versions);
      std::set<int64_t> keep(selected.begin(), selected.end());
      for (int64_t v : selected) {
        VersionEntry& entry = model.versions[v];
        const VersionSignature& signature = found.signatures[v];
        entry.selected = true;
        if (!force && entry.attempted == signature) continue;
        if (entry.servable == nullptr) {
          entry.state = ModelState::kLoading;
          entry.reason.clear();
          ++entry.generation;
        }
        jobs.push_back(LoadJob{found.name, v, found.dir / std::to_string(v), config,
                               found.config_signature.exists, signature, entry.servable != nullptr,
                               absl::UnknownError("not run")});
      }
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
        if (entry.selected && keep.count(version) == 0)
          deselected.emplace_back(found.name, version);
      }
    }
  }
  released.clear();
  NotifyReadiness(touched);

  RunLoads(jobs);

  std::vector<std::string> unloading;
  {
    absl::MutexLock lock(&mu_);
    for (LoadJob& job : jobs) {
      auto model = models_.find(job.name);
      if (model == models_.end()) continue;
      VersionEntry& entry = model->second.versions[job.version];
      entry.attempted = job.signature;
      if (job.result.ok()) {
        if (entry.servable != nullptr) {
          RetireLocked(job.name, job.version, entry, RetireKind::kReplaced, released);
        }
        entry.servable = *std::move(job.result);
        entry.state = ModelState::kReady;
        entry.reason.clear();
        continue;
      }
      const std::string error(job.result.status().message());
      errors.push_back(absl::StrCat("model '", job.name, "' version ", job.version, ": ", error));
      if (entry.servable != nullptr) {
        entry.reason = absl::StrCat(kReloadFailed, error);
      } else {
        entry.state = ModelState::kUnavailable;
        entry.reason = error;
      }
    }
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
  }
  for (const std::string& what : unloading) {
    Log().info("unloading {}: its version policy no longer selects it", what);
  }
  released.clear();
  NotifyReadiness(touched);

  if (errors.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat("load failed for ", absl::StrJoin(errors, "; ")));
}

void ModelRepository::RunLoads(std::vector<LoadJob>& jobs) {
  absl::BlockingCounter done(static_cast<int>(jobs.size()));
  for (LoadJob& job : jobs) {
    pool_->Submit([this, &job, &done] {
      const auto start = std::chrono::steady_clock::now();
      absl::StatusOr<std::unique_ptr<ServableModel>> servable;
      try {
        servable = LoadServable(job.name, job.version, job.version_dir, *job.config,
                                job.config_present, options_.available_cpus);
      } catch (const std::exception& e) {
        // A bad model must not take the server down, whatever it throws.
        servable = absl::InternalError(absl::StrCat("unexpected error while loading: ", e.what()));
      }
      const double ms =
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
              .count();
      if (servable.ok()) {
        const ServingConfig& config = (*servable)->config;
        Log().info("{} {} version {} in {:.1f} ms: {} x {}, {}", job.reload ? "reloaded" : "loaded",
                   job.name, job.version, ms,
                   Plural(config.scheduler_options.instance_count, "worker"),
                   Plural(config.model_options.num_threads, "thread"),
                   config.max_batch_size > 0 ? absl::StrCat("max batch ", config.max_batch_size)
                                             : std::string("no batching"));
        job.result = MakeHandle(*std::move(servable));
      } else {
        if (job.reload) {
          Log().error("failed to reload {} version {}, still serving the previous load: {}",
                      job.name, job.version, std::string(servable.status().message()));
        } else {
          Log().error("failed to load {} version {}: {}", job.name, job.version,
                      std::string(servable.status().message()));
        }
        job.result = servable.status();
      }
      done.DecrementCount();
    });
  }
  done.Wait();
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
                                   std::vector<std::shared_ptr<ServableModel>>& released) {
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
    Log().debug("released the previous load of {} version {}", name, version);
  } else {
    Log().info("unloaded {} version {}", name, version);
  }
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

absl::Status ModelRepository::Load(std::string_view name) {
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
  Log().info("loading {} (requested)", it->first);
  return SyncModels({{it->first, it->second.front()}}, /*force=*/true);
}

absl::Status ModelRepository::Unload(std::string_view name) {
  absl::MutexLock control(&control_mu_);
  if (options_.mode == ModelControlMode::kNone) {
    return absl::FailedPreconditionError(
        "model control mode is none: start seqserve with --model-control-mode=explicit to load "
        "or unload models");
  }
  std::vector<uintptr_t> draining;
  std::vector<std::shared_ptr<ServableModel>> released;
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
  Log().info("unloading {} (requested)", std::string(name));
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
  std::vector<std::shared_ptr<ServableModel>> released;
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
    Log().info("unloading {}: its directory is gone from the model repository", name);
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
  std::vector<std::shared_ptr<ServableModel>> released;
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
  if (!names.empty()) Log().info("model repository stopped: every model unloaded");
}

}  // namespace seqserve
