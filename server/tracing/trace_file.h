// Where traces are written: the operator's trace file (--trace-file) and its numbered
// siblings, in Triton's layout.
//   <path>      one JSON array that grows as traces are appended. Created (truncated) by the
//               first append; "]" is kept at its end, so after every append it is a complete
//               array (Triton closes its array only at shutdown).
//   <path>.<k>  k = 0, 1, 2, ...: one JSON array per batch of traces written together
//               (log_frequency, or the last traces of a trace_count; tracing/tracer.h).
// Nothing else is ever written: the paths come from the operator, never from a client.
// A write that fails is logged on the "trace" logger and the traces are dropped: tracing
// never fails or delays a request's answer on account of the disk.
// Thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"

namespace seqserve {

class TraceFile {
 public:
  explicit TraceFile(std::string path) : path_(std::move(path)) {}
  ~TraceFile();

  TraceFile(const TraceFile&) = delete;
  TraceFile& operator=(const TraceFile&) = delete;

  // INVALID_ARGUMENT naming the path when traces could not be written there: empty, a
  // directory, or in a directory that does not exist. (Writability shows at the first write.)
  static absl::Status CheckPath(const std::string& path);

  const std::string& path() const { return path_; }

  // Appends traces (RequestTrace::ToJson texts joined by commas) to <path>.
  void Append(std::string_view traces);
  // Writes traces to the next <path>.<k>.
  void WriteNumbered(std::string_view traces);
  // The <k> the next WriteNumbered uses.
  uint64_t next_number() const;

 private:
  const std::string path_;
  mutable absl::Mutex mu_;
  int fd_ ABSL_GUARDED_BY(mu_) = -1;          // <path>, once the first append opened it
  uint64_t size_ ABSL_GUARDED_BY(mu_) = 0;    // its bytes, the closing "]" included
  bool failed_ ABSL_GUARDED_BY(mu_) = false;  // <path> could not be written: not retried
  uint64_t next_number_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace seqserve
