// The settings of Triton's trace extension as a client reads and changes them (GET/POST
// /v2[/models/{m}]/trace/setting, gRPC TraceSetting), and the one check of an update. Every
// value is a list of strings on the wire (Triton's SettingValue); each setting takes one
// value except trace_level.
//   trace_level    ["OFF"] or ["TIMESTAMPS"]. Triton's "TENSORS" is refused: seqserve
//                  traces timestamps only.
//   trace_rate     "N": every N-th request (of those the setting covers) is traced; N >= 1.
//   trace_count    "N": traces still to take, counted down as they are taken; at 0 tracing
//                  stops; "-1": no limit.
//   log_frequency  "N": every N traces go to a new file <trace_file>.<k>; "0": traces go to
//                  <trace_file> itself (tracing/tracer.h says when).
//   trace_file     the operator's --trace-file, and nothing else: a client that could name
//                  the file could make the server create or overwrite any file its user may
//                  write, so an update may only repeat the current path.
// A setting named with no value (gRPC: an empty list; HTTP: null or []) is cleared: a
// model's goes back to following the global one, a global one to the start-up default.
// Thread-safe: pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace seqserve {

// Every setting with its values, in the order above.
using TraceSettingList = std::vector<std::pair<std::string, std::vector<std::string>>>;
// What a request names: each setting with its values (an empty list clears it).
using TraceSettingUpdate = std::vector<std::pair<std::string, std::vector<std::string>>>;

// One setting's part in an update.
template <typename T>
struct TraceSettingChange {
  enum class Kind { kKeep, kSet, kClear };
  Kind kind = Kind::kKeep;
  T value{};
};

// An update, checked.
struct TraceSettingChanges {
  TraceSettingChange<bool> timestamps;  // trace_level: true = TIMESTAMPS, false = OFF
  TraceSettingChange<uint32_t> rate;
  TraceSettingChange<int32_t> count;
  TraceSettingChange<uint32_t> log_frequency;
};

// Checks a whole update: INVALID_ARGUMENT naming the setting for an unknown name, a value
// that does not parse or is out of range, several values where one is expected, TENSORS,
// OFF beside another level, or a trace_file other than `trace_file`.
absl::StatusOr<TraceSettingChanges> ParseTraceSettingUpdate(const TraceSettingUpdate& update,
                                                            std::string_view trace_file);

}  // namespace seqserve
