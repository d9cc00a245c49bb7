// What the gRPC front end's tests share besides grpc_requests.h: a client over the
// generated stubs (KServe v2, grpc.health.v1), and the fixture of one server for a whole
// suite — started in-process on 127.0.0.1, port 0, in explicit mode with every model of its
// repository loaded: the bundled lenet, mlp and seed, copies of them with serving configs
// made for the tests ("toggle", "held", "batched"), and a broken model beside them.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "proto/grpc_service.grpc.pb.h"
#include "server/server.h"
#include "tests/util/grpc_requests.h"
#include "tests/util/server_test_util.h"
#include "util/grpc_health_v1.grpc.pb.h"

namespace seqserve::testing {

// ---- A client over the generated stubs ----------------------------------------------------

struct StubClient {
  explicit StubClient(int port) {
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(64 * 1024 * 1024);
    channel = grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", port),
                                        grpc::InsecureChannelCredentials(), args);
    stub = inference::GRPCInferenceService::NewStub(channel);
    health = grpc::health::v1::Health::NewStub(channel);
  }

  grpc::Status Infer(const inference::ModelInferRequest& request,
                     inference::ModelInferResponse* response) {
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

  grpc::Status Health(const std::string& service,
                      grpc::health::v1::HealthCheckResponse::ServingStatus* result) {
    grpc::ClientContext context;
    grpc::health::v1::HealthCheckRequest request;
    request.set_service(service);
    grpc::health::v1::HealthCheckResponse response;
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

// Reads health Watch updates until `want` (a status may be repeated before it changes).
inline bool WatchUntil(grpc::ClientReaderInterface<grpc::health::v1::HealthCheckResponse>& reader,
                       grpc::health::v1::HealthCheckResponse::ServingStatus want) {
  grpc::health::v1::HealthCheckResponse update;
  while (reader.Read(&update)) {
    if (update.status() == want) return true;
  }
  return false;
}

// ---- One server for a whole test suite ----------------------------------------------------

// A suite's SetUpTestSuite fills a repository in a TempDir and calls StartSuiteServer; every
// test gets a fresh StubClient; the server is shut down and the directory removed after the
// suite.
class SuiteServerTest : public ::testing::Test {
 protected:
  static void StartSuiteServer(const ServerOptions& options) {
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
    client_ = std::make_unique<StubClient>(server_->grpc_port());
  }

  static inline Server* server_ = nullptr;
  static inline TempDir* dir_ = nullptr;
  std::unique_ptr<StubClient> client_;
};

// ---- The shared server: explicit mode, every model loaded at start -----------------------

class GrpcServerTest : public SuiteServerTest {
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
    CopyModel(root, "textclass", "textclass");
    CopyModel(root, "textclass", "textheld", kTextHeldConfig);
    CopyModel(root, "superres", "superres");
    WriteBrokenModel(root);
    ServerOptions options = LocalOptions(root);
    options.control_mode = ModelControlMode::kExplicit;
    options.startup_models = {"*"};
    StartSuiteServer(options);
  }
};

}  // namespace seqserve::testing
