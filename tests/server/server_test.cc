// The serving process (server/server.h) on servers of their own: message limits, control
// mode none, start-up failures, hot reload under load, the poll thread, and the shutdown drain
// of SPEC §9 — through generated stubs, with outputs compared with real PyTorch outputs.
// Waits are on notifications and scheduler states, never on fixed sleeps.
#include <atomic>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "proto/grpc_service.grpc.pb.h"
#include "server/server.h"
#include "tests/util/grpc_test_util.h"
#include "util/grpc_health_v1.grpc.pb.h"

namespace seqserve {
namespace {

namespace fs = std::filesystem;
using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;
using inference::ModelInferResponse;
using ::testing::HasSubstr;
using namespace seqserve::testing;  // NOLINT: the shared test helpers

TEST(GrpcServer, OversizedMessageIsResourceExhaustedAndServingGoesOn) {
  TempDir dir("seqserve_grpc");
  CopyModel(dir.path(), "mlp", "mlp");
  ServerOptions options = LocalOptions(dir.path());
  options.grpc_max_message_bytes = 64 * 1024;
  absl::StatusOr<std::unique_ptr<Server>> server = Server::Start(options);
  ASSERT_TRUE(server.ok()) << server.status();
  StubClient client((*server)->grpc_port());
  const Tensor input = LoadNpy("mlp", "input");

  std::vector<int> rows(32, 1);  // 32 x 3136 bytes > 64 KiB
  ModelInferResponse response;
  const grpc::Status status = client.Infer(MakeRequest("mlp", input, rows, true), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_TRUE(client.Infer(MakeRequest("mlp", input, {1}, true), &response).ok());
  (*server)->Shutdown();
}

// A seed request of 1x1xHxW: its output is 64 x (H-8) x (W-8) float32.
inference::ModelInferRequest SeedRequest(int64_t height, int64_t width) {
  const Tensor image(Shape{1, 1, height, width},
                     std::vector<float>(static_cast<size_t>(height * width), 0.5f));
  return MakeRequest("seed", image, {0}, /*raw=*/true);
}

// Before: a reply larger than --grpc-max-message-bytes was computed, counted in
// seqserve_inference_request_success_total, and then failed to send. Now it is refused
// before it is queued, named, and counted as a failure; nothing runs.
TEST(GrpcServer, AReplyTooLargeToSendIsRefusedBeforeComputeAndCountedAsAFailure) {
  TempDir dir("seqserve_grpc");
  CopyModel(dir.path(), "seed", "seed");
  ServerOptions options = LocalOptions(dir.path());
  options.grpc_max_message_bytes = 1 << 20;
  absl::StatusOr<std::unique_ptr<Server>> server = Server::Start(options);
  ASSERT_TRUE(server.ok()) << server.status();
  StubClient client((*server)->grpc_port());

  ModelInferResponse response;
  // 64 x 92 x 92 x 4 = 2,166,784 bytes: more than 1 MiB.
  const grpc::Status status = client.Infer(SeedRequest(100, 100), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(status.error_message(),
            "output 'output' of shape [1, 64, 92, 92] would take 2.2 MB (FP32), more than a "
            "reply may hold; the limit is 1.0 MB (--grpc-max-message-bytes=1048576)");
  inference::ModelStatistics stats = client.Statistics("seed");
  EXPECT_EQ(stats.inference_stats().success().count(), 0u);
  EXPECT_EQ(stats.inference_stats().fail().count(), 1u);
  EXPECT_EQ(stats.execution_count(), 0u);
  // 64 x 20 x 20 x 4 = 102,400 bytes: fine.
  EXPECT_TRUE(client.Infer(SeedRequest(28, 28), &response).ok());
  stats = client.Statistics("seed");
  EXPECT_EQ(stats.inference_stats().success().count(), 1u);
  (*server)->Shutdown();
}

// --max-output-bytes bounds every protocol's output (here over gRPC, whose own limit is
// larger), and --max-activation-bytes the compiled plan's activations; both before compute.
TEST(GrpcServer, OutputAndActivationLimitsRefuseBeforeCompute) {
  TempDir dir("seqserve_grpc");
  CopyModel(dir.path(), "seed", "seed");
  ServerOptions options = LocalOptions(dir.path());
  options.request_limits.max_output_bytes = 1'000'000;
  options.request_limits.max_activation_bytes = 1'000'000;
  absl::StatusOr<std::unique_ptr<Server>> server = Server::Start(options);
  ASSERT_TRUE(server.ok()) << server.status();
  StubClient client((*server)->grpc_port());

  ModelInferResponse response;
  grpc::Status status = client.Infer(SeedRequest(100, 100), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(status.error_message(),
            "output 'output' of shape [1, 64, 92, 92] would take 2.2 MB (FP32); the limit is "
            "1.0 MB (--max-output-bytes=1000000)");
  // 64 x 52 x 52 x 4 = 692,224 bytes of output pass; the 20 x 56 x 56 hidden activation in
  // the blocked layout oneDNN picks, and the scratchpad, take more than 1 MB (1.1 MB).
  status = client.Infer(SeedRequest(60, 60), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(status.error_message(),
              ::testing::MatchesRegex("input \\[1, 1, 60, 60\\] needs [0-9.]+ MB of activations "
                                      "and scratchpad; the limit is 1.0 MB "
                                      "\\(--max-activation-bytes=1000000\\)"));
  const inference::ModelStatistics stats = client.Statistics("seed");
  EXPECT_EQ(stats.inference_stats().success().count(), 0u);
  EXPECT_EQ(stats.inference_stats().fail().count(), 2u);
  EXPECT_TRUE(client.Infer(SeedRequest(28, 28), &response).ok());
  (*server)->Shutdown();
}

TEST(GrpcServer, NoneModeRefusesLoadAndUnload) {
  TempDir dir("seqserve_grpc");
  CopyModel(dir.path(), "mlp", "mlp");
  absl::StatusOr<std::unique_ptr<Server>> server = Server::Start(LocalOptions(dir.path()));
  ASSERT_TRUE(server.ok()) << server.status();
  StubClient client((*server)->grpc_port());
  const grpc::Status load = client.Load("mlp");
  EXPECT_EQ(load.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(load.error_message(), HasSubstr("--model-control-mode=explicit"));
  EXPECT_EQ(client.Unload("mlp").error_code(), grpc::StatusCode::FAILED_PRECONDITION);
}

TEST(GrpcServer, StartFailsOnAMissingRepositoryOrABusyPort) {
  TempDir dir("seqserve_grpc");
  EXPECT_FALSE(Server::Start(LocalOptions(dir.path() / "missing")).ok());
  CopyModel(dir.path(), "mlp", "mlp");
  absl::StatusOr<std::unique_ptr<Server>> first = Server::Start(LocalOptions(dir.path()));
  ASSERT_TRUE(first.ok()) << first.status();
  ServerOptions options = LocalOptions(dir.path());
  options.grpc_port = (*first)->grpc_port();
  absl::StatusOr<std::unique_ptr<Server>> second = Server::Start(options);
  ASSERT_FALSE(second.ok());
  EXPECT_THAT(std::string(second.status().message()), HasSubstr("cannot listen"));
}

TEST(GrpcServer, HotReloadUnderConcurrentLoadFailsNoRequest) {
  TempDir dir("seqserve_grpc");
  CopyModel(dir.path(), "mlp", "mlp");
  ServerOptions options = LocalOptions(dir.path());
  options.control_mode = ModelControlMode::kPoll;
  options.repository_poll_secs = 3600;  // the test polls itself
  absl::StatusOr<std::unique_ptr<Server>> server = Server::Start(options);
  ASSERT_TRUE(server.ok()) << server.status();
  StubClient client((*server)->grpc_port());
  const Tensor input = LoadNpy("mlp", "input");
  const Tensor expected = LoadNpy("mlp", "expected");

  constexpr int kThreads = 4;
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0};
  std::atomic<int> total{0};
  std::atomic<int> after_reload{0};  // answered by version 2
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      int i = 0;
      while (!stop.load()) {
        const std::vector<int> rows = {(t + i++) % 4};
        ModelInferResponse response;
        const grpc::Status status =
            client.Infer(MakeRequest("mlp", input, rows, t % 2 == 0), &response);
        if (!status.ok()) {
          ADD_FAILURE() << "request failed during reload: " << status.error_message();
          ++failures;
        } else {
          ExpectRows(OutputValues(response), expected, rows);
          if (response.model_version() == "2") ++after_reload;
        }
        ++total;
      }
    });
  }
  const absl::Time deadline = absl::Now() + kGuard;
  while (total.load() < 50 && absl::Now() < deadline) std::this_thread::yield();

  // Version 2 (the same weights) appears while the clients keep sending.
  fs::copy(dir.path() / "mlp" / "1", dir.path() / "mlp" / "2", fs::copy_options::recursive);
  ASSERT_TRUE((*server)->repository().Poll().ok());
  bool ready = false;
  ASSERT_TRUE(client.ModelReady("mlp", "2", &ready).ok());
  EXPECT_TRUE(ready);
  while (after_reload.load() < 50 && absl::Now() < deadline) std::this_thread::yield();
  stop = true;
  for (std::thread& thread : threads) thread.join();

  EXPECT_EQ(failures.load(), 0);
  EXPECT_GE(after_reload.load(), 50);
  bool v2_ready = false;
  for (const auto& model : client.Index(false)) {
    if (model.name() == "mlp" && model.version() == "2") v2_ready = model.state() == "READY";
  }
  EXPECT_TRUE(v2_ready);
}

TEST(GrpcServer, PollThreadLoadsAModelAddedToTheRepository) {
  TempDir dir("seqserve_grpc");
  CopyModel(dir.path(), "mlp", "mlp");
  ServerOptions options = LocalOptions(dir.path());
  options.control_mode = ModelControlMode::kPoll;
  options.repository_poll_secs = 1;
  absl::StatusOr<std::unique_ptr<Server>> server = Server::Start(options);
  ASSERT_TRUE(server.ok()) << server.status();
  StubClient client((*server)->grpc_port());

  // The health service announces the model once a poll has loaded it.
  grpc::ClientContext watch_context;
  watch_context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  HealthCheckRequest request;
  request.set_service("late");
  auto reader = client.health->Watch(&watch_context, request);
  HealthCheckResponse first;
  ASSERT_TRUE(reader->Read(&first));
  EXPECT_EQ(first.status(), HealthCheckResponse::SERVICE_UNKNOWN);
  // Appears whole (a rename), so no poll sees it half copied.
  TempDir staging("seqserve_grpc_staging");
  CopyModel(staging.path(), "mlp", "late");
  fs::rename(staging.path() / "late", dir.path() / "late");
  ASSERT_TRUE(WatchUntil(*reader, HealthCheckResponse::SERVING));
  watch_context.TryCancel();
  reader->Finish();

  const Tensor input = LoadNpy("mlp", "input");
  const Tensor expected = LoadNpy("mlp", "expected");
  ModelInferResponse response;
  ASSERT_TRUE(client.Infer(MakeRequest("late", input, {1}, true), &response).ok());
  ExpectRows(OutputValues(response), expected, {1});
}

TEST(GrpcServer, ShutdownAnswersEveryAcceptedRequestThenRefusesNewOnes) {
  TempDir dir("seqserve_grpc");
  CopyModel(dir.path(), "lenet", "slow", kOneWorkerConfig);
  absl::StatusOr<std::unique_ptr<Server>> started = Server::Start(LocalOptions(dir.path()));
  ASSERT_TRUE(started.ok()) << started.status();
  Server& server = **started;
  StubClient client(server.grpc_port());
  const Tensor input = LoadNpy("lenet", "input");
  const Tensor expected = LoadNpy("lenet", "expected");

  // Three requests wait behind a held worker: in flight when shutdown begins.
  std::shared_ptr<Gate> gate = HoldWorker(server, "slow");
  GateOpener opener(gate);
  constexpr int kInFlight = 3;
  std::vector<grpc::Status> statuses(kInFlight);
  std::vector<ModelInferResponse> responses(kInFlight);
  std::vector<std::thread> callers;
  for (int i = 0; i < kInFlight; ++i) {
    callers.emplace_back([&, i] {
      statuses[i] = client.Infer(MakeRequest("slow", input, {i}, true), &responses[i]);
    });
  }
  ASSERT_TRUE(WaitForQueueDepth(server, "slow", kInFlight));
  // A stream stays open, idle: shutdown must not wait for its client.
  grpc::ClientContext stream_context;
  auto stream = client.stub->ModelStreamInfer(&stream_context);

  std::thread shutdown([&] { server.Shutdown(); });
  const absl::Time deadline = absl::Now() + kGuard;
  while (client.ServerReady() && absl::Now() < deadline) std::this_thread::yield();
  EXPECT_FALSE(client.ServerReady());
  HealthCheckResponse::ServingStatus health = HealthCheckResponse::UNKNOWN;
  ASSERT_TRUE(client.Health("", &health).ok());
  EXPECT_EQ(health, HealthCheckResponse::NOT_SERVING);
  ModelInferResponse refused;
  const grpc::Status late = client.Infer(MakeRequest("slow", input, {0}, true), &refused);
  EXPECT_EQ(late.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(late.error_message(), "server is shutting down");

  gate->release.Notify();
  for (std::thread& caller : callers) caller.join();
  shutdown.join();
  for (int i = 0; i < kInFlight; ++i) {
    ASSERT_TRUE(statuses[i].ok()) << statuses[i].error_message();
    ExpectRows(OutputValues(responses[i]), expected, {i});
  }
  const grpc::Status stream_status = stream->Finish();
  EXPECT_EQ(stream_status.error_code(), grpc::StatusCode::UNAVAILABLE);
  // The server is gone: nothing answers any more.
  EXPECT_EQ(client.Infer(MakeRequest("slow", input, {0}, true), &refused).error_code(),
            grpc::StatusCode::UNAVAILABLE);
}

}  // namespace
}  // namespace seqserve
