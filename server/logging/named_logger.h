// The logger of one area of the server ("server", "repository", "scheduler", "grpc", ...):
// the registered one of that name, else a clone of the default logger, so it shares the
// sink, format and level ConfigureLogging (server/logging/logging.h) installed. Header-only: the
// scheduler and repository libraries sit below the one that holds logging.cc.
#pragma once

#include <memory>
#include <string>

#include "spdlog/spdlog.h"

namespace seqserve {

inline std::shared_ptr<spdlog::logger> NamedLogger(const std::string& name) {
  std::shared_ptr<spdlog::logger> named = spdlog::get(name);
  return named != nullptr ? named : spdlog::default_logger()->clone(name);
}

}  // namespace seqserve
