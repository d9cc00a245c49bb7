// The adaptive batch window on explicit fake times: its estimates and its decision, and the
// BatchQueue that uses it. Every expectation is derived by hand from the rule in
// server/scheduling/batch_window.h (the arithmetic is in the comments): the compute model is
// a least-squares line, exact on exactly linear data; the decision waits while the fixed
// cost per batch exceeds the requests in the batch times the mean gap g.
#include "server/scheduling/batch_window.h"

#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "server/scheduling/batch_queue.h"

namespace seqserve {
namespace {

constexpr int64_t kWindowUs = 1000;

// `count` single-row arrivals `gap_us` apart, the first at `start_us`; returns the last time.
int64_t Stream(BatchWindow& window, int64_t start_us, int64_t gap_us, int count) {
  int64_t t = start_us;
  for (int i = 0; i < count; ++i, t += gap_us) window.RecordArrival(t);
  return t - gap_us;
}

// Batches of 1 and 4 rows that both took `us`: compute that does not grow with the batch.
void FlatCompute(BatchWindow& window, int64_t us) {
  window.RecordCompute(1, us * 1000);
  window.RecordCompute(4, us * 1000);
}

TEST(BatchWindow, FitsAFixedAndAPerRowCostToBatchTimes) {
  BatchWindow window(kWindowUs);
  BatchWindow::ComputeModel model;
  EXPECT_FALSE(window.Model(model));  // nothing seen
  // c(b) = 100 + 10 b µs exactly: least squares recovers the line whatever the weights.
  for (int64_t b : {1, 2, 4, 8, 3, 1}) window.RecordCompute(b, (100 + 10 * b) * 1000);
  ASSERT_TRUE(window.Model(model));
  EXPECT_NEAR(model.fixed_us, 100, 1e-6);
  EXPECT_NEAR(model.per_row_us, 10, 1e-6);
}

TEST(BatchWindow, OneBatchSizeCannotTellFixedFromPerRowCost) {
  BatchWindow window(kWindowUs);
  for (int i = 0; i < 10; ++i) window.RecordCompute(1, 50'000);
  BatchWindow::ComputeModel model;
  EXPECT_FALSE(window.Model(model));
  const int64_t last = Stream(window, 0, 10, 20);
  EXPECT_FALSE(window.Decide(last, 1, last + kWindowUs).wait);
}

TEST(BatchWindow, KeepsTheLastSlopeWhileBatchSizesStopVarying) {
  BatchWindow window(kWindowUs);
  for (int64_t b : {1, 2, 4, 8}) window.RecordCompute(b, (100 + 10 * b) * 1000);
  // Then only batches of 2, on the same line: once the old batches' weight, (15/16)^300 <
  // 1e-8, is gone, their sizes no longer vary, yet the model still knows the line.
  for (int i = 0; i < 300; ++i) window.RecordCompute(2, 120'000);
  BatchWindow::ComputeModel model;
  ASSERT_TRUE(window.Model(model));
  EXPECT_NEAR(model.per_row_us, 10, 1e-6);
  EXPECT_NEAR(model.fixed_us, 100, 1e-3);
}

TEST(BatchWindow, EstimatesTheMeanGapBetweenArrivals) {
  BatchWindow window(kWindowUs);
  EXPECT_LT(window.mean_gap_us(), 0);
  window.RecordArrival(100);
  EXPECT_LT(window.mean_gap_us(), 0);  // one arrival: no gap yet
  window.RecordArrival(140);
  EXPECT_EQ(window.mean_gap_us(), 40);  // the first gap seeds the estimate
  window.RecordArrival(220);
  EXPECT_DOUBLE_EQ(window.mean_gap_us(), 45);  // 40 + (80 - 40) / 8
  // A silence counts as at most kMaxGapWindows windows: 45 + (16000 - 45) / 8.
  window.RecordArrival(1'000'000);
  EXPECT_DOUBLE_EQ(window.mean_gap_us(), 45 + (16'000.0 - 45) / 8);
}

TEST(BatchWindow, WaitsWhileComputeIsFlatAndArrivalsAreFrequent) {
  BatchWindow window(kWindowUs);
  FlatCompute(window, 100);  // fixed 100 µs, per row 0
  const int64_t last = Stream(window, 0, 10, 20);  // g = 10 µs, r = 1
  const int64_t end = last + kWindowUs;
  // One request: 100 > 1 * 10: wait, and ask again when the next is due.
  BatchWindow::Verdict verdict = window.Decide(last, 1, end);
  EXPECT_TRUE(verdict.wait);
  EXPECT_EQ(verdict.recheck_at_us, last + 10);
  // Nine: 100 > 90, wait. Eleven: 100 > 110 fails, run (ten is the tie).
  EXPECT_TRUE(window.Decide(last, 9, end).wait);
  EXPECT_FALSE(window.Decide(last, 11, end).wait);
}

TEST(BatchWindow, NeverWaitsWhenComputeGrowsInProportionToRows) {
  BatchWindow window(kWindowUs);
  for (int64_t b : {1, 2, 4, 8}) window.RecordCompute(b, 20'000 * b);  // fixed 0
  const int64_t last = Stream(window, 0, 1, 50);
  EXPECT_FALSE(window.Decide(last, 1, last + kWindowUs).wait);
}

TEST(BatchWindow, ALoneRequestNeverWaits) {
  BatchWindow window(kWindowUs);
  FlatCompute(window, 10'000);  // batching would save a lot: fixed 10 ms
  // The very first request: no gap known.
  window.RecordArrival(0);
  EXPECT_FALSE(window.Decide(0, 1, kWindowUs).wait);
  // After a busy stream (g = 10 µs), a silence of kLoneSilenceWindows windows:
  // g = 10 * 7/8 + 8000 / 8 = 1008.75 >= the 1000 µs left of the window.
  const int64_t last = Stream(window, 10, 10, 100);
  EXPECT_TRUE(window.Decide(last, 1, last + kWindowUs).wait);
  const int64_t lone = last + BatchWindow::kLoneSilenceWindows * kWindowUs;
  window.RecordArrival(lone);
  EXPECT_DOUBLE_EQ(window.mean_gap_us(), 10 * 7.0 / 8 + 1000);
  EXPECT_FALSE(window.Decide(lone, 1, lone + kWindowUs).wait);
}

TEST(BatchWindow, ALateRequestStretchesTheGapUntilWaitingStops) {
  BatchWindow window(kWindowUs);
  FlatCompute(window, 100);
  const int64_t last = Stream(window, 0, 10, 20);
  // One request waits while the expected wait is under the 100 µs the next would save.
  BatchWindow::Verdict verdict = window.Decide(last + 40, 1, last + kWindowUs);
  EXPECT_TRUE(verdict.wait);
  EXPECT_EQ(verdict.recheck_at_us, last + 80);  // the silence (40 µs) is the expected wait
  EXPECT_TRUE(window.Decide(last + 80, 1, last + kWindowUs).wait);
  EXPECT_FALSE(window.Decide(last + 110, 1, last + kWindowUs).wait);
  EXPECT_FALSE(window.Decide(last + 160, 1, last + kWindowUs).wait);
}

TEST(BatchWindow, NeverWaitsPastTheWindow) {
  BatchWindow window(kWindowUs);
  FlatCompute(window, 100);
  const int64_t last = Stream(window, 0, 10, 20);
  // 10 µs left of the window: the next request (due in 10) would come too late.
  EXPECT_FALSE(window.Decide(last, 1, last + 10).wait);
  // 15 left: wait, but not past the window's end.
  BatchWindow::Verdict verdict = window.Decide(last, 1, last + 15);
  EXPECT_TRUE(verdict.wait);
  EXPECT_EQ(verdict.recheck_at_us, last + 10);
  verdict = window.Decide(last + 5, 1, last + 16);
  EXPECT_TRUE(verdict.wait);
  EXPECT_LE(verdict.recheck_at_us, last + 16);
}

// A task with a shape and an id, for the BatchQueue tests.
class ShapeTask : public InferTask {
 public:
  ShapeTask(int id, Shape shape) : id_(id), shape_(std::move(shape)) {}
  const Shape& input_shape() const override { return shape_; }
  const void* input_data() const override { return nullptr; }
  float* MutableOutput(const Shape&) override { return nullptr; }
  void Finish(const absl::Status&) override {}
  int id() const { return id_; }

 private:
  int id_;
  Shape shape_;
};

BatchPolicy Adaptive(int64_t max_batch_size, int64_t delay_us, bool adaptive,
                     std::vector<int64_t> preferred = {}) {
  BatchPolicy policy;
  policy.max_batch_size = max_batch_size;
  policy.max_queue_delay_us = delay_us;
  policy.preferred_batch_sizes = std::move(preferred);
  policy.adaptive_window = adaptive;
  return policy;
}

void Push(BatchQueue& queue, int id, int64_t now_us, int64_t rows = 1) {
  std::unique_ptr<InferTask> task = std::make_unique<ShapeTask>(id, Shape{rows, 2});
  ASSERT_TRUE(queue.Push(task, now_us).ok());
}

std::vector<int> Ids(const std::vector<std::unique_ptr<InferTask>>& tasks) {
  std::vector<int> ids;
  for (const auto& task : tasks) ids.push_back(static_cast<ShapeTask*>(task.get())->id());
  return ids;
}

TEST(AdaptiveBatchQueue, ALoneRequestRunsAtOnceWhereTheFixedWindowWaits) {
  for (bool adaptive : {false, true}) {
    SCOPED_TRACE(adaptive);
    BatchQueue queue(Adaptive(64, 1000, adaptive));
    queue.RecordCompute(1, 10'000'000);  // batching would save a lot: fixed 10 ms
    queue.RecordCompute(4, 10'000'000);
    Push(queue, 0, 5000);
    BatchQueue::Decision d = queue.Take(5000);
    if (adaptive) {
      EXPECT_EQ(Ids(d.batch), (std::vector<int>{0}));
    } else {
      EXPECT_TRUE(d.batch.empty());
      EXPECT_EQ(d.wake_at_us, 6000);  // Triton's window, in full
    }
  }
}

TEST(AdaptiveBatchQueue, WaitsForTheNextArrivalWhenItPaysAndRespectsPreferredSizes) {
  BatchQueue queue(Adaptive(64, 1000, true, {3}));
  queue.RecordCompute(1, 100'000);  // flat: fixed 100 µs
  queue.RecordCompute(4, 100'000);
  // A stream 10 µs apart; the worker takes each batch as soon as it is sent.
  int id = 0;
  std::vector<std::vector<int>> batches;
  for (int64_t t = 0; t < 200; t += 10) {
    Push(queue, id++, t);
    BatchQueue::Decision d = queue.Take(t);
    if (!d.batch.empty()) batches.push_back(Ids(d.batch));
  }
  // The first arrival has no gap estimate to wait on; from then on one and two requests
  // wait (100 > 10, 100 > 20) and the preferred size 3 sends at once (it would have
  // waited: 100 > 30).
  ASSERT_GE(batches.size(), 5u);
  EXPECT_EQ(batches[0], (std::vector<int>{0}));
  for (size_t i = 1; i < batches.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(batches[i].size(), 3u);
  }
}

TEST(AdaptiveBatchQueue, MaxQueueDelayStaysTheBound) {
  BatchQueue queue(Adaptive(64, 100, true));
  queue.RecordCompute(1, 10'000'000);  // fixed 10 ms: every wait for a request pays
  queue.RecordCompute(4, 10'000'000);
  Push(queue, 0, 0);
  EXPECT_EQ(Ids(queue.Take(0).batch), (std::vector<int>{0}));  // no gap known yet
  // A request every 10 µs from t = 10: the batch led by the one at 10 may wait until 110.
  for (int64_t t = 10; t < 100; t += 10) {
    SCOPED_TRACE(t);
    Push(queue, static_cast<int>(t / 10), t);
    BatchQueue::Decision d = queue.Take(t);
    EXPECT_TRUE(d.batch.empty());
    EXPECT_EQ(d.wake_at_us, t + 10);  // when the next is due
  }
  // At 100 the next request is due at 110, when the window ends: not within it, so run.
  Push(queue, 10, 100);
  EXPECT_EQ(Ids(queue.Take(100).batch), (std::vector<int>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}));
}

// A steady stream served by `workers` simulated workers, each batch taking c(b) = 35 + b µs
// (reported to the queue when it ends), one request every 10 µs for 2 ms, on a 1 µs tick.
// Returns the batch sizes. The compute model is seeded with one earlier batch of 1 and one
// of 4 at those costs, as a burst would have left it.
std::vector<size_t> SimulateStream(const BatchPolicy& policy, int workers) {
  BatchQueue queue(policy);
  queue.RecordCompute(1, 36'000);
  queue.RecordCompute(4, 39'000);
  std::vector<int64_t> busy_until(static_cast<size_t>(workers), 0);
  std::vector<int64_t> running_rows(static_cast<size_t>(workers), 0);
  std::vector<size_t> sizes;
  int id = 0;
  for (int64_t t = 0; t <= 2500; ++t) {
    if (t < 2000 && t % 10 == 0) Push(queue, id++, t);
    for (size_t w = 0; w < busy_until.size(); ++w) {
      if (running_rows[w] > 0 && busy_until[w] <= t) {
        queue.RecordCompute(running_rows[w], (35 + running_rows[w]) * 1000);
        running_rows[w] = 0;
      }
      if (running_rows[w] > 0) continue;
      BatchQueue::Decision d = queue.Take(t);
      if (d.batch.empty()) continue;
      running_rows[w] = static_cast<int64_t>(d.batch.size());
      busy_until[w] = t + 35 + running_rows[w];
      sizes.push_back(d.batch.size());
    }
  }
  EXPECT_TRUE(queue.empty());
  return sizes;
}

TEST(AdaptiveBatchQueue, ASteadyStreamFormsBatchesThatAnIdlePoolWouldNot) {
  // Four workers keep up with batches of one (36 µs each, a request every 10 µs), so without
  // a wait every batch is one request. Adaptively (fixed = 35 µs): one to three requests
  // wait (35 > 10, 20, 30), four run (35 > 40 fails): after the first (no gap known yet),
  // requests 1-196 in batches of four, and the last three once their silence reaches
  // 35 / 3 µs.
  const std::vector<size_t> fixed = SimulateStream(Adaptive(64, 0, false), 4);
  EXPECT_EQ(fixed.size(), 200u);
  for (size_t size : fixed) EXPECT_EQ(size, 1u);

  const std::vector<size_t> adaptive = SimulateStream(Adaptive(64, 1000, true), 4);
  std::vector<size_t> expected(49, 4);
  expected.insert(expected.begin(), 1);
  expected.push_back(3);
  EXPECT_EQ(adaptive, expected);
}

}  // namespace
}  // namespace seqserve
