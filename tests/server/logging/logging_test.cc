// Log lines as text and as JSON, with structured fields: ConfigureLogging with a test sink,
// then the lines parsed back.
#include "server/logging/logging.h"

#include <sstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "spdlog/sinks/ostream_sink.h"

namespace seqserve {
namespace {

using ::testing::EndsWith;
using ::testing::HasSubstr;

std::string LogOneLine(LogFormat format, const char* logger_name) {
  std::ostringstream out;
  EXPECT_TRUE(
      ConfigureLogging("info", format, std::make_shared<spdlog::sinks::ostream_sink_mt>(out))
          .ok());
  std::shared_ptr<spdlog::logger> logger = spdlog::default_logger()->clone(logger_name);
  LogWithFields(*logger, spdlog::level::info, "POST /v2/models/lenet/infer",
                {{"status", 200},
                 {"duration_ms", 1.25},
                 {"model", "lenet"},
                 {"version", "1"},
                 {"request_id", "id with \"quotes\""},
                 {"empty", ""}});
  // Below the level: nothing is written.
  LogWithFields(*logger, spdlog::level::debug, "hidden", {{"model", "x"}});
  logger->info("plain {}", "message");
  return out.str();
}

TEST(Logging, JsonLinesCarryFieldsAsKeys) {
  std::istringstream lines(LogOneLine(LogFormat::kJson, "access"));
  std::string line;
  ASSERT_TRUE(std::getline(lines, line));
  const nlohmann::json entry = nlohmann::json::parse(line);
  EXPECT_EQ(entry["level"], "info");
  EXPECT_EQ(entry["logger"], "access");
  EXPECT_EQ(entry["msg"], "POST /v2/models/lenet/infer");
  EXPECT_EQ(entry["status"], 200);  // numbers stay numbers
  EXPECT_DOUBLE_EQ(entry["duration_ms"].get<double>(), 1.25);
  EXPECT_EQ(entry["model"], "lenet");
  EXPECT_EQ(entry["version"], "1");
  EXPECT_EQ(entry["request_id"], "id with \"quotes\"");
  EXPECT_FALSE(entry.contains("empty"));
  EXPECT_THAT(entry["ts"].get<std::string>(), EndsWith("Z"));
  ASSERT_TRUE(std::getline(lines, line));
  EXPECT_EQ(nlohmann::json::parse(line)["msg"], "plain message");
  EXPECT_FALSE(std::getline(lines, line));
}

TEST(Logging, TextLinesCarryFieldsAsKeyValue) {
  const std::string text = LogOneLine(LogFormat::kText, "access");
  EXPECT_THAT(text, HasSubstr("[access] [info] POST /v2/models/lenet/infer status=200 "
                              "duration_ms=1.250 model=lenet version=1 "
                              "request_id=\"id with \\\"quotes\\\"\"\n"));
  EXPECT_THAT(text, HasSubstr("[access] [info] plain message\n"));
  EXPECT_THAT(text, ::testing::Not(HasSubstr("hidden")));
}

TEST(Logging, RejectsUnknownLevels) {
  EXPECT_FALSE(ConfigureLogging("loud", LogFormat::kText).ok());
}

}  // namespace
}  // namespace seqserve
