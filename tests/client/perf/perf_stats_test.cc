// seqperf's statistics: percentiles, the stability rule, merging windows and CPU clocks.
#include "client/perf/perf_stats.h"

#include <unistd.h>

#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace seqserve::perf {
namespace {

TEST(Percentile, NearestRankOnSortedValues) {
  const std::vector<int64_t> v = {10, 20, 30, 40};
  EXPECT_EQ(Percentile(v, 50), 20);
  EXPECT_EQ(Percentile(v, 75), 30);
  EXPECT_EQ(Percentile(v, 76), 40);
  EXPECT_EQ(Percentile(v, 100), 40);
  EXPECT_EQ(Percentile(v, 0), 10);
  EXPECT_EQ(Percentile(std::vector<int64_t>{}, 50), 0);
  std::vector<int64_t> hundred;
  for (int i = 1; i <= 100; ++i) hundred.push_back(i);
  EXPECT_EQ(Percentile(hundred, 90), 90);
  EXPECT_EQ(Percentile(hundred, 99), 99);
  EXPECT_EQ(Percentile(hundred, 99.5), 100);
}

TEST(SummarizeLatencies, SortsAndReportsMicroseconds) {
  std::vector<int64_t> ns = {4000, 1000, 3000, 2000};
  const LatencySummary s = SummarizeLatencies(ns);
  EXPECT_EQ(s.count, 4);
  EXPECT_DOUBLE_EQ(s.mean_us, 2.5);
  EXPECT_DOUBLE_EQ(s.p50_us, 2);
  EXPECT_DOUBLE_EQ(s.p99_us, 4);
  EXPECT_DOUBLE_EQ(s.max_us, 4);
  EXPECT_THAT(ns, ::testing::ElementsAre(1000, 2000, 3000, 4000));
  std::vector<int64_t> none;
  EXPECT_EQ(SummarizeLatencies(none).count, 0);
}

TEST(IsStable, NeedsEnoughWindowsAllWithinTolerance) {
  const StabilityRule rule{.windows = 3, .tolerance = 0.10, .max_windows = 10};
  std::vector<WindowSummary> w = {{1000, 100}, {1050, 104}};
  EXPECT_FALSE(IsStable(w, rule));  // two windows are not three
  w.push_back({980, 98});
  EXPECT_TRUE(IsStable(w, rule));
  // Only the last three count: an early outlier does not matter.
  std::vector<WindowSummary> late = {{100, 900}, {1000, 100}, {1010, 101}, {990, 99}};
  EXPECT_TRUE(IsStable(late, rule));
}

TEST(IsStable, ThroughputOrLatencyOutsideToleranceIsUnstable) {
  const StabilityRule rule;
  // Mean throughput 1000; 1150 is 15% off.
  EXPECT_FALSE(IsStable(std::vector<WindowSummary>{{925, 100}, {925, 100}, {1150, 100}}, rule));
  // Mean p50 100; 120 is 13% off.
  EXPECT_FALSE(IsStable(std::vector<WindowSummary>{{1000, 90}, {1000, 90}, {1000, 120}}, rule));
  // A window without a success never counts as stable.
  EXPECT_FALSE(IsStable(std::vector<WindowSummary>{{0, 0}, {0, 0}, {0, 0}}, rule));
  StabilityRule loose = rule;
  loose.tolerance = 0.2;
  EXPECT_TRUE(IsStable(std::vector<WindowSummary>{{925, 100}, {925, 100}, {1150, 100}}, loose));
}

TEST(SummarizeWindow, ThroughputIsSuccessesPerSecond) {
  Window w;
  w.duration_s = 2;
  w.latencies_ns = {3000, 1000, 2000, 4000};
  w.errors[5] = 10;  // failures do not count as throughput
  const WindowSummary s = SummarizeWindow(w);
  EXPECT_DOUBLE_EQ(s.throughput_per_s, 2);
  EXPECT_DOUBLE_EQ(s.p50_us, 2);
}

TEST(MergeWindows, CombinesLatenciesErrorsAndCpu) {
  Window a, b;
  a.duration_s = b.duration_s = 1;
  a.latencies_ns = {1000, 2000};
  b.latencies_ns = {3000, 4000, 5000, 6000};
  a.errors[14] = 1;  // UNAVAILABLE
  b.errors[8] = 1;   // RESOURCE_EXHAUSTED
  a.client_cpu_us = 300;
  b.client_cpu_us = 500;
  a.server_cpu_us = 400;
  b.server_cpu_us = 400;
  b.dropped = 3;
  const std::vector<Window> windows = {a, b};
  const StepResult r = MergeWindows(windows, 4, /*batch_size=*/8, /*stable=*/true, 5);
  EXPECT_EQ(r.requests, 6);
  EXPECT_DOUBLE_EQ(r.duration_s, 2);
  EXPECT_DOUBLE_EQ(r.throughput_infer_per_s, 3);
  EXPECT_DOUBLE_EQ(r.throughput_samples_per_s, 24);
  EXPECT_DOUBLE_EQ(r.latency.p50_us, 3);
  EXPECT_DOUBLE_EQ(r.latency.max_us, 6);
  EXPECT_EQ(r.error_total, 2);
  EXPECT_EQ(r.errors[14], 1);
  EXPECT_EQ(r.dropped, 3);
  // CPU is per completed request, failed ones included: 800 us / 8.
  EXPECT_DOUBLE_EQ(r.client_cpu_us_per_request, 100);
  EXPECT_DOUBLE_EQ(r.server_cpu_us_per_request, 100);
  EXPECT_TRUE(r.stable);
  EXPECT_EQ(r.windows_measured, 5);
}

TEST(MergeWindows, ServerCpuUnknownStaysUnknown) {
  Window a;
  a.duration_s = 1;
  a.latencies_ns = {1000};
  const StepResult r = MergeWindows(std::vector<Window>{a}, 1, 1, false, 10);
  EXPECT_LT(r.server_cpu_us_per_request, 0);
}

TEST(StatusCodeName, CanonicalNames) {
  EXPECT_EQ(StatusCodeName(0), "OK");
  EXPECT_EQ(StatusCodeName(4), "DEADLINE_EXCEEDED");
  EXPECT_EQ(StatusCodeName(14), "UNAVAILABLE");
  EXPECT_EQ(StatusCodeName(16), "UNAUTHENTICATED");
  EXPECT_EQ(StatusCodeName(99), "CODE_99");
}

TEST(CpuClocks, OwnProcessReadsTheSameBothWays) {
  // Burn a little CPU so both clocks are clearly non-zero.
  volatile double x = 0;
  for (int i = 0; i < 20'000'000; ++i) x = x + i * 0.5;
  const double self = SelfCpuMicros();
  absl::StatusOr<double> proc = ProcessCpuMicros(getpid());
  ASSERT_TRUE(proc.ok()) << proc.status();
  EXPECT_GT(self, 0);
  // /proc counts in clock ticks (10 ms); allow a few ticks of difference.
  EXPECT_NEAR(*proc, self, 50'000);
  EXPECT_TRUE(absl::IsNotFound(ProcessCpuMicros(-5).status()));
}

}  // namespace
}  // namespace seqserve::perf
