#include "server/logging/logging.h"

#include <atomic>
#include <charconv>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
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
  spdlog::level::level_enum parsed;
  if (level == "trace") {
    parsed = spdlog::level::trace;
  } else if (level == "debug") {
    parsed = spdlog::level::debug;
  } else if (level == "info") {
    parsed = spdlog::level::info;
  } else if (level == "warn") {
    parsed = spdlog::level::warn;
  } else if (level == "error") {
    parsed = spdlog::level::err;
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        "log level '", std::string(level), "': expected trace, debug, info, warn or error"));
  }

  std::shared_ptr<spdlog::logger> logger;
  if (format == LogFormat::kJson) {
    if (sink == nullptr) sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
    logger = std::make_shared<spdlog::logger>("seqserve", std::move(sink));
    auto formatter = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc);
    formatter->add_flag<JsonMessageFlag>('*').set_pattern(
        R"({"ts":"%Y-%m-%dT%H:%M:%S.%fZ","level":"%l","logger":"%n",%*})");
    logger->set_formatter(std::move(formatter));
  } else {
    if (sink == nullptr) sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
    logger = std::make_shared<spdlog::logger>("seqserve", std::move(sink));
    auto formatter = std::make_unique<spdlog::pattern_formatter>();
    formatter->add_flag<TextMessageFlag>('&').set_pattern("[%Y-%m-%d %H:%M:%S.%e] [%n] [%l] %&");
    logger->set_formatter(std::move(formatter));
  }
  logger->set_level(parsed);
  // Warnings and errors reach the terminal or the log collector at once, even if the
  // process dies right after.
  logger->flush_on(spdlog::level::warn);
  spdlog::set_default_logger(logger);
  field_formatter.store(true, std::memory_order_relaxed);
  return absl::OkStatus();
}

}  // namespace seqserve
