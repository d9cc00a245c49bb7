#include "server/scheduling/batch_runner.h"

#include <malloc.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/byte_size.h"
#include "core/engine.h"
#include "core/executor.h"
#include "server/logging/named_logger.h"
#include "server/scheduling/heap_trimmer.h"
#include "server/tracing/request_trace.h"
#include "spdlog/spdlog.h"

namespace seqserve {
namespace {

uint64_t NanosBetween(int64_t start_ns, int64_t end_ns) {
  return end_ns > start_ns ? static_cast<uint64_t>(end_ns - start_ns) : 0;
}

// Microseconds as nanoseconds, never negative.
uint64_t MicrosToNanos(int64_t us) {
  return static_cast<uint64_t>(std::max<int64_t>(0, us)) * 1000;
}

// Elements per row: the product of the dims after the batch dim.
int64_t RowElements(const Shape& shape) {
  int64_t n = 1;
  for (size_t i = 1; i < shape.size(); ++i) n *= shape[i];
  return n;
}

// The plan's input for `batch` in `shape`: a lone task's own shape, or the tasks' rows
// stacked along dim 0 (`batching`). Returns the rows.
int64_t StackedShape(std::span<const std::unique_ptr<InferTask>> batch, bool batching,
                     Shape& shape) {
  shape = batch.front()->input_shape();
  int64_t rows = batching && !shape.empty() ? shape[0] : 1;
  if (batch.size() > 1) {
    rows = 0;
    for (const std::unique_ptr<InferTask>& task : batch) rows += task->input_shape()[0];
    shape[0] = rows;
  }
  return rows;
}

// A task could not make room for its output (MutableOutput returned nullptr).
absl::Status NoOutputBuffer(const Shape& shape) {
  return absl::ResourceExhaustedError(
      absl::StrCat("no room for the output of shape ", ShapeToString(shape), " (",
                   FormatBytes(static_cast<uint64_t>(NumElements(shape)) * sizeof(float)), ")"));
}

spdlog::logger& Log() {
  static const std::shared_ptr<spdlog::logger> logger = NamedLogger("scheduler");
  return *logger;
}

}  // namespace

struct BatchRunner::Worker {
  explicit Worker(const dnnl::engine& engine) : executor(engine) {}

  Executor executor;
  AlignedBuffer input;      // a gathered batch's input
  AlignedBuffer output;     // a batch's output before it is scattered
  Shape batch_shape;        // reused so a batch allocates nothing here
  Shape task_output_shape;  // likewise, for each task's slice of the output
};

absl::StatusOr<std::unique_ptr<BatchRunner>> BatchRunner::Create(std::shared_ptr<Model> model,
                                                                 const BatchRunnerOptions& options,
                                                                 ModelStats& stats,
                                                                 const Clock* clock) {
  if (model == nullptr) return absl::InvalidArgumentError("a batch runner needs a model");
  if (options.workers < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("a batch runner needs at least one worker, got ", options.workers));
  }
  std::unique_ptr<BatchRunner> runner(new BatchRunner(
      std::move(model), options, stats, clock != nullptr ? clock : SteadyClock::Get()));
  try {
    for (int i = 0; i < options.workers; ++i) {
      runner->workers_.push_back(std::make_unique<Worker>(CpuEngine()));
    }
  } catch (const dnnl::error& e) {
    return absl::InternalError(absl::StrCat("cannot create a worker's oneDNN stream: ", e.what()));
  }
  return runner;
}

BatchRunner::BatchRunner(std::shared_ptr<Model> model, const BatchRunnerOptions& options,
                         ModelStats& stats, const Clock* clock)
    : model_(std::move(model)), options_(options), stats_(stats), clock_(clock) {}

BatchRunner::~BatchRunner() = default;

void BatchRunner::ProcessBatch(int worker_index, std::span<const std::unique_ptr<InferTask>> batch,
                               int64_t start_us, std::span<absl::Status> outcomes) {
  Worker& worker = *workers_.at(static_cast<size_t>(worker_index));
  RunBatch(worker, batch, start_us, outcomes);
  TrimWorker(worker);
}

size_t BatchRunner::worker_memory_bytes(int worker_index) const {
  const Worker& worker = *workers_.at(static_cast<size_t>(worker_index));
  return worker.executor.workspace_bytes() + worker.input.size() + worker.output.size();
}

void BatchRunner::TrimWorker(Worker& worker) {
  const int64_t retain = options_.worker_retain_bytes;
  const size_t held =
      worker.executor.workspace_bytes() + worker.input.size() + worker.output.size();
  if (retain <= 0 || held <= static_cast<size_t>(retain)) return;
  worker.executor.ReleaseWorkspace();
  worker.input.Release();
  worker.output.Release();
  // Large blocks were mapped and are unmapped on free; what glibc carved from its heaps
  // (below its mmap threshold) stays resident until trimmed.
  malloc_trim(0);
  // What the batch's callers free after their replies are sent goes later.
  RequestHeapTrim();
  Log().debug("model '{}': a worker let go of {} after an outsized batch (it keeps at most {})",
              options_.model_name, FormatBytes(held), FormatBytes(static_cast<uint64_t>(retain)));
}

void BatchRunner::RunBatch(Worker& worker, std::span<const std::unique_ptr<InferTask>> batch,
                           int64_t start_us, std::span<absl::Status> outcomes) {
  const int64_t start_ns = clock_->NowNanos();
  InferTask& head = *batch.front();

  Shape& batch_shape = worker.batch_shape;
  const int64_t rows = StackedShape(batch, options_.batching, batch_shape);
  const DType dtype = head.input_dtype();
  absl::StatusOr<std::shared_ptr<const Plan>> plan = model_->GetPlan(batch_shape, dtype);
  if (!plan.ok()) return FailBatch(batch, plan.status(), outcomes);
  const Shape& output_shape = (*plan)->output_shape();

  // Before anything runs: the plan knows what its activations and scratchpad take.
  const size_t workspace = Executor::WorkspaceBytes(**plan);
  const int64_t max_workspace = options_.max_activation_bytes;
  if (max_workspace > 0 && workspace > static_cast<size_t>(max_workspace)) {
    if (batch.size() > 1) {
      // Together too large; each alone may fit (and is checked again).
      for (size_t i = 0; i < batch.size(); ++i) {
        RunBatch(worker, batch.subspan(i, 1), start_us, outcomes.subspan(i, 1));
      }
      return;
    }
    return FailBatch(batch,
                     absl::ResourceExhaustedError(absl::StrCat(
                         "input ", ShapeToString(batch_shape), " needs ", FormatBytes(workspace),
                         " of activations and scratchpad; ",
                         LimitText(static_cast<uint64_t>(max_workspace),
                                   "--max-activation-bytes"))),
                     outcomes);
  }

  int64_t gathered_ns = 0;
  int64_t ran_ns = 0;
  if (batch.size() == 1) {
    // Straight from the task's input into its output: no copies.
    float* output = head.MutableOutput(output_shape);
    if (output == nullptr) {
      return FailBatch(batch, NoOutputBuffer(output_shape), outcomes);
    }
    gathered_ns = clock_->NowNanos();
    const absl::Status run =
        worker.executor.Run(**plan, TensorView{dtype, batch_shape, head.input_data()}, output);
    ran_ns = clock_->NowNanos();
    if (!run.ok()) return FailBatch(batch, run, outcomes);
  } else {
    if (output_shape.empty() || output_shape[0] != rows) {
      return FailBatch(batch,
                       absl::InternalError(absl::StrCat(
                           "the model's output ", ShapeToString(output_shape),
                           " does not keep the batch dim of its input ",
                           ShapeToString(batch_shape), ", so it cannot batch")),
                       outcomes);
    }
    // Gather: rows of the input type's element size (the queue batches one type only).
    const size_t input_row_bytes = static_cast<size_t>(RowElements(batch_shape)) * DTypeSize(dtype);
    worker.input.Reserve(static_cast<size_t>(rows) * input_row_bytes);
    uint8_t* in = worker.input.data();
    for (const std::unique_ptr<InferTask>& task : batch) {
      const size_t n = static_cast<size_t>(task->input_shape()[0]) * input_row_bytes;
      if (n > 0) std::memcpy(in, task->input_data(), n);
      in += n;
    }
    const int64_t output_row = RowElements(output_shape);
    worker.output.Reserve(static_cast<size_t>(rows * output_row) * sizeof(float));
    float* out = reinterpret_cast<float*>(worker.output.data());
    // Run.
    gathered_ns = clock_->NowNanos();
    const absl::Status run =
        worker.executor.Run(**plan, TensorView{dtype, batch_shape, worker.input.data()}, out);
    ran_ns = clock_->NowNanos();
    if (!run.ok()) return FailBatch(batch, run, outcomes);

    // Scatter.
    Shape& task_shape = worker.task_output_shape;
    task_shape = output_shape;
    for (size_t i = 0; i < batch.size(); ++i) {
      InferTask& task = *batch[i];
      const int64_t task_rows = task.input_shape()[0];
      const int64_t n = task_rows * output_row;
      task_shape[0] = task_rows;
      float* task_output = task.MutableOutput(task_shape);
      if (task_output == nullptr) {
        outcomes[i] = NoOutputBuffer(task_shape);
        TaskFailed(task, outcomes[i], clock_->NowMicros());
      } else if (n > 0) {
        std::memcpy(task_output, out, static_cast<size_t>(n) * sizeof(float));
      }
      out += n;
    }
  }
  const int64_t end_ns = clock_->NowNanos();

  const uint64_t input_ns = NanosBetween(start_ns, gathered_ns);
  const uint64_t infer_ns = NanosBetween(gathered_ns, ran_ns);
  const uint64_t output_ns = NanosBetween(ran_ns, end_ns);
  stats_.AddExecution(rows, input_ns, infer_ns, output_ns);
  for (size_t i = 0; i < batch.size(); ++i) {
    if (!outcomes[i].ok()) continue;
    const InferTask& task = *batch[i];
    stats_.queue.Add(MicrosToNanos(start_us - task.enqueue_us));
    stats_.compute_input.Add(input_ns);
    stats_.compute_infer.Add(infer_ns);
    stats_.compute_output.Add(output_ns);
    stats_.success.Add(NanosBetween(task.enqueue_us * 1000, end_ns));
    if (task.trace != nullptr) task.trace->StampCompute(start_ns, gathered_ns, ran_ns, end_ns);
  }
}

bool BatchRunner::CanRunOnCaller(std::span<const std::unique_ptr<InferTask>> batch) {
  // Reused by each calling thread, so the check allocates nothing.
  thread_local Shape shape;
  StackedShape(batch, options_.batching, shape);
  return model_->HasPlan(shape, batch.front()->input_dtype());
}

void BatchRunner::TaskFailed(const InferTask& task, const absl::Status& status, int64_t now_us) {
  stats_.AddFailure(status.code(), MicrosToNanos(now_us - task.enqueue_us));
}

void BatchRunner::FailBatch(std::span<const std::unique_ptr<InferTask>> batch,
                            const absl::Status& status, std::span<absl::Status> outcomes) {
  const int64_t now_us = clock_->NowMicros();
  for (size_t i = 0; i < batch.size(); ++i) {
    outcomes[i] = status;
    TaskFailed(*batch[i], status, now_us);
  }
  // Once per batch, never per request; a rejected shape is the client's error.
  if (absl::IsInternal(status)) {
    Log().error("model '{}': a batch of {} requests failed: {}", options_.model_name, batch.size(),
                std::string(status.message()));
  } else {
    Log().debug("model '{}': a batch of {} requests failed: {}", options_.model_name,
                batch.size(), std::string(status.message()));
  }
}

}  // namespace seqserve
