// Triton's model configuration override on load, over gRPC (RepositoryModelLoad with a
// "config" string parameter, what tritonclient's load_model(name, config=...) sends) and REST
// (POST .../load {"parameters": {"config": "..."}}): the model loads with the request's
// config instead of its config.pbtxt; a config that does not parse or does not fit the model
// fails and the previous load keeps serving with its config; a load without it goes back to
// the file. Checked through ModelConfig and through what inference accepts (max_batch_size).
#include <memory>
#include <numeric>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/util/grpc_requests.h"
#include "tests/util/grpc_test_util.h"
#include "tests/util/http_test_util.h"

namespace seqserve {
namespace {

using ::testing::HasSubstr;
using json = nlohmann::json;
using namespace seqserve::testing;  // NOLINT: the shared test helpers

// LeNet's config as tritonclient would send it (protobuf's JSON form), with `max_batch_size`.
std::string LenetConfigJson(int max_batch_size) {
  return json({{"max_batch_size", max_batch_size},
               {"input", {{{"name", "input"}, {"data_type", "TYPE_FP32"}, {"dims", {1, 28, 28}}}}},
               {"output", {{{"name", "output"}, {"data_type", "TYPE_FP32"}, {"dims", {10}}}}}})
      .dump();
}

class ConfigOverrideTest : public ::testing::Test {
 protected:
  void SetUp() override {
    MakeRepository(dir_.path());  // lenet with max_batch_size 64, among others
    absl::StatusOr<std::unique_ptr<Server>> server =
        Server::Start(HttpServerOptions(dir_.path()));
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    client_ = std::make_unique<StubClient>(server_->grpc_port());
  }
  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown();
  }

  grpc::Status LoadWithConfig(const std::string& config) {
    grpc::ClientContext context;
    inference::RepositoryModelLoadRequest request;
    request.set_model_name("lenet");
    (*request.mutable_parameters())["config"].set_string_param(config);
    inference::RepositoryModelLoadResponse response;
    return client_->stub->RepositoryModelLoad(&context, request, &response);
  }

  int64_t MaxBatchSize() {
    grpc::ClientContext context;
    inference::ModelConfigRequest request;
    request.set_name("lenet");
    inference::ModelConfigResponse response;
    EXPECT_TRUE(client_->stub->ModelConfig(&context, request, &response).ok());
    return response.config().max_batch_size();
  }

  // Infers `rows` rows of LeNet's golden input.
  grpc::Status InferRows(int rows) {
    std::vector<int> indices(static_cast<size_t>(rows));
    std::iota(indices.begin(), indices.end(), 0);
    inference::ModelInferResponse response;
    return client_->Infer(MakeRequest("lenet", LoadNpy("lenet", "input"), indices, true),
                          &response);
  }

  bool Ready() {
    bool ready = false;
    return client_->ModelReady("lenet", "", &ready).ok() && ready;
  }

  TempDir dir_{"seqserve_config_override"};
  std::unique_ptr<Server> server_;
  std::unique_ptr<StubClient> client_;
};

TEST_F(ConfigOverrideTest, GrpcLoadsWithTheRequestsConfigAndBackToTheFile) {
  ASSERT_EQ(MaxBatchSize(), 64);
  ASSERT_TRUE(LoadWithConfig(LenetConfigJson(2)).ok());
  EXPECT_EQ(MaxBatchSize(), 2);
  EXPECT_TRUE(InferRows(2).ok());
  const grpc::Status too_many = InferRows(3);
  EXPECT_EQ(too_many.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(too_many.error_message(), HasSubstr("2"));

  ASSERT_TRUE(client_->Load("lenet").ok());  // no config: config.pbtxt again
  EXPECT_EQ(MaxBatchSize(), 64);
  EXPECT_TRUE(InferRows(3).ok());
}

TEST_F(ConfigOverrideTest, AConfigThatFailsLeavesThePreviousLoadServing) {
  ASSERT_TRUE(LoadWithConfig(LenetConfigJson(2)).ok());
  // Not JSON, an unknown field, and a config that does not fit the model (its input has
  // another shape): each fails and changes nothing.
  struct Case {
    std::string config;
    const char* message;
  };
  json patched = json::parse(LenetConfigJson(4));
  patched["input"][0]["dims"] = {3, 28, 28};
  for (const Case& c : {Case{"{\"max_batch_size\": ", "parameter 'config': not a valid model "
                                                     "configuration in JSON"},
                        Case{R"({"max_batch_size": 4, "backend_of_choice": "x"})",
                             "parameter 'config': not a valid model configuration in JSON"},
                        Case{patched.dump(), "input"}}) {
    const grpc::Status status = LoadWithConfig(c.config);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << c.config;
    EXPECT_THAT(status.error_message(), HasSubstr(c.message)) << c.config;
    EXPECT_TRUE(Ready()) << c.config;
    EXPECT_EQ(MaxBatchSize(), 2) << c.config;
    EXPECT_TRUE(InferRows(2).ok()) << c.config;
  }
}

TEST_F(ConfigOverrideTest, RestLoadsWithTheRequestsConfig) {
  const int port = server_->http_port();
  const HttpReply load =
      HttpPost(port, "/v2/repository/models/lenet/load",
               json({{"parameters", {{"config", LenetConfigJson(8)}}}}).dump());
  ASSERT_EQ(load.status, 200) << load.body;
  EXPECT_EQ(HttpGet(port, "/v2/models/lenet/config").json()["max_batch_size"], 8);
  const HttpReply bad =
      HttpPost(port, "/v2/repository/models/lenet/load",
               json({{"parameters", {{"config", "{\"max_batch_size\": \"many\"}"}}}}).dump());
  EXPECT_EQ(bad.status, 400);
  EXPECT_THAT(bad.json()["error"].get<std::string>(), HasSubstr("parameter 'config'"));
  EXPECT_EQ(HttpGet(port, "/v2/models/lenet/config").json()["max_batch_size"], 8);
}

}  // namespace
}  // namespace seqserve
