// A fixed set of threads running jobs in FIFO order: the repository's loads and the release
// of the versions it lets go of, and the front ends' load/unload requests (which block for as
// long as a load takes, so they must not run on a protocol's own threads). Jobs still queued
// when the pool is destroyed run before its threads are joined, so a job that must not do
// its work late checks for that itself (see frontend/model_control.h).
// Thread-safe: Submit from any thread, including the pool's own; the destructor must not
// run on one of the pool's threads.
#pragma once

#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace seqserve {

class WorkPool {
 public:
  // `threads` >= 1; `name` names them ("seq-<name>-<i>", at most 15 characters in all) and
  // the error. RESOURCE_EXHAUSTED when a thread cannot start.
  static absl::StatusOr<std::unique_ptr<WorkPool>> Create(int threads, const std::string& name);
  ~WorkPool();  // runs the jobs still queued, then joins

  WorkPool(const WorkPool&) = delete;
  WorkPool& operator=(const WorkPool&) = delete;

  // Queues `job`. Unlocking wakes a waiting thread (the mutex re-evaluates their
  // conditions), so nothing touches the pool after the unlock.
  void Submit(std::function<void()> job);

 private:
  WorkPool() = default;
  bool HasWorkOrStopping() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Loop(const std::string& thread_name);

  absl::Mutex mu_;
  std::deque<std::function<void()>> jobs_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace seqserve
