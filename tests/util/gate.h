// Waiting without sleeping, and holding a worker: a task that blocks in MutableOutput until the test
// opens its gate keeps the worker running it busy, so what the test sends meanwhile queues
// up deterministically.
#pragma once

#include <memory>
#include <utility>

#include "absl/status/status.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"

namespace seqserve::testing {

// Bounds every wait in the tests, so a bug fails the test instead of hanging it.
inline constexpr absl::Duration kGuard = absl::Seconds(60);

struct Gate {
  absl::Notification entered;   // a worker is inside the gated task
  absl::Notification release;   // the test lets it go on
  absl::Notification finished;  // the gated task was finished (tasks that report it)
  absl::Status status;          // written before `finished`
};

// Opens the gate when the test leaves its scope, so a failing test never leaves a worker
// blocked (which would hang the shutdown that follows).
class GateOpener {
 public:
  explicit GateOpener(std::shared_ptr<Gate> gate) : gate_(std::move(gate)) {}
  ~GateOpener() {
    if (!gate_->release.HasBeenNotified()) gate_->release.Notify();
  }
  GateOpener(const GateOpener&) = delete;
  GateOpener& operator=(const GateOpener&) = delete;

 private:
  std::shared_ptr<Gate> gate_;
};

}  // namespace seqserve::testing
