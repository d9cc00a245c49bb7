// Whether the server serves, one instance for both protocols: ready (ServerReady,
// /v2/health/ready, health service "") from the end of start-up until shutdown begins, and
// shutting down from then on — when new inference requests, streams and repository changes
// get ShuttingDownError(), on gRPC and HTTP alike. Owned by the Server, read by the front ends.
// Thread-safe: lock-free flags.
#pragma once

#include <atomic>

#include "absl/status/status.h"

namespace seqserve {

class ServingState {
 public:
  // The server sets it once the initial loads are done.
  void SetReady(bool ready) { ready_.store(ready, std::memory_order_relaxed); }
  bool ready() const { return ready_.load(std::memory_order_relaxed); }

  // Shutdown, step 1 (SPEC §9): not ready, and shutting down from now on. Requests already
  // accepted are not touched.
  void BeginShutdown() {
    shutting_down_.store(true, std::memory_order_release);
    ready_.store(false, std::memory_order_relaxed);
  }
  bool shutting_down() const { return shutting_down_.load(std::memory_order_acquire); }

 private:
  std::atomic<bool> ready_{false};
  std::atomic<bool> shutting_down_{false};
};

// What new work gets once shutdown has begun: UNAVAILABLE "server is shutting down" (HTTP
// 503).
inline absl::Status ShuttingDownError() {
  return absl::UnavailableError("server is shutting down");
}

}  // namespace seqserve
