// The gRPC service (server/grpc/grpc_service.h) end to end: one Server for the suite,
// started in-process (tests/util/grpc_test_util.h) and called through generated stubs
// (KServe v2, grpc.health.v1) and a generic stub (reflection). Outputs are compared with real
// PyTorch outputs (tests/data/bundled/<model>/expected.npy).
//
// No fixed sleeps. To hold a model's single worker, a test enqueues a gate task straight
// into that model's scheduler and waits on notifications; where a test must know that a
// request sent on another thread has reached the queue, it polls the scheduler's queue
// depth (bounded by a generous guard that only turns a bug into a failure).
#include <stdlib.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "proto/grpc_service.grpc.pb.h"
#include "server/server.h"
#include "tests/util/grpc_test_util.h"
#include "util/grpc_health_v1.grpc.pb.h"
#include "util/reflection_messages.pb.h"

namespace seqserve {
namespace {

namespace fs = std::filesystem;
using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;
using inference::ModelInferRequest;
using inference::ModelInferResponse;
using inference::ModelStreamInferResponse;
using ::testing::HasSubstr;
using namespace seqserve::testing;  // NOLINT: the shared test helpers

TEST_F(GrpcServerTest, ServerIsLiveAndReady) {
  grpc::ClientContext context;
  inference::ServerLiveResponse live;
  ASSERT_TRUE(client_->stub->ServerLive(&context, {}, &live).ok());
  EXPECT_TRUE(live.live());
  EXPECT_TRUE(client_->ServerReady());
  EXPECT_TRUE(server_->ready());
}

TEST_F(GrpcServerTest, ServerMetadataNamesTheImplementedExtensions) {
  grpc::ClientContext context;
  inference::ServerMetadataResponse metadata;
  ASSERT_TRUE(client_->stub->ServerMetadata(&context, {}, &metadata).ok());
  EXPECT_EQ(metadata.name(), "seqserve");
  EXPECT_THAT(metadata.version(), ::testing::MatchesRegex("[0-9]+\\.[0-9]+\\.[0-9]+"));
  EXPECT_THAT(metadata.extensions(), ::testing::UnorderedElementsAre(
                                         "model_repository", "model_configuration", "statistics",
                                         "classification", "logging"));
}

TEST_F(GrpcServerTest, ModelReadyTellsReadyNotReadyAndUnknown) {
  bool ready = false;
  ASSERT_TRUE(client_->ModelReady("lenet", "", &ready).ok());
  EXPECT_TRUE(ready);
  ASSERT_TRUE(client_->ModelReady("lenet", "1", &ready).ok());
  EXPECT_TRUE(ready);
  ASSERT_TRUE(client_->ModelReady("broken", "", &ready).ok());
  EXPECT_FALSE(ready);
  EXPECT_EQ(client_->ModelReady("nope", "", &ready).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(client_->ModelReady("lenet", "9", &ready).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(client_->ModelReady("lenet", "v1", &ready).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(GrpcServerTest, ModelMetadataDescribesTensorsWithBatchDim) {
  grpc::ClientContext context;
  inference::ModelMetadataRequest request;
  request.set_name("lenet");
  inference::ModelMetadataResponse metadata;
  ASSERT_TRUE(client_->stub->ModelMetadata(&context, request, &metadata).ok());
  EXPECT_EQ(metadata.name(), "lenet");
  EXPECT_THAT(metadata.versions(), ::testing::ElementsAre("1"));
  EXPECT_EQ(metadata.platform(), "seqserve");
  ASSERT_EQ(metadata.inputs_size(), 1);
  EXPECT_EQ(metadata.inputs(0).name(), "input");
  EXPECT_EQ(metadata.inputs(0).datatype(), "FP32");
  EXPECT_THAT(metadata.inputs(0).shape(), ::testing::ElementsAre(-1, 1, 28, 28));
  ASSERT_EQ(metadata.outputs_size(), 1);
  EXPECT_EQ(metadata.outputs(0).name(), "output");
  EXPECT_THAT(metadata.outputs(0).shape(), ::testing::ElementsAre(-1, 10));

  grpc::ClientContext seed_context;
  request.set_name("seed");
  ASSERT_TRUE(client_->stub->ModelMetadata(&seed_context, request, &metadata).ok());
  EXPECT_THAT(metadata.inputs(0).shape(), ::testing::ElementsAre(-1, 1, -1, -1));
  EXPECT_THAT(metadata.outputs(0).shape(), ::testing::ElementsAre(-1, 64, -1, -1));

  // The text classifier takes INT64 ids.
  grpc::ClientContext text_context;
  request.set_name("textclass");
  ASSERT_TRUE(client_->stub->ModelMetadata(&text_context, request, &metadata).ok());
  EXPECT_EQ(metadata.inputs(0).datatype(), "INT64");
  EXPECT_THAT(metadata.inputs(0).shape(), ::testing::ElementsAre(-1, 128));
  EXPECT_EQ(metadata.outputs(0).datatype(), "FP32");
  EXPECT_THAT(metadata.outputs(0).shape(), ::testing::ElementsAre(-1, 4));
}

TEST_F(GrpcServerTest, BrokenModelReportsItsLoadErrorAndUnknownIsNotFound) {
  grpc::ClientContext context;
  inference::ModelMetadataRequest request;
  request.set_name("broken");
  inference::ModelMetadataResponse metadata;
  const grpc::Status broken = client_->stub->ModelMetadata(&context, request, &metadata);
  EXPECT_EQ(broken.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(broken.error_message(), HasSubstr("Bogus"));

  grpc::ClientContext unknown_context;
  request.set_name("nope");
  const grpc::Status unknown = client_->stub->ModelMetadata(&unknown_context, request, &metadata);
  EXPECT_EQ(unknown.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(unknown.error_message(), "unknown model 'nope'");
}

TEST_F(GrpcServerTest, ModelConfigIsTheCompletedConfig) {
  grpc::ClientContext context;
  inference::ModelConfigRequest request;
  request.set_name("lenet");
  inference::ModelConfigResponse response;
  ASSERT_TRUE(client_->stub->ModelConfig(&context, request, &response).ok());
  EXPECT_EQ(response.config().max_batch_size(), 64);
  ASSERT_EQ(response.config().input_size(), 1);
  EXPECT_EQ(response.config().input(0).name(), "input");
  EXPECT_THAT(response.config().dynamic_batching().preferred_batch_size(),
              ::testing::ElementsAre(16, 32));
  EXPECT_GE(response.config().instance_group_size(), 1);

  grpc::ClientContext broken_context;
  request.set_name("broken");
  EXPECT_EQ(client_->stub->ModelConfig(&broken_context, request, &response).error_code(),
            grpc::StatusCode::UNAVAILABLE);
}

TEST_F(GrpcServerTest, TypedAndRawTensorsMatchPyTorch) {
  for (const std::string model : {"lenet", "mlp", "seed", "superres"}) {
    const Tensor input = LoadNpy(model, "input");
    const Tensor expected = LoadNpy(model, "expected");
    for (const bool raw : {false, true}) {
      SCOPED_TRACE(absl::StrCat(model, raw ? " raw" : " typed"));
      const std::vector<int> rows = {3, 0, 2};
      ModelInferResponse response;
      const grpc::Status status =
          client_->Infer(MakeRequest(model, input, rows, raw, "id-" + model), &response);
      ASSERT_TRUE(status.ok()) << status.error_message();
      EXPECT_EQ(response.model_name(), model);
      EXPECT_EQ(response.model_version(), "1");
      EXPECT_EQ(response.id(), "id-" + model);
      ASSERT_EQ(response.outputs_size(), 1);
      EXPECT_EQ(response.outputs(0).name(), "output");
      EXPECT_EQ(response.outputs(0).datatype(), "FP32");
      Shape shape = expected.shape;
      shape[0] = 3;
      EXPECT_THAT(response.outputs(0).shape(), ::testing::ElementsAreArray(shape));
      // The answer is raw whatever form the request used (SPEC §6, as Triton replies).
      EXPECT_EQ(response.raw_output_contents_size(), 1);
      EXPECT_FALSE(response.outputs(0).has_contents());
      ExpectRows(OutputValues(response), expected, rows);
    }
  }
}

// The bundled text classifier (Embedding -> TransformerEncoder -> Linear) on PyTorch's samples,
// its ids sent as INT64 and as INT32, in typed contents and as raw bytes.
TEST_F(GrpcServerTest, TextClassifierTakesInt64AndInt32IdsTypedAndRaw) {
  const TypedTensor ids = LoadTypedNpy("textclass", "input");
  const Tensor expected = LoadNpy("textclass", "expected");
  ASSERT_EQ(ids.dtype, DType::kInt64);
  for (const std::string datatype : {"INT64", "INT32"}) {
    for (const bool raw : {false, true}) {
      SCOPED_TRACE(absl::StrCat(datatype, raw ? " raw" : " typed"));
      const std::vector<int> rows = {3, 0, 2};
      ModelInferResponse response;
      const grpc::Status status =
          client_->Infer(MakeIdsRequest("textclass", ids, rows, datatype, raw), &response);
      ASSERT_TRUE(status.ok()) << status.error_message();
      EXPECT_EQ(response.outputs(0).datatype(), "FP32");
      EXPECT_THAT(response.outputs(0).shape(), ::testing::ElementsAre(3, 4));
      EXPECT_EQ(response.raw_output_contents_size(), 1);  // raw whatever the request used
      ExpectRows(OutputValues(response), expected, rows);
    }
  }
  // Floats are refused, as PyTorch's Embedding refuses them.
  ModelInferResponse response;
  const grpc::Status floats = client_->Infer(
      MakeRequest("textclass", Tensor({1, 128}, std::vector<float>(128, 1.0f)), {0}, true),
      &response);
  EXPECT_EQ(floats.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(floats.error_message(),
            "input 'input': datatype FP32 cannot carry ids: the model takes INT64 ids (any integer "
            "datatype is converted to it when its values fit)");
}

// An id out of range is the error of its own request, found before batching: the requests
// queued with it are batched and answered, and the error names the id's place in the client's
// tensor (not in the batch) and the embedding size.
TEST_F(GrpcServerTest, AnIdOutOfRangeFailsOnlyItsOwnRequest) {
  const TypedTensor ids = LoadTypedNpy("textclass", "input");
  const Tensor expected = LoadNpy("textclass", "expected");
  std::shared_ptr<Gate> gate = HoldWorker(*server_, "textheld", {1, 128}, DType::kInt64);
  GateOpener opener(gate);
  const inference::ModelStatistics before = client_->Statistics("textheld");

  ModelInferRequest bad = MakeIdsRequest("textheld", ids, {1, 2}, "INT64", true, "bad");
  reinterpret_cast<int64_t*>(bad.mutable_raw_input_contents(0)->data())[128 + 5] = 1000;
  const std::vector<std::vector<int>> rows = {{0}, {1, 2}, {3}};
  std::vector<grpc::Status> statuses(rows.size() + 1);
  std::vector<ModelInferResponse> responses(rows.size() + 1);
  std::vector<std::thread> callers;
  for (size_t i = 0; i < rows.size(); ++i) {
    callers.emplace_back([&, i] {
      statuses[i] = client_->Infer(
          MakeIdsRequest("textheld", ids, rows[i], i == 1 ? "INT32" : "INT64", i != 2), &responses[i]);
    });
  }
  callers.emplace_back([&] { statuses.back() = client_->Infer(bad, &responses.back()); });
  // The three good requests wait behind the held worker; the bad one never joined them.
  ASSERT_TRUE(WaitForQueueDepth(*server_, "textheld", rows.size()));
  gate->release.Notify();
  for (std::thread& caller : callers) caller.join();

  for (size_t i = 0; i < rows.size(); ++i) {
    SCOPED_TRACE(absl::StrCat("request ", i));
    ASSERT_TRUE(statuses[i].ok()) << statuses[i].error_message();
    ExpectRows(OutputValues(responses[i]), expected, rows[i]);
  }
  EXPECT_EQ(statuses.back().error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(statuses.back().error_message(),
            "input 'input': id 1000 at [1, 5] is out of range: num_embeddings is 1000, so ids "
            "must be in [0, 999]");
  const inference::ModelStatistics after = client_->Statistics("textheld");
  // The gate's execution, then the good requests' 4 rows in one batch.
  EXPECT_EQ(after.execution_count() - before.execution_count(), 2u);
  EXPECT_EQ(after.inference_stats().fail().count() - before.inference_stats().fail().count(), 1u);
}

TEST_F(GrpcServerTest, InferErrorsCarryTheirStatusCodes) {
  const Tensor input = LoadNpy("lenet", "input");
  ModelInferResponse response;

  ModelInferRequest request = MakeRequest("nope", input, {0}, true);
  grpc::Status status = client_->Infer(request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(status.error_message(), "unknown model 'nope'");

  request = MakeRequest("lenet", input, {0}, true);
  request.set_model_version("7");
  status = client_->Infer(request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(status.error_message(), "model 'lenet' has no version 7");

  status = client_->Infer(MakeRequest("broken", input, {0}, true), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(status.error_message(), HasSubstr("Bogus"));

  request = MakeRequest("lenet", input, {0}, true);
  request.mutable_inputs(0)->set_name("x");
  status = client_->Infer(request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(), "unknown input 'x': model 'lenet' has one input, 'input'");

  request = MakeRequest("lenet", input, {0}, true);
  request.mutable_raw_input_contents(0)->resize(3132);
  status = client_->Infer(request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(),
            "input 'input': expected 3136 bytes (1x1x28x28 FP32), got 3132");

  std::vector<int> rows(65, 1);
  status = client_->Infer(MakeRequest("lenet", input, rows, true), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(), "input 'input': batch size 65 exceeds max_batch_size 64");

  // The seed model takes any image size the engine accepts; a too small one is named by
  // the module that rejects it.
  const Tensor seed_input = LoadNpy("seed", "input");
  request = MakeRequest("seed", seed_input, {0}, false);
  request.mutable_inputs(0)->set_shape(2, 4);
  request.mutable_inputs(0)->set_shape(3, 4);
  request.mutable_inputs(0)->mutable_contents()->mutable_fp32_contents()->Truncate(16);
  status = client_->Infer(request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("(Conv2d)"));

  // The server keeps serving.
  ASSERT_TRUE(client_->Infer(MakeRequest("lenet", input, {1}, true), &response).ok());
}

TEST_F(GrpcServerTest, FullQueueIsResourceExhausted) {
  std::shared_ptr<Gate> gate = HoldWorker(*server_, "held");
  GateOpener opener(gate);
  auto filler = std::make_shared<Gate>();
  Enqueue(*server_, "held", std::make_unique<GateTask>(filler, /*block=*/false));  // queue: 1/1

  const Tensor input = LoadNpy("lenet", "input");
  ModelInferResponse response;
  const grpc::Status status = client_->Infer(MakeRequest("held", input, {0}, true), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(status.error_message(), HasSubstr("queue full"));
  EXPECT_THAT(status.error_message(), HasSubstr("'held'"));

  gate->release.Notify();
  ASSERT_TRUE(filler->finished.WaitForNotificationWithTimeout(kGuard));
  EXPECT_TRUE(filler->status.ok());
  EXPECT_TRUE(client_->Infer(MakeRequest("held", input, {0}, true), &response).ok());
}

TEST_F(GrpcServerTest, TimeoutParameterExpiresAQueuedRequest) {
  std::shared_ptr<Gate> gate = HoldWorker(*server_, "held");
  GateOpener opener(gate);
  const Tensor input = LoadNpy("lenet", "input");
  ModelInferRequest request = MakeRequest("held", input, {0}, false);
  (*request.mutable_parameters())["timeout"].set_int64_param(1);  // microseconds
  grpc::Status status;
  std::thread caller([&] {
    ModelInferResponse response;
    status = client_->Infer(request, &response);
  });
  ASSERT_TRUE(WaitForQueueDepth(*server_, "held", 1));
  gate->release.Notify();
  caller.join();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_THAT(status.error_message(), HasSubstr("deadline exceeded"));
}

TEST_F(GrpcServerTest, GrpcDeadlinePassedInTheQueueIsNeverComputed) {
  std::shared_ptr<Gate> gate = HoldWorker(*server_, "held");
  GateOpener opener(gate);
  const inference::ModelStatistics before = client_->Statistics("held");
  const Tensor input = LoadNpy("lenet", "input");
  grpc::Status status;
  std::thread caller([&] {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(300));
    ModelInferResponse response;
    status = client_->stub->ModelInfer(&context, MakeRequest("held", input, {0}, true), &response);
  });
  ASSERT_TRUE(WaitForQueueDepth(*server_, "held", 1));
  const auto queued_at = std::chrono::steady_clock::now();
  caller.join();  // the client gives up after 300 ms while the worker is still held
  EXPECT_EQ(status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  // The server's deadline is its receive time plus the 300 ms the client sent, so it can
  // fall a little after the client's own; the request was received before it was queued,
  // so soon after 300 ms past queued_at it has passed on the server too (gRPC rounds the
  // timeout it sends up by at most a few milliseconds), however slow the machine.
  std::this_thread::sleep_until(queued_at + std::chrono::milliseconds(350));
  gate->release.Notify();
  // Once the queue is empty the worker has dropped the expired request (a queue of one
  // would refuse the follow-up before), and a request queued after it finishes after.
  ASSERT_TRUE(WaitForQueueDepth(*server_, "held", 0));
  ModelInferResponse response;
  ASSERT_TRUE(client_->Infer(MakeRequest("held", input, {0}, true), &response).ok());
  const inference::ModelStatistics after = client_->Statistics("held");
  EXPECT_EQ(after.inference_stats().fail().count() - before.inference_stats().fail().count(), 1u);
  // The gate and the follow-up ran; the expired request did not.
  EXPECT_EQ(after.inference_stats().success().count() - before.inference_stats().success().count(),
            2u);
}

TEST_F(GrpcServerTest, CancelledQueuedRequestIsNeverComputed) {
  std::shared_ptr<Gate> gate = HoldWorker(*server_, "held");
  GateOpener opener(gate);
  const inference::ModelStatistics before = client_->Statistics("held");
  const Tensor input = LoadNpy("lenet", "input");
  grpc::ClientContext context;
  grpc::Status status;
  std::thread caller([&] {
    ModelInferResponse response;
    status = client_->stub->ModelInfer(&context, MakeRequest("held", input, {0}, true), &response);
  });
  ASSERT_TRUE(WaitForQueueDepth(*server_, "held", 1));
  context.TryCancel();
  caller.join();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::CANCELLED);
  // gRPC tells the server of a cancellation asynchronously: release the worker only once the
  // queued request is known to be cancelled, or it could rightly be computed.
  ASSERT_TRUE(WaitForQueuedCancelled(*server_, "held", 1));
  gate->release.Notify();
  ASSERT_TRUE(WaitForQueueDepth(*server_, "held", 0));

  ModelInferResponse response;
  ASSERT_TRUE(client_->Infer(MakeRequest("held", input, {0}, true), &response).ok());
  const inference::ModelStatistics after = client_->Statistics("held");
  EXPECT_EQ(after.inference_stats().fail().count() - before.inference_stats().fail().count(), 1u);
  EXPECT_EQ(after.inference_stats().success().count() - before.inference_stats().success().count(),
            2u);
}

TEST_F(GrpcServerTest, ConcurrentRequestsAreBatchedAndEachCallerGetsItsOwnRows) {
  const Tensor input = LoadNpy("lenet", "input");
  const Tensor expected = LoadNpy("lenet", "expected");
  // Distinct row sets, so a caller given another's rows would notice.
  const std::vector<std::vector<int>> requests = {{0},    {1},    {2},    {3},
                                                  {0, 1}, {1, 2}, {2, 3}, {3, 0}};
  std::shared_ptr<Gate> gate = HoldWorker(*server_, "batched");
  GateOpener opener(gate);
  const inference::ModelStatistics before = client_->Statistics("batched");

  std::vector<grpc::Status> statuses(requests.size());
  std::vector<ModelInferResponse> responses(requests.size());
  std::vector<std::thread> callers;
  for (size_t i = 0; i < requests.size(); ++i) {
    callers.emplace_back([&, i] {
      statuses[i] = client_->Infer(
          MakeRequest("batched", input, requests[i], i % 2 == 0, absl::StrCat(i)), &responses[i]);
    });
  }
  ASSERT_TRUE(WaitForQueueDepth(*server_, "batched", requests.size()));
  gate->release.Notify();
  for (std::thread& caller : callers) caller.join();

  for (size_t i = 0; i < requests.size(); ++i) {
    SCOPED_TRACE(absl::StrCat("request ", i));
    ASSERT_TRUE(statuses[i].ok()) << statuses[i].error_message();
    EXPECT_EQ(responses[i].id(), absl::StrCat(i));
    ExpectRows(OutputValues(responses[i]), expected, requests[i]);
  }
  const inference::ModelStatistics after = client_->Statistics("batched");
  const uint64_t executions = after.execution_count() - before.execution_count();
  // The gate's execution, then every queued request in one batch.
  EXPECT_LT(executions, requests.size());
  EXPECT_EQ(executions, 2u);
  EXPECT_EQ(after.inference_stats().success().count() - before.inference_stats().success().count(),
            requests.size() + 1);
  bool saw_batch_of_12 = false;
  for (const inference::InferBatchStatistics& batch : after.batch_stats()) {
    if (batch.batch_size() == 12) saw_batch_of_12 = batch.compute_infer().count() >= 1;
  }
  EXPECT_TRUE(saw_batch_of_12);
}

TEST_F(GrpcServerTest, HealthCheckFollowsServerAndModelReadiness) {
  HealthCheckResponse::ServingStatus status = HealthCheckResponse::UNKNOWN;
  ASSERT_TRUE(client_->Health("", &status).ok());
  EXPECT_EQ(status, HealthCheckResponse::SERVING);
  ASSERT_TRUE(client_->Health("lenet", &status).ok());
  EXPECT_EQ(status, HealthCheckResponse::SERVING);
  ASSERT_TRUE(client_->Health("broken", &status).ok());
  EXPECT_EQ(status, HealthCheckResponse::NOT_SERVING);
  EXPECT_EQ(client_->Health("nope", &status).error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(GrpcServerTest, HealthWatchAndRepositoryFollowUnloadAndLoad) {
  grpc::ClientContext watch_context;
  watch_context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  HealthCheckRequest request;
  request.set_service("toggle");
  auto reader = client_->health->Watch(&watch_context, request);
  ASSERT_TRUE(WatchUntil(*reader, HealthCheckResponse::SERVING));

  ASSERT_TRUE(client_->Unload("toggle").ok());
  ASSERT_TRUE(WatchUntil(*reader, HealthCheckResponse::NOT_SERVING));
  bool ready = true;
  ASSERT_TRUE(client_->ModelReady("toggle", "", &ready).ok());
  EXPECT_FALSE(ready);
  const Tensor input = LoadNpy("mlp", "input");
  ModelInferResponse response;
  EXPECT_EQ(client_->Infer(MakeRequest("toggle", input, {0}, true), &response).error_code(),
            grpc::StatusCode::UNAVAILABLE);

  ASSERT_TRUE(client_->Load("toggle").ok());
  ASSERT_TRUE(WatchUntil(*reader, HealthCheckResponse::SERVING));
  ASSERT_TRUE(client_->ModelReady("toggle", "", &ready).ok());
  EXPECT_TRUE(ready);
  EXPECT_TRUE(client_->Infer(MakeRequest("toggle", input, {0}, true), &response).ok());
  watch_context.TryCancel();
  reader->Finish();
}

TEST_F(GrpcServerTest, RepositoryIndexListsEveryVersionWithStateAndReason) {
  std::map<std::string, inference::RepositoryIndexResponse::ModelIndex> all;
  for (const auto& model : client_->Index(false)) all[model.name()] = model;
  ASSERT_EQ(all.count("lenet"), 1u);
  EXPECT_EQ(all["lenet"].version(), "1");
  EXPECT_EQ(all["lenet"].state(), "READY");
  ASSERT_EQ(all.count("broken"), 1u);
  EXPECT_EQ(all["broken"].state(), "UNAVAILABLE");
  EXPECT_THAT(all["broken"].reason(), HasSubstr("Bogus"));

  std::set<std::string> ready;
  for (const auto& model : client_->Index(true)) ready.insert(model.name());
  EXPECT_EQ(ready.count("lenet"), 1u);
  EXPECT_EQ(ready.count("broken"), 0u);

  grpc::ClientContext context;
  inference::RepositoryIndexRequest request;
  request.set_repository_name("elsewhere");
  inference::RepositoryIndexResponse response;
  EXPECT_EQ(client_->stub->RepositoryIndex(&context, request, &response).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(GrpcServerTest, LoadRejectsUnknownModelsAndUnsupportedParameters) {
  EXPECT_EQ(client_->Load("nope").error_code(), grpc::StatusCode::NOT_FOUND);
  grpc::Status broken = client_->Load("broken");
  EXPECT_FALSE(broken.ok());
  EXPECT_THAT(broken.error_message(), HasSubstr("Bogus"));

  // Model files in the request (Triton's "file:" parameters) are refused; so is a config
  // that is not a string.
  for (const bool file : {true, false}) {
    grpc::ClientContext context;
    inference::RepositoryModelLoadRequest request;
    request.set_model_name("lenet");
    if (file) {
      (*request.mutable_parameters())["config"].set_string_param("{}");
      (*request.mutable_parameters())["file:1/model.seq"].set_bytes_param("Linear(1, 1)");
    } else {
      (*request.mutable_parameters())["config"].set_int64_param(1);
    }
    inference::RepositoryModelLoadResponse response;
    const grpc::Status status = client_->stub->RepositoryModelLoad(&context, request, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(status.error_message(),
                HasSubstr(file ? "parameter 'file:1/model.seq' is not supported by seqserve: it "
                                 "loads model files from its repository only"
                               : "parameter 'config': expected a string"));
  }
}

TEST_F(GrpcServerTest, ModelStatisticsCountRequestsAndBatches) {
  const inference::ModelStatistics before = client_->Statistics("mlp");
  const Tensor input = LoadNpy("mlp", "input");
  ModelInferResponse response;
  ASSERT_TRUE(client_->Infer(MakeRequest("mlp", input, {0, 1}, true), &response).ok());
  ASSERT_TRUE(client_->Infer(MakeRequest("mlp", input, {2}, false), &response).ok());
  const inference::ModelStatistics after = client_->Statistics("mlp");
  EXPECT_EQ(after.name(), "mlp");
  EXPECT_EQ(after.version(), "1");
  EXPECT_EQ(after.inference_count() - before.inference_count(), 3u);
  EXPECT_EQ(after.inference_stats().success().count() - before.inference_stats().success().count(),
            2u);
  EXPECT_GE(after.execution_count() - before.execution_count(), 1u);
  EXPECT_GT(after.inference_stats().compute_infer().ns(),
            before.inference_stats().compute_infer().ns());
  EXPECT_GT(after.last_inference(), 0u);
  EXPECT_GT(after.batch_stats_size(), 0);

  grpc::ClientContext context;
  inference::ModelStatisticsResponse all;
  ASSERT_TRUE(client_->stub->ModelStatistics(&context, {}, &all).ok());
  std::set<std::string> names;
  for (const auto& stats : all.model_stats()) names.insert(stats.name());
  EXPECT_EQ(names.count("lenet"), 1u);
  EXPECT_EQ(names.count("mlp"), 1u);
  EXPECT_EQ(names.count("broken"), 0u);

  grpc::ClientContext unknown_context;
  inference::ModelStatisticsRequest unknown;
  unknown.set_name("nope");
  EXPECT_EQ(client_->stub->ModelStatistics(&unknown_context, unknown, &all).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

// Waits for the completion-queue event `tag`; false when the operation failed.
bool Await(grpc::CompletionQueue& queue, intptr_t tag) {
  void* got = nullptr;
  bool ok = false;
  if (!queue.Next(&got, &ok)) return false;
  EXPECT_EQ(reinterpret_cast<intptr_t>(got), tag);
  return ok;
}

TEST_F(GrpcServerTest, ReflectionListsTheServices) {
  grpc::TemplatedGenericStub<seqserve_test::reflection::ServerReflectionRequest,
                             seqserve_test::reflection::ServerReflectionResponse>
      stub(client_->channel);
  grpc::ClientContext context;
  grpc::CompletionQueue queue;
  auto call = stub.PrepareCall(
      &context, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", &queue);
  call->StartCall(reinterpret_cast<void*>(1));
  ASSERT_TRUE(Await(queue, 1));
  seqserve_test::reflection::ServerReflectionRequest request;
  request.set_list_services("*");
  call->Write(request, reinterpret_cast<void*>(2));
  ASSERT_TRUE(Await(queue, 2));
  seqserve_test::reflection::ServerReflectionResponse response;
  call->Read(&response, reinterpret_cast<void*>(3));
  ASSERT_TRUE(Await(queue, 3));
  call->WritesDone(reinterpret_cast<void*>(4));
  ASSERT_TRUE(Await(queue, 4));
  grpc::Status status;
  call->Finish(&status, reinterpret_cast<void*>(5));
  ASSERT_TRUE(Await(queue, 5));
  EXPECT_TRUE(status.ok()) << status.error_message();

  std::set<std::string> services;
  for (const auto& service : response.list_services_response().service()) {
    services.insert(service.name());
  }
  EXPECT_EQ(services.count("inference.GRPCInferenceService"), 1u);
  EXPECT_EQ(services.count("grpc.health.v1.Health"), 1u);
  queue.Shutdown();
  void* ignored_tag = nullptr;
  bool ignored_ok = false;
  while (queue.Next(&ignored_tag, &ignored_ok)) {
  }
}
}  // namespace
}  // namespace seqserve
