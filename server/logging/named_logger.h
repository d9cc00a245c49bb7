// The logger of one area of the server ("server", "repository", "scheduler", "grpc", ...):
// the registered one of that name, else a clone of the default logger, so it shares the
// sink, format and level ConfigureLogging (server/logging/logging.h) installed. The clone is
// registered, so that a level set at runtime (spdlog::set_level) reaches it. Header-only: the
// scheduler and repository libraries sit below the one that holds logging.cc.
// Thread-safe.
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "spdlog/spdlog.h"

namespace seqserve {

inline std::shared_ptr<spdlog::logger> NamedLogger(const std::string& name) {
  static std::mutex mu;  // one clone per name, even when two threads ask first at once
  std::lock_guard<std::mutex> lock(mu);
  std::shared_ptr<spdlog::logger> named = spdlog::get(name);
  if (named != nullptr) return named;
  named = spdlog::default_logger()->clone(name);
  spdlog::register_logger(named);
  return named;
}

}  // namespace seqserve
