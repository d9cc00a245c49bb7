#include "server/scheduling/scheduler.h"

#include <pthread.h>

#include <algorithm>
#include <cstdio>
#include <exception>
#include <system_error>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "server/logging/named_logger.h"
#include "spdlog/spdlog.h"

namespace seqserve {
namespace {

spdlog::logger& Log() {
  static const std::shared_ptr<spdlog::logger> logger = NamedLogger("scheduler");
  return *logger;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Scheduler>> Scheduler::Create(const SchedulerOptions& options,
                                                             BatchProcessor& processor,
                                                             const Clock* clock) {
  if (options.instance_count < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("instance_group count must be >= 1, got ", options.instance_count));
  }
  if (options.default_timeout_us < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "default_timeout_microseconds must be >= 0, got ", options.default_timeout_us));
  }
  if (options.caller_run_max_us < 0) {
    return absl::InvalidArgumentError(absl::StrCat("caller_run_max_us must be >= 0, got ",
                                                   options.caller_run_max_us));
  }
  if (absl::Status valid = BatchQueue::Validate(options.batching); !valid.ok()) return valid;

  std::unique_ptr<Scheduler> scheduler(
      new Scheduler(options, processor, clock != nullptr ? clock : SteadyClock::Get()));
  try {
    for (int i = 0; i < options.instance_count; ++i) {
      scheduler->threads_.emplace_back([s = scheduler.get(), i] { s->WorkerLoop(i); });
    }
  } catch (const std::system_error& e) {
    // The destructor stops and joins the threads already started.
    return absl::ResourceExhaustedError(absl::StrCat("cannot start worker thread: ", e.what()));
  }
  return scheduler;
}

Scheduler::Scheduler(const SchedulerOptions& options, BatchProcessor& processor,
                     const Clock* clock)
    : options_(options),
      processor_(processor),
      clock_(clock),
      slot_outcomes_(static_cast<size_t>(options.instance_count)),
      queue_(options.batching),
      caller_run_(options.caller_run_max_us, options.batching.max_batch_size > 0) {
  // Slot 0 on top: one slot serves while the load is light.
  for (int slot = options.instance_count - 1; slot >= 0; --slot) free_slots_.push_back(slot);
}

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
    if (!stopping && status.ok()) caller_run_.RecordArrival(now_us);
  }
  if (!stopping && status.ok()) {
    if (options_.caller_run_max_us > 0 && TryRunOnCaller(now_us)) return;
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
  {
    absl::MutexLock lock(&join_mu_);
    for (std::thread& thread : threads_) {
      if (thread.joinable()) thread.join();
    }
  }
  // Batches still running on callers' threads.
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(this, &Scheduler::AllSlotsFree));
}

bool Scheduler::AllSlotsFree() const {
  return free_slots_.size() == static_cast<size_t>(options_.instance_count);
}

void Scheduler::WorkerLoop(int thread_index) {
  char name[16];
  std::snprintf(name, sizeof(name), "seq-worker-%d", thread_index);
  pthread_setname_np(pthread_self(), name);

  mu_.Lock();
  while (true) {
    const int64_t now_us = clock_->NowMicros();
    BatchQueue::Decision decision;
    if (!free_slots_.empty()) {
      if (!handoffs_.empty()) {
        // Already counted in unfinished_ by the caller that took it.
        decision.batch = std::move(handoffs_.front());
        handoffs_.pop_front();
      } else {
        decision = queue_.Take(now_us, /*flush=*/stopping_ || flushing_);
        unfinished_.fetch_add(
            static_cast<int64_t>(decision.batch.size() + decision.dropped.size()),
            std::memory_order_relaxed);
      }
    }
    if (decision.batch.empty() && decision.dropped.empty()) {
      // Nothing to run: with flush, Take only returns nothing when the queue is empty.
      if (stopping_ && queue_.empty() && handoffs_.empty()) break;
      if (free_slots_.empty() || decision.wake_at_us < 0) {
        // A caller returning its slot signals when work is left.
        work_.Wait(&mu_);
      } else {
        work_.WaitWithTimeout(&mu_, absl::Microseconds(decision.wake_at_us - now_us));
      }
      continue;
    }
    const int slot = free_slots_.back();
    free_slots_.pop_back();
    const bool more = !queue_.empty() || !handoffs_.empty();
    mu_.Unlock();
    // Another worker may form the next batch while this one computes.
    if (more) work_.Signal();
    const BatchCost cost = RunDecision(slot, decision, now_us, slot_outcomes_[slot]);
    mu_.Lock();
    RecordCost(cost);
    free_slots_.push_back(slot);
  }
  mu_.Unlock();
}

bool Scheduler::TryRunOnCaller(int64_t now_us) {
  BatchQueue::Decision decision;
  int slot = -1;
  bool more = false;
  {
    absl::MutexLock lock(&mu_);
    // Handed-off batches go first: they are older than anything a caller could take.
    if (stopping_ || free_slots_.empty() || !handoffs_.empty() || caller_run_.PredictNs(1) < 0) {
      return false;
    }
    decision = queue_.Take(now_us, flushing_);
    if (decision.batch.empty() && decision.dropped.empty()) return false;
    unfinished_.fetch_add(static_cast<int64_t>(decision.batch.size() + decision.dropped.size()),
                          std::memory_order_relaxed);
    int64_t rows = 0;
    for (const std::unique_ptr<InferTask>& task : decision.batch) rows += TaskRows(*task);
    if (!decision.batch.empty() && !caller_run_.Allows(rows)) {
      handoffs_.push_back(std::move(decision.batch));
      decision.batch.clear();
    }
    if (!decision.batch.empty()) {
      slot = free_slots_.back();
      free_slots_.pop_back();
    }
    more = !queue_.empty() || !handoffs_.empty();
  }
  if (more) work_.Signal();
  bool can_run = slot >= 0;
  try {
    can_run = can_run && processor_.CanRunOnCaller(decision.batch);
  } catch (const std::exception&) {
    can_run = false;  // a worker runs it, and reports what goes wrong
  }
  if (slot >= 0 && !can_run) {
    // Its plan is not ready: compiling belongs on a worker, not on a front end's thread.
    {
      absl::MutexLock lock(&mu_);
      free_slots_.push_back(slot);
      handoffs_.push_back(std::move(decision.batch));
    }
    decision.batch.clear();
    slot = -1;
    work_.Signal();
  }
  if (slot < 0) {
    FinishDropped(decision.dropped, now_us);
    return true;
  }
  const BatchCost cost = RunDecision(slot, decision, now_us, slot_outcomes_[slot]);
  {
    absl::MutexLock lock(&mu_);
    RecordCost(cost);
    free_slots_.push_back(slot);
    more = !queue_.empty() || !handoffs_.empty();
  }
  if (more) work_.Signal();
  return true;
}

Scheduler::BatchCost Scheduler::RunDecision(int slot, BatchQueue::Decision& decision,
                                            int64_t now_us, std::vector<absl::Status>& outcomes) {
  BatchCost cost;
  try {
    FinishDropped(decision.dropped, now_us);
    if (!decision.batch.empty()) cost = RunBatch(slot, decision.batch, now_us, outcomes);
  } catch (const std::exception& e) {
    const absl::Status status =
        absl::InternalError(absl::StrCat("unexpected error while running a batch: ", e.what()));
    Log().error("model '{}': {}", options_.model_name, std::string(status.message()));
    FailAll(decision.dropped, status);
    FailAll(decision.batch, status);
  }
  return cost;
}

void Scheduler::RecordCost(const BatchCost& cost) {
  if (cost.compute_ns < 0) return;
  queue_.RecordCompute(cost.rows, cost.compute_ns);
  caller_run_.RecordCompute(cost.rows, cost.compute_ns);
}

int64_t Scheduler::TaskRows(const InferTask& task) const {
  const Shape& shape = task.input_shape();
  return options_.batching.max_batch_size > 0 && !shape.empty() ? shape[0] : 1;
}

Scheduler::BatchCost Scheduler::RunBatch(int slot, Batch& batch, int64_t start_us,
                                         std::vector<absl::Status>& outcomes) {
  outcomes.assign(batch.size(), absl::OkStatus());
  const bool measure = options_.batching.adaptive_window || options_.caller_run_max_us > 0;
  BatchCost cost;
  if (measure) {
    for (const std::unique_ptr<InferTask>& task : batch) cost.rows += TaskRows(*task);
  }
  const int64_t begin_ns = measure ? clock_->NowNanos() : 0;
  processor_.ProcessBatch(slot, batch, start_us, outcomes);
  if (measure) {
    const int64_t end_ns = clock_->NowNanos();
    bool ok = true;
    for (const absl::Status& outcome : outcomes) ok = ok && outcome.ok();
    // A failed batch's time says nothing about what the model's batches cost.
    if (ok) cost.compute_ns = std::max<int64_t>(0, end_ns - begin_ns);
  }
  for (size_t i = 0; i < batch.size(); ++i) Finish(std::move(batch[i]), outcomes[i]);
  return cost;
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

void Scheduler::FailAll(Batch& batch, const absl::Status& status) {
  size_t failed = 0;
  const int64_t now_us = clock_->NowMicros();
  for (std::unique_ptr<InferTask>& task : batch) {
    if (task == nullptr) continue;
    Fail(std::move(task), status, now_us);
    ++failed;
  }
  if (failed > 0) {
    Log().error("model '{}': a batch of {} requests failed: {}", options_.model_name, failed,
                std::string(status.message()));
  }
}

void Scheduler::Fail(std::unique_ptr<InferTask> task, const absl::Status& status, int64_t now_us) {
  processor_.TaskFailed(*task, status, now_us);
  Finish(std::move(task), status);
}

void Scheduler::Finish(std::unique_ptr<InferTask> task, const absl::Status& status) {
  unfinished_.fetch_sub(1, std::memory_order_relaxed);
  task->Finish(status);
}

}  // namespace seqserve
