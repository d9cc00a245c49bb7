#include "server/tracing/trace_settings.h"

#include <charconv>
#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace seqserve {
namespace {

absl::Status SettingError(std::string_view name, std::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrCat("trace setting '", std::string(name), "': ", std::string(what)));
}

// The one value of a setting that takes one.
absl::StatusOr<std::string> OneValue(std::string_view name,
                                     const std::vector<std::string>& values) {
  if (values.size() != 1) {
    return SettingError(name, absl::StrCat("expected one value, got ", values.size(), " (\"",
                                           absl::StrJoin(values, "\", \""), "\")"));
  }
  return values[0];
}

// A decimal integer in [min, max], the whole string.
template <typename T>
absl::StatusOr<T> ParseInteger(std::string_view name, const std::string& text, T min, T max,
                               std::string_view range) {
  int64_t value = 0;
  const char* end = text.data() + text.size();
  const auto [stop, error] = std::from_chars(text.data(), end, value);
  if (text.empty() || error != std::errc() || stop != end || value < static_cast<int64_t>(min) ||
      value > static_cast<int64_t>(max)) {
    return SettingError(name,
                        absl::StrCat("expected ", std::string(range), ", got \"", text, "\""));
  }
  return static_cast<T>(value);
}

template <typename T>
absl::Status ParseNumber(std::string_view name, const std::vector<std::string>& values, T min,
                         std::string_view range, TraceSettingChange<T>& change) {
  if (values.empty()) {
    change.kind = TraceSettingChange<T>::Kind::kClear;
    return absl::OkStatus();
  }
  absl::StatusOr<std::string> text = OneValue(name, values);
  if (!text.ok()) return text.status();
  absl::StatusOr<T> value = ParseInteger<T>(name, *text, min, std::numeric_limits<T>::max(), range);
  if (!value.ok()) return value.status();
  change.kind = TraceSettingChange<T>::Kind::kSet;
  change.value = *value;
  return absl::OkStatus();
}

absl::Status ParseLevel(const std::vector<std::string>& values, TraceSettingChange<bool>& change) {
  if (values.empty()) {
    change.kind = TraceSettingChange<bool>::Kind::kClear;
    return absl::OkStatus();
  }
  bool off = false;
  for (const std::string& level : values) {
    if (level == "OFF") {
      off = true;
    } else if (level == "TENSORS") {
      return SettingError("trace_level",
                          "seqserve does not trace tensors (TENSORS); it traces TIMESTAMPS");
    } else if (level != "TIMESTAMPS") {
      return SettingError("trace_level",
                          absl::StrCat("unknown level \"", level, "\" (OFF or TIMESTAMPS)"));
    }
  }
  if (off && values.size() > 1) {
    return SettingError("trace_level", "OFF cannot be given together with another level");
  }
  change.kind = TraceSettingChange<bool>::Kind::kSet;
  change.value = !off;
  return absl::OkStatus();
}

absl::Status CheckFile(const std::vector<std::string>& values, std::string_view trace_file) {
  // No value: a model's trace_file follows the global one, which is the operator's.
  if (values.empty() || (values.size() == 1 && values[0] == trace_file)) return absl::OkStatus();
  return SettingError(
      "trace_file", absl::StrCat("traces go to the file the server was started with (--trace-file=",
                                 std::string(trace_file),
                                 "); a client cannot choose another, since that would let anyone "
                                 "who reaches the port create or overwrite files; only \"",
                                 std::string(trace_file), "\" is accepted"));
}

}  // namespace

absl::StatusOr<TraceSettingChanges> ParseTraceSettingUpdate(const TraceSettingUpdate& update,
                                                            std::string_view trace_file) {
  TraceSettingChanges changes;
  for (const auto& [name, values] : update) {
    absl::Status parsed;
    if (name == "trace_level") {
      parsed = ParseLevel(values, changes.timestamps);
    } else if (name == "trace_rate") {
      parsed =
          ParseNumber<uint32_t>(name, values, 1, "an integer in [1, 4294967295]", changes.rate);
    } else if (name == "trace_count") {
      parsed = ParseNumber<int32_t>(
          name, values, -1, "-1 (no limit) or an integer in [0, 2147483647]", changes.count);
    } else if (name == "log_frequency") {
      parsed = ParseNumber<uint32_t>(name, values, 0, "an integer in [0, 4294967295]",
                                     changes.log_frequency);
    } else if (name == "trace_file") {
      parsed = CheckFile(values, trace_file);
    } else {
      parsed =
          absl::InvalidArgumentError(absl::StrCat("unknown trace setting '", name,
                                                  "' (seqserve knows trace_level, trace_rate, "
                                                  "trace_count, log_frequency and trace_file)"));
    }
    if (!parsed.ok()) return parsed;
  }
  return changes;
}

}  // namespace seqserve
