// The "repository" logger, shared by the files of the repository library (lifecycle, sync,
// loader). Thread-safe: made once, on first use.
#pragma once

#include <memory>

#include "server/logging/named_logger.h"
#include "spdlog/spdlog.h"

namespace seqserve {

inline spdlog::logger& RepositoryLog() {
  static const std::shared_ptr<spdlog::logger> logger = NamedLogger("repository");
  return *logger;
}

}  // namespace seqserve
