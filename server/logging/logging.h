// Logging setup for the seqserve binary: spdlog to stderr, as text or as JSON lines
// ({"ts": "...", "level": "...", "logger": "...", "msg": "...", <fields>}, UTC timestamps), at
// one level. Each area's named logger is cloned from the default logger on first use, so it
// shares this sink, format and level.
//
// Structured fields (model, version, request_id, status, ...) go through LogWithFields: JSON
// lines carry them as keys of their own, text lines as ` key=value` after the message. They
// travel inside spdlog's message (after a separator byte that text never contains) and the
// formatter installed by ConfigureLogging takes them apart, so every sink and logger works
// unchanged.
//
// Thread-safety: ConfigureLogging once at startup, before other threads log; LogWithFields
// and the runtime setters from any thread.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "server/logging/named_logger.h"
#include "spdlog/spdlog.h"

namespace seqserve {

enum class LogFormat { kText, kJson };

// `level`: trace, debug, info, warn or error. INVALID_ARGUMENT for anything else. Lines go
// to `sink`, stderr when null (tests pass their own).
absl::Status ConfigureLogging(std::string_view level, LogFormat format,
                              std::shared_ptr<spdlog::sinks::sink> sink = nullptr);

// What is logged, switched per severity as Triton's logging extension does: info, warning
// and error each on or off, and the verbose level (0: none, 1: debug lines, 2 or more: trace
// lines too). --log-level=warn is {info off, warning on, error on, verbose 0}.
struct LogSeverities {
  bool info = true;
  bool warning = true;
  bool error = true;
  uint32_t verbose_level = 0;
};

// The configuration ConfigureLogging installed, changed at runtime (server/logging/
// log_settings.h); they take effect for every logger at once. Before ConfigureLogging the
// setters do nothing.
LogSeverities CurrentLogSeverities();
void SetLogSeverities(const LogSeverities& severities);
LogFormat CurrentLogFormat();
void SetLogFormat(LogFormat format);

// One structured field. Numbers are written unquoted in JSON.
struct LogField {
  LogField(std::string_view key, std::string_view value) : key(key), value(value) {}
  LogField(std::string_view key, const std::string& value) : key(key), value(value) {}
  LogField(std::string_view key, const char* value) : key(key), value(value) {}
  LogField(std::string_view key, int64_t value);
  LogField(std::string_view key, int value) : LogField(key, static_cast<int64_t>(value)) {}
  LogField(std::string_view key, double value);

  std::string_view key;
  std::string value;
  bool number = false;
};

// Logs `message` with `fields` at `level` (nothing is built when the level is off). Fields
// with an empty value are left out.
void LogWithFields(spdlog::logger& logger, spdlog::level::level_enum level,
                   std::string_view message, std::span<const LogField> fields);
void LogWithFields(spdlog::logger& logger, spdlog::level::level_enum level,
                   std::string_view message, std::initializer_list<LogField> fields);

}  // namespace seqserve
