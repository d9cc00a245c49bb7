// The scheduler of one model version: a dynamic batcher (BatchQueue) feeding a pool of
// workers. Each worker is a thread with its own Executor (oneDNN stream, activation arena,
// scratchpad) running the model's shared, read-only plans with `intra_op_threads` OpenMP
// threads. A batch's inputs are gathered into the worker's reusable buffer (a lone task
// runs straight from its own buffer), its outputs scattered back, so every caller gets
// exactly its own rows. Tasks are finished (InferTask::Finish) on worker threads, or on
// the caller's thread when Enqueue rejects them. Thread-safe: every method may be called
// from any thread, except that the destructor must not race with other calls.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "core/model.h"
#include "server/scheduling/batch_queue.h"
#include "server/scheduling/clock.h"
#include "server/scheduling/infer_task.h"
#include "server/scheduling/model_stats.h"

namespace seqserve {

struct SchedulerOptions {
  // Names the model in error messages ("queue full: ... for model 'lenet'").
  std::string model_name;
  BatchPolicy batching;
  // Workers in the pool (Triton's instance_group count).
  int instance_count = 1;
  // Timeout applied to tasks without an earlier deadline, 0 = none.
  int64_t default_timeout_us = 0;
};

class Scheduler {
 public:
  // `model` was loaded with ModelOptions.num_threads = the intra-op threads per worker.
  // `clock` must outlive the scheduler (nullptr: the steady clock). Starts the workers;
  // INVALID_ARGUMENT when the options are out of range, RESOURCE_EXHAUSTED when a thread
  // cannot start, INTERNAL when oneDNN cannot make a worker's stream.
  static absl::StatusOr<std::unique_ptr<Scheduler>> Create(std::shared_ptr<Model> model,
                                                           const SchedulerOptions& options,
                                                           const Clock* clock = nullptr);
  ~Scheduler();  // Stop()s

  // Takes the task and finishes it exactly once: with the result, or at once (on this
  // thread) with RESOURCE_EXHAUSTED (queue full) or UNAVAILABLE (stopping). Later,
  // DEADLINE_EXCEEDED or CANCELLED when it is dropped before compute, or the error of its
  // batch's plan or run. With default_timeout_us, its deadline_us becomes at most
  // now + default_timeout_us.
  void Enqueue(std::unique_ptr<InferTask> task);

  // Tasks queued, and tasks queued or running.
  size_t QueueDepth() const;
  // Queued tasks whose callers cancelled; a worker drops them before computing.
  size_t QueuedCancelled() const;
  int64_t InflightCount() const;

  // From now on batches are sent without waiting for their queue delay (the version is
  // being retired: no one will add to its queue for long). Tasks are still accepted.
  void Flush();

  // Stops taking tasks (later Enqueues get UNAVAILABLE), runs every queued one without
  // waiting for batching delays, and joins the workers. Idempotent; blocks until done.
  // Not from inside a task's Finish (a worker cannot join itself).
  void Stop();

  const ModelStats& stats() const { return stats_; }
  // Front ends record the requests they reject after finding this version.
  ModelStats& stats() { return stats_; }
  const Model& model() const { return *model_; }

 private:
  struct Worker;  // a worker's Executor and reusable buffers (defined in scheduler.cc)
  using Batch = std::vector<std::unique_ptr<InferTask>>;

  Scheduler(std::shared_ptr<Model> model, const SchedulerOptions& options, const Clock* clock);
  void WorkerLoop(Worker& worker, int index);
  // Finishes tasks the queue dropped at `now_us` with CANCELLED or DEADLINE_EXCEEDED.
  void FinishDropped(Batch& dropped, int64_t now_us);
  // Runs one batch taken at `start_us` and finishes each of its tasks (each entry is reset
  // once its task is finished; an exception leaves the unfinished ones in place).
  void RunBatch(Worker& worker, Batch& batch, int64_t start_us);
  // Finishes every task still in `batch` with `status` (not OK).
  void FailBatch(Batch& batch, const absl::Status& status);
  // Finishes `task` with `status` (not OK) after recording the failure.
  void Fail(std::unique_ptr<InferTask> task, const absl::Status& status, int64_t now_us);

  std::shared_ptr<Model> model_;
  const SchedulerOptions options_;
  const Clock* clock_;  // outlives the scheduler (see Create)
  ModelStats stats_;

  mutable absl::Mutex mu_;
  absl::CondVar work_;  // signalled when a task arrives or stopping begins
  BatchQueue queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool flushing_ ABSL_GUARDED_BY(mu_) = false;
  // Tasks out of the queue and not yet finished: raised under mu_ as they leave the queue
  // (so InflightCount never misses one), lowered just before each Finish.
  std::atomic<int64_t> unfinished_{0};

  absl::Mutex join_mu_;  // serialises Stop's joins
  std::vector<std::unique_ptr<Worker>> worker_states_;  // one per thread, made by Create
  std::vector<std::thread> threads_;  // started by Create, joined by Stop
};

}  // namespace seqserve
