// The gRPC front end end to end: a Server started in-process on 127.0.0.1, port 0, over a
// temporary repository — the bundled lenet, mlp and seed, copies of them with serving
// configs made for these tests, and a broken model beside them — called through generated
// stubs (KServe v2, grpc.health.v1) and a generic stub (reflection). Outputs are compared
// with real PyTorch outputs (tests/data/bundled/<model>/expected.npy).
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
#include "common/npy.h"
#include "gmock/gmock.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "proto/grpc_service.grpc.pb.h"
#include "util/grpc_health_v1.grpc.pb.h"
#include "util/reflection_messages.pb.h"
#include "server/server.h"
#include "tests/util/server_test_util.h"

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

// ---- Repository on disk -----------------------------------------------------------------

// One worker, no batching delay: whatever is queued when the worker frees up is one batch.
const std::string kOneWorkerConfig = absl::StrCat("max_batch_size: 64\n", kLenetTensors,
                                                  "instance_group [ { count: 1 kind: KIND_CPU } ]\n"
                                                  "dynamic_batching { }\n");

void WriteBrokenModel(const fs::path& root) {
  WriteFile(root / "broken" / "1" / "model.seq", "nn.Sequential(nn.Linear(4, 2), nn.Bogus())\n");
}

// ---- Tensors ----------------------------------------------------------------------------

int64_t RowElements(const Tensor& tensor) { return tensor.numel() / tensor.shape[0]; }

// Rows `rows` of `input` as a request for `model`, raw or typed.
ModelInferRequest MakeRequest(const std::string& model, const Tensor& input,
                              const std::vector<int>& rows, bool raw, const std::string& id = "") {
  ModelInferRequest request;
  request.set_model_name(model);
  request.set_id(id);
  ModelInferRequest::InferInputTensor* tensor = request.add_inputs();
  tensor->set_name("input");
  tensor->set_datatype("FP32");
  tensor->add_shape(static_cast<int64_t>(rows.size()));
  for (size_t i = 1; i < input.shape.size(); ++i) tensor->add_shape(input.shape[i]);
  const int64_t row = RowElements(input);
  std::vector<float> values;
  for (const int r : rows) {
    values.insert(values.end(), input.data.begin() + r * row, input.data.begin() + (r + 1) * row);
  }
  if (raw) {
    request.add_raw_input_contents(
        std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float)));
  } else {
    tensor->mutable_contents()->mutable_fp32_contents()->Add(values.begin(), values.end());
  }
  return request;
}

std::vector<float> OutputValues(const ModelInferResponse& response) {
  if (response.raw_output_contents_size() > 0) {
    const std::string& bytes = response.raw_output_contents(0);
    std::vector<float> values(bytes.size() / sizeof(float));
    std::memcpy(values.data(), bytes.data(), values.size() * sizeof(float));
    return values;
  }
  if (response.outputs_size() == 0) return {};
  const auto& typed = response.outputs(0).contents().fp32_contents();
  return std::vector<float>(typed.begin(), typed.end());
}

// `got` must be rows `rows` of `expected`, within 1e-4 relative (absolute below 1).
void ExpectRows(const std::vector<float>& got, const Tensor& expected,
                const std::vector<int>& rows) {
  const int64_t row = RowElements(expected);
  ASSERT_EQ(got.size(), rows.size() * static_cast<size_t>(row));
  int mismatches = 0;
  for (size_t r = 0; r < rows.size(); ++r) {
    for (int64_t i = 0; i < row; ++i) {
      const float want = expected.data[rows[r] * row + i];
      const float have = got[r * row + i];
      if (std::fabs(have - want) > 1e-4f * std::max(1.0f, std::fabs(want)) && ++mismatches <= 3) {
        ADD_FAILURE() << "row " << rows[r] << " element " << i << ": got " << have << ", PyTorch "
                      << want;
      }
    }
  }
  EXPECT_EQ(mismatches, 0);
}

// ---- Client -----------------------------------------------------------------------------

struct Client {
  explicit Client(int port) {
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(64 * 1024 * 1024);
    channel = grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", port),
                                        grpc::InsecureChannelCredentials(), args);
    stub = inference::GRPCInferenceService::NewStub(channel);
    health = grpc::health::v1::Health::NewStub(channel);
  }

  grpc::Status Infer(const ModelInferRequest& request, ModelInferResponse* response) {
    grpc::ClientContext context;
    return stub->ModelInfer(&context, request, response);
  }

  bool ServerReady() {
    grpc::ClientContext context;
    inference::ServerReadyResponse response;
    return stub->ServerReady(&context, {}, &response).ok() && response.ready();
  }

  grpc::Status ModelReady(const std::string& name, const std::string& version, bool* ready) {
    grpc::ClientContext context;
    inference::ModelReadyRequest request;
    request.set_name(name);
    request.set_version(version);
    inference::ModelReadyResponse response;
    grpc::Status status = stub->ModelReady(&context, request, &response);
    *ready = response.ready();
    return status;
  }

  grpc::Status Health(const std::string& service, HealthCheckResponse::ServingStatus* result) {
    grpc::ClientContext context;
    HealthCheckRequest request;
    request.set_service(service);
    HealthCheckResponse response;
    grpc::Status status = health->Check(&context, request, &response);
    *result = response.status();
    return status;
  }

  grpc::Status Load(const std::string& model) {
    grpc::ClientContext context;
    inference::RepositoryModelLoadRequest request;
    request.set_model_name(model);
    inference::RepositoryModelLoadResponse response;
    return stub->RepositoryModelLoad(&context, request, &response);
  }

  grpc::Status Unload(const std::string& model) {
    grpc::ClientContext context;
    inference::RepositoryModelUnloadRequest request;
    request.set_model_name(model);
    inference::RepositoryModelUnloadResponse response;
    return stub->RepositoryModelUnload(&context, request, &response);
  }

  inference::ModelStatistics Statistics(const std::string& model) {
    grpc::ClientContext context;
    inference::ModelStatisticsRequest request;
    request.set_name(model);
    inference::ModelStatisticsResponse response;
    const grpc::Status status = stub->ModelStatistics(&context, request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response.model_stats_size() > 0 ? response.model_stats(0) : inference::ModelStatistics();
  }

  std::vector<inference::RepositoryIndexResponse::ModelIndex> Index(bool ready_only) {
    grpc::ClientContext context;
    inference::RepositoryIndexRequest request;
    request.set_ready(ready_only);
    inference::RepositoryIndexResponse response;
    EXPECT_TRUE(stub->RepositoryIndex(&context, request, &response).ok());
    return {response.models().begin(), response.models().end()};
  }

  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<inference::GRPCInferenceService::Stub> stub;
  std::unique_ptr<grpc::health::v1::Health::Stub> health;
};

ServerOptions LocalOptions(const fs::path& repository) {
  ServerOptions options;
  options.model_repositories = {repository};
  options.address = "127.0.0.1";
  options.grpc_port = 0;
  options.available_cpus = 2;
  options.exit_timeout_secs = 30;
  return options;
}

// ---- The shared server: explicit mode, every model loaded at start -----------------------

class GrpcServerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir("seqserve_grpc");
    const fs::path& root = dir_->path();
    CopyModel(root, "lenet", "lenet");
    CopyModel(root, "mlp", "mlp");
    CopyModel(root, "seed", "seed");
    CopyModel(root, "mlp", "toggle");
    CopyModel(root, "lenet", "held", kHeldConfig);
    CopyModel(root, "lenet", "batched", kOneWorkerConfig);
    WriteBrokenModel(root);
    ServerOptions options = LocalOptions(root);
    options.control_mode = ModelControlMode::kExplicit;
    options.startup_models = {"*"};
    absl::StatusOr<std::unique_ptr<Server>> server = Server::Start(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = server->release();
  }

  static void TearDownTestSuite() {
    if (server_ != nullptr) server_->Shutdown();
    delete server_;
    server_ = nullptr;
    delete dir_;
    dir_ = nullptr;
  }

  void SetUp() override {
    ASSERT_NE(server_, nullptr);
    client_ = std::make_unique<Client>(server_->grpc_port());
  }

  static Server* server_;
  static TempDir* dir_;
  std::unique_ptr<Client> client_;
};

Server* GrpcServerTest::server_ = nullptr;
TempDir* GrpcServerTest::dir_ = nullptr;

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
                                         "model_repository", "model_configuration", "statistics"));
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
  for (const std::string model : {"lenet", "mlp", "seed"}) {
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
      // The answer comes in the form the client used.
      EXPECT_EQ(response.raw_output_contents_size(), raw ? 1 : 0);
      EXPECT_EQ(response.outputs(0).contents().fp32_contents_size() > 0, !raw);
      ExpectRows(OutputValues(response), expected, rows);
    }
  }
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
  caller.join();  // the client gives up after 300 ms while the worker is still held
  EXPECT_EQ(status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
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

TEST_F(GrpcServerTest, StreamAnswersEveryRequestWithItsId) {
  const Tensor input = LoadNpy("lenet", "input");
  const Tensor expected = LoadNpy("lenet", "expected");
  grpc::ClientContext context;
  auto stream = client_->stub->ModelStreamInfer(&context);
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(
        stream->Write(MakeRequest("lenet", input, {i}, i % 2 == 0, absl::StrCat("ok-", i))));
  }
  ModelInferRequest bad = MakeRequest("lenet", input, {0}, true, "bad-input");
  bad.mutable_inputs(0)->set_name("x");
  ASSERT_TRUE(stream->Write(bad));
  ASSERT_TRUE(stream->Write(MakeRequest("nope", input, {0}, true, "bad-model")));
  ASSERT_TRUE(stream->WritesDone());

  std::map<std::string, ModelStreamInferResponse> answers;
  ModelStreamInferResponse answer;
  while (stream->Read(&answer)) answers[answer.infer_response().id()] = answer;
  const grpc::Status status = stream->Finish();
  ASSERT_TRUE(status.ok()) << status.error_message();

  ASSERT_EQ(answers.size(), 6u);
  for (int i = 0; i < 4; ++i) {
    const ModelStreamInferResponse& ok = answers[absl::StrCat("ok-", i)];
    EXPECT_EQ(ok.error_message(), "");
    EXPECT_EQ(ok.infer_response().model_version(), "1");
    ExpectRows(OutputValues(ok.infer_response()), expected, {i});
  }
  EXPECT_EQ(answers["bad-input"].error_message(),
            "INVALID_ARGUMENT: unknown input 'x': model 'lenet' has one input, 'input'");
  EXPECT_EQ(answers["bad-input"].infer_response().outputs_size(), 0);
  EXPECT_EQ(answers["bad-model"].error_message(), "NOT_FOUND: unknown model 'nope'");
}

TEST_F(GrpcServerTest, StreamWithoutRequestsFinishesCleanly) {
  grpc::ClientContext context;
  auto stream = client_->stub->ModelStreamInfer(&context);
  ASSERT_TRUE(stream->WritesDone());
  ModelStreamInferResponse answer;
  EXPECT_FALSE(stream->Read(&answer));
  EXPECT_TRUE(stream->Finish().ok());
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

// Reads Watch updates until `want` (a status may be repeated before it changes).
bool WatchUntil(grpc::ClientReaderInterface<HealthCheckResponse>& reader,
                HealthCheckResponse::ServingStatus want) {
  HealthCheckResponse update;
  while (reader.Read(&update)) {
    if (update.status() == want) return true;
  }
  return false;
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

  grpc::ClientContext context;
  inference::RepositoryModelLoadRequest request;
  request.set_model_name("lenet");
  (*request.mutable_parameters())["config"].set_string_param("{}");
  inference::RepositoryModelLoadResponse response;
  const grpc::Status status = client_->stub->RepositoryModelLoad(&context, request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("'config'"));
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

// ---- Servers of their own ---------------------------------------------------------------

TEST(GrpcServer, OversizedMessageIsResourceExhaustedAndServingGoesOn) {
  TempDir dir("seqserve_grpc");
  CopyModel(dir.path(), "mlp", "mlp");
  ServerOptions options = LocalOptions(dir.path());
  options.grpc_max_message_bytes = 64 * 1024;
  absl::StatusOr<std::unique_ptr<Server>> server = Server::Start(options);
  ASSERT_TRUE(server.ok()) << server.status();
  Client client((*server)->grpc_port());
  const Tensor input = LoadNpy("mlp", "input");

  std::vector<int> rows(32, 1);  // 32 x 3136 bytes > 64 KiB
  ModelInferResponse response;
  const grpc::Status status = client.Infer(MakeRequest("mlp", input, rows, true), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_TRUE(client.Infer(MakeRequest("mlp", input, {1}, true), &response).ok());
  (*server)->Shutdown();
}

TEST(GrpcServer, NoneModeRefusesLoadAndUnload) {
  TempDir dir("seqserve_grpc");
  CopyModel(dir.path(), "mlp", "mlp");
  absl::StatusOr<std::unique_ptr<Server>> server = Server::Start(LocalOptions(dir.path()));
  ASSERT_TRUE(server.ok()) << server.status();
  Client client((*server)->grpc_port());
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
  Client client((*server)->grpc_port());
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
  Client client((*server)->grpc_port());

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
  Client client(server.grpc_port());
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
