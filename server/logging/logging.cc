#include "server/logging/logging.h"

#include <atomic>
#include <charconv>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "server/logging/json_text.h"
#include "spdlog/pattern_formatter.h"
#include "spdlog/sinks/stdout_color_sinks.h"
#include "spdlog/sinks/stdout_sinks.h"

namespace seqserve {
namespace {

// Inside a message: kFieldStart, then per field the key, kValueStart and 's' (string) or 'n'
// (number), then the value; fields are separated by kFieldStart. Control bytes a message
// and a field never contain (JsonEscape would escape them; text logs never have them).
constexpr char kFieldStart = '\x1f';
constexpr char kValueStart = '\x1e';

// Set once ConfigureLogging has installed the formatters that understand fields; before that
// (tests, tools) LogWithFields writes the fields as text itself.
std::atomic<bool> field_formatter{false};

struct Field {
  std::string_view key;
  std::string_view value;
  bool number = false;
};

// Splits a payload into the message and calls `on_field` for each field.
template <typename OnField>
std::string_view SplitFields(std::string_view payload, OnField&& on_field) {
  const size_t start = payload.find(kFieldStart);
  if (start == std::string_view::npos) return payload;
  const std::string_view message = payload.substr(0, start);
  std::string_view rest = payload.substr(start + 1);
  while (!rest.empty()) {
    const size_t end = rest.find(kFieldStart);
    const std::string_view field = rest.substr(0, end);
    rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 1);
    const size_t split = field.find(kValueStart);
    if (split == std::string_view::npos || split + 1 >= field.size()) continue;
    on_field(Field{field.substr(0, split), field.substr(split + 2), field[split + 1] == 'n'});
  }
  return message;
}

// A value as text: quoted when it has spaces, quotes or equals signs, or is empty.
void AppendTextValue(std::string_view value, std::string& out) {
  if (!value.empty() && value.find_first_of(" \"=") == std::string_view::npos) {
    out.append(value);
  } else {
    absl::StrAppend(&out, "\"", JsonEscape(value), "\"");
  }
}

// %& of the text pattern: the message, then " key=value" per field.
class TextMessageFlag final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    std::string fields;
    const std::string_view message =
        SplitFields(std::string_view(msg.payload.data(), msg.payload.size()), [&](Field field) {
          absl::StrAppend(&fields, " ", std::string(field.key), "=");
          AppendTextValue(field.value, fields);
        });
    dest.append(message.data(), message.data() + message.size());
    dest.append(fields.data(), fields.data() + fields.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<TextMessageFlag>();
  }
};

// %* of the JSON pattern: "msg":"...", then "key":value per field.
class JsonMessageFlag final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    std::string fields;
    const std::string_view message =
        SplitFields(std::string_view(msg.payload.data(), msg.payload.size()), [&](Field field) {
          absl::StrAppend(&fields, ",\"", JsonEscape(field.key), "\":");
          if (field.number) {
            fields.append(field.value);
          } else {
            absl::StrAppend(&fields, "\"", JsonEscape(field.value), "\"");
          }
        });
    const std::string out = absl::StrCat("\"msg\":\"", JsonEscape(message), "\"", fields);
    dest.append(out.data(), out.data() + out.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<JsonMessageFlag>();
  }
};

// The sink every logger shares: passes on the lines of the enabled severities only, since
// Triton's settings switch info, warning and error separately and a logger has one threshold.
class SeverityFilterSink final : public spdlog::sinks::sink {
 public:
  explicit SeverityFilterSink(std::shared_ptr<spdlog::sinks::sink> inner)
      : inner_(std::move(inner)) {}

  void log(const spdlog::details::log_msg& msg) override {
    if (Enabled(msg.level)) inner_->log(msg);
  }
  void flush() override { inner_->flush(); }
  void set_pattern(const std::string& pattern) override { inner_->set_pattern(pattern); }
  void set_formatter(std::unique_ptr<spdlog::formatter> formatter) override {
    inner_->set_formatter(std::move(formatter));
  }

  void set_severities(const LogSeverities& severities) {
    info_.store(severities.info, std::memory_order_relaxed);
    warning_.store(severities.warning, std::memory_order_relaxed);
    error_.store(severities.error, std::memory_order_relaxed);
    verbose_level_.store(severities.verbose_level, std::memory_order_relaxed);
  }
  LogSeverities severities() const {
    return LogSeverities{info_.load(std::memory_order_relaxed),
                         warning_.load(std::memory_order_relaxed),
                         error_.load(std::memory_order_relaxed),
                         verbose_level_.load(std::memory_order_relaxed)};
  }

 private:
  bool Enabled(spdlog::level::level_enum level) const {
    switch (level) {
      case spdlog::level::trace: return verbose_level_.load(std::memory_order_relaxed) >= 2;
      case spdlog::level::debug: return verbose_level_.load(std::memory_order_relaxed) >= 1;
      case spdlog::level::info: return info_.load(std::memory_order_relaxed);
      case spdlog::level::warn: return warning_.load(std::memory_order_relaxed);
      case spdlog::level::err:
      case spdlog::level::critical: return error_.load(std::memory_order_relaxed);
      default: return false;
    }
  }

  const std::shared_ptr<spdlog::sinks::sink> inner_;
  std::atomic<bool> info_{true};
  std::atomic<bool> warning_{true};
  std::atomic<bool> error_{true};
  std::atomic<uint32_t> verbose_level_{0};
};

// The configuration ConfigureLogging installed, for the runtime settings.
absl::Mutex active_mu(absl::kConstInit);
std::shared_ptr<SeverityFilterSink> active_filter ABSL_GUARDED_BY(active_mu);
LogFormat active_format ABSL_GUARDED_BY(active_mu) = LogFormat::kText;

std::unique_ptr<spdlog::formatter> MakeFormatter(LogFormat format) {
  if (format == LogFormat::kJson) {
    auto formatter = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc);
    formatter->add_flag<JsonMessageFlag>('*').set_pattern(
        R"({"ts":"%Y-%m-%dT%H:%M:%S.%fZ","level":"%l","logger":"%n",%*})");
    return formatter;
  }
  auto formatter = std::make_unique<spdlog::pattern_formatter>();
  formatter->add_flag<TextMessageFlag>('&').set_pattern("[%Y-%m-%d %H:%M:%S.%e] [%n] [%l] %&");
  return formatter;
}

// Every logger's threshold is the lowest enabled severity (so nothing below it is even
// formatted); the filter sink drops the disabled ones above it.
void ApplySeverities(const LogSeverities& severities) ABSL_EXCLUSIVE_LOCKS_REQUIRED(active_mu) {
  if (active_filter == nullptr) return;
  active_filter->set_severities(severities);
  spdlog::level::level_enum threshold = spdlog::level::off;
  if (severities.error) threshold = spdlog::level::err;
  if (severities.warning) threshold = spdlog::level::warn;
  if (severities.info) threshold = spdlog::level::info;
  if (severities.verbose_level >= 1) threshold = spdlog::level::debug;
  if (severities.verbose_level >= 2) threshold = spdlog::level::trace;
  spdlog::set_level(threshold);  // the default logger and every registered named logger
}

}  // namespace

LogField::LogField(std::string_view key, int64_t value)
    : key(key), value(std::to_string(value)), number(true) {}

LogField::LogField(std::string_view key, double value) : key(key), number(true) {
  char buffer[32];
  const std::to_chars_result result =
      std::to_chars(buffer, buffer + sizeof(buffer), value, std::chars_format::fixed, 3);
  this->value.assign(buffer, result.ptr);
}

void LogWithFields(spdlog::logger& logger, spdlog::level::level_enum level,
                   std::string_view message, std::initializer_list<LogField> fields) {
  LogWithFields(logger, level, message, std::span<const LogField>(fields.begin(), fields.size()));
}

void LogWithFields(spdlog::logger& logger, spdlog::level::level_enum level,
                   std::string_view message, std::span<const LogField> fields) {
  if (!logger.should_log(level)) return;
  std::string payload(message);
  const bool encoded = field_formatter.load(std::memory_order_relaxed);
  for (const LogField& field : fields) {
    if (field.value.empty()) continue;  // unknown or not applicable
    if (encoded) {
      absl::StrAppend(&payload, std::string(1, kFieldStart), std::string(field.key),
                      std::string(1, kValueStart), field.number ? "n" : "s", field.value);
    } else {
      absl::StrAppend(&payload, " ", std::string(field.key), "=", field.value);
    }
  }
  logger.log(level, spdlog::string_view_t(payload.data(), payload.size()));
}

absl::Status ConfigureLogging(std::string_view level, LogFormat format,
                              std::shared_ptr<spdlog::sinks::sink> sink) {
  LogSeverities severities;
  if (level == "trace") {
    severities.verbose_level = 2;
  } else if (level == "debug") {
    severities.verbose_level = 1;
  } else if (level == "info") {
  } else if (level == "warn") {
    severities.info = false;
  } else if (level == "error") {
    severities.info = false;
    severities.warning = false;
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        "log level '", std::string(level), "': expected trace, debug, info, warn or error"));
  }

  if (sink == nullptr) {
    if (format == LogFormat::kJson) {
      sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
    } else {
      sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
    }
  }
  auto filter = std::make_shared<SeverityFilterSink>(std::move(sink));
  auto logger = std::make_shared<spdlog::logger>("seqserve", filter);
  logger->set_formatter(MakeFormatter(format));
  // Warnings and errors reach the terminal or the log collector at once, even if the
  // process dies right after.
  logger->flush_on(spdlog::level::warn);
  {
    absl::MutexLock lock(&active_mu);
    active_filter = filter;
    active_format = format;
    // Named loggers cloned from an earlier configuration keep its sink; later ones clone this.
    spdlog::drop_all();
    spdlog::set_default_logger(logger);
    ApplySeverities(severities);
  }
  field_formatter.store(true, std::memory_order_relaxed);
  return absl::OkStatus();
}

LogSeverities CurrentLogSeverities() {
  absl::MutexLock lock(&active_mu);
  return active_filter != nullptr ? active_filter->severities() : LogSeverities{};
}

void SetLogSeverities(const LogSeverities& severities) {
  absl::MutexLock lock(&active_mu);
  ApplySeverities(severities);
}

LogFormat CurrentLogFormat() {
  absl::MutexLock lock(&active_mu);
  return active_format;
}

void SetLogFormat(LogFormat format) {
  absl::MutexLock lock(&active_mu);
  if (active_filter == nullptr) return;
  // Every named logger shares the filter sink, so its formatter is theirs.
  active_filter->set_formatter(MakeFormatter(format));
  active_format = format;
}

}  // namespace seqserve
