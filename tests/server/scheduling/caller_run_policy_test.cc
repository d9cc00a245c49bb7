// CallerRunPolicy with explicit times: what it predicts from measured batches, and which
// batches it lets a caller run. Expected values follow from the policy's rules by hand
// (exponential weight 1/8, margin 2).
#include "server/scheduling/caller_run_policy.h"

#include "gtest/gtest.h"

namespace seqserve {
namespace {

constexpr int64_t kMaxUs = 1000;

TEST(CallerRunPolicy, NothingRunsOnACallerBeforeABatchIsMeasured) {
  CallerRunPolicy policy(kMaxUs, /*batching=*/false);
  EXPECT_LT(policy.PredictNs(1), 0);
  EXPECT_FALSE(policy.Allows(1));
  policy.RecordCompute(1, 20'000);
  EXPECT_TRUE(policy.Allows(1));
}

TEST(CallerRunPolicy, ZeroMaxMeansNever) {
  CallerRunPolicy policy(0, /*batching=*/false);
  policy.RecordCompute(1, 1'000);
  EXPECT_FALSE(policy.Allows(1));
}

TEST(CallerRunPolicy, PredictsOneRowAndLargerBatchesApart) {
  CallerRunPolicy policy(kMaxUs, /*batching=*/true);
  // Only one-row batches seen: a larger batch is predicted at that cost per row.
  policy.RecordCompute(1, 80'000);
  EXPECT_DOUBLE_EQ(policy.PredictNs(1), 80'000);
  EXPECT_DOUBLE_EQ(policy.PredictNs(4), 320'000);
  // A batch of 10 in 160 us: 16 us per row for larger batches; one row keeps its own.
  policy.RecordCompute(10, 160'000);
  EXPECT_DOUBLE_EQ(policy.PredictNs(1), 80'000);
  EXPECT_DOUBLE_EQ(policy.PredictNs(4), 64'000);
  // Weighted 1/8: 80 + (160 - 80) / 8 = 90 us.
  policy.RecordCompute(1, 160'000);
  EXPECT_DOUBLE_EQ(policy.PredictNs(1), 90'000);
}

TEST(CallerRunPolicy, OnlyShortBatchesRunOnACaller) {
  CallerRunPolicy policy(kMaxUs, /*batching=*/false);
  policy.RecordCompute(1, 600'000);
  EXPECT_TRUE(policy.Allows(1));
  // Two rows at 600 us each: over the 1 ms bound.
  EXPECT_FALSE(policy.Allows(2));
}

TEST(CallerRunPolicy, AModelThatDoesNotBatchIgnoresArrivals) {
  CallerRunPolicy policy(kMaxUs, /*batching=*/false);
  policy.RecordCompute(1, 100'000);
  for (int64_t t = 0; t < 100; t += 10) policy.RecordArrival(t);  // every 10 us
  EXPECT_TRUE(policy.Allows(1));
}

TEST(CallerRunPolicy, ALoneRequestOfABatchingModelRunsOnTheCaller) {
  CallerRunPolicy policy(kMaxUs, /*batching=*/true);
  policy.RecordCompute(1, 70'000);
  // One request every 500 us (a closed loop at concurrency 1): 70 * 2 < 500, 70 < 500.
  for (int64_t t = 0; t <= 5000; t += 500) policy.RecordArrival(t);
  EXPECT_DOUBLE_EQ(policy.mean_gap_us(), 500);
  EXPECT_TRUE(policy.Allows(1));
}

TEST(CallerRunPolicy, AStreamThatWouldBatchStaysOnTheWorkers) {
  CallerRunPolicy policy(kMaxUs, /*batching=*/true);
  policy.RecordCompute(1, 70'000);
  // One request every 100 us: a worker busy 70 us would gather the next one or two, so
  // 70 * 2 >= 100 keeps them there.
  for (int64_t t = 0; t <= 5000; t += 100) policy.RecordArrival(t);
  EXPECT_DOUBLE_EQ(policy.mean_gap_us(), 100);
  EXPECT_FALSE(policy.Allows(1));
}

TEST(CallerRunPolicy, TheTailOfABurstStaysOnTheWorkers) {
  CallerRunPolicy policy(kMaxUs, /*batching=*/true);
  policy.RecordCompute(1, 70'000);
  for (int64_t t = 0; t <= 5000; t += 1000) policy.RecordArrival(t);
  // The head of a burst, after a long gap, runs on its caller ...
  policy.RecordArrival(6000);
  EXPECT_TRUE(policy.Allows(1));
  // ... the next, 5 us behind it, waits for a worker (the mean gap is still long:
  // 1000 + (5 - 1000) / 8 = 875.6 us).
  policy.RecordArrival(6005);
  EXPECT_GT(policy.mean_gap_us(), 140);
  EXPECT_FALSE(policy.Allows(1));
}

TEST(CallerRunPolicy, ASilenceCountsAsAtMostOneSecond) {
  CallerRunPolicy policy(kMaxUs, /*batching=*/true);
  policy.RecordArrival(0);
  policy.RecordArrival(3'600'000'000);  // an hour later
  EXPECT_DOUBLE_EQ(policy.mean_gap_us(), CallerRunPolicy::kMaxGapUs);
}

}  // namespace
}  // namespace seqserve
