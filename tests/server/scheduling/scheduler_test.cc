// The scheduler driving the server's batch runner over a real tiny model whose every output
// is hand-derivable (tests/util/scheduling_test_util.h): batching, the queue's limits,
// deadlines, cancellation, Flush and Stop, as seen by the tasks and the version's stats.
// Waits are on notifications and counters (with generous timeouts that only turn a bug
// into a failure instead of a hang), never on sleeps; timeouts use a fake clock.
#include "server/scheduling/scheduler.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <deque>
#include <set>
#include <memory>
#include <thread>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "core/model.h"
#include "gtest/gtest.h"
#include "server/scheduling/batch_runner.h"
#include "server/scheduling/model_stats.h"
#include "tests/util/scheduling_test_util.h"

namespace seqserve {
namespace {

using testing::Countdown;
using testing::Expected;
using testing::ExpectOutput;
using testing::FakeClock;
using testing::Gate;
using testing::HandModel;
using testing::MakeTask;
using testing::Rendezvous;
using testing::Result;

SchedulerOptions Options(int64_t max_batch_size, int64_t delay_us, int instances = 1) {
  SchedulerOptions options;
  options.model_name = "linear";
  options.batching.max_batch_size = max_batch_size;
  options.batching.max_queue_delay_us = delay_us;
  options.instance_count = instances;
  return options;
}

// What ServableModel::Create assembles: the stats, the runner that records them, and the
// scheduler that hands the runner its batches (declared last: stopped first).
struct Pipeline {
  ModelStats stats;
  std::unique_ptr<BatchRunner> runner;
  std::unique_ptr<Scheduler> scheduler;
};

std::unique_ptr<Pipeline> MakePipeline(const SchedulerOptions& options,
                                       const Clock* clock = nullptr) {
  auto pipeline = std::make_unique<Pipeline>();
  BatchRunnerOptions runner_options;
  runner_options.model_name = options.model_name;
  runner_options.workers = options.instance_count;
  runner_options.batching = options.batching.max_batch_size > 0;
  auto runner = BatchRunner::Create(HandModel(), runner_options, pipeline->stats, clock);
  EXPECT_TRUE(runner.ok()) << runner.status();
  if (!runner.ok()) return nullptr;
  pipeline->runner = std::move(*runner);
  auto scheduler = Scheduler::Create(options, *pipeline->runner, clock);
  EXPECT_TRUE(scheduler.ok()) << scheduler.status();
  if (!scheduler.ok()) return nullptr;
  pipeline->scheduler = std::move(*scheduler);
  return pipeline;
}

// A processor for tests that must never reach one.
class UnusedProcessor final : public BatchProcessor {
 public:
  void ProcessBatch(int, std::span<const std::unique_ptr<InferTask>>, int64_t,
                    std::span<absl::Status>) override {
    ADD_FAILURE() << "ProcessBatch called";
  }
  void TaskFailed(const InferTask&, const absl::Status&, int64_t) override {
    ADD_FAILURE() << "TaskFailed called";
  }
};

// Enqueues a gate task and returns once a worker holds it.
void HoldWorker(Scheduler& scheduler, Gate& gate, Result* result, Countdown* done) {
  auto task = MakeTask({1, 2}, {0, 0}, result, done);
  task->gate = &gate;
  scheduler.Enqueue(std::move(task));
  gate.entered.WaitForNotification();
}

TEST(Scheduler, ConcurrentCallersEachGetTheirOwnRows) {
  constexpr int kThreads = 8;
  constexpr int kPerThread = 8;
  constexpr int kTasks = kThreads * kPerThread;
  auto pipeline = MakePipeline(Options(8, 500, /*instances=*/2));
  ASSERT_NE(pipeline, nullptr);
  Scheduler& scheduler = *pipeline->scheduler;
  std::vector<Result> results(kTasks);
  std::vector<std::vector<float>> inputs(kTasks);
  int64_t total_rows = 0;
  for (int id = 0; id < kTasks; ++id) {
    const int rows = id % 3 == 0 ? 2 : 1;
    total_rows += rows;
    for (int r = 0; r < rows; ++r) {
      inputs[id].push_back(static_cast<float>(id) * 0.25f - 8 + static_cast<float>(r));
      inputs[id].push_back(static_cast<float>(id % 5) - 2 - 0.5f * static_cast<float>(r));
    }
  }
  Countdown done(kTasks);
  std::vector<std::thread> callers;
  for (int t = 0; t < kThreads; ++t) {
    callers.emplace_back([&, t] {
      for (int j = 0; j < kPerThread; ++j) {
        const int id = t * kPerThread + j;
        const int64_t rows = static_cast<int64_t>(inputs[id].size() / 2);
        scheduler.Enqueue(MakeTask({rows, 2}, inputs[id], &results[id], &done));
      }
    });
  }
  for (std::thread& caller : callers) caller.join();
  ASSERT_TRUE(done.Wait());
  for (int id = 0; id < kTasks; ++id) {
    SCOPED_TRACE(id);
    ExpectOutput(results[id], {static_cast<int64_t>(inputs[id].size() / 2), 2}, inputs[id]);
    EXPECT_EQ(results[id].finish_calls, 1);
  }
  const ModelStats& stats = pipeline->stats;
  EXPECT_EQ(stats.success.count.load(), static_cast<uint64_t>(kTasks));
  EXPECT_EQ(stats.queue.count.load(), static_cast<uint64_t>(kTasks));
  EXPECT_EQ(stats.fail.count.load(), 0u);
  EXPECT_EQ(stats.inference_count.load(), static_cast<uint64_t>(total_rows));
  uint64_t executions = 0;
  for (const auto& [size, batch] : stats.BatchStats()) {
    EXPECT_LE(size, 8);
    executions += batch.executions;
  }
  EXPECT_EQ(executions, stats.execution_count.load());
  EXPECT_EQ(scheduler.InflightCount(), 0);
}

TEST(Scheduler, QueuedTasksAreBatchedWhileTheWorkerIsBusy) {
  constexpr int kTasks = 10;
  auto pipeline = MakePipeline(Options(16, 0));
  ASSERT_NE(pipeline, nullptr);
  Scheduler& scheduler = *pipeline->scheduler;
  Gate gate;
  Result gate_result;
  Countdown gate_done(1);
  HoldWorker(scheduler, gate, &gate_result, &gate_done);

  std::vector<Result> results(kTasks);
  std::vector<std::vector<float>> inputs(kTasks);
  Countdown done(kTasks);
  for (int i = 0; i < kTasks; ++i) {
    inputs[i] = {static_cast<float>(i) - 4, static_cast<float>(i % 3) - 1};
    scheduler.Enqueue(MakeTask({1, 2}, inputs[i], &results[i], &done));
  }
  EXPECT_EQ(scheduler.QueueDepth(), static_cast<size_t>(kTasks));
  EXPECT_EQ(scheduler.InflightCount(), kTasks + 1);
  gate.release.Notify();
  ASSERT_TRUE(gate_done.Wait());
  ASSERT_TRUE(done.Wait());

  ExpectOutput(gate_result, {1, 2}, {0, 0});
  for (int i = 0; i < kTasks; ++i) {
    SCOPED_TRACE(i);
    ExpectOutput(results[i], {1, 2}, inputs[i]);
  }
  const ModelStats& stats = pipeline->stats;
  EXPECT_LT(stats.execution_count.load(), static_cast<uint64_t>(kTasks + 1));
  EXPECT_EQ(stats.execution_count.load(), 2u);  // the gate alone, then the ten together
  EXPECT_EQ(stats.inference_count.load(), static_cast<uint64_t>(kTasks + 1));
  const std::map<int64_t, BatchSizeStats> batches = stats.BatchStats();
  ASSERT_EQ(batches.size(), 2u);
  EXPECT_EQ(batches.at(1).executions, 1u);
  EXPECT_EQ(batches.at(kTasks).executions, 1u);
  EXPECT_EQ(stats.compute_infer.count.load(), static_cast<uint64_t>(kTasks + 1));
}

TEST(Scheduler, FullQueueFailsAtOnceWithResourceExhausted) {
  SchedulerOptions options = Options(4, 0);
  options.batching.max_queue_size = 2;
  auto pipeline = MakePipeline(options);
  ASSERT_NE(pipeline, nullptr);
  Scheduler& scheduler = *pipeline->scheduler;
  Gate gate;
  Result gate_result;
  Countdown gate_done(1);
  HoldWorker(scheduler, gate, &gate_result, &gate_done);

  std::vector<Result> results(3);
  Countdown done(3);
  for (int i = 0; i < 3; ++i) scheduler.Enqueue(MakeTask({1, 2}, {1, 1}, &results[i], &done));
  // The third was refused inside Enqueue, before it returned.
  EXPECT_EQ(results[2].status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(results[2].status.message(), "queue full: 2 requests queued for model 'linear'");
  EXPECT_EQ(results[2].mutable_output_calls, 0);
  gate.release.Notify();
  ASSERT_TRUE(done.Wait());
  ExpectOutput(results[0], {1, 2}, {1, 1});
  ExpectOutput(results[1], {1, 2}, {1, 1});
  EXPECT_EQ(pipeline->stats.FailuresByReason().at("RESOURCE_EXHAUSTED"), 1u);
  ASSERT_TRUE(gate_done.Wait());
}

TEST(Scheduler, DefaultTimeoutExpiresQueuedTasksWithoutComputingThem) {
  FakeClock clock(1'000'000);
  SchedulerOptions options = Options(4, 0);
  options.default_timeout_us = 1000;
  auto pipeline = MakePipeline(options, &clock);
  ASSERT_NE(pipeline, nullptr);
  Scheduler& scheduler = *pipeline->scheduler;
  Gate gate;
  Result gate_result;
  Countdown gate_done(1);
  HoldWorker(scheduler, gate, &gate_result, &gate_done);

  Result plain, earlier, later;
  Countdown done(3);
  scheduler.Enqueue(MakeTask({1, 2}, {1, 1}, &plain, &done));
  auto task = MakeTask({1, 2}, {1, 1}, &earlier, &done);
  task->deadline_us = 1'000'500;  // before the default timeout: kept
  scheduler.Enqueue(std::move(task));
  task = MakeTask({1, 2}, {1, 1}, &later, &done);
  task->deadline_us = 1'005'000;  // after it: shortened
  scheduler.Enqueue(std::move(task));

  clock.Advance(1500);
  gate.release.Notify();
  ASSERT_TRUE(done.Wait());
  for (const Result* result : {&plain, &earlier, &later}) {
    EXPECT_EQ(result->status.code(), absl::StatusCode::kDeadlineExceeded) << result->status;
    EXPECT_EQ(result->status.message(),
              "deadline exceeded before the request was scheduled (waited 1500 us)");
    EXPECT_EQ(result->mutable_output_calls, 0);
  }
  EXPECT_EQ(plain.deadline_us, 1'001'000);
  EXPECT_EQ(earlier.deadline_us, 1'000'500);
  EXPECT_EQ(later.deadline_us, 1'001'000);
  ASSERT_TRUE(gate_done.Wait());
  ExpectOutput(gate_result, {1, 2}, {0, 0});
  const ModelStats& stats = pipeline->stats;
  EXPECT_EQ(stats.execution_count.load(), 1u);  // the gate only
  EXPECT_EQ(stats.FailuresByReason().at("DEADLINE_EXCEEDED"), 3u);
  EXPECT_EQ(stats.fail.count.load(), 3u);
  EXPECT_EQ(stats.fail.ns.load(), 3u * 1500 * 1000);
}

TEST(Scheduler, CancelledTasksFinishCancelledWithoutCompute) {
  auto pipeline = MakePipeline(Options(4, 0));
  ASSERT_NE(pipeline, nullptr);
  Scheduler& scheduler = *pipeline->scheduler;
  Gate gate;
  Result gate_result;
  Countdown gate_done(1);
  HoldWorker(scheduler, gate, &gate_result, &gate_done);

  std::atomic<bool> cancelled{false};
  Result gone, kept;
  Countdown done(2);
  auto task = MakeTask({1, 2}, {1, 1}, &gone, &done);
  task->cancelled = &cancelled;
  scheduler.Enqueue(std::move(task));
  scheduler.Enqueue(MakeTask({1, 2}, {2, -1}, &kept, &done));
  cancelled = true;
  gate.release.Notify();
  ASSERT_TRUE(done.Wait());
  EXPECT_EQ(gone.status.code(), absl::StatusCode::kCancelled) << gone.status;
  EXPECT_EQ(gone.mutable_output_calls, 0);
  ExpectOutput(kept, {1, 2}, {2, -1});
  EXPECT_EQ(pipeline->stats.FailuresByReason().at("CANCELLED"), 1u);
  ASSERT_TRUE(gate_done.Wait());
}

TEST(Scheduler, StopRunsQueuedTasksThenRefusesNewOnes) {
  // A fake clock that never moves: only Stop's flush can send the waiting batch.
  FakeClock clock(1'000'000);
  auto pipeline = MakePipeline(Options(64, 10'000'000), &clock);
  ASSERT_NE(pipeline, nullptr);
  Scheduler& scheduler = *pipeline->scheduler;
  constexpr int kTasks = 5;
  std::vector<Result> results(kTasks);
  Countdown done(kTasks);
  for (int i = 0; i < kTasks; ++i) {
    scheduler.Enqueue(MakeTask({1, 2}, {static_cast<float>(i), 1}, &results[i], &done));
  }
  scheduler.Stop();
  // Stop returned: every queued task has finished.
  ASSERT_TRUE(done.Wait(absl::ZeroDuration()));
  for (int i = 0; i < kTasks; ++i) {
    SCOPED_TRACE(i);
    ExpectOutput(results[i], {1, 2}, {static_cast<float>(i), 1});
  }
  EXPECT_EQ(pipeline->stats.execution_count.load(), 1u);

  Result refused;
  Countdown refused_done(1);
  scheduler.Enqueue(MakeTask({1, 2}, {1, 1}, &refused, &refused_done));
  EXPECT_EQ(refused.status.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(refused.status.message(), "model 'linear' is stopping");
  scheduler.Stop();  // idempotent
}

TEST(Scheduler, FlushSendsWaitingBatchesAtOnceAndStillAcceptsTasks) {
  // A fake clock that never moves: without Flush the batch would wait for its delay forever.
  FakeClock clock(1'000'000);
  auto pipeline = MakePipeline(Options(64, 10'000'000), &clock);
  ASSERT_NE(pipeline, nullptr);
  Scheduler& scheduler = *pipeline->scheduler;
  std::vector<Result> results(3);
  Countdown first(2);
  scheduler.Enqueue(MakeTask({1, 2}, {1, 1}, &results[0], &first));
  scheduler.Enqueue(MakeTask({1, 2}, {2, -1}, &results[1], &first));
  scheduler.Flush();
  ASSERT_TRUE(first.Wait());
  ExpectOutput(results[0], {1, 2}, {1, 1});
  ExpectOutput(results[1], {1, 2}, {2, -1});
  // Still accepting, and still not waiting for the delay.
  Countdown second(1);
  scheduler.Enqueue(MakeTask({1, 2}, {-1, -1}, &results[2], &second));
  ASSERT_TRUE(second.Wait());
  ExpectOutput(results[2], {1, 2}, {-1, -1});
}

TEST(Scheduler, AdaptiveWindowRunsALoneRequestWithoutWaitingForTheDelay) {
  // A fake clock that never moves and a 10 s delay: the fixed window would hold the request
  // until Flush or Stop (see above); the adaptive one has seen no arrivals to wait for.
  FakeClock clock(1'000'000);
  SchedulerOptions options = Options(64, 10'000'000);
  options.batching.adaptive_window = true;
  auto pipeline = MakePipeline(options, &clock);
  ASSERT_NE(pipeline, nullptr);
  Result result;
  Countdown done(1);
  pipeline->scheduler->Enqueue(MakeTask({1, 2}, {3, -1}, &result, &done));
  ASSERT_TRUE(done.Wait());
  ExpectOutput(result, {1, 2}, {3, -1});
  EXPECT_EQ(pipeline->stats.execution_count.load(), 1u);
}

TEST(Scheduler, ARejectedShapeFailsOnlyItsBatchAndServingGoesOn) {
  auto pipeline = MakePipeline(Options(8, 0));
  ASSERT_NE(pipeline, nullptr);
  Scheduler& scheduler = *pipeline->scheduler;
  Gate gate;
  Result gate_result;
  Countdown gate_done(1);
  HoldWorker(scheduler, gate, &gate_result, &gate_done);

  // Queued together, but different non-batch dims: two batches.
  Result bad, good;
  Countdown done(2);
  scheduler.Enqueue(MakeTask({2, 3}, {1, 2, 3, 4, 5, 6}, &bad, &done));
  scheduler.Enqueue(MakeTask({1, 2}, {3, 1}, &good, &done));
  gate.release.Notify();
  ASSERT_TRUE(done.Wait());
  EXPECT_EQ(bad.status.code(), absl::StatusCode::kInvalidArgument) << bad.status;
  EXPECT_NE(bad.status.message().find("0 (Linear)"), absl::string_view::npos) << bad.status;
  ExpectOutput(good, {1, 2}, {3, 1});

  Result after;
  Countdown after_done(1);
  scheduler.Enqueue(MakeTask({2, 2}, {1, 1, -1, -1}, &after, &after_done));
  ASSERT_TRUE(after_done.Wait());
  ExpectOutput(after, {2, 2}, {1, 1, -1, -1});
  EXPECT_EQ(pipeline->stats.FailuresByReason().at("INVALID_ARGUMENT"), 1u);
  ASSERT_TRUE(gate_done.Wait());
}

TEST(Scheduler, TwoWorkersRunConcurrently) {
  // Each task waits in MutableOutput until the other is there too: only two workers
  // running at once get both through.
  auto pipeline = MakePipeline(Options(0, 0, /*instances=*/2));
  ASSERT_NE(pipeline, nullptr);
  Scheduler& scheduler = *pipeline->scheduler;
  Rendezvous rendezvous(2);
  Result a, b;
  Countdown done(2);
  for (Result* result : {&a, &b}) {
    auto task = MakeTask({2}, {1, 1}, result, &done);
    task->rendezvous = &rendezvous;
    scheduler.Enqueue(std::move(task));
  }
  ASSERT_TRUE(done.Wait());
  EXPECT_TRUE(a.met);
  EXPECT_TRUE(b.met);
  ExpectOutput(a, {2}, {1, 1});
  ExpectOutput(b, {2}, {1, 1});
}

TEST(Scheduler, WithoutBatchingEachTaskRunsWithItsWholeShape) {
  auto pipeline = MakePipeline(Options(0, 1000));
  ASSERT_NE(pipeline, nullptr);
  Scheduler& scheduler = *pipeline->scheduler;
  Result matrix, vector;
  Countdown done(2);
  scheduler.Enqueue(MakeTask({3, 2}, {1, 1, -1, -1, 2, -1}, &matrix, &done));
  scheduler.Enqueue(MakeTask({2}, {2, -1}, &vector, &done));
  ASSERT_TRUE(done.Wait());
  ExpectOutput(matrix, {3, 2}, {1, 1, -1, -1, 2, -1});
  EXPECT_EQ(matrix.output, (std::vector<float>{4, 6, 0, 0, 1, 1}));
  ExpectOutput(vector, {2}, {2, -1});
  const ModelStats& stats = pipeline->stats;
  EXPECT_EQ(stats.execution_count.load(), 2u);
  EXPECT_EQ(stats.inference_count.load(), 2u);  // one inference per request
}

TEST(Scheduler, CreateRejectsOptionsOutOfRange) {
  UnusedProcessor unused;
  SchedulerOptions options = Options(4, 0, /*instances=*/0);
  EXPECT_EQ(Scheduler::Create(options, unused).status().code(),
            absl::StatusCode::kInvalidArgument);
  options = Options(4, 0);
  options.batching.preferred_batch_sizes = {8};
  EXPECT_EQ(Scheduler::Create(options, unused).status().code(),
            absl::StatusCode::kInvalidArgument);
  options = Options(4, 0);
  options.default_timeout_us = -1;
  EXPECT_EQ(Scheduler::Create(options, unused).status().code(),
            absl::StatusCode::kInvalidArgument);
  options = Options(4, 0);
  options.caller_run_max_us = -1;
  EXPECT_EQ(Scheduler::Create(options, unused).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// ---- Batches on the caller's thread (SchedulerOptions::caller_run_max_us) ----------------

// A processor that records which thread ran each batch on which slot, fails the test if a
// slot is used by two batches at once, and can advance a fake clock by each batch's
// "compute" time. Outputs are the inputs (the tasks' rows are not what these tests check).
class RecordingProcessor final : public BatchProcessor {
 public:
  explicit RecordingProcessor(bool plan_ready, FakeClock* clock = nullptr,
                              int64_t compute_us = 0)
      : plan_ready_(plan_ready), clock_(clock), compute_us_(compute_us) {}

  void ProcessBatch(int slot, std::span<const std::unique_ptr<InferTask>> batch, int64_t,
                    std::span<absl::Status> outcomes) override {
    {
      absl::MutexLock lock(&mu_);
      threads_.push_back(std::this_thread::get_id());
      if (!busy_slots_.insert(slot).second) ADD_FAILURE() << "slot " << slot << " used twice";
      max_busy_ = std::max(max_busy_, busy_slots_.size());
    }
    if (clock_ != nullptr) clock_->Advance(compute_us_);
    for (size_t i = 0; i < batch.size(); ++i) {
      InferTask& task = *batch[i];
      float* out = task.MutableOutput(task.input_shape());
      if (out == nullptr) {
        outcomes[i] = absl::ResourceExhaustedError("no output buffer");
        continue;
      }
      const auto* in = static_cast<const float*>(task.input_data());
      std::copy(in, in + NumElements(task.input_shape()), out);
    }
    absl::MutexLock lock(&mu_);
    busy_slots_.erase(slot);
  }
  bool CanRunOnCaller(std::span<const std::unique_ptr<InferTask>>) override {
    return plan_ready_;
  }
  void TaskFailed(const InferTask&, const absl::Status&, int64_t) override {}

  std::vector<std::thread::id> threads() const {
    absl::MutexLock lock(&mu_);
    return threads_;
  }
  size_t max_busy() const {
    absl::MutexLock lock(&mu_);
    return max_busy_;
  }

 private:
  const bool plan_ready_;
  FakeClock* const clock_;
  const int64_t compute_us_;
  mutable absl::Mutex mu_;
  std::vector<std::thread::id> threads_ ABSL_GUARDED_BY(mu_);
  std::set<int> busy_slots_ ABSL_GUARDED_BY(mu_);
  size_t max_busy_ ABSL_GUARDED_BY(mu_) = 0;
};

SchedulerOptions CallerRunOptions(int instances = 1) {
  SchedulerOptions options = Options(0, 0, instances);
  options.caller_run_max_us = 1000;
  return options;
}

// Enqueues one task of a model that does not batch and waits until it is finished.
void RunOne(Scheduler& scheduler, Result* result) {
  Countdown done(1);
  scheduler.Enqueue(MakeTask({1, 2}, {1, 2}, result, &done));
  ASSERT_TRUE(done.Wait());
}

// Enqueues lone tasks one after another until one runs on this thread (the worker that
// ran the first may still be returning its slot when the next arrives). Returns how many
// were enqueued; 0 if none ran here within 1000.
int RunUntilOnCaller(Scheduler& scheduler, const RecordingProcessor& processor) {
  for (int n = 1; n <= 1000; ++n) {
    Result result;
    RunOne(scheduler, &result);
    if (processor.threads().back() == std::this_thread::get_id()) return n;
  }
  return 0;
}

TEST(SchedulerCallerRun, OnceABatchIsMeasuredALoneTaskRunsOnTheEnqueuingThread) {
  FakeClock clock(1'000'000);
  RecordingProcessor processor(/*plan_ready=*/true, &clock, /*compute_us=*/20);
  auto scheduler = Scheduler::Create(CallerRunOptions(), processor, &clock);
  ASSERT_TRUE(scheduler.ok()) << scheduler.status();
  // Nothing measured yet: the first goes to a worker, which times it.
  Result first;
  RunOne(**scheduler, &first);
  EXPECT_NE(processor.threads().front(), std::this_thread::get_id());
  ASSERT_GT(RunUntilOnCaller(**scheduler, processor), 0);
  // From then on, with the slot free, each is run, answered and finished before Enqueue
  // returns, on this thread.
  for (float x = 0; x < 5; ++x) {
    Result result;
    (*scheduler)->Enqueue(MakeTask({1, 2}, {x, 4}, &result, nullptr));
    EXPECT_EQ(result.finish_calls, 1);
    ASSERT_TRUE(result.status.ok()) << result.status;
    EXPECT_EQ(result.output, (std::vector<float>{x, 4}));
    EXPECT_EQ(processor.threads().back(), std::this_thread::get_id());
  }
  EXPECT_EQ((*scheduler)->InflightCount(), 0);
}

TEST(SchedulerCallerRun, ABatchWhosePlanIsNotReadyRunsOnAWorker) {
  RecordingProcessor processor(/*plan_ready=*/false);
  auto scheduler = Scheduler::Create(CallerRunOptions(), processor);
  ASSERT_TRUE(scheduler.ok()) << scheduler.status();
  Result first, second;
  RunOne(**scheduler, &first);
  RunOne(**scheduler, &second);
  EXPECT_TRUE(second.status.ok()) << second.status;
  for (std::thread::id thread : processor.threads()) EXPECT_NE(thread, std::this_thread::get_id());
}

TEST(SchedulerCallerRun, ABatchPredictedLongerThanTheBoundRunsOnAWorker) {
  FakeClock clock(1'000'000);
  // Each batch "takes" 2 ms on the fake clock: over the 1 ms bound.
  RecordingProcessor processor(/*plan_ready=*/true, &clock, /*compute_us=*/2000);
  auto scheduler = Scheduler::Create(CallerRunOptions(), processor, &clock);
  ASSERT_TRUE(scheduler.ok()) << scheduler.status();
  Result first, second;
  RunOne(**scheduler, &first);
  RunOne(**scheduler, &second);
  EXPECT_TRUE(second.status.ok()) << second.status;
  for (std::thread::id thread : processor.threads()) EXPECT_NE(thread, std::this_thread::get_id());
}

TEST(SchedulerCallerRun, OffByDefault) {
  RecordingProcessor processor(/*plan_ready=*/true);
  auto scheduler = Scheduler::Create(Options(0, 0), processor);
  ASSERT_TRUE(scheduler.ok()) << scheduler.status();
  for (int i = 0; i < 3; ++i) {
    Result result;
    RunOne(**scheduler, &result);
  }
  for (std::thread::id thread : processor.threads()) EXPECT_NE(thread, std::this_thread::get_id());
}

// Callers and workers share the instance_count slots: never more batches at once than
// slots, never one slot twice, and every task finished exactly once with its own rows.
TEST(SchedulerCallerRun, CallersAndWorkersShareTheSlots) {
  constexpr int kThreads = 6;
  constexpr int kPerThread = 200;
  RecordingProcessor processor(/*plan_ready=*/true);
  auto scheduler = Scheduler::Create(CallerRunOptions(/*instances=*/2), processor);
  ASSERT_TRUE(scheduler.ok()) << scheduler.status();
  std::vector<Result> results(kThreads * kPerThread);
  Countdown done(kThreads * kPerThread);
  std::vector<std::thread> callers;
  for (int t = 0; t < kThreads; ++t) {
    callers.emplace_back([&, t] {
      for (int j = 0; j < kPerThread; ++j) {
        const int id = t * kPerThread + j;
        (*scheduler)->Enqueue(MakeTask({1, 2}, {static_cast<float>(id), 1}, &results[id], &done));
      }
    });
  }
  for (std::thread& caller : callers) caller.join();
  ASSERT_TRUE(done.Wait());
  for (int id = 0; id < kThreads * kPerThread; ++id) {
    ASSERT_EQ(results[id].finish_calls, 1) << id;
    ASSERT_TRUE(results[id].status.ok()) << results[id].status;
    EXPECT_EQ(results[id].output, (std::vector<float>{static_cast<float>(id), 1}));
  }
  EXPECT_LE(processor.max_busy(), 2u);
  size_t on_callers = 0;
  for (std::thread::id thread : processor.threads()) {
    for (const std::thread& caller : callers) on_callers += thread == caller.get_id() ? 1 : 0;
  }
  // Not asserted: how many ran on callers depends on timing.
  RecordProperty("batches_on_callers", static_cast<int>(on_callers));
}

// Stop returns only once a batch running on a caller's thread is done.
TEST(SchedulerCallerRun, StopWaitsForABatchRunningOnACaller) {
  RecordingProcessor processor(/*plan_ready=*/true);
  auto created = Scheduler::Create(CallerRunOptions(), processor);
  ASSERT_TRUE(created.ok()) << created.status();
  Scheduler& scheduler = **created;
  ASSERT_GT(RunUntilOnCaller(scheduler, processor), 0);

  // A caller runs a task that holds the only slot at its gate.
  Gate gate;
  Result held;
  std::thread caller([&] {
    auto task = MakeTask({1, 2}, {5, 6}, &held, nullptr);
    task->gate = &gate;
    scheduler.Enqueue(std::move(task));
  });
  gate.entered.WaitForNotification();
  EXPECT_EQ(processor.threads().back(), caller.get_id());

  absl::Notification stopped;
  std::thread stopper([&] {
    scheduler.Stop();
    stopped.Notify();
  });
  // Once Enqueue refuses, Stop has begun; tasks queued before then wait for the slot.
  std::deque<Result> probes;
  while (true) {
    Result& probe = probes.emplace_back();
    scheduler.Enqueue(MakeTask({1, 2}, {0, 0}, &probe, nullptr));
    if (probe.finish_calls == 1 && absl::IsUnavailable(probe.status)) break;
    std::this_thread::yield();
  }
  EXPECT_FALSE(stopped.HasBeenNotified());
  EXPECT_EQ(held.finish_calls, 0);
  gate.release.Notify();
  caller.join();
  stopper.join();
  EXPECT_TRUE(held.status.ok()) << held.status;
  for (const Result& probe : probes) {
    EXPECT_EQ(probe.finish_calls, 1);
    EXPECT_TRUE(probe.status.ok() || absl::IsUnavailable(probe.status)) << probe.status;
  }
}

}  // namespace
}  // namespace seqserve
