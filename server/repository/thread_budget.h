// The server-wide cap on model worker threads (--max-worker-threads): every model version
// reserves its workers × intra_op_threads before its workers start, and gives them back when
// it is destroyed (its scheduler stopped, its threads joined). A load that does not fit fails
// with an error naming what it needs, what is free and the limit, instead of the process
// running out of threads (libgomp ends the process when it cannot create a thread).
// Thread-safe: Reserve from any thread; a Reservation may outlive the ThreadBudget.
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace seqserve {

class ThreadBudget {
 public:
  // Threads reserved and not yet released; released by destruction or Release().
  class Reservation {
   public:
    Reservation() = default;
    Reservation(Reservation&& other) noexcept;
    Reservation& operator=(Reservation&& other) noexcept;
    Reservation(const Reservation&) = delete;
    Reservation& operator=(const Reservation&) = delete;
    ~Reservation() { Release(); }

    int threads() const { return threads_; }
    void Release();

   private:
    friend class ThreadBudget;
    struct Ledger;
    Reservation(std::shared_ptr<Ledger> ledger, int threads)
        : ledger_(std::move(ledger)), threads_(threads) {}

    std::shared_ptr<Ledger> ledger_;
    int threads_ = 0;
  };

  // `max_threads` >= 1 threads in all; `limit_name` names the setting in errors
  // ("--max-worker-threads").
  ThreadBudget(int max_threads, std::string_view limit_name);

  // Reserves `threads` for `what` ("model 'lenet' version 1: 4 workers x 2 intra_op_threads").
  // RESOURCE_EXHAUSTED when fewer are free, naming `what`, the free threads and the limit.
  absl::StatusOr<Reservation> Reserve(int threads, std::string_view what);

  int max_threads() const;
  int reserved() const;

 private:
  std::shared_ptr<Reservation::Ledger> ledger_;
};

}  // namespace seqserve
