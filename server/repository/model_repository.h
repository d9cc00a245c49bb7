// The model repository: the lifecycle of every model version — LOADING → READY, or
// UNAVAILABLE with the reason; UNLOADING while its requests drain — driven by what the
// roots hold (model_scan.h), loaded in parallel on the repository's WorkPool through the
// load pipeline (model_loader.h). It applies the version policy, and in `poll` / `explicit`
// control mode picks up new, changed and removed versions or loads and unloads on request.
// A new or changed version is loaded beside the old one and swapped in atomically: requests
// in flight on the old one finish; a failed reload keeps the old version serving and
// reports why. A bad model never stops the others.
//
// Lifetime of a served version: Get hands out shared_ptr handles. A version swapped out or
// unloaded is dropped by the repository, but its Scheduler is stopped only once the last
// handle is gone (on the repository's own load threads, never on a scheduler worker, which
// could not join itself). So a request that got a handle is never refused because a reload
// raced with it. Callers must hold a handle only for the duration of a request: Unload and
// Stop wait until every handle of the versions they unload is released.
//
// Thread-safe. Get and Index only take a short lock; Load, Unload, Poll and Stop are
// serialised (one repository change at a time) and may block for as long as loads take.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "server/repository/model_loader.h"
#include "server/repository/model_scan.h"
#include "server/repository/servable_model.h"
#include "server/repository/thread_budget.h"
#include "server/repository/work_pool.h"

namespace seqserve {

enum class ModelControlMode { kNone, kPoll, kExplicit };
// "none", "poll" or "explicit", as the --model-control-mode flag spells it.
const char* ModelControlModeName(ModelControlMode mode);

// Triton's state names: "LOADING", "READY", "UNLOADING", "UNAVAILABLE".
enum class ModelState { kLoading, kReady, kUnloading, kUnavailable };
const char* ModelStateName(ModelState state);

struct ModelVersionStatus {
  std::string name;
  int64_t version = 0;  // 0 for a model whose versions could not even be listed
  ModelState state = ModelState::kUnavailable;
  std::string reason;  // why UNAVAILABLE (the load error), or a failed reload's error
};

struct RepositoryOptions {
  std::vector<std::filesystem::path> roots;  // --model-repository (repeatable)
  ModelControlMode mode = ModelControlMode::kNone;
  // Explicit mode: the models to load at start (--load-model); "*" loads all.
  std::vector<std::string> startup_models;
  // Threads loading versions in parallel.
  int load_threads = 2;
  // CPUs the process may use, for default worker sizing (server/config/cpu_budget.h).
  int available_cpus = 1;
  // The cap on worker threads across all models (--max-worker-threads); 0:
  // DefaultMaxWorkerThreads(available_cpus).
  int max_worker_threads = 0;
  // What a load may read of model.seq and model.safetensors (core/model.h), and of
  // config.pbtxt; their confine_to is ignored: see allow_symlinks_outside_repository.
  ModelFileLimits file_limits;
  FilePolicy config_file{.max_bytes = uint64_t{1} << 20};
  // false: a model's files are read only if, with every symlink resolved, they lie inside
  // the repository root that holds the model (--allow-symlinks-outside-repository).
  bool allow_symlinks_outside_repository = false;
  // The per-request limits every model gets.
  RequestLimits request_limits;
};

class ModelRepository {
 public:
  // Scans the roots and loads what the mode says (all models in none/poll mode, the
  // startup models in explicit mode), waiting until every load has finished or failed.
  // Fails only when a root directory is missing or two roots hold the same model name.
  static absl::StatusOr<std::unique_ptr<ModelRepository>> Create(const RepositoryOptions& options);
  ~ModelRepository();  // Stop()s

  // The version to serve: `version` 0 means the highest READY version. NOT_FOUND for an
  // unknown model or version; UNAVAILABLE (with the reason) when it is not READY.
  absl::StatusOr<std::shared_ptr<ServableModel>> Get(std::string_view name,
                                                     int64_t version = 0) const;

  // Every known model version (and models that failed before any version was known),
  // ordered by name and version, plus one entry (version 0, UNAVAILABLE, "not loaded") for
  // each model directory in the roots that was never loaded — as Triton's RepositoryIndex.
  std::vector<ModelVersionStatus> Index() const;

  // Explicit and poll mode (FAILED_PRECONDITION in none mode, as Triton): (re)load every
  // version of `name` its policy selects from disk, always, even when unchanged, waiting for
  // the result. NOT_FOUND when no root holds `name`; INVALID_ARGUMENT with the errors when
  // a version fails, which then keeps serving its previous load if it had one.
  // `config_json` (Triton's "config" load parameter): the model's configuration as JSON,
  // used instead of its config.pbtxt for this load; a malformed one is INVALID_ARGUMENT and
  // changes nothing. The next load without it goes back to the file, and so does the next
  // poll in poll mode (the override is of one load, not a change of the repository).
  absl::Status Load(std::string_view name,
                    const std::optional<std::string>& config_json = std::nullopt);
  // Explicit and poll mode: unloads every version of `name`, blocking until their requests
  // have drained (Triton's unload returns at once; blocking lets a caller know the memory
  // is freed). OK for a model that is not loaded, as Triton. In poll mode the model stays
  // unloaded (Poll skips it) until Load(name).
  absl::Status Unload(std::string_view name);

  // Poll mode (FAILED_PRECONDITION otherwise): rescan the roots once (the server calls it
  // every --repository-poll-secs; tests call it directly). Loads new models and versions,
  // reloads changed ones, unloads removed ones and applies a changed version policy.
  // Returns once the loads are done; versions let go drain in the background. A missing
  // root or a model in two roots fails the whole poll and changes nothing.
  absl::Status Poll();

  // Called (outside the repository's lock) whenever a model's readiness may have changed,
  // with the model name and whether any of its versions is READY. Calls never overlap; they
  // come from the thread of Load/Unload/Poll/Stop (calls may repeat a readiness). The listener
  // may call Get and Index, not the methods that change the repository. Stop (and so the
  // destructor) calls it too: what it refers to must outlive the repository.
  void SetReadinessListener(std::function<void(const std::string& name, bool ready)> listener);

  ModelControlMode mode() const { return options_.mode; }

  // Unloads everything, blocking until queued and in-flight requests have drained and every
  // handle from Get is released; later Load/Unload/Poll fail with FAILED_PRECONDITION.
  // Idempotent.
  void Stop();

 private:
  struct VersionEntry {
    ModelState state = ModelState::kUnavailable;
    std::string reason;
    // Chosen by the model's version policy (or named by it but missing on disk). Get finds
    // only selected versions; an unselected one is listed while it drains, then dropped.
    bool selected = true;
    // Set while READY (and while a reload of a READY version is under way).
    std::shared_ptr<ServableModel> servable;
    // The files the last load attempt read: a failed load is retried only once they change.
    std::optional<VersionSignature> attempted;
    // Raised whenever the entry starts draining or loading, so a drain that finishes late
    // leaves a newer state alone.
    uint64_t generation = 0;
  };

  struct ModelEntry {
    std::filesystem::path dir;
    // False once it is gone from disk (poll): dropped when its last version has drained.
    bool on_disk = true;
    // Should be loaded: false after Unload until the next Load (Poll skips it meanwhile).
    bool wanted = true;
    // config.pbtxt as last read, so that an unchanged broken config is not retried.
    std::optional<FileSignature> config_attempted;
    std::map<int64_t, VersionEntry> versions;
  };

  // A servable the repository has let go of, waiting for its last handle.
  enum class RetireKind {
    kReplaced,  // replaced by a reload (or its directory vanished): its entry moved on
    kUnload,    // Unload or Stop: its entry becomes UNAVAILABLE "unloaded"
    kForget,    // removed from disk or no longer selected: its entry is dropped
  };
  struct Retirement {
    std::string name;
    int64_t version = 0;
    uint64_t generation = 0;
    RetireKind kind = RetireKind::kReplaced;
  };

  // One version to load, and what came of it.
  struct LoadJob {
    LoadRequest request;
    // The files the load reads, recorded in the entry whatever the result.
    VersionSignature signature;
    absl::StatusOr<std::shared_ptr<ServableModel>> result = absl::UnknownError("not run");
  };
  // What a sync decided under the lock, to carry out after it.
  struct SyncPlan {
    std::vector<LoadJob> jobs;
    // Models whose readiness may change.
    std::vector<std::string> touched;
    // "model 'm' version 2: <load error>", joined into SyncModels' result.
    std::vector<std::string> errors;
    // Versions no longer selected: let go only after the loads, so that the version they
    // make way for is serving first.
    std::vector<std::pair<std::string, int64_t>> deselected;
  };
  using Released = std::vector<std::shared_ptr<ServableModel>>;

  explicit ModelRepository(const RepositoryOptions& options);

  // Brings the models in `dirs` (name → directory) in line with their files, in four phases:
  // read the disk (no lock: Get must not wait for file I/O); plan (under the lock: which
  // versions are new, failed with other files, or changed — all of them with `force` — and
  // which are no longer selected); load them in parallel while the versions they replace
  // keep serving; swap the loaded ones in and retire the deselected. Waits for the loads, not
  // for drains. The result joins the load errors.
  // `override_config`, when given, replaces the config.pbtxt of every model in `dirs` (Load's
  // config_json, for its one model).
  absl::Status SyncModels(const std::map<std::string, std::filesystem::path>& dirs, bool force,
                          const inference::ModelConfig* override_config = nullptr)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(control_mu_);
  // Plans one model: its entries updated to what is on disk, its loads added to `plan`.
  void PlanModelLocked(const DiskModel& found, bool force, SyncPlan& plan, Released& released)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // A model whose config.pbtxt (or version policy) cannot be read: a READY version keeps
  // serving with the error as its reason; otherwise one entry (version 0) says why.
  void PlanUnreadableConfigLocked(const DiskModel& found, ModelEntry& model, bool force,
                                  SyncPlan& plan) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Runs `jobs` on the pool and waits for all of them.
  void RunLoads(std::vector<LoadJob>& jobs);
  // Swaps each loaded version in (retiring the one it replaces) or records its error.
  void SwapInLocked(std::vector<LoadJob>& jobs, std::vector<std::string>& errors,
                    Released& released) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Retires the deselected versions that serve and drops the others; returns the ones let go
  // of ("lenet version 1"), to log.
  std::vector<std::string> RetireDeselectedLocked(
      const std::vector<std::pair<std::string, int64_t>>& deselected, Released& released)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Makes the handle whose release hands the servable to Destroy.
  std::shared_ptr<ServableModel> MakeHandle(std::unique_ptr<ServableModel> servable);
  // Records `entry`'s servable as retiring with `kind` and moves its handle into
  // `released`, for the caller to drop once it no longer holds mu_.
  void RetireLocked(const std::string& name, int64_t version, VersionEntry& entry, RetireKind kind,
                    Released& released) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // On a load thread, once the last handle is gone: stops (drains) the scheduler, deletes
  // the servable and settles its entry.
  void Destroy(ServableModel* servable);
  // The directory `model_dir`'s files must stay inside (its repository root), or empty when
  // symlinks may lead anywhere.
  std::filesystem::path ConfineRoot(const std::filesystem::path& model_dir) const;
  // Calls the readiness listener for each of `names`.
  void NotifyReadiness(const std::vector<std::string>& names) ABSL_LOCKS_EXCLUDED(mu_);
  bool AnyReadyLocked(std::string_view name) const ABSL_SHARED_LOCKS_REQUIRED(mu_);

  const RepositoryOptions options_;

  // Serialises the operations that change the repository (Load, Unload, Poll, Stop).
  absl::Mutex control_mu_ ABSL_ACQUIRED_BEFORE(listener_mu_);
  absl::Mutex listener_mu_ ABSL_ACQUIRED_BEFORE(mu_);  // held while the listener runs
  std::function<void(const std::string&, bool)> listener_ ABSL_GUARDED_BY(listener_mu_);

  mutable absl::Mutex mu_;
  std::map<std::string, ModelEntry, std::less<>> models_ ABSL_GUARDED_BY(mu_);
  // Keyed by the servable's address, until Destroy has deleted it.
  std::map<uintptr_t, Retirement> retiring_ ABSL_GUARDED_BY(mu_);
  // Servables made and not yet destroyed: Stop waits for zero before it joins the pool.
  int64_t live_servables_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;

  // Runs loads and Destroy. Made by Create; joined by Stop once no servable is left, so a
  // handle's release always finds it.
  std::unique_ptr<WorkPool> pool_;
  // Where every servable reserves its workers' threads (a reservation may outlive it).
  std::unique_ptr<ThreadBudget> thread_budget_;
};

}  // namespace seqserve
