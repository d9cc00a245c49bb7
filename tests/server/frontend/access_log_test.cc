// The access log both front ends write through: one JSON line per entry with the same keys
// for gRPC and HTTP, the protocol's own counters, and server errors at warn.
// (The front ends' use of it is tested end to end in http/http_service_test.cc.)
#include "server/frontend/access_log.h"

#include <sstream>
#include <string>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "server/logging/logging.h"
#include "spdlog/sinks/ostream_sink.h"

namespace seqserve {
namespace {

// One test only: the "access" logger is made from the configured default logger on first use.
TEST(AccessLog, BothProtocolsWriteOneLineWithTheSameKeys) {
  std::ostringstream out;
  ASSERT_TRUE(ConfigureLogging("info", LogFormat::kJson,
                               std::make_shared<spdlog::sinks::ostream_sink_mt>(out))
                  .ok());
  AccessEntry grpc;
  grpc.protocol = "grpc";
  grpc.request = "/inference.GRPCInferenceService/ModelInfer";
  grpc.status = std::string_view("NOT_FOUND");
  grpc.duration_ms = 0.5;
  grpc.model = "lenet";
  grpc.request_id = "r1";
  grpc.requests = 1;
  grpc.peer = "ipv4:127.0.0.1:5000";
  LogAccess(grpc);
  AccessEntry http;
  http.protocol = "http";
  http.request = "POST /v2/models/lenet/infer";
  http.status = int64_t{500};
  http.server_error = true;
  http.model = "lenet";
  http.version = "1";
  http.bytes_in = 12;
  http.bytes_out = 34;
  http.peer = "127.0.0.1";
  LogAccess(http);

  std::istringstream lines(out.str());
  std::string line;
  ASSERT_TRUE(std::getline(lines, line));
  const nlohmann::json first = nlohmann::json::parse(line);
  EXPECT_EQ(first["logger"], "access");
  EXPECT_EQ(first["level"], "info");
  EXPECT_EQ(first["msg"], "/inference.GRPCInferenceService/ModelInfer");
  EXPECT_EQ(first["protocol"], "grpc");
  EXPECT_EQ(first["status"], "NOT_FOUND");
  EXPECT_DOUBLE_EQ(first["duration_ms"].get<double>(), 0.5);
  EXPECT_EQ(first["model"], "lenet");
  EXPECT_FALSE(first.contains("version"));  // the request named none
  EXPECT_EQ(first["request_id"], "r1");
  EXPECT_EQ(first["requests"], 1);
  EXPECT_FALSE(first.contains("bytes_in"));
  EXPECT_EQ(first["peer"], "ipv4:127.0.0.1:5000");

  ASSERT_TRUE(std::getline(lines, line));
  const nlohmann::json second = nlohmann::json::parse(line);
  EXPECT_EQ(second["level"], "warning");
  EXPECT_EQ(second["msg"], "POST /v2/models/lenet/infer");
  EXPECT_EQ(second["protocol"], "http");
  EXPECT_EQ(second["status"], 500);
  EXPECT_EQ(second["version"], "1");
  EXPECT_EQ(second["bytes_in"], 12);
  EXPECT_EQ(second["bytes_out"], 34);
  EXPECT_FALSE(second.contains("requests"));
  EXPECT_FALSE(std::getline(lines, line));
}

}  // namespace
}  // namespace seqserve
