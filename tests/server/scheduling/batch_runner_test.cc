// The batch runner on its own, called as a scheduler worker calls it: gather, run, scatter
// over the hand-derivable model of tests/util/scheduling_test_util.h, what fails a whole
// batch and what fails one task, and what it counts in the version's stats. The clock is
// fake, so every duration is derivable too.
#include "server/scheduling/batch_runner.h"

#include <atomic>
#include <memory>
#include <string>
#include <span>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/byte_size.h"
#include "core/executor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/scheduling/model_stats.h"
#include "server/tracing/request_trace.h"
#include "tests/util/scheduling_test_util.h"

namespace seqserve {
namespace {

using ::testing::HasSubstr;
using testing::ExpectOutput;
using testing::FakeClock;
using testing::HandModel;
using testing::MakeTask;
using testing::Result;
using Batch = std::vector<std::unique_ptr<InferTask>>;

std::unique_ptr<BatchRunner> MakeRunner(std::shared_ptr<Model> model, ModelStats& stats,
                                        const Clock& clock, bool batching = true) {
  BatchRunnerOptions options;
  options.model_name = "linear";
  options.workers = 2;
  options.batching = batching;
  auto runner = BatchRunner::Create(std::move(model), options, stats, &clock);
  EXPECT_TRUE(runner.ok()) << runner.status();
  return runner.ok() ? std::move(*runner) : nullptr;
}

// Runs `batch` on worker 1 as taken at `start_us` and returns the outcomes.
std::vector<absl::Status> Process(BatchRunner& runner, const Batch& batch, int64_t start_us) {
  std::vector<absl::Status> outcomes(batch.size());
  runner.ProcessBatch(1, batch, start_us, outcomes);
  return outcomes;
}

TEST(BatchRunner, GathersRowsRunsOnceAndScattersEachTasksOwnRows) {
  FakeClock clock(5000);
  ModelStats stats;
  auto runner = MakeRunner(HandModel(), stats, clock);
  ASSERT_NE(runner, nullptr);
  const std::vector<float> a = {1, 2}, b = {-1, 3, 0.5f, -2}, c = {4, -4};
  std::vector<Result> results(3);
  Batch batch;
  batch.push_back(MakeTask({1, 2}, a, &results[0], nullptr));
  batch.push_back(MakeTask({2, 2}, b, &results[1], nullptr));
  batch.push_back(MakeTask({1, 2}, c, &results[2], nullptr));
  for (auto& task : batch) task->enqueue_us = 4000;

  const std::vector<absl::Status> outcomes = Process(*runner, batch, 4500);
  for (int i = 0; i < 3; ++i) {
    SCOPED_TRACE(i);
    ASSERT_TRUE(outcomes[i].ok()) << outcomes[i];
    results[i].status = outcomes[i];  // the scheduler finishes the tasks, not the runner
    EXPECT_EQ(results[i].finish_calls, 0);
  }
  ExpectOutput(results[0], {1, 2}, a);
  ExpectOutput(results[1], {2, 2}, b);
  ExpectOutput(results[2], {1, 2}, c);
  EXPECT_EQ(stats.execution_count.load(), 1u);
  EXPECT_EQ(stats.inference_count.load(), 4u);
  EXPECT_EQ(stats.BatchStats().at(4).executions, 1u);
  EXPECT_EQ(stats.success.count.load(), 3u);
  // Queued from 4000 us until the batch started at 4500 us; the fake clock stands still.
  EXPECT_EQ(stats.queue.ns.load(), 3u * 500 * 1000);
  EXPECT_EQ(stats.success.ns.load(), 3u * 1000 * 1000);
  EXPECT_EQ(stats.fail.count.load(), 0u);
}

TEST(BatchRunner, ALoneTaskRunsWithItsWholeShapeWithoutBatching) {
  FakeClock clock(0);
  ModelStats stats;
  auto runner = MakeRunner(HandModel(), stats, clock, /*batching=*/false);
  ASSERT_NE(runner, nullptr);
  Result result;
  Batch batch;
  batch.push_back(MakeTask({3, 2}, {1, 1, -1, -1, 2, -1}, &result, nullptr));
  result.status = Process(*runner, batch, 0)[0];
  ExpectOutput(result, {3, 2}, {1, 1, -1, -1, 2, -1});
  EXPECT_EQ(stats.inference_count.load(), 1u);  // one inference per request without batching
}

// Each reading of the time is 1 us after the previous one.
class TickingClock final : public Clock {
 public:
  int64_t NowMicros() const override { return now_us_.fetch_add(1) + 1; }

 private:
  mutable std::atomic<int64_t> now_us_{1'000'000};
};

TEST(BatchRunner, ATracedTaskGetsItsBatchsComputeTimesInOrder) {
  TickingClock clock;
  ModelStats stats;
  auto runner = MakeRunner(HandModel(), stats, clock);
  ASSERT_NE(runner, nullptr);
  std::vector<Result> results(2);
  RequestTrace trace(1, "linear", nullptr);
  Batch batch;
  batch.push_back(MakeTask({1, 2}, {1, 2}, &results[0], nullptr));
  batch.push_back(MakeTask({1, 2}, {3, 4}, &results[1], nullptr));
  batch[1]->trace = &trace;
  const int64_t before_ns = clock.NowNanos();
  for (const absl::Status& outcome : Process(*runner, batch, 0)) ASSERT_TRUE(outcome.ok());
  const int64_t after_ns = clock.NowNanos();

  const int64_t start = trace.stamp(TraceActivity::kComputeStart);
  const int64_t input_end = trace.stamp(TraceActivity::kComputeInputEnd);
  const int64_t output_start = trace.stamp(TraceActivity::kComputeOutputStart);
  const int64_t end = trace.stamp(TraceActivity::kComputeEnd);
  EXPECT_LT(before_ns, start);
  EXPECT_LT(start, input_end);  // each a later reading of the clock
  EXPECT_LT(input_end, output_start);
  EXPECT_LT(output_start, end);
  EXPECT_LT(end, after_ns);
  // Nothing else is the runner's to stamp.
  EXPECT_EQ(trace.stamp(TraceActivity::kQueueStart), 0);
  EXPECT_EQ(trace.stamp(TraceActivity::kRequestEnd), 0);
}

TEST(BatchRunner, AFailedBatchStampsNoComputeTimes) {
  FakeClock clock(0);
  ModelStats stats;
  auto runner = MakeRunner(HandModel(), stats, clock);
  ASSERT_NE(runner, nullptr);
  Result result;
  RequestTrace trace(1, "linear", nullptr);
  Batch batch;
  batch.push_back(MakeTask({1, 3}, {1, 2, 3}, &result, nullptr));  // the model takes 2
  batch[0]->trace = &trace;
  EXPECT_FALSE(Process(*runner, batch, 0)[0].ok());
  EXPECT_EQ(trace.stamp(TraceActivity::kComputeStart), 0);
  EXPECT_EQ(trace.stamp(TraceActivity::kComputeEnd), 0);
}

TEST(BatchRunner, ATaskWithoutAnOutputBufferFailsAlone) {
  FakeClock clock(0);
  ModelStats stats;
  auto runner = MakeRunner(HandModel(), stats, clock);
  ASSERT_NE(runner, nullptr);
  std::vector<Result> results(2);
  Batch batch;
  batch.push_back(MakeTask({1, 2}, {1, 1}, &results[0], nullptr));
  auto broken = MakeTask({1, 2}, {2, 2}, &results[1], nullptr);
  broken->no_output_buffer = true;
  batch.push_back(std::move(broken));

  const std::vector<absl::Status> outcomes = Process(*runner, batch, 0);
  results[0].status = outcomes[0];
  ExpectOutput(results[0], {1, 2}, {1, 1});
  // Before: INTERNAL "the request gave no output buffer", which said nothing of why.
  EXPECT_EQ(outcomes[1].code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(outcomes[1].message(), "no room for the output of shape [1, 2] (8 bytes)");
  EXPECT_EQ(stats.success.count.load(), 1u);
  EXPECT_EQ(stats.FailuresByReason().at("RESOURCE_EXHAUSTED"), 1u);
  EXPECT_EQ(stats.execution_count.load(), 1u);
}

// Linear(2, 2) twice: the hidden [rows, 2] activation lives in the worker's arena, so the
// plan's workspace grows with the rows. Outputs: (hand) y = W2 (W1 x + b1) + b2 with W1 = I,
// b1 = 0, W2 = 2 I, b2 = 0, i.e. y = 2 x.
std::shared_ptr<Model> TwoLinears() {
  TensorMap w;
  w["0.weight"] = Tensor({2, 2}, {1, 0, 0, 1});
  w["0.bias"] = Tensor({2}, {0, 0});
  w["1.weight"] = Tensor({2, 2}, {2, 0, 0, 2});
  w["1.bias"] = Tensor({2}, {0, 0});
  auto model = Model::FromSource("nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2))", "model.seq",
                                 &w, "model.safetensors");
  EXPECT_TRUE(model.ok()) << model.status();
  return *model;
}

size_t WorkspaceOf(Model& model, int64_t rows) {
  absl::StatusOr<std::shared_ptr<const Plan>> plan = model.GetPlan({rows, 2});
  EXPECT_TRUE(plan.ok()) << plan.status();
  return Executor::WorkspaceBytes(**plan);
}

// Before: nothing bounded a request's activations; a 4 MB request to the seed model grew
// every worker's arena by ~600 MB. Now the plan's workspace is checked before it runs.
TEST(BatchRunner, ActivationsPastTheLimitFailBeforeComputeAndABatchSplitsToFit) {
  FakeClock clock(0);
  ModelStats stats;
  std::shared_ptr<Model> model = TwoLinears();
  const size_t one = WorkspaceOf(*model, 1000);
  const size_t two = WorkspaceOf(*model, 2000);
  ASSERT_GT(one, 0u);
  ASSERT_GT(two, one);
  BatchRunnerOptions options;
  options.model_name = "two";
  options.workers = 2;
  options.batching = true;
  options.max_activation_bytes = static_cast<int64_t>((one + two) / 2);
  auto runner = BatchRunner::Create(model, options, stats, &clock);
  ASSERT_TRUE(runner.ok()) << runner.status();

  // Two tasks of 1000 rows: together over the limit, each alone under it.
  std::vector<float> x(2000);
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i % 7) - 3;
  std::vector<Result> results(2);
  Batch batch;
  batch.push_back(MakeTask({1000, 2}, x, &results[0], nullptr));
  batch.push_back(MakeTask({1000, 2}, x, &results[1], nullptr));
  std::vector<absl::Status> outcomes = Process(**runner, batch, 0);
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(outcomes[i].ok()) << outcomes[i];
    ASSERT_EQ(results[i].output.size(), x.size());
    for (size_t j = 0; j < x.size(); ++j) ASSERT_EQ(results[i].output[j], 2 * x[j]) << j;
  }
  EXPECT_EQ(stats.execution_count.load(), 2u);  // one each

  // One task of 2000 rows alone is over: RESOURCE_EXHAUSTED naming both sizes, not run.
  std::vector<float> big(4000, 1.0f);
  Result refused;
  Batch alone;
  alone.push_back(MakeTask({2000, 2}, big, &refused, nullptr));
  outcomes = Process(**runner, alone, 0);
  EXPECT_EQ(outcomes[0].code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(outcomes[0].message()),
              HasSubstr(absl::StrCat("input [2000, 2] needs ", FormatBytes(two),
                                     " of activations and scratchpad; the limit is ")));
  EXPECT_THAT(std::string(outcomes[0].message()),
              HasSubstr(absl::StrCat("(--max-activation-bytes=", (one + two) / 2, ")")));
  EXPECT_TRUE(refused.output.empty());
  EXPECT_EQ(stats.execution_count.load(), 2u);
  EXPECT_EQ(stats.success.count.load(), 2u);  // a refused request is never a success
  EXPECT_EQ(stats.FailuresByReason().at("RESOURCE_EXHAUSTED"), 1u);
}

// Before: an executor's arena only grew, so one outsized request pinned its peak for good.
TEST(BatchRunner, AWorkerGivesBackWhatAnOutsizedBatchTookAndKeepsTheUsualSize) {
  FakeClock clock(0);
  ModelStats stats;
  std::shared_ptr<Model> model = TwoLinears();
  const size_t small = WorkspaceOf(*model, 10);
  BatchRunnerOptions options;
  options.model_name = "two";
  options.workers = 2;
  options.batching = true;
  // Room for a 10-row request's workspace and its gather/scatter buffers, not for more.
  options.worker_retain_bytes = static_cast<int64_t>(small + 4096);
  auto runner = BatchRunner::Create(model, options, stats, &clock);
  ASSERT_TRUE(runner.ok()) << runner.status();

  auto run = [&](int64_t rows, int tasks) {
    std::vector<Result> results(static_cast<size_t>(tasks));
    Batch batch;
    for (int i = 0; i < tasks; ++i) {
      batch.push_back(MakeTask({rows, 2}, std::vector<float>(static_cast<size_t>(rows) * 2, 1.0f),
                               &results[static_cast<size_t>(i)], nullptr));
    }
    for (const absl::Status& outcome : Process(**runner, batch, 0)) {
      EXPECT_TRUE(outcome.ok()) << outcome;
    }
  };
  run(5, 2);  // the usual: kept for the next batch
  const size_t usual = (*runner)->worker_memory_bytes(1);
  EXPECT_GT(usual, 0u);
  EXPECT_LE(usual, small + 4096);
  run(50000, 2);  // outsized: given back right after
  EXPECT_EQ((*runner)->worker_memory_bytes(1), 0u);
  run(5, 2);
  EXPECT_EQ((*runner)->worker_memory_bytes(1), usual);
}

TEST(BatchRunner, AShapeTheModelRejectsFailsTheWholeBatch) {
  FakeClock clock(0);
  ModelStats stats;
  auto runner = MakeRunner(HandModel(), stats, clock);
  ASSERT_NE(runner, nullptr);
  std::vector<Result> results(2);
  Batch batch;
  batch.push_back(MakeTask({1, 3}, {1, 2, 3}, &results[0], nullptr));
  batch.push_back(MakeTask({1, 3}, {4, 5, 6}, &results[1], nullptr));

  for (const absl::Status& outcome : Process(*runner, batch, 0)) {
    EXPECT_EQ(outcome.code(), absl::StatusCode::kInvalidArgument) << outcome;
    EXPECT_THAT(outcome.message(), HasSubstr("0 (Linear)"));
  }
  EXPECT_EQ(results[0].mutable_output_calls, 0);
  EXPECT_EQ(stats.FailuresByReason().at("INVALID_ARGUMENT"), 2u);
  EXPECT_EQ(stats.execution_count.load(), 0u);
}

TEST(BatchRunner, AModelThatDropsTheBatchDimCannotBatchSeveralTasks) {
  // Flatten(0) turns (2, 2) into (4): the output's dim 0 is no longer the rows.
  auto model = Model::FromSource("nn.Sequential(nn.Flatten(0))", "model.seq", nullptr, "");
  ASSERT_TRUE(model.ok()) << model.status();
  FakeClock clock(0);
  ModelStats stats;
  auto runner = MakeRunner(*model, stats, clock);
  ASSERT_NE(runner, nullptr);
  std::vector<Result> results(2);
  Batch batch;
  batch.push_back(MakeTask({1, 2}, {1, 2}, &results[0], nullptr));
  batch.push_back(MakeTask({1, 2}, {3, 4}, &results[1], nullptr));

  for (const absl::Status& outcome : Process(*runner, batch, 0)) {
    EXPECT_EQ(outcome.code(), absl::StatusCode::kInternal) << outcome;
    EXPECT_EQ(outcome.message(),
              "the model's output [4] does not keep the batch dim of its input [2, 2], so it "
              "cannot batch");
  }
}

TEST(BatchRunner, TaskFailedCountsTheCodeAndTheTimeQueued) {
  FakeClock clock(0);
  ModelStats stats;
  auto runner = MakeRunner(HandModel(), stats, clock);
  ASSERT_NE(runner, nullptr);
  Result result;
  auto task = MakeTask({1, 2}, {1, 1}, &result, nullptr);
  task->enqueue_us = 1000;
  runner->TaskFailed(*task, absl::DeadlineExceededError("late"), 3500);
  EXPECT_EQ(stats.FailuresByReason().at("DEADLINE_EXCEEDED"), 1u);
  EXPECT_EQ(stats.fail.count.load(), 1u);
  EXPECT_EQ(stats.fail.ns.load(), 2500u * 1000);
  EXPECT_EQ(result.finish_calls, 0);
}

TEST(BatchRunner, CreateNeedsAModelAndAWorker) {
  ModelStats stats;
  BatchRunnerOptions options;
  options.workers = 0;
  EXPECT_EQ(BatchRunner::Create(HandModel(), options, stats).status().code(),
            absl::StatusCode::kInvalidArgument);
  options.workers = 1;
  EXPECT_EQ(BatchRunner::Create(nullptr, options, stats).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace seqserve
