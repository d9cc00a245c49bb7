#include "server/scheduling/scheduler.h"

#include <pthread.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <exception>
#include <system_error>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "core/engine.h"
#include "core/executor.h"
#include "server/logging/named_logger.h"
#include "spdlog/spdlog.h"

namespace seqserve {
namespace {

uint64_t NanosBetween(int64_t start_ns, int64_t end_ns) {
  return end_ns > start_ns ? static_cast<uint64_t>(end_ns - start_ns) : 0;
}

// Elements per row: the product of the dims after the batch dim.
int64_t RowElements(const Shape& shape) {
  int64_t n = 1;
  for (size_t i = 1; i < shape.size(); ++i) n *= shape[i];
  return n;
}

spdlog::logger& Log() {
  static const std::shared_ptr<spdlog::logger> logger = NamedLogger("scheduler");
  return *logger;
}

}  // namespace

struct Scheduler::Worker {
  explicit Worker(const dnnl::engine& engine) : executor(engine) {}

  Executor executor;
  AlignedBuffer input;      // a gathered batch's input
  AlignedBuffer output;     // a batch's output before it is scattered
  Shape batch_shape;        // reused so a batch allocates nothing here
  Shape task_output_shape;  // likewise, for each task's slice of the output
};

absl::StatusOr<std::unique_ptr<Scheduler>> Scheduler::Create(std::shared_ptr<Model> model,
                                                             const SchedulerOptions& options,
                                                             const Clock* clock) {
  if (model == nullptr) return absl::InvalidArgumentError("scheduler needs a model");
  if (options.instance_count < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("instance_group count must be >= 1, got ", options.instance_count));
  }
  if (options.default_timeout_us < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "default_timeout_microseconds must be >= 0, got ", options.default_timeout_us));
  }
  if (absl::Status valid = BatchQueue::Validate(options.batching); !valid.ok()) return valid;

  std::unique_ptr<Scheduler> scheduler(
      new Scheduler(std::move(model), options, clock != nullptr ? clock : SteadyClock::Get()));
  try {
    for (int i = 0; i < options.instance_count; ++i) {
      scheduler->worker_states_.push_back(std::make_unique<Worker>(CpuEngine()));
    }
    for (int i = 0; i < options.instance_count; ++i) {
      Worker* worker = scheduler->worker_states_[i].get();
      scheduler->threads_.emplace_back(
          [s = scheduler.get(), worker, i] { s->WorkerLoop(*worker, i); });
    }
  } catch (const dnnl::error& e) {
    return absl::InternalError(absl::StrCat("cannot create a worker's oneDNN stream: ", e.what()));
  } catch (const std::system_error& e) {
    // The destructor stops and joins the threads already started.
    return absl::ResourceExhaustedError(absl::StrCat("cannot start worker thread: ", e.what()));
  }
  return scheduler;
}

Scheduler::Scheduler(std::shared_ptr<Model> model, const SchedulerOptions& options,
                     const Clock* clock)
    : model_(std::move(model)), options_(options), clock_(clock), queue_(options.batching) {}

Scheduler::~Scheduler() { Stop(); }

void Scheduler::Enqueue(std::unique_ptr<InferTask> task) {
  const int64_t now_us = clock_->NowMicros();
  if (options_.default_timeout_us > 0) {
    const int64_t deadline_us = now_us + options_.default_timeout_us;
    if (task->deadline_us == 0 || task->deadline_us > deadline_us) task->deadline_us = deadline_us;
  }
  bool stopping = false;
  absl::Status status;
  {
    absl::MutexLock lock(&mu_);
    stopping = stopping_;
    if (!stopping) status = queue_.Push(task, now_us);
  }
  if (!stopping && status.ok()) {
    // Outside the lock, so the woken worker does not block on it at once.
    work_.Signal();
    return;
  }
  const std::string model =
      options_.model_name.empty() ? "model" : absl::StrCat("model '", options_.model_name, "'");
  status = stopping ? absl::UnavailableError(absl::StrCat(model, " is stopping"))
                    : absl::Status(status.code(), absl::StrCat(status.message(), " for ", model));
  task->enqueue_us = now_us;
  unfinished_.fetch_add(1, std::memory_order_relaxed);
  Fail(std::move(task), status, now_us);
}

size_t Scheduler::QueueDepth() const {
  absl::MutexLock lock(&mu_);
  return queue_.size();
}

size_t Scheduler::QueuedCancelled() const {
  absl::MutexLock lock(&mu_);
  return queue_.CancelledCount();
}

int64_t Scheduler::InflightCount() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int64_t>(queue_.size()) + unfinished_.load(std::memory_order_relaxed);
}

void Scheduler::Flush() {
  {
    absl::MutexLock lock(&mu_);
    flushing_ = true;
  }
  work_.SignalAll();
}

void Scheduler::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  work_.SignalAll();
  absl::MutexLock lock(&join_mu_);
  for (std::thread& thread : threads_) {
    if (thread.joinable()) thread.join();
  }
}

void Scheduler::WorkerLoop(Worker& worker, int index) {
  char name[16];
  std::snprintf(name, sizeof(name), "seq-worker-%d", index);
  pthread_setname_np(pthread_self(), name);

  mu_.Lock();
  while (true) {
    const int64_t now_us = clock_->NowMicros();
    BatchQueue::Decision decision = queue_.Take(now_us, /*flush=*/stopping_ || flushing_);
    if (decision.batch.empty() && decision.dropped.empty()) {
      // Nothing to run: with flush, Take only returns nothing when the queue is empty.
      if (stopping_) break;
      if (decision.wake_at_us < 0) {
        work_.Wait(&mu_);
      } else {
        work_.WaitWithTimeout(&mu_, absl::Microseconds(decision.wake_at_us - now_us));
      }
      continue;
    }
    unfinished_.fetch_add(static_cast<int64_t>(decision.batch.size() + decision.dropped.size()),
                          std::memory_order_relaxed);
    const bool more = !queue_.empty();
    mu_.Unlock();
    // Another worker may form the next batch while this one computes.
    if (more) work_.Signal();
    try {
      FinishDropped(decision.dropped, now_us);
      if (!decision.batch.empty()) RunBatch(worker, decision.batch, now_us);
    } catch (const std::exception& e) {
      const absl::Status status =
          absl::InternalError(absl::StrCat("unexpected error while running a batch: ", e.what()));
      Log().error("model '{}': {}", options_.model_name, std::string(status.message()));
      FailBatch(decision.dropped, status);
      FailBatch(decision.batch, status);
    }
    mu_.Lock();
  }
  mu_.Unlock();
}

void Scheduler::FinishDropped(Batch& dropped, int64_t now_us) {
  for (std::unique_ptr<InferTask>& task : dropped) {
    absl::Status status;
    if (task->IsCancelled()) {
      status = absl::CancelledError("request cancelled before it was scheduled");
    } else {
      status = absl::DeadlineExceededError(
          absl::StrCat("deadline exceeded before the request was scheduled (waited ",
                       now_us - task->enqueue_us, " us)"));
    }
    Fail(std::move(task), status, now_us);
  }
}

void Scheduler::RunBatch(Worker& worker, Batch& batch, int64_t start_us) {
  const bool batching = options_.batching.max_batch_size > 0;
  const int64_t start_ns = clock_->NowNanos();
  InferTask& head = *batch.front();

  // The plan's input: a lone task's own shape, or the tasks' rows stacked.
  Shape& batch_shape = worker.batch_shape;
  batch_shape = head.input_shape();
  int64_t rows = batching && !batch_shape.empty() ? batch_shape[0] : 1;
  if (batch.size() > 1) {
    rows = 0;
    for (const std::unique_ptr<InferTask>& task : batch) rows += task->input_shape()[0];
    batch_shape[0] = rows;
  }
  absl::StatusOr<std::shared_ptr<const Plan>> plan = model_->GetPlan(batch_shape);
  if (!plan.ok()) return FailBatch(batch, plan.status());
  const Shape& output_shape = (*plan)->output_shape();

  int64_t gathered_ns = 0;
  int64_t ran_ns = 0;
  if (batch.size() == 1) {
    // Straight from the task's input into its output: no copies.
    float* output = head.MutableOutput(output_shape);
    if (output == nullptr) {
      return FailBatch(batch, absl::InternalError("the request gave no output buffer"));
    }
    gathered_ns = clock_->NowNanos();
    const absl::Status run = worker.executor.Run(**plan, head.input_data(), output);
    ran_ns = clock_->NowNanos();
    if (!run.ok()) return FailBatch(batch, run);
  } else {
    if (output_shape.empty() || output_shape[0] != rows) {
      return FailBatch(batch, absl::InternalError(absl::StrCat(
                                  "the model's output ", ShapeToString(output_shape),
                                  " does not keep the batch dim of its input ",
                                  ShapeToString(batch_shape), ", so it cannot batch")));
    }
    const int64_t input_row = RowElements(batch_shape);
    worker.input.Reserve(static_cast<size_t>(rows * input_row) * sizeof(float));
    float* in = reinterpret_cast<float*>(worker.input.data());
    for (const std::unique_ptr<InferTask>& task : batch) {
      const int64_t n = task->input_shape()[0] * input_row;
      if (n > 0) std::memcpy(in, task->input_data(), static_cast<size_t>(n) * sizeof(float));
      in += n;
    }
    const int64_t output_row = RowElements(output_shape);
    worker.output.Reserve(static_cast<size_t>(rows * output_row) * sizeof(float));
    float* out = reinterpret_cast<float*>(worker.output.data());
    gathered_ns = clock_->NowNanos();
    const absl::Status run =
        worker.executor.Run(**plan, reinterpret_cast<const float*>(worker.input.data()), out);
    ran_ns = clock_->NowNanos();
    if (!run.ok()) return FailBatch(batch, run);

    Shape& task_shape = worker.task_output_shape;
    task_shape = output_shape;
    for (std::unique_ptr<InferTask>& task : batch) {
      const int64_t task_rows = task->input_shape()[0];
      const int64_t n = task_rows * output_row;
      task_shape[0] = task_rows;
      float* task_output = task->MutableOutput(task_shape);
      if (task_output == nullptr) {
        Fail(std::move(task), absl::InternalError("the request gave no output buffer"),
             clock_->NowMicros());
      } else if (n > 0) {
        std::memcpy(task_output, out, static_cast<size_t>(n) * sizeof(float));
      }
      out += n;
    }
  }
  const int64_t end_ns = clock_->NowNanos();

  // Statistics first: a caller woken by Finish sees its request counted.
  const uint64_t input_ns = NanosBetween(start_ns, gathered_ns);
  const uint64_t infer_ns = NanosBetween(gathered_ns, ran_ns);
  const uint64_t output_ns = NanosBetween(ran_ns, end_ns);
  stats_.AddExecution(rows, input_ns, infer_ns, output_ns);
  for (std::unique_ptr<InferTask>& task : batch) {
    if (task == nullptr) continue;
    stats_.queue.Add(static_cast<uint64_t>(std::max<int64_t>(0, start_us - task->enqueue_us)) *
                     1000);
    stats_.compute_input.Add(input_ns);
    stats_.compute_infer.Add(infer_ns);
    stats_.compute_output.Add(output_ns);
    stats_.success.Add(NanosBetween(task->enqueue_us * 1000, end_ns));
    std::unique_ptr<InferTask> done = std::move(task);
    unfinished_.fetch_sub(1, std::memory_order_relaxed);
    done->Finish(absl::OkStatus());
  }
}

void Scheduler::FailBatch(Batch& batch, const absl::Status& status) {
  size_t failed = 0;
  const int64_t now_us = clock_->NowMicros();
  for (std::unique_ptr<InferTask>& task : batch) {
    if (task == nullptr) continue;
    Fail(std::move(task), status, now_us);
    ++failed;
  }
  if (failed == 0) return;
  // Once per batch, never per request; a rejected shape is the client's error.
  if (absl::IsInternal(status)) {
    Log().error("model '{}': a batch of {} requests failed: {}", options_.model_name, failed,
                std::string(status.message()));
  } else {
    Log().debug("model '{}': a batch of {} requests failed: {}", options_.model_name, failed,
                std::string(status.message()));
  }
}

void Scheduler::Fail(std::unique_ptr<InferTask> task, const absl::Status& status, int64_t now_us) {
  stats_.AddFailure(status.code(),
                    static_cast<uint64_t>(std::max<int64_t>(0, now_us - task->enqueue_us)) * 1000);
  unfinished_.fetch_sub(1, std::memory_order_relaxed);
  task->Finish(status);
}

}  // namespace seqserve
