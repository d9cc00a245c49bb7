// The scheduler of one model version: a dynamic batcher (BatchQueue) feeding a pool of
// worker threads. It knows tasks and nothing of the model: what a batch is run by, and how
// outcomes are counted, is the BatchProcessor it is given (the BatchRunner in the server,
// a fake in tests), as TF Serving's shared batch scheduler knows only tasks and a callback.
//
// The scheduler finishes every task exactly once (InferTask::Finish): with the outcome the
// processor gave it, on the thread that ran its batch; with CANCELLED or DEADLINE_EXCEEDED
// when the queue dropped it; or at once, on the caller's thread, when Enqueue refuses it.
//
// Workers and slots: a batch runs on one of instance_count slots (the processor's worker
// index: its executor and buffers), so at most instance_count batches compute at once. The
// pool's threads take a free slot for each batch. With caller_run_max_us, the thread that
// enqueues a task may take a free slot itself and run the batch its task completes, when
// CallerRunPolicy allows it (short, and no batching lost) and its plan is ready
// (BatchProcessor::CanRunOnCaller): a lone request then costs no hand-off to a worker and
// back, which on a small model is most of a request's cost. A batch the caller took but
// should not run is handed to a worker.
// Thread-safe: every method may be called from any thread, except that the destructor must
// not race with other calls.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "server/scheduling/batch_queue.h"
#include "server/scheduling/caller_run_policy.h"
#include "server/scheduling/clock.h"
#include "server/scheduling/infer_task.h"

namespace seqserve {

struct SchedulerOptions {
  // Names the model in error messages ("queue full: ... for model 'lenet'").
  std::string model_name;
  BatchPolicy batching;
  // Workers in the pool (Triton's instance_group count).
  int instance_count = 1;
  // Timeout applied to tasks without an earlier deadline, 0 = none.
  int64_t default_timeout_us = 0;
  // Enqueue may run a batch on the calling thread (see above) when it is predicted to
  // take at most this long (CallerRunPolicy); 0 = never. Only for a model whose plans run
  // on one thread: a caller's thread is not the worker's OpenMP team.
  int64_t caller_run_max_us = 0;
};

// What a Scheduler hands its work to. Both methods are called outside the scheduler's lock
// and must not call back into the scheduler; neither finishes a task (the scheduler does,
// right after).
class BatchProcessor {
 public:
  virtual ~BatchProcessor() = default;

  // Runs `batch` (FIFO order, at least one task; all share their non-batch dims), taken
  // from the queue at `start_us`, on slot `worker` in [0, instance_count), from a worker's
  // or an enqueuing caller's thread: calls with the same slot never overlap. Writes each
  // task's outcome into `outcomes` (as many as tasks, all OK on entry); an OK outcome means
  // the task's output has been written.
  virtual void ProcessBatch(int worker, std::span<const std::unique_ptr<InferTask>> batch,
                            int64_t start_us, std::span<absl::Status> outcomes) = 0;

  // Whether `batch` may run on an enqueuing caller's thread: nothing slow, such as
  // compiling a plan, comes before its compute. Called from any thread.
  virtual bool CanRunOnCaller(std::span<const std::unique_ptr<InferTask>> /*batch*/) {
    return false;
  }

  // `task` is about to be finished with `status` (not OK) at `now_us` without a result:
  // refused by Enqueue, dropped by the queue, or in a batch whose ProcessBatch threw.
  // Called from any thread.
  virtual void TaskFailed(const InferTask& task, const absl::Status& status, int64_t now_us) = 0;
};

class Scheduler {
 public:
  // `processor` and `clock` must outlive the scheduler (`clock` nullptr: the steady clock).
  // Starts the workers; INVALID_ARGUMENT when the options are out of range,
  // RESOURCE_EXHAUSTED when a thread cannot start.
  static absl::StatusOr<std::unique_ptr<Scheduler>> Create(const SchedulerOptions& options,
                                                           BatchProcessor& processor,
                                                           const Clock* clock = nullptr);
  ~Scheduler();  // Stop()s

  // Takes the task and finishes it exactly once: with the result, or at once (on this
  // thread) with RESOURCE_EXHAUSTED (queue full) or UNAVAILABLE (stopping). Later,
  // DEADLINE_EXCEEDED or CANCELLED when it is dropped before compute, or the error of its
  // batch. With default_timeout_us, its deadline_us becomes at most now +
  // default_timeout_us. With caller_run_max_us it may run a batch (this task's, with
  // others) on this thread before it returns. The task may be finished and destroyed
  // before Enqueue returns, so a caller whose task keeps the scheduler's owner alive must
  // hold its own reference until then.
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
  // waiting for batching delays, joins the workers and waits for batches running on
  // callers' threads. Idempotent; blocks until done.
  // Not from inside a task's Finish (a worker cannot join itself).
  void Stop();

 private:
  using Batch = std::vector<std::unique_ptr<InferTask>>;

  Scheduler(const SchedulerOptions& options, BatchProcessor& processor, const Clock* clock);
  void WorkerLoop(int thread_index);
  // After Enqueue queued a task at `now_us`: runs the batch the queue sends now on this
  // thread when a slot is free and the batch is short. False when it did not take one (a
  // worker must be woken).
  bool TryRunOnCaller(int64_t now_us);
  // What a batch cost, for the adaptive window and the caller-run policy (measured only
  // when one of them is on): its rows and the processor's wall time; compute_ns < 0 when
  // not measured or when a task of the batch failed.
  struct BatchCost {
    int64_t rows = 0;
    int64_t compute_ns = -1;
  };
  // Finishes the dropped tasks of `decision` and runs its batch on `slot`; an exception
  // fails them all. What the batch cost, for RecordCost.
  BatchCost RunDecision(int slot, BatchQueue::Decision& decision, int64_t now_us,
                        std::vector<absl::Status>& outcomes);
  // Runs `batch` on `slot` and finishes its tasks with their outcomes (`outcomes` is the
  // running thread's reusable buffer).
  BatchCost RunBatch(int slot, Batch& batch, int64_t start_us,
                     std::vector<absl::Status>& outcomes);
  // Teaches the window and the caller-run policy what a batch cost.
  void RecordCost(const BatchCost& cost) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool AllSlotsFree() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Rows of `task` as a batch counts them: dim 0 when the model batches, else 1.
  int64_t TaskRows(const InferTask& task) const;
  // Finishes tasks the queue dropped at `now_us` with CANCELLED or DEADLINE_EXCEEDED.
  void FinishDropped(Batch& dropped, int64_t now_us);
  // Finishes every task still in `batch` with `status` (not OK).
  void FailAll(Batch& batch, const absl::Status& status);
  // Finishes `task` with `status` (not OK) after the processor has counted it.
  void Fail(std::unique_ptr<InferTask> task, const absl::Status& status, int64_t now_us);
  // Finishes `task` with `status`; every Finish goes through here.
  void Finish(std::unique_ptr<InferTask> task, const absl::Status& status);

  const SchedulerOptions options_;
  BatchProcessor& processor_;  // outlives the scheduler (see Create)
  const Clock* clock_;         // likewise
  // Each slot's outcome buffer, reused from batch to batch by whoever holds the slot.
  std::vector<std::vector<absl::Status>> slot_outcomes_;

  mutable absl::Mutex mu_;
  absl::CondVar work_;  // signalled when a task arrives or stopping begins
  BatchQueue queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool flushing_ ABSL_GUARDED_BY(mu_) = false;
  // Slots not running a batch (a stack: the most recently used, warmest first).
  std::vector<int> free_slots_ ABSL_GUARDED_BY(mu_);
  // Batches a caller took from the queue but left to a worker (oldest first).
  std::deque<Batch> handoffs_ ABSL_GUARDED_BY(mu_);
  // Which batches a caller runs (from arrivals and measured batches).
  CallerRunPolicy caller_run_ ABSL_GUARDED_BY(mu_);
  // Tasks out of the queue and not yet finished: raised under mu_ as they leave the queue
  // (so InflightCount never misses one), lowered just before each Finish.
  std::atomic<int64_t> unfinished_{0};

  absl::Mutex join_mu_;  // serialises Stop's joins
  std::vector<std::thread> threads_;  // started by Create, joined by Stop
};

}  // namespace seqserve
