// The scheduler with a real tiny model: Linear(2, 2) with W = [[1, 2], [3, 4]], b = [1, -1],
// then ReLU, so every expected output is hand-derivable:
//   y = [relu(x0 + 2 x1 + 1), relu(3 x0 + 4 x1 - 1)].
// Waits are on notifications and counters (with generous timeouts that only turn a bug
// into a failure instead of a hang), never on sleeps; timeouts use a fake clock.
#include "server/scheduling/scheduler.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <memory>
#include <thread>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "core/model.h"
#include "gtest/gtest.h"

namespace seqserve {
namespace {

constexpr absl::Duration kGuard = absl::Seconds(60);

std::shared_ptr<Model> HandModel() {
  TensorMap w;
  w["0.weight"] = Tensor({2, 2}, {1, 2, 3, 4});
  w["0.bias"] = Tensor({2}, {1, -1});
  auto model = Model::FromSource("nn.Sequential(nn.Linear(2, 2), nn.ReLU())", "model.seq", &w,
                                 "model.safetensors");
  EXPECT_TRUE(model.ok()) << model.status();
  return *model;
}

// The hand formula for rows of (x0, x1).
std::vector<float> Expected(const std::vector<float>& x) {
  std::vector<float> y;
  for (size_t i = 0; i + 1 < x.size(); i += 2) {
    y.push_back(std::max(0.0f, x[i] + 2 * x[i + 1] + 1));
    y.push_back(std::max(0.0f, 3 * x[i] + 4 * x[i + 1] - 1));
  }
  return y;
}

class FakeClock : public Clock {
 public:
  explicit FakeClock(int64_t now_us) : now_us_(now_us) {}
  int64_t NowMicros() const override { return now_us_.load(); }
  void Advance(int64_t us) { now_us_.fetch_add(us); }

 private:
  std::atomic<int64_t> now_us_;
};

// Counts finished tasks; Wait returns false if they do not all finish in time.
class Countdown {
 public:
  explicit Countdown(int n) : n_(n) {}
  void Done() {
    absl::MutexLock lock(&mu_);
    --n_;
  }
  bool Wait(absl::Duration timeout = kGuard) {
    absl::MutexLock lock(&mu_);
    return mu_.AwaitWithTimeout(absl::Condition(+[](int* n) { return *n <= 0; }, &n_), timeout);
  }

 private:
  absl::Mutex mu_;
  int n_ ABSL_GUARDED_BY(mu_);
};

// Holds a worker inside a task's MutableOutput until the test releases it.
struct Gate {
  absl::Notification entered;
  absl::Notification release;
};

// Tasks that wait in MutableOutput until `n` of them are there at once.
class Rendezvous {
 public:
  explicit Rendezvous(int n) : n_(n) {}
  bool ArriveAndWait() {
    absl::MutexLock lock(&mu_);
    ++arrived_;
    return mu_.AwaitWithTimeout(absl::Condition(this, &Rendezvous::AllArrived), kGuard);
  }

 private:
  bool AllArrived() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return arrived_ >= n_; }
  absl::Mutex mu_;
  int arrived_ ABSL_GUARDED_BY(mu_) = 0;
  const int n_;
};

// What a task saw, kept by the test because the scheduler destroys the task after Finish.
struct Result {
  absl::Status status = absl::UnknownError("not finished");
  Shape output_shape;
  std::vector<float> output;  // the task's output buffer
  int mutable_output_calls = 0;
  int finish_calls = 0;
  int64_t deadline_us = 0;
  bool met = false;  // reached its Rendezvous with the others
};

class TestTask : public InferTask {
 public:
  TestTask(Tensor input, Result* result, Countdown* done)
      : input_(std::move(input)), result_(result), done_(done) {}

  const Shape& input_shape() const override { return input_.shape; }
  const float* input_data() const override { return input_.data.data(); }
  bool IsCancelled() const override { return cancelled != nullptr && cancelled->load(); }

  float* MutableOutput(const Shape& shape) override {
    ++result_->mutable_output_calls;
    if (gate != nullptr) {
      gate->entered.Notify();
      gate->release.WaitForNotification();
    }
    if (rendezvous != nullptr) result_->met = rendezvous->ArriveAndWait();
    result_->output_shape = shape;
    result_->output.assign(static_cast<size_t>(NumElements(shape)), std::nanf(""));
    return result_->output.data();
  }

  void Finish(const absl::Status& status) override {
    result_->status = status;
    result_->deadline_us = deadline_us;
    ++result_->finish_calls;
    done_->Done();
  }

  Gate* gate = nullptr;
  Rendezvous* rendezvous = nullptr;
  const std::atomic<bool>* cancelled = nullptr;

 private:
  Tensor input_;
  Result* result_;
  Countdown* done_;
};

std::unique_ptr<TestTask> MakeTask(Shape shape, std::vector<float> data, Result* result,
                                   Countdown* done) {
  return std::make_unique<TestTask>(Tensor(std::move(shape), std::move(data)), result, done);
}

SchedulerOptions Options(int64_t max_batch_size, int64_t delay_us, int instances = 1) {
  SchedulerOptions options;
  options.model_name = "linear";
  options.batching.max_batch_size = max_batch_size;
  options.batching.max_queue_delay_us = delay_us;
  options.instance_count = instances;
  return options;
}

std::unique_ptr<Scheduler> MakeScheduler(const SchedulerOptions& options,
                                         const Clock* clock = nullptr) {
  auto scheduler = Scheduler::Create(HandModel(), options, clock);
  EXPECT_TRUE(scheduler.ok()) << scheduler.status();
  return scheduler.ok() ? std::move(*scheduler) : nullptr;
}

void ExpectOutput(const Result& result, const Shape& shape, const std::vector<float>& input) {
  ASSERT_TRUE(result.status.ok()) << result.status;
  EXPECT_EQ(result.output_shape, shape);
  EXPECT_EQ(result.output, Expected(input));
}

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
  auto scheduler = MakeScheduler(Options(8, 500, /*instances=*/2));
  ASSERT_NE(scheduler, nullptr);
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
        scheduler->Enqueue(MakeTask({rows, 2}, inputs[id], &results[id], &done));
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
  const ModelStats& stats = scheduler->stats();
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
  EXPECT_EQ(scheduler->InflightCount(), 0);
}

TEST(Scheduler, QueuedTasksAreBatchedWhileTheWorkerIsBusy) {
  constexpr int kTasks = 10;
  auto scheduler = MakeScheduler(Options(16, 0));
  ASSERT_NE(scheduler, nullptr);
  Gate gate;
  Result gate_result;
  Countdown gate_done(1);
  HoldWorker(*scheduler, gate, &gate_result, &gate_done);

  std::vector<Result> results(kTasks);
  std::vector<std::vector<float>> inputs(kTasks);
  Countdown done(kTasks);
  for (int i = 0; i < kTasks; ++i) {
    inputs[i] = {static_cast<float>(i) - 4, static_cast<float>(i % 3) - 1};
    scheduler->Enqueue(MakeTask({1, 2}, inputs[i], &results[i], &done));
  }
  EXPECT_EQ(scheduler->QueueDepth(), static_cast<size_t>(kTasks));
  EXPECT_EQ(scheduler->InflightCount(), kTasks + 1);
  gate.release.Notify();
  ASSERT_TRUE(gate_done.Wait());
  ASSERT_TRUE(done.Wait());

  ExpectOutput(gate_result, {1, 2}, {0, 0});
  for (int i = 0; i < kTasks; ++i) {
    SCOPED_TRACE(i);
    ExpectOutput(results[i], {1, 2}, inputs[i]);
  }
  const ModelStats& stats = scheduler->stats();
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
  auto scheduler = MakeScheduler(options);
  ASSERT_NE(scheduler, nullptr);
  Gate gate;
  Result gate_result;
  Countdown gate_done(1);
  HoldWorker(*scheduler, gate, &gate_result, &gate_done);

  std::vector<Result> results(3);
  Countdown done(3);
  for (int i = 0; i < 3; ++i) scheduler->Enqueue(MakeTask({1, 2}, {1, 1}, &results[i], &done));
  // The third was refused inside Enqueue, before it returned.
  EXPECT_EQ(results[2].status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(results[2].status.message(), "queue full: 2 requests queued for model 'linear'");
  EXPECT_EQ(results[2].mutable_output_calls, 0);
  gate.release.Notify();
  ASSERT_TRUE(done.Wait());
  ExpectOutput(results[0], {1, 2}, {1, 1});
  ExpectOutput(results[1], {1, 2}, {1, 1});
  EXPECT_EQ(scheduler->stats().FailuresByReason().at("RESOURCE_EXHAUSTED"), 1u);
  ASSERT_TRUE(gate_done.Wait());
}

TEST(Scheduler, DefaultTimeoutExpiresQueuedTasksWithoutComputingThem) {
  FakeClock clock(1'000'000);
  SchedulerOptions options = Options(4, 0);
  options.default_timeout_us = 1000;
  auto scheduler = MakeScheduler(options, &clock);
  ASSERT_NE(scheduler, nullptr);
  Gate gate;
  Result gate_result;
  Countdown gate_done(1);
  HoldWorker(*scheduler, gate, &gate_result, &gate_done);

  Result plain, earlier, later;
  Countdown done(3);
  scheduler->Enqueue(MakeTask({1, 2}, {1, 1}, &plain, &done));
  auto task = MakeTask({1, 2}, {1, 1}, &earlier, &done);
  task->deadline_us = 1'000'500;  // before the default timeout: kept
  scheduler->Enqueue(std::move(task));
  task = MakeTask({1, 2}, {1, 1}, &later, &done);
  task->deadline_us = 1'005'000;  // after it: shortened
  scheduler->Enqueue(std::move(task));

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
  const ModelStats& stats = scheduler->stats();
  EXPECT_EQ(stats.execution_count.load(), 1u);  // the gate only
  EXPECT_EQ(stats.FailuresByReason().at("DEADLINE_EXCEEDED"), 3u);
  EXPECT_EQ(stats.fail.count.load(), 3u);
  EXPECT_EQ(stats.fail.ns.load(), 3u * 1500 * 1000);
}

TEST(Scheduler, CancelledTasksFinishCancelledWithoutCompute) {
  auto scheduler = MakeScheduler(Options(4, 0));
  ASSERT_NE(scheduler, nullptr);
  Gate gate;
  Result gate_result;
  Countdown gate_done(1);
  HoldWorker(*scheduler, gate, &gate_result, &gate_done);

  std::atomic<bool> cancelled{false};
  Result gone, kept;
  Countdown done(2);
  auto task = MakeTask({1, 2}, {1, 1}, &gone, &done);
  task->cancelled = &cancelled;
  scheduler->Enqueue(std::move(task));
  scheduler->Enqueue(MakeTask({1, 2}, {2, -1}, &kept, &done));
  cancelled = true;
  gate.release.Notify();
  ASSERT_TRUE(done.Wait());
  EXPECT_EQ(gone.status.code(), absl::StatusCode::kCancelled) << gone.status;
  EXPECT_EQ(gone.mutable_output_calls, 0);
  ExpectOutput(kept, {1, 2}, {2, -1});
  EXPECT_EQ(scheduler->stats().FailuresByReason().at("CANCELLED"), 1u);
  ASSERT_TRUE(gate_done.Wait());
}

TEST(Scheduler, StopRunsQueuedTasksThenRefusesNewOnes) {
  // A fake clock that never moves: only Stop's flush can send the waiting batch.
  FakeClock clock(1'000'000);
  auto scheduler = MakeScheduler(Options(64, 10'000'000), &clock);
  ASSERT_NE(scheduler, nullptr);
  constexpr int kTasks = 5;
  std::vector<Result> results(kTasks);
  Countdown done(kTasks);
  for (int i = 0; i < kTasks; ++i) {
    scheduler->Enqueue(MakeTask({1, 2}, {static_cast<float>(i), 1}, &results[i], &done));
  }
  scheduler->Stop();
  // Stop returned: every queued task has finished.
  ASSERT_TRUE(done.Wait(absl::ZeroDuration()));
  for (int i = 0; i < kTasks; ++i) {
    SCOPED_TRACE(i);
    ExpectOutput(results[i], {1, 2}, {static_cast<float>(i), 1});
  }
  EXPECT_EQ(scheduler->stats().execution_count.load(), 1u);

  Result refused;
  Countdown refused_done(1);
  scheduler->Enqueue(MakeTask({1, 2}, {1, 1}, &refused, &refused_done));
  EXPECT_EQ(refused.status.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(refused.status.message(), "model 'linear' is stopping");
  scheduler->Stop();  // idempotent
}

TEST(Scheduler, FlushSendsWaitingBatchesAtOnceAndStillAcceptsTasks) {
  // A fake clock that never moves: without Flush the batch would wait for its delay forever.
  FakeClock clock(1'000'000);
  auto scheduler = MakeScheduler(Options(64, 10'000'000), &clock);
  ASSERT_NE(scheduler, nullptr);
  std::vector<Result> results(3);
  Countdown first(2);
  scheduler->Enqueue(MakeTask({1, 2}, {1, 1}, &results[0], &first));
  scheduler->Enqueue(MakeTask({1, 2}, {2, -1}, &results[1], &first));
  scheduler->Flush();
  ASSERT_TRUE(first.Wait());
  ExpectOutput(results[0], {1, 2}, {1, 1});
  ExpectOutput(results[1], {1, 2}, {2, -1});
  // Still accepting, and still not waiting for the delay.
  Countdown second(1);
  scheduler->Enqueue(MakeTask({1, 2}, {-1, -1}, &results[2], &second));
  ASSERT_TRUE(second.Wait());
  ExpectOutput(results[2], {1, 2}, {-1, -1});
}

TEST(Scheduler, ARejectedShapeFailsOnlyItsBatchAndServingGoesOn) {
  auto scheduler = MakeScheduler(Options(8, 0));
  ASSERT_NE(scheduler, nullptr);
  Gate gate;
  Result gate_result;
  Countdown gate_done(1);
  HoldWorker(*scheduler, gate, &gate_result, &gate_done);

  // Queued together, but different non-batch dims: two batches.
  Result bad, good;
  Countdown done(2);
  scheduler->Enqueue(MakeTask({2, 3}, {1, 2, 3, 4, 5, 6}, &bad, &done));
  scheduler->Enqueue(MakeTask({1, 2}, {3, 1}, &good, &done));
  gate.release.Notify();
  ASSERT_TRUE(done.Wait());
  EXPECT_EQ(bad.status.code(), absl::StatusCode::kInvalidArgument) << bad.status;
  EXPECT_NE(bad.status.message().find("0 (Linear)"), absl::string_view::npos) << bad.status;
  ExpectOutput(good, {1, 2}, {3, 1});

  Result after;
  Countdown after_done(1);
  scheduler->Enqueue(MakeTask({2, 2}, {1, 1, -1, -1}, &after, &after_done));
  ASSERT_TRUE(after_done.Wait());
  ExpectOutput(after, {2, 2}, {1, 1, -1, -1});
  EXPECT_EQ(scheduler->stats().FailuresByReason().at("INVALID_ARGUMENT"), 1u);
  ASSERT_TRUE(gate_done.Wait());
}

TEST(Scheduler, TwoWorkersRunConcurrently) {
  // Each task waits in MutableOutput until the other is there too: only two workers
  // running at once get both through.
  auto scheduler = MakeScheduler(Options(0, 0, /*instances=*/2));
  ASSERT_NE(scheduler, nullptr);
  Rendezvous rendezvous(2);
  Result a, b;
  Countdown done(2);
  for (Result* result : {&a, &b}) {
    auto task = MakeTask({2}, {1, 1}, result, &done);
    task->rendezvous = &rendezvous;
    scheduler->Enqueue(std::move(task));
  }
  ASSERT_TRUE(done.Wait());
  EXPECT_TRUE(a.met);
  EXPECT_TRUE(b.met);
  ExpectOutput(a, {2}, {1, 1});
  ExpectOutput(b, {2}, {1, 1});
}

TEST(Scheduler, WithoutBatchingEachTaskRunsWithItsWholeShape) {
  auto scheduler = MakeScheduler(Options(0, 1000));
  ASSERT_NE(scheduler, nullptr);
  Result matrix, vector;
  Countdown done(2);
  scheduler->Enqueue(MakeTask({3, 2}, {1, 1, -1, -1, 2, -1}, &matrix, &done));
  scheduler->Enqueue(MakeTask({2}, {2, -1}, &vector, &done));
  ASSERT_TRUE(done.Wait());
  ExpectOutput(matrix, {3, 2}, {1, 1, -1, -1, 2, -1});
  EXPECT_EQ(matrix.output, (std::vector<float>{4, 6, 0, 0, 1, 1}));
  ExpectOutput(vector, {2}, {2, -1});
  const ModelStats& stats = scheduler->stats();
  EXPECT_EQ(stats.execution_count.load(), 2u);
  EXPECT_EQ(stats.inference_count.load(), 2u);  // one inference per request
}

TEST(Scheduler, CreateRejectsOptionsOutOfRange) {
  SchedulerOptions options = Options(4, 0, /*instances=*/0);
  EXPECT_EQ(Scheduler::Create(HandModel(), options).status().code(),
            absl::StatusCode::kInvalidArgument);
  options = Options(4, 0);
  options.batching.preferred_batch_sizes = {8};
  EXPECT_EQ(Scheduler::Create(HandModel(), options).status().code(),
            absl::StatusCode::kInvalidArgument);
  options = Options(4, 0);
  options.default_timeout_us = -1;
  EXPECT_EQ(Scheduler::Create(HandModel(), options).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace seqserve
