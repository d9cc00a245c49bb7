// RequestTrace: Triton's JSON objects in the order of the stages, the model's name escaped,
// and the hand-over to its collector when it is released.
#include "server/tracing/request_trace.h"

#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace seqserve {
namespace {

using json = nlohmann::json;

// The trace's objects as one JSON array.
json AsArray(const RequestTrace& trace) {
  std::string text = "[";
  text += trace.ToJson();
  text += ']';
  return json::parse(text);
}

class RecordingCollector final : public TraceCollector {
 public:
  void Collect(const RequestTrace& trace) override { collected.push_back(trace.ToJson()); }
  std::vector<std::string> collected;
};

TEST(RequestTrace, WritesTritonsObjectsInStageOrder) {
  RequestTrace trace(7, "lenet", nullptr);
  trace.set_model_version(2);
  trace.set_request_id("r\"1");
  // Stamped out of order: written in the order a request passes the stages.
  trace.Stamp(TraceActivity::kRequestEnd, 900);
  trace.StampCompute(500, 600, 700, 800);
  trace.Stamp(TraceActivity::kRequestStart, 100);
  trace.Stamp(TraceActivity::kQueueStart, 200);
  const json parsed = AsArray(trace);
  const json expected = json::parse(R"([
    {"id":7,"model_name":"lenet","model_version":2,"request_id":"r\"1"},
    {"id":7,"timestamps":[{"name":"REQUEST_START","ns":100}]},
    {"id":7,"timestamps":[{"name":"QUEUE_START","ns":200}]},
    {"id":7,"timestamps":[{"name":"COMPUTE_START","ns":500}]},
    {"id":7,"timestamps":[{"name":"COMPUTE_INPUT_END","ns":600}]},
    {"id":7,"timestamps":[{"name":"COMPUTE_OUTPUT_START","ns":700}]},
    {"id":7,"timestamps":[{"name":"COMPUTE_END","ns":800}]},
    {"id":7,"timestamps":[{"name":"REQUEST_END","ns":900}]}
  ])");
  EXPECT_EQ(parsed, expected);
}

TEST(RequestTrace, WithoutVersionOrIdSaysMinusOneAndNoRequestId) {
  RequestTrace trace(1, "no\nsuch", nullptr);
  const json parsed = AsArray(trace);
  ASSERT_EQ(parsed.size(), 1u);
  EXPECT_EQ(parsed[0], json({{"id", 1}, {"model_name", "no\nsuch"}, {"model_version", -1}}));
}

TEST(RequestTrace, NamesEveryStageAsTriton) {
  std::vector<std::string> names;
  for (size_t i = 0; i < kTraceActivityCount; ++i) {
    names.push_back(TraceActivityName(static_cast<TraceActivity>(i)));
  }
  EXPECT_THAT(names, ::testing::ElementsAre(
                         "HTTP_RECV_START", "HTTP_RECV_END", "GRPC_WAITREAD_START",
                         "GRPC_WAITREAD_END", "REQUEST_START", "QUEUE_START", "COMPUTE_START",
                         "COMPUTE_INPUT_END", "COMPUTE_OUTPUT_START", "COMPUTE_END", "REQUEST_END",
                         "HTTP_SEND_START", "HTTP_SEND_END", "GRPC_SEND_START", "GRPC_SEND_END"));
}

TEST(RequestTrace, GoesToItsCollectorWhenReleased) {
  auto collector = std::make_shared<RecordingCollector>();
  {
    RequestTrace trace(3, "mlp", collector);
    trace.Stamp(TraceActivity::kRequestStart);
    EXPECT_TRUE(collector->collected.empty());
    EXPECT_GT(trace.stamp(TraceActivity::kRequestStart), 0);
    EXPECT_EQ(trace.stamp(TraceActivity::kRequestEnd), 0);
  }
  ASSERT_EQ(collector->collected.size(), 1u);
  EXPECT_THAT(collector->collected[0], ::testing::HasSubstr("\"REQUEST_START\""));
}

TEST(RequestTrace, NowIsTheSteadyClockInNanoseconds) {
  const int64_t before = std::chrono::duration_cast<std::chrono::nanoseconds>(
                             std::chrono::steady_clock::now().time_since_epoch())
                             .count();
  const int64_t now = TraceNowNanos();
  EXPECT_GE(now, before);
  EXPECT_LT(now - before, int64_t{1'000'000'000});
}

}  // namespace
}  // namespace seqserve
