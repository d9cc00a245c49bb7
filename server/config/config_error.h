// How every config.pbtxt error about a value reads: INVALID_ARGUMENT "config.pbtxt: <what is
// wrong>" (the caller adds which model). Parse errors carry a position instead (see
// config_parser.h). Thread-safe: a pure function.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace seqserve {

inline absl::Status ConfigError(std::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat("config.pbtxt: ", std::string(message)));
}

}  // namespace seqserve
