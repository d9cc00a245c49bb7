#include "server/logging/log_settings.h"

#include <atomic>
#include <optional>

#include "absl/strings/str_cat.h"
#include "server/logging/logging.h"

namespace seqserve {
namespace {

std::atomic<bool> request_logging{false};

const char* TypeName(const LogSettingValue& value) {
  if (std::holds_alternative<bool>(value)) return "a boolean";
  if (std::holds_alternative<uint32_t>(value)) return "an unsigned integer";
  return "a string";
}

template <typename T>
absl::Status Expect(const std::string& name, const LogSettingValue& value, const char* type) {
  if (std::holds_alternative<T>(value)) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("log setting '", name, "': expected ", type, ", got ", TypeName(value)));
}

}  // namespace

LogSettingList CurrentLogSettings() {
  const LogSeverities severities = CurrentLogSeverities();
  return {
      {"log_file", std::string()},
      {"log_info", severities.info},
      {"log_warning", severities.warning},
      {"log_error", severities.error},
      {"log_verbose_level", severities.verbose_level},
      {"log_format", std::string(CurrentLogFormat() == LogFormat::kJson ? "json" : "text")},
      {"log_requests", RequestLoggingEnabled()},
  };
}

absl::Status UpdateLogSettings(const LogSettingList& changes) {
  LogSeverities severities = CurrentLogSeverities();
  std::optional<LogFormat> format;
  std::optional<bool> requests;
  for (const auto& [name, value] : changes) {
    if (name == "log_info" || name == "log_warning" || name == "log_error" ||
        name == "log_requests") {
      if (absl::Status ok = Expect<bool>(name, value, "a boolean"); !ok.ok()) return ok;
      const bool on = std::get<bool>(value);
      if (name == "log_info") severities.info = on;
      if (name == "log_warning") severities.warning = on;
      if (name == "log_error") severities.error = on;
      if (name == "log_requests") requests = on;
    } else if (name == "log_verbose_level") {
      if (absl::Status ok = Expect<uint32_t>(name, value, "an unsigned integer"); !ok.ok()) {
        return ok;
      }
      severities.verbose_level = std::get<uint32_t>(value);
    } else if (name == "log_format") {
      if (absl::Status ok = Expect<std::string>(name, value, "a string"); !ok.ok()) return ok;
      const std::string& text = std::get<std::string>(value);
      if (text == "text" || text == "default") {
        format = LogFormat::kText;
      } else if (text == "json") {
        format = LogFormat::kJson;
      } else {
        return absl::InvalidArgumentError(absl::StrCat(
            "log setting 'log_format': '", text, "' is not a format seqserve writes (it "
            "writes \"text\", also called \"default\", or \"json\")"));
      }
    } else if (name == "log_file") {
      if (absl::Status ok = Expect<std::string>(name, value, "a string"); !ok.ok()) return ok;
      if (!std::get<std::string>(value).empty()) {
        return absl::InvalidArgumentError(
            "log setting 'log_file': seqserve logs to stderr only and does not write a file "
            "a client names (that would let anyone who reaches the port create or overwrite "
            "files); only \"\" is accepted");
      }
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          "unknown log setting '", name, "' (seqserve knows log_file, log_info, log_warning, "
          "log_error, log_verbose_level, log_format and log_requests)"));
    }
  }
  SetLogSeverities(severities);
  if (format.has_value()) SetLogFormat(*format);
  if (requests.has_value()) SetRequestLogging(*requests);
  return absl::OkStatus();
}

bool RequestLoggingEnabled() { return request_logging.load(std::memory_order_relaxed); }

void SetRequestLogging(bool enabled) {
  request_logging.store(enabled, std::memory_order_relaxed);
}

}  // namespace seqserve
