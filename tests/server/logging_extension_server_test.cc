// Triton's logging extension end to end, over gRPC (LogSettings) and REST (/v2/logging): read
// the settings, change them, see the change in the server's own log lines (the access log
// switched on and off at runtime, the format switched), errors that change nothing, and the
// restricted protocol "logging". The server logs into a capturing sink.
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/logging/log_settings.h"
#include "server/logging/logging.h"
#include "tests/util/capture_sink.h"
#include "tests/util/grpc_test_util.h"
#include "tests/util/http_test_util.h"

namespace seqserve {
namespace {

using ::testing::HasSubstr;
using json = nlohmann::json;
using namespace seqserve::testing;  // NOLINT: the shared test helpers

class LoggingExtensionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(ConfigureLogging("info", LogFormat::kJson, sink_).ok());
    MakeRepository(dir_.path());
  }
  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown();
  }

  void Start(std::vector<std::string> restricted = {}) {
    ServerOptions options = HttpServerOptions(dir_.path());
    options.http_restricted_protocols = restricted;
    options.grpc_restricted_protocols = restricted;
    absl::StatusOr<std::unique_ptr<Server>> server = Server::Start(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    client_ = std::make_unique<StubClient>(server_->grpc_port());
    sink_->Take();  // start-up lines
  }

  grpc::Status LogSettings(const inference::LogSettingsRequest& request,
                           inference::LogSettingsResponse* response,
                           const std::string& key_header = "") {
    grpc::ClientContext context;
    if (!key_header.empty()) context.AddMetadata("triton-grpc-protocol-log-key", key_header);
    return client_->stub->LogSettings(&context, request, response);
  }

  // The messages of the access-log lines ("logger":"access") that arrive within `wait`;
  // returns early once one is `until` (when given).
  std::vector<std::string> AccessLines(std::chrono::milliseconds wait,
                                       const std::string& until = "") {
    std::vector<std::string> messages;
    const auto end = std::chrono::steady_clock::now() + wait;
    do {
      for (const std::string& line : sink_->Take()) {
        const json entry = json::parse(line, nullptr, false);
        if (entry.is_object() && entry["logger"] == "access") {
          messages.push_back(entry["msg"].get<std::string>());
          if (messages.back() == until) return messages;
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    } while (std::chrono::steady_clock::now() < end);
    return messages;
  }

  std::shared_ptr<CaptureSink> sink_ = std::make_shared<CaptureSink>();
  TempDir dir_{"seqserve_logging_extension"};
  std::unique_ptr<Server> server_;
  std::unique_ptr<StubClient> client_;
};

TEST_F(LoggingExtensionTest, GrpcReadsAndChangesTheSettings) {
  Start();
  inference::LogSettingsResponse current;
  ASSERT_TRUE(LogSettings({}, &current).ok());
  const auto& settings = current.settings();
  EXPECT_EQ(settings.size(), 7u);
  EXPECT_EQ(settings.at("log_file").string_param(), "");
  EXPECT_TRUE(settings.at("log_info").bool_param());
  EXPECT_TRUE(settings.at("log_warning").bool_param());
  EXPECT_TRUE(settings.at("log_error").bool_param());
  EXPECT_EQ(settings.at("log_verbose_level").uint32_param(), 0u);
  EXPECT_EQ(settings.at("log_format").string_param(), "json");
  EXPECT_FALSE(settings.at("log_requests").bool_param());

  inference::LogSettingsRequest change;
  (*change.mutable_settings())["log_verbose_level"].set_uint32_param(1);
  (*change.mutable_settings())["log_warning"].set_bool_param(false);
  inference::LogSettingsResponse changed;
  ASSERT_TRUE(LogSettings(change, &changed).ok());
  EXPECT_EQ(changed.settings().at("log_verbose_level").uint32_param(), 1u);
  EXPECT_FALSE(changed.settings().at("log_warning").bool_param());
  EXPECT_EQ(CurrentLogSeverities().verbose_level, 1u);
  EXPECT_FALSE(CurrentLogSeverities().warning);
}

TEST_F(LoggingExtensionTest, GrpcBadSettingsAreInvalidArgumentAndChangeNothing) {
  Start();
  const LogSettingList before = CurrentLogSettings();
  inference::LogSettingsRequest unknown;
  (*unknown.mutable_settings())["log_info"].set_bool_param(false);
  (*unknown.mutable_settings())["log_level"].set_string_param("debug");
  inference::LogSettingsResponse response;
  grpc::Status status = LogSettings(unknown, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("unknown log setting 'log_level'"));

  inference::LogSettingsRequest no_value;
  (*no_value.mutable_settings())["log_info"];
  status = LogSettings(no_value, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("'log_info': no value"));

  inference::LogSettingsRequest file;
  (*file.mutable_settings())["log_file"].set_string_param((dir_.path() / "log.txt").string());
  status = LogSettings(file, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_FALSE(fs::exists(dir_.path() / "log.txt"));
  EXPECT_EQ(CurrentLogSettings(), before);
}

TEST_F(LoggingExtensionTest, HttpSwitchesTheAccessLogAtRuntime) {
  Start();
  const int port = server_->http_port();
  HttpReply get = HttpGet(port, "/v2/logging");
  ASSERT_EQ(get.status, 200) << get.body;
  EXPECT_EQ(get.json(), json({{"log_file", ""},
                              {"log_info", true},
                              {"log_warning", true},
                              {"log_error", true},
                              {"log_verbose_level", 0},
                              {"log_format", "json"},
                              {"log_requests", false}}));

  ASSERT_EQ(HttpGet(port, "/v2/health/live").status, 200);
  EXPECT_THAT(AccessLines(std::chrono::milliseconds(200)), ::testing::IsEmpty());

  HttpReply on = HttpPost(port, "/v2/logging", R"({"log_requests": true})");
  ASSERT_EQ(on.status, 200) << on.body;
  EXPECT_EQ(on.json()["log_requests"], true);
  ASSERT_EQ(HttpGet(port, "/v2/health/ready").status, 200);
  EXPECT_THAT(AccessLines(std::chrono::seconds(10), "GET /v2/health/ready"),
              ::testing::Contains("GET /v2/health/ready"));
  // gRPC calls started after the switch are logged too.
  EXPECT_TRUE(client_->ServerReady());
  const std::string ready_rpc = "/inference.GRPCInferenceService/ServerReady";
  EXPECT_THAT(AccessLines(std::chrono::seconds(10), ready_rpc), ::testing::Contains(ready_rpc));

  ASSERT_EQ(HttpPost(port, "/v2/logging", R"({"log_requests": false})").status, 200);
  AccessLines(std::chrono::milliseconds(200));  // the POST's own line, if it is logged
  ASSERT_EQ(HttpGet(port, "/v2/health/live").status, 200);
  EXPECT_TRUE(client_->ServerReady());
  EXPECT_THAT(AccessLines(std::chrono::milliseconds(300)), ::testing::IsEmpty());
}

TEST_F(LoggingExtensionTest, HttpBadUpdatesAre400AndChangeNothing) {
  Start();
  const int port = server_->http_port();
  const LogSettingList before = CurrentLogSettings();
  struct Case {
    const char* body;
    const char* message;
  };
  for (const Case& c : std::vector<Case>{
           {R"({"log_verbose_level": -1})", "'log_verbose_level': expected a boolean, an "
                                             "unsigned 32-bit integer or a string, got -1"},
           {R"({"log_verbose_level": 4294967296})", "got 4294967296"},
           {R"({"log_info": "false"})", "'log_info': expected a boolean, got a string"},
           {R"({"log_format": "ISO8601"})", "'ISO8601' is not a format seqserve writes"},
           {R"([true])", "must be a JSON object"},
           {R"({"log_info": false, "log_file": "/tmp/x.log"})", "'log_file'"},
       }) {
    HttpReply reply = HttpPost(port, "/v2/logging", c.body);
    EXPECT_EQ(reply.status, 400) << c.body;
    EXPECT_THAT(reply.json()["error"].get<std::string>(), HasSubstr(c.message)) << c.body;
  }
  EXPECT_EQ(CurrentLogSettings(), before);
  EXPECT_EQ(HttpPost(port, "/v2/logging/x", "{}").status, 404);
}

TEST_F(LoggingExtensionTest, TheLoggingProtocolCanBeRestricted) {
  Start({"logging:log-key=s3cret"});
  const int port = server_->http_port();
  HttpReply denied = HttpGet(port, "/v2/logging");
  EXPECT_EQ(denied.status, 403);
  EXPECT_THAT(denied.body, Not(HasSubstr("s3cret")));
  EXPECT_EQ(HttpPost(port, "/v2/logging", R"({"log_info": false})").status, 403);
  EXPECT_TRUE(CurrentLogSeverities().info);
  httplib::Client http("127.0.0.1", port);
  httplib::Result allowed = http.Get("/v2/logging", {{"log-key", "s3cret"}});
  ASSERT_TRUE(allowed);
  EXPECT_EQ(allowed->status, 200);

  inference::LogSettingsResponse response;
  EXPECT_EQ(LogSettings({}, &response).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_TRUE(LogSettings({}, &response, "s3cret").ok());
  // Other protocols stay open.
  EXPECT_TRUE(client_->ServerReady());
}

}  // namespace
}  // namespace seqserve
