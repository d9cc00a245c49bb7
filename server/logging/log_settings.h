// Triton's logging extension (GET/POST /v2/logging, gRPC LogSettings): the log settings a
// client reads and changes while the server runs, as named values —
//   log_info, log_warning, log_error   bool: that severity's lines on or off
//   log_verbose_level                  uint32: 0 none, 1 debug lines, 2 or more trace too
//   log_format                         string: "text" or "json" (Triton's "default" is
//                                      accepted as "text")
//   log_file                           string: always "" (stderr); see below
//   log_requests                       bool: the per-request access log (--log-requests);
//                                      seqserve's own setting, not Triton's
// An update names any of them; it is checked whole before anything changes, so a bad value
// changes nothing. A client cannot point the log at a file: that would let anyone who reaches
// the port create or overwrite files as the server's user, so log_file accepts only "" (the
// operator collects stderr). Unknown names and values of the wrong type are INVALID_ARGUMENT
// naming the setting. Process-wide, like the logging it changes. Thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "absl/status/status.h"

namespace seqserve {

using LogSettingValue = std::variant<bool, uint32_t, std::string>;
using LogSettingList = std::vector<std::pair<std::string, LogSettingValue>>;

// Every setting with its current value, in the order above.
LogSettingList CurrentLogSettings();

// Applies `changes` (see above), all or nothing.
absl::Status UpdateLogSettings(const LogSettingList& changes);

// The access log's switch: --log-requests at start, log_requests at runtime.
bool RequestLoggingEnabled();
void SetRequestLogging(bool enabled);

}  // namespace seqserve
