// Runs a model version's batches for its Scheduler (the BatchProcessor of the server): gathers
// the tasks' inputs into one batch (a lone task runs straight from its own buffer; rows are
// copied by the element size of the input type, floats or ids), gets the model's compiled
// plan for that shape and type, runs it on the worker's Executor, and scatters the
// output rows back, so every caller gets exactly its own rows. Every outcome, run or
// refused, is counted in the version's ModelStats; a task with a trace (InferTask::trace)
// that succeeds gets its batch's compute times stamped on it (the clock's nanoseconds, which
// are the steady clock's in the server, as every trace stamp is).
//
// Each of the scheduler's slots has its own Executor (oneDNN stream, activation arena,
// scratchpad) and gather/scatter buffers here, indexed by the slot ("worker") number, used
// by whichever thread holds the slot: a worker, or a caller running a short batch; the
// model's plans are shared and read-only. Thread-safe as the Scheduler calls it: calls for
// different slots run at once, calls for one slot never overlap.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/model.h"
#include "server/scheduling/clock.h"
#include "server/scheduling/infer_task.h"
#include "server/scheduling/model_stats.h"
#include "server/scheduling/scheduler.h"

namespace seqserve {

struct BatchRunnerOptions {
  // Names the model in log lines.
  std::string model_name;
  // One Executor per scheduler worker (SchedulerOptions::instance_count).
  int workers = 1;
  // The model batches (max_batch_size > 0): dim 0 of every input is its rows, and a batch of
  // several tasks stacks them along it.
  bool batching = false;
  // The activations and scratchpad one execution's plan may need (--max-activation-bytes),
  // checked before the plan runs: a batch over it runs its tasks one by one, and a task
  // over it alone fails with RESOURCE_EXHAUSTED naming both sizes. 0: no limit.
  int64_t max_activation_bytes = 0;
  // What a worker keeps between batches (--worker-retain-bytes): after a batch that needed
  // more (activations, scratchpad, gathered input and output together), the worker frees
  // it all and has the allocator hand it back to the system. 0: keep everything.
  int64_t worker_retain_bytes = 0;
};

class BatchRunner final : public BatchProcessor {
 public:
  // `model` was loaded with ModelOptions.num_threads = the intra-op threads per worker.
  // `stats` and `clock` must outlive the runner (`clock` nullptr: the steady clock; use the
  // scheduler's). INVALID_ARGUMENT for fewer than one worker, INTERNAL when oneDNN cannot
  // make a worker's stream.
  static absl::StatusOr<std::unique_ptr<BatchRunner>> Create(std::shared_ptr<Model> model,
                                                             const BatchRunnerOptions& options,
                                                             ModelStats& stats,
                                                             const Clock* clock = nullptr);
  ~BatchRunner() override;

  // Gather, run, scatter; then the statistics of the batch and of each task (before the
  // scheduler finishes them, so a caller woken by its answer sees itself counted). A plan
  // or run error fails the whole batch; a task that gives no output buffer fails alone. A
  // failed task is never counted as a success.
  void ProcessBatch(int worker, std::span<const std::unique_ptr<InferTask>> batch,
                    int64_t start_us, std::span<absl::Status> outcomes) override;
  // Counts the failure (by status code, with the task's time since it was queued).
  void TaskFailed(const InferTask& task, const absl::Status& status, int64_t now_us) override;
  // True when the batch's plan is compiled already.
  bool CanRunOnCaller(std::span<const std::unique_ptr<InferTask>> batch) override;

  const Model& model() const { return *model_; }
  // Bytes worker `worker` holds between batches: its executor's activations and scratchpad,
  // and its gather and scatter buffers. Only while that worker is not running a batch.
  size_t worker_memory_bytes(int worker) const;

 private:
  struct Worker;  // a worker's Executor and reusable buffers (defined in the .cc)

  BatchRunner(std::shared_ptr<Model> model, const BatchRunnerOptions& options, ModelStats& stats,
              const Clock* clock);
  // ProcessBatch without giving memory back.
  void RunBatch(Worker& worker, std::span<const std::unique_ptr<InferTask>> batch,
                int64_t start_us, std::span<absl::Status> outcomes);
  // After a batch: frees what the worker holds beyond options_.worker_retain_bytes.
  void TrimWorker(Worker& worker);
  // Sets every outcome of the batch to `status` (not OK), counts and logs the failure.
  void FailBatch(std::span<const std::unique_ptr<InferTask>> batch, const absl::Status& status,
                 std::span<absl::Status> outcomes);

  const std::shared_ptr<Model> model_;
  const BatchRunnerOptions options_;
  ModelStats& stats_;   // outlives the runner (see Create)
  const Clock* clock_;  // likewise
  std::vector<std::unique_ptr<Worker>> workers_;  // made by Create, one per worker
};

}  // namespace seqserve
