// The engine's logger, named "engine": the registered logger of that name, else a clone of
// spdlog's default logger as it is at the call (so the server's sink, format and level apply
// once it has configured logging). The engine logs rarely (once per compiled plan at most),
// so the clone per call costs nothing that matters. Thread-safe.
#pragma once

#include <memory>

#include "spdlog/spdlog.h"

namespace seqserve {

inline std::shared_ptr<spdlog::logger> EngineLog() {
  std::shared_ptr<spdlog::logger> named = spdlog::get("engine");
  return named != nullptr ? named : spdlog::default_logger()->clone("engine");
}

}  // namespace seqserve
