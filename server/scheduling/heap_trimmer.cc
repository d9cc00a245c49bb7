#include "server/scheduling/heap_trimmer.h"

#include <malloc.h>

#include <algorithm>

namespace seqserve {
namespace {

// The running trimmer, if any; Acquire and RequestHeapTrim read it under the lock.
absl::Mutex registry_mu(absl::kConstInit);
std::weak_ptr<HeapTrimmer>& Running() {
  static auto* running = new std::weak_ptr<HeapTrimmer>();
  return *running;
}

}  // namespace

std::shared_ptr<HeapTrimmer> HeapTrimmer::Acquire(const HeapTrimmerOptions& options) {
  absl::MutexLock lock(&registry_mu);
  std::shared_ptr<HeapTrimmer> trimmer = Running().lock();
  if (trimmer == nullptr) {
    trimmer = std::shared_ptr<HeapTrimmer>(new HeapTrimmer(options));
    Running() = trimmer;
  }
  return trimmer;
}

void RequestHeapTrim() {
  std::shared_ptr<HeapTrimmer> trimmer;
  {
    absl::MutexLock lock(&registry_mu);
    trimmer = Running().lock();
  }
  // The last holder may have let go meanwhile; then this call's reference is the last one
  // and ends the trimmer here, which joins its thread (never this thread: it does not ask).
  if (trimmer != nullptr) trimmer->Request();
}

HeapTrimmer::HeapTrimmer(const HeapTrimmerOptions& options)
    : quiet_(absl::Milliseconds(std::max<int64_t>(options.quiet_ms, 0))),
      max_wait_(absl::Milliseconds(std::max<int64_t>(options.max_wait_ms, 0))),
      thread_([this] { Run(); }) {}

HeapTrimmer::~HeapTrimmer() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  thread_.join();
}

void HeapTrimmer::Request() {
  absl::MutexLock lock(&mu_);
  const absl::Time now = absl::Now();
  if (!pending_) first_ask_ = now;
  pending_ = true;
  last_ask_ = now;
}

int64_t HeapTrimmer::trims() const {
  absl::MutexLock lock(&mu_);
  return trims_;
}

bool HeapTrimmer::StoppingOrPending() const { return stopping_ || pending_; }

void HeapTrimmer::Run() {
  absl::MutexLock lock(&mu_);
  while (!stopping_) {
    if (!pending_ && !follow_up_) {
      mu_.Await(absl::Condition(this, &HeapTrimmer::StoppingOrPending));
      continue;
    }
    const absl::Time due =
        pending_ ? std::min(last_ask_ + quiet_, first_ask_ + max_wait_) : follow_up_at_;
    if (absl::Now() < due) {
      // Wakes early to stop, and while only a follow-up is due, for a new ask; a new ask
      // while one is pending moves `due`, which the next round reads.
      if (pending_) {
        mu_.AwaitWithDeadline(absl::Condition(&stopping_), due);
      } else {
        mu_.AwaitWithDeadline(absl::Condition(this, &HeapTrimmer::StoppingOrPending), due);
      }
      continue;
    }
    // A trim that answers asks is followed by one more, max_wait later: what the protocol
    // libraries let go of only when the next request comes (a connection's large read
    // buffer) was still in use at the first.
    follow_up_ = pending_;
    follow_up_at_ = absl::Now() + max_wait_;
    pending_ = false;
    mu_.Unlock();
    malloc_trim(0);
    mu_.Lock();
    ++trims_;
  }
}

}  // namespace seqserve
