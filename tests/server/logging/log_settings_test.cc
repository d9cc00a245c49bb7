// Triton's log settings applied to the loggers: each severity switched on its own (also the
// combinations one threshold cannot express), the verbose levels, the format of loggers that
// already exist, and updates that are checked whole. Lines go to a capturing sink.
#include "server/logging/log_settings.h"

#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "server/logging/logging.h"
#include "server/logging/named_logger.h"
#include "tests/util/capture_sink.h"

namespace seqserve {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using seqserve::testing::CaptureSink;

class LogSettingsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(ConfigureLogging("info", LogFormat::kJson, sink_).ok());
    SetRequestLogging(false);
    logger_ = NamedLogger("settings-test");  // cloned before any change, as the server's are
  }

  // Logs one line per severity and returns the messages that came through.
  std::vector<std::string> LogEverySeverity() {
    logger_->trace("trace");
    logger_->debug("debug");
    logger_->info("info");
    logger_->warn("warn");
    logger_->error("error");
    std::vector<std::string> messages;
    for (const std::string& line : sink_->Take()) {
      messages.push_back(nlohmann::json::parse(line)["msg"].get<std::string>());
    }
    return messages;
  }

  std::shared_ptr<CaptureSink> sink_ = std::make_shared<CaptureSink>();
  std::shared_ptr<spdlog::logger> logger_;
};

TEST_F(LogSettingsTest, DefaultsFollowTheStartLevel) {
  EXPECT_THAT(LogEverySeverity(), ElementsAre("info", "warn", "error"));
  const LogSettingList expected = {
      {"log_file", std::string()},  {"log_info", true},
      {"log_warning", true},        {"log_error", true},
      {"log_verbose_level", 0u},    {"log_format", std::string("json")},
      {"log_requests", false},
  };
  EXPECT_EQ(CurrentLogSettings(), expected);
  ASSERT_TRUE(ConfigureLogging("warn", LogFormat::kJson, sink_).ok());
  logger_ = NamedLogger("settings-test");
  EXPECT_EQ(std::get<bool>(CurrentLogSettings()[1].second), false);  // log_info
  EXPECT_THAT(LogEverySeverity(), ElementsAre("warn", "error"));
}

TEST_F(LogSettingsTest, EachSeveritySwitchesOnItsOwn) {
  // Warnings off while info stays on: no single threshold expresses this.
  ASSERT_TRUE(UpdateLogSettings({{"log_warning", false}}).ok());
  EXPECT_THAT(LogEverySeverity(), ElementsAre("info", "error"));
  ASSERT_TRUE(UpdateLogSettings({{"log_warning", true}, {"log_info", false}}).ok());
  EXPECT_THAT(LogEverySeverity(), ElementsAre("warn", "error"));
  ASSERT_TRUE(UpdateLogSettings({{"log_warning", false}, {"log_error", false}}).ok());
  EXPECT_THAT(LogEverySeverity(), ElementsAre());
}

TEST_F(LogSettingsTest, VerboseLevelsAddDebugThenTrace) {
  ASSERT_TRUE(UpdateLogSettings({{"log_verbose_level", 1u}}).ok());
  EXPECT_THAT(LogEverySeverity(), ElementsAre("debug", "info", "warn", "error"));
  ASSERT_TRUE(UpdateLogSettings({{"log_verbose_level", 2u}}).ok());
  EXPECT_THAT(LogEverySeverity(), ElementsAre("trace", "debug", "info", "warn", "error"));
  ASSERT_TRUE(UpdateLogSettings({{"log_verbose_level", 0u}}).ok());
  EXPECT_THAT(LogEverySeverity(), ElementsAre("info", "warn", "error"));
}

TEST_F(LogSettingsTest, FormatChangesLoggersThatAlreadyExist) {
  ASSERT_TRUE(UpdateLogSettings({{"log_format", std::string("text")}}).ok());
  logger_->info("now as text");
  std::vector<std::string> lines = sink_->Take();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_THAT(lines[0], HasSubstr("[settings-test] [info] now as text"));
  ASSERT_TRUE(UpdateLogSettings({{"log_format", std::string("json")}}).ok());
  logger_->info("json again");
  lines = sink_->Take();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(nlohmann::json::parse(lines[0])["msg"], "json again");
  // Triton's name for its default format is accepted as the text format.
  ASSERT_TRUE(UpdateLogSettings({{"log_format", std::string("default")}}).ok());
  EXPECT_EQ(CurrentLogFormat(), LogFormat::kText);
}

TEST_F(LogSettingsTest, RequestLoggingSwitches) {
  ASSERT_TRUE(UpdateLogSettings({{"log_requests", true}}).ok());
  EXPECT_TRUE(RequestLoggingEnabled());
  ASSERT_TRUE(UpdateLogSettings({{"log_requests", false}}).ok());
  EXPECT_FALSE(RequestLoggingEnabled());
}

TEST_F(LogSettingsTest, ABadUpdateNamesTheSettingAndChangesNothing) {
  const LogSettingList before = CurrentLogSettings();
  struct Case {
    LogSettingList changes;
    const char* message;
  };
  const std::vector<Case> cases = {
      {{{"log_info", false}, {"log_colour", true}}, "unknown log setting 'log_colour'"},
      {{{"log_info", std::string("yes")}}, "'log_info': expected a boolean, got a string"},
      {{{"log_verbose_level", true}}, "'log_verbose_level': expected an unsigned integer"},
      {{{"log_format", std::string("ISO8601")}}, "'ISO8601' is not a format seqserve writes"},
      {{{"log_info", false}, {"log_file", std::string("/tmp/seqserve.log")}},
       "'log_file': seqserve logs to stderr only"},
  };
  for (const Case& c : cases) {
    const absl::Status status = UpdateLogSettings(c.changes);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << c.message;
    EXPECT_THAT(std::string(status.message()), HasSubstr(c.message));
    EXPECT_EQ(CurrentLogSettings(), before) << c.message;
  }
  // An empty log_file is the one it has: accepted, nothing changes.
  EXPECT_TRUE(UpdateLogSettings({{"log_file", std::string()}}).ok());
  EXPECT_EQ(CurrentLogSettings(), before);
}

}  // namespace
}  // namespace seqserve
