// Gives the heap memory that large requests freed back to the system, soon after they end.
//
// glibc keeps freed blocks below its mmap threshold (1 MiB here, main.cc) in its heaps, one
// per thread that allocated them. A large request leaves many such blocks behind in the
// threads that touched it (gRPC's receive slices, the REST body, protobuf fields, a worker's
// buffers), and they stay resident until malloc_trim. Trimming right where a request ends is
// too early (its message is freed after the reply is sent, by the protocol library) and on
// the request's thread; so whoever sees a large request asks (RequestHeapTrim) and one
// background thread trims once things settle: `quiet_ms` after the last ask, and at most
// `max_wait_ms` after the first, so a steady stream of large requests trims about once per
// `max_wait_ms` and small traffic never does. Each such trim is followed by one more,
// `max_wait_ms` later, for what was freed only after it (a connection's read buffer goes
// when the next request arrives).
//
// Process-wide, since the heap is: HeapTrimmer::Acquire returns the running trimmer or starts
// one, and it stops when the last holder (each Server holds one) lets go. With none running
// (offline commands, most tests) RequestHeapTrim does nothing. Thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace seqserve {

// A request whose tensors take at least this many bytes asks for a trim.
inline constexpr int64_t kLargeRequestBytes = int64_t{1} << 20;

struct HeapTrimmerOptions {
  // Trim this long after the last ask ...
  int64_t quiet_ms = 100;
  // ... but no later than this after the first one still pending.
  int64_t max_wait_ms = 1000;
};

class HeapTrimmer {
 public:
  // The process's trimmer: the running one (its options stay), or a new one with `options`.
  static std::shared_ptr<HeapTrimmer> Acquire(const HeapTrimmerOptions& options = {});

  ~HeapTrimmer();  // stops and joins the thread
  HeapTrimmer(const HeapTrimmer&) = delete;
  HeapTrimmer& operator=(const HeapTrimmer&) = delete;

  // Asks for a trim once things settle (see the header comment).
  void Request();
  // Trims done so far (for tests and the debug log).
  int64_t trims() const;

 private:
  explicit HeapTrimmer(const HeapTrimmerOptions& options);
  void Run();
  bool StoppingOrPending() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const absl::Duration quiet_;
  const absl::Duration max_wait_;
  mutable absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool pending_ ABSL_GUARDED_BY(mu_) = false;
  bool follow_up_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time follow_up_at_ ABSL_GUARDED_BY(mu_);
  absl::Time first_ask_ ABSL_GUARDED_BY(mu_);
  absl::Time last_ask_ ABSL_GUARDED_BY(mu_);
  int64_t trims_ ABSL_GUARDED_BY(mu_) = 0;
  std::thread thread_;
};

// Asks the process's trimmer, if one runs, for a trim.
void RequestHeapTrim();

}  // namespace seqserve
