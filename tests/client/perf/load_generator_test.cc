// seqperf's load generator against the in-process fake: closed loop really keeps N
// requests outstanding, unary and streaming; errors are counted by status code; open
// loop sends; MeasureStep produces a merged step.
#include "client/perf/load_generator.h"

#include <memory>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/util/fake_inference_service.h"

namespace seqserve::perf {
namespace {

using client::Client;
using client::InferOptions;
using client::MakeInferRequest;

class LoadGeneratorTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    auto client = Client::Create(server_.address());
    ASSERT_TRUE(client.ok()) << client.status();
    client_ = *std::move(client);
  }

  LoadGeneratorOptions Options() const {
    LoadGeneratorOptions options;
    options.streaming = GetParam();
    return options;
  }

  inference::ModelInferRequest Request(const std::string& model) const {
    return MakeInferRequest(model, Tensor({1, 4}), InferOptions{});
  }

  // Collects until at least `n` requests completed (successful or not).
  Window CollectAtLeast(LoadGenerator& generator, int64_t n) {
    Window w;
    auto total = [&] {
      int64_t errors = 0;
      for (int64_t e : w.errors) errors += e;
      return static_cast<int64_t>(w.latencies_ns.size()) + errors;
    };
    // Spinning (with yields) rather than sleeping: the test waits for completions only.
    while (total() < n) {
      std::this_thread::yield();
      generator.Collect(&w);
    }
    return w;
  }

  testing::FakeServer server_;
  std::unique_ptr<Client> client_;
};

TEST_P(LoadGeneratorTest, ClosedLoopKeepsConcurrencyOutstanding) {
  constexpr int kConcurrency = 16;
  // The fake answers only when all 16 are parked, so the generator makes progress only if
  // it really keeps 16 outstanding.
  server_.service().SetGate(kConcurrency);
  LoadGenerator generator(*client_, Request("gate"), Options());
  ASSERT_TRUE(generator.StartClosedLoop(kConcurrency).ok());
  const Window w = CollectAtLeast(generator, 5 * kConcurrency);
  EXPECT_EQ(server_.service().max_parked(), kConcurrency);
  for (int64_t e : w.errors) EXPECT_EQ(e, 0);
  for (int64_t ns : w.latencies_ns) EXPECT_GT(ns, 0);
  server_.service().ReleaseAll();  // let the last round finish
  EXPECT_TRUE(generator.Stop().ok());
}

TEST_P(LoadGeneratorTest, CountsErrorsByStatusCode) {
  LoadGenerator generator(*client_, Request("nope"), Options());
  ASSERT_TRUE(generator.StartClosedLoop(4).ok());
  const Window w = CollectAtLeast(generator, 20);
  EXPECT_TRUE(w.latencies_ns.empty());
  EXPECT_GE(w.errors[static_cast<int>(absl::StatusCode::kNotFound)], 20);
  EXPECT_TRUE(generator.Stop().ok());
}

TEST_P(LoadGeneratorTest, RestartsWithAnotherConcurrency) {
  LoadGenerator generator(*client_, Request("echo"), Options());
  for (int concurrency : {1, 3, 8}) {
    ASSERT_TRUE(generator.StartClosedLoop(concurrency).ok());
    const Window w = CollectAtLeast(generator, 50);
    EXPECT_GE(w.latencies_ns.size(), 50u);
    EXPECT_TRUE(generator.Stop().ok());
  }
  EXPECT_TRUE(absl::IsInvalidArgument(generator.StartClosedLoop(0)));
}

TEST_P(LoadGeneratorTest, OpenLoopSendsAtTheRate) {
  LoadGenerator generator(*client_, Request("echo"), Options());
  // A high rate so the test collects its requests quickly; the fake keeps up easily.
  ASSERT_TRUE(generator.StartOpenLoop(2000, /*poisson=*/true, /*max_outstanding=*/64).ok());
  const Window w = CollectAtLeast(generator, 40);
  EXPECT_GE(w.latencies_ns.size(), 40u);
  EXPECT_TRUE(generator.Stop().ok());
  EXPECT_TRUE(absl::IsInvalidArgument(generator.StartOpenLoop(0, false, 4)));
  EXPECT_TRUE(absl::IsInvalidArgument(generator.StartOpenLoop(10, false, 0)));
}

TEST_P(LoadGeneratorTest, OpenLoopCountsSendsWithNoFreeSlotAsDropped) {
  server_.service().SetGate(1000);  // nothing is answered: both slots stay busy
  LoadGenerator generator(*client_, Request("gate"), Options());
  ASSERT_TRUE(generator.StartOpenLoop(5000, /*poisson=*/false, /*max_outstanding=*/2).ok());
  server_.service().AwaitParked(2);
  Window w;
  while (w.dropped == 0) {
    std::this_thread::yield();
    generator.Collect(&w);
  }
  server_.service().ReleaseAll();  // the gate stays open, so later requests pass too
  EXPECT_TRUE(generator.Stop().ok());
}

TEST_P(LoadGeneratorTest, MeasureStepMergesStableWindows) {
  LoadGenerator generator(*client_, Request("echo"), Options());
  ASSERT_TRUE(generator.StartClosedLoop(2).ok());
  MeasureOptions options;
  options.warmup_s = 0;
  options.window_ms = 30;
  options.stability.max_windows = 4;
  options.server_pid = getpid();  // the fake runs in this process
  int progress_calls = 0;
  absl::StatusOr<StepResult> step =
      MeasureStep(generator, 2, 1, options, [&](const std::string&) { ++progress_calls; });
  EXPECT_TRUE(generator.Stop().ok());
  ASSERT_TRUE(step.ok()) << step.status();
  EXPECT_EQ(step->load, 2);
  EXPECT_GT(step->requests, 0);
  EXPECT_GT(step->throughput_infer_per_s, 0);
  EXPECT_GE(step->windows_measured, 3);
  EXPECT_LE(step->windows_measured, 4);
  EXPECT_GT(step->latency.p50_us, 0);
  EXPECT_LE(step->latency.p50_us, step->latency.p99_us);
  EXPECT_GE(step->client_cpu_us_per_request, 0);
  EXPECT_GE(step->server_cpu_us_per_request, 0);
  EXPECT_GT(progress_calls, 0);
}

INSTANTIATE_TEST_SUITE_P(UnaryAndStreaming, LoadGeneratorTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& param) {
                           return param.param ? "Streaming" : "Unary";
                         });

}  // namespace
}  // namespace seqserve::perf
