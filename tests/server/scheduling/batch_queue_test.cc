// The dynamic batcher's policy on explicit fake times: no threads, no model.
#include "server/scheduling/batch_queue.h"

#include <memory>
#include <utility>
#include <vector>

#include "gtest/gtest.h"

namespace seqserve {
namespace {

// A task that only has a shape, an id to follow it through the queue, and a cancel flag.
class FakeTask : public InferTask {
 public:
  FakeTask(int id, Shape shape) : id_(id), shape_(std::move(shape)) {}
  const Shape& input_shape() const override { return shape_; }
  const void* input_data() const override { return nullptr; }
  bool IsCancelled() const override { return cancelled_; }
  float* MutableOutput(const Shape&) override { return nullptr; }
  void Finish(const absl::Status&) override {}

  int id() const { return id_; }
  void Cancel() { cancelled_ = true; }

 private:
  int id_;
  Shape shape_;
  bool cancelled_ = false;
};

class BatchQueueTest : public ::testing::Test {
 protected:
  void Make(BatchPolicy policy) { queue_ = std::make_unique<BatchQueue>(std::move(policy)); }

  // Pushes a task of `shape` at `now_us`; returns it (still owned by the queue).
  FakeTask* Push(int id, Shape shape, int64_t now_us, int64_t deadline_us = 0) {
    auto task = std::make_unique<FakeTask>(id, std::move(shape));
    task->deadline_us = deadline_us;
    FakeTask* raw = task.get();
    std::unique_ptr<InferTask> base = std::move(task);
    EXPECT_TRUE(queue_->Push(base, now_us).ok());
    EXPECT_EQ(base, nullptr);
    return raw;
  }

  static std::vector<int> Ids(const std::vector<std::unique_ptr<InferTask>>& tasks) {
    std::vector<int> ids;
    for (const auto& task : tasks) ids.push_back(static_cast<FakeTask*>(task.get())->id());
    return ids;
  }

  std::unique_ptr<BatchQueue> queue_;
};

BatchPolicy Policy(int64_t max_batch_size, int64_t delay_us, std::vector<int64_t> preferred = {},
                   size_t max_queue_size = 0) {
  BatchPolicy policy;
  policy.max_batch_size = max_batch_size;
  policy.max_queue_delay_us = delay_us;
  policy.preferred_batch_sizes = std::move(preferred);
  policy.max_queue_size = max_queue_size;
  return policy;
}

TEST_F(BatchQueueTest, EmptyQueueWaitsForever) {
  Make(Policy(4, 100));
  BatchQueue::Decision d = queue_->Take(0);
  EXPECT_TRUE(d.batch.empty());
  EXPECT_TRUE(d.dropped.empty());
  EXPECT_EQ(d.wake_at_us, -1);
}

TEST_F(BatchQueueTest, PushStampsTheEnqueueTime) {
  Make(Policy(4, 100));
  EXPECT_EQ(Push(1, {1, 2}, 1234)->enqueue_us, 1234);
}

TEST_F(BatchQueueTest, SendsAtOnceWhenMaxBatchSizeIsReached) {
  Make(Policy(4, 1000));
  for (int i = 0; i < 3; ++i) Push(i, {1, 2}, 10 + i);
  BatchQueue::Decision d = queue_->Take(20);
  EXPECT_TRUE(d.batch.empty());
  Push(3, {1, 2}, 20);
  Push(4, {1, 2}, 21);
  d = queue_->Take(21);
  EXPECT_EQ(Ids(d.batch), (std::vector<int>{0, 1, 2, 3}));
  EXPECT_EQ(queue_->size(), 1u);
}

TEST_F(BatchQueueTest, SendsAtOnceWhenTheNextTaskDoesNotFit) {
  Make(Policy(4, 1000));
  Push(0, {3, 2}, 0);
  Push(1, {2, 2}, 1);
  BatchQueue::Decision d = queue_->Take(2);
  EXPECT_EQ(Ids(d.batch), (std::vector<int>{0}));
  EXPECT_EQ(queue_->size(), 1u);
}

TEST_F(BatchQueueTest, WaitsUntilTheOldestTaskDelayEnds) {
  Make(Policy(8, 100));
  Push(0, {1, 2}, 1000);
  Push(1, {1, 2}, 1050);
  BatchQueue::Decision d = queue_->Take(1060);
  EXPECT_TRUE(d.batch.empty());
  EXPECT_EQ(d.wake_at_us, 1100);  // oldest enqueue + delay
  d = queue_->Take(1099);
  EXPECT_TRUE(d.batch.empty());
  d = queue_->Take(1100);
  EXPECT_EQ(Ids(d.batch), (std::vector<int>{0, 1}));
  EXPECT_TRUE(queue_->empty());
  EXPECT_EQ(d.wake_at_us, -1);
}

TEST_F(BatchQueueTest, ZeroDelaySendsWhateverIsQueued) {
  Make(Policy(8, 0));
  Push(0, {1, 2}, 5);
  Push(1, {2, 2}, 5);
  BatchQueue::Decision d = queue_->Take(5);
  EXPECT_EQ(Ids(d.batch), (std::vector<int>{0, 1}));
}

TEST_F(BatchQueueTest, EarliestDeadlineWakesSooner) {
  Make(Policy(8, 1000));
  Push(0, {1, 2}, 0);
  Push(1, {1, 2}, 10, /*deadline_us=*/400);
  Push(2, {1, 2}, 20, /*deadline_us=*/300);
  BatchQueue::Decision d = queue_->Take(30);
  EXPECT_TRUE(d.batch.empty());
  EXPECT_EQ(d.wake_at_us, 300);
  // At the deadline the task is dropped and the others keep waiting.
  d = queue_->Take(300);
  EXPECT_TRUE(d.batch.empty());
  EXPECT_EQ(Ids(d.dropped), (std::vector<int>{2}));
  EXPECT_EQ(d.wake_at_us, 400);
  EXPECT_EQ(queue_->size(), 2u);
}

TEST_F(BatchQueueTest, DeadlineLaterThanTheDelayDoesNotChangeTheWakeTime) {
  Make(Policy(8, 100));
  Push(0, {1, 2}, 0, /*deadline_us=*/5000);
  EXPECT_EQ(queue_->Take(1).wake_at_us, 100);
}

TEST_F(BatchQueueTest, PreferredBatchSizeSendsAtOnce) {
  Make(Policy(16, 1000, {4, 8}));
  Push(0, {1, 2}, 0);
  Push(1, {2, 2}, 0);
  EXPECT_TRUE(queue_->Take(1).batch.empty());  // 3 rows: not preferred
  Push(2, {1, 2}, 2);
  BatchQueue::Decision d = queue_->Take(2);  // 4 rows
  EXPECT_EQ(Ids(d.batch), (std::vector<int>{0, 1, 2}));
}

TEST_F(BatchQueueTest, PreferredSendsTheLargestPreferredPrefix) {
  Make(Policy(16, 1000, {2, 4}));
  // Rows 1, 1, 2, 1: prefixes of 2 and 4 rows are preferred; the 4-row one is sent.
  Push(0, {1, 2}, 0);
  Push(1, {1, 2}, 0);
  Push(2, {2, 2}, 0);
  Push(3, {1, 2}, 0);
  BatchQueue::Decision d = queue_->Take(1);
  EXPECT_EQ(Ids(d.batch), (std::vector<int>{0, 1, 2}));
  EXPECT_EQ(queue_->size(), 1u);
}

TEST_F(BatchQueueTest, RowsBeyondTheLargestPreferredSendThePrefixThatFitsIt) {
  Make(Policy(16, 1000, {4, 8}));
  // Rows 3, 3, 3 = 9: no prefix is preferred (3, 6, 9), 9 > 8: send the prefix that fits 8.
  Push(0, {3, 2}, 0);
  Push(1, {3, 2}, 0);
  EXPECT_TRUE(queue_->Take(1).batch.empty());  // 6 rows, below the largest preferred size
  Push(2, {3, 2}, 1);
  BatchQueue::Decision d = queue_->Take(1);
  EXPECT_EQ(Ids(d.batch), (std::vector<int>{0, 1}));
  EXPECT_EQ(queue_->size(), 1u);
}

TEST_F(BatchQueueTest, DelayExpirySendsEverythingGatheredDespitePreferredSizes) {
  Make(Policy(16, 100, {4}));
  Push(0, {1, 2}, 0);
  Push(1, {1, 2}, 0);
  Push(2, {1, 2}, 0);
  BatchQueue::Decision d = queue_->Take(50);
  EXPECT_TRUE(d.batch.empty());
  EXPECT_EQ(d.wake_at_us, 100);
  d = queue_->Take(100);
  EXPECT_EQ(Ids(d.batch), (std::vector<int>{0, 1, 2}));
}

TEST_F(BatchQueueTest, DifferentNonBatchDimsAreNeverMixedAndKeepTheirOrder) {
  Make(Policy(8, 0));
  Push(0, {1, 2}, 0);
  Push(1, {1, 3}, 0);
  Push(2, {2, 2}, 0);
  Push(3, {1, 3}, 0);
  Push(4, {1, 2, 1}, 0);  // another rank: another batch
  BatchQueue::Decision d = queue_->Take(0);
  EXPECT_EQ(Ids(d.batch), (std::vector<int>{0, 2}));
  d = queue_->Take(0);
  EXPECT_EQ(Ids(d.batch), (std::vector<int>{1, 3}));
  d = queue_->Take(0);
  EXPECT_EQ(Ids(d.batch), (std::vector<int>{4}));
  EXPECT_TRUE(queue_->empty());
}

TEST_F(BatchQueueTest, MultiRowTasksCountTheirRows) {
  Make(Policy(6, 1000));
  Push(0, {2, 2}, 0);
  Push(1, {3, 2}, 0);
  EXPECT_TRUE(queue_->Take(0).batch.empty());  // 5 rows of 6
  Push(2, {1, 2}, 0);
  BatchQueue::Decision d = queue_->Take(0);  // exactly 6
  EXPECT_EQ(Ids(d.batch), (std::vector<int>{0, 1, 2}));
}

TEST_F(BatchQueueTest, FullQueueRefusesAndHandsTheTaskBack) {
  Make(Policy(4, 1000, {}, /*max_queue_size=*/2));
  Push(0, {1, 2}, 0);
  Push(1, {1, 2}, 0);
  std::unique_ptr<InferTask> task = std::make_unique<FakeTask>(2, Shape{1, 2});
  absl::Status status = queue_->Push(task, 0);
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(status.message(), "queue full: 2 requests queued");
  ASSERT_NE(task, nullptr);
  EXPECT_EQ(static_cast<FakeTask*>(task.get())->id(), 2);
  EXPECT_EQ(queue_->size(), 2u);
}

TEST_F(BatchQueueTest, ExpiredAndCancelledTasksAreDroppedBeforeBatching) {
  Make(Policy(4, 0));
  Push(0, {1, 2}, 0, /*deadline_us=*/10);
  FakeTask* cancelled = Push(1, {1, 2}, 0);
  Push(2, {1, 2}, 0, /*deadline_us=*/100);
  Push(3, {1, 2}, 0);
  EXPECT_EQ(queue_->CancelledCount(), 0u);
  cancelled->Cancel();
  EXPECT_EQ(queue_->CancelledCount(), 1u);
  BatchQueue::Decision d = queue_->Take(10);
  EXPECT_EQ(queue_->CancelledCount(), 0u);
  EXPECT_EQ(Ids(d.dropped), (std::vector<int>{0, 1}));
  EXPECT_EQ(Ids(d.batch), (std::vector<int>{2, 3}));
  EXPECT_TRUE(d.dropped[1]->IsCancelled());
  EXPECT_FALSE(d.dropped[0]->IsCancelled());
}

TEST_F(BatchQueueTest, FlushSendsABatchThatWouldWait) {
  Make(Policy(8, 1000, {4}));
  Push(0, {1, 2}, 0);
  Push(1, {1, 3}, 0);
  EXPECT_TRUE(queue_->Take(1).batch.empty());
  EXPECT_EQ(Ids(queue_->Take(1, /*flush=*/true).batch), (std::vector<int>{0}));
  EXPECT_EQ(Ids(queue_->Take(1, /*flush=*/true).batch), (std::vector<int>{1}));
  EXPECT_EQ(queue_->Take(1, /*flush=*/true).wake_at_us, -1);
}

TEST_F(BatchQueueTest, MaxBatchSizeZeroRunsEveryTaskAloneAtOnce) {
  Make(Policy(0, 1000));
  Push(0, {2, 2}, 0);
  Push(1, {2, 2}, 0);
  Push(2, {5}, 0);
  EXPECT_EQ(Ids(queue_->Take(0).batch), (std::vector<int>{0}));
  EXPECT_EQ(Ids(queue_->Take(0).batch), (std::vector<int>{1}));
  EXPECT_EQ(Ids(queue_->Take(0).batch), (std::vector<int>{2}));
  EXPECT_TRUE(queue_->empty());
}

TEST(BatchQueue, ValidateNamesTheBadField) {
  EXPECT_TRUE(BatchQueue::Validate(Policy(8, 100, {4, 8})).ok());
  absl::Status status = BatchQueue::Validate(Policy(8, 100, {16}));
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("preferred_batch_size 16"), absl::string_view::npos) << status;
  EXPECT_FALSE(BatchQueue::Validate(Policy(-1, 0)).ok());
  EXPECT_FALSE(BatchQueue::Validate(Policy(8, -5)).ok());
}

}  // namespace
}  // namespace seqserve
