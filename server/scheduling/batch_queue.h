// The dynamic batcher's decision logic, without threads or a model: a FIFO of tasks and a
// policy that says, at a given time, which tasks form the next batch, which have expired
// or were cancelled, and until when a free worker should wait for more. Time is passed
// in, so tests drive it with a fake clock. Not thread-safe: the Scheduler guards it.
//
// The policy (Triton's dynamic batcher): a batch is the oldest task plus later tasks with
// the same non-batch dims (shape[1:]) and input type (tasks of other shapes keep their
// place in the FIFO), up to max_batch_size rows (a task's rows are shape[0]). It is sent at
// once when it cannot grow (max_batch_size rows, or the next such task does not fit), when
// it reaches a preferred size, when the oldest task has waited max_queue_delay_us, or on
// flush.
// With preferred sizes the largest prefix that is exactly a preferred size is sent; if
// none is but the rows exceed the largest preferred size, the largest prefix that fits
// it. Otherwise the worker waits until the oldest task's delay ends or the earliest
// deadline, whichever comes first. With adaptive_window that wait is cut short, or not
// taken, when it does not pay (batch_window.h: from the arrivals Push sees and the compute
// times RecordCompute is told); without it the policy is exactly Triton's.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "server/scheduling/batch_window.h"
#include "server/scheduling/infer_task.h"

namespace seqserve {

struct BatchPolicy {
  // Rows per batch at most; 0 means the model does not batch: every task runs alone.
  int64_t max_batch_size = 0;
  // How long the oldest queued task may wait for others to join its batch.
  int64_t max_queue_delay_us = 0;
  // Batch sizes (rows) to prefer, each in [1, max_batch_size], any order; a batch is sent
  // as soon as it reaches one of them.
  std::vector<int64_t> preferred_batch_sizes;
  // Tasks queued at most; beyond it Push fails with RESOURCE_EXHAUSTED. 0: unbounded.
  size_t max_queue_size = 0;
  // Wait for a batch to grow only while the compute the next request saves exceeds the
  // waiting it costs (BatchWindow); max_queue_delay_us stays the bound. Off: Triton's fixed
  // window. The config's default is on ("adaptive_batching" in config.pbtxt parameters).
  bool adaptive_window = false;
};

class BatchQueue {
 public:
  // INVALID_ARGUMENT naming the field when `policy` is out of range.
  static absl::Status Validate(const BatchPolicy& policy);

  // `policy` must be valid (see Validate); preferred sizes are sorted here.
  explicit BatchQueue(BatchPolicy policy);

  // Queues `task` (setting its enqueue_us to `now_us`). When max_queue_size tasks are
  // queued it fails with RESOURCE_EXHAUSTED ("queue full: N requests queued") and leaves
  // `task` with the caller, who finishes it with the returned status.
  absl::Status Push(std::unique_ptr<InferTask>& task, int64_t now_us);

  struct Decision {
    // The next batch, in FIFO order; all tasks share their non-batch dims. Empty: wait.
    std::vector<std::unique_ptr<InferTask>> batch;
    // Tasks whose deadline passed, or whose caller cancelled, while queued: the caller
    // finishes them with DEADLINE_EXCEEDED or CANCELLED (IsCancelled() tells which).
    std::vector<std::unique_ptr<InferTask>> dropped;
    // When `batch` is empty and tasks remain: the time at which to ask again (the oldest
    // task's delay ending, the adaptive window's recheck, or the earliest deadline). -1 when
    // the queue is empty.
    int64_t wake_at_us = -1;
  };

  // What a free worker should do at `now_us`. Expired and cancelled tasks are removed
  // first (a task expires when now_us >= its deadline_us). With `flush` (shutting down) the
  // batch is sent whatever its size. With max_batch_size 0 the oldest task is the batch.
  Decision Take(int64_t now_us, bool flush = false);

  // A batch of `rows` rows took `compute_ns` of a worker's time: teaches the adaptive
  // window what batching saves (ignored without adaptive_window).
  void RecordCompute(int64_t rows, int64_t compute_ns);

  size_t size() const { return tasks_.size(); }
  // Queued tasks whose callers have gone; the next Take drops them.
  size_t CancelledCount() const;
  bool empty() const { return tasks_.empty(); }
  const BatchPolicy& policy() const { return policy_; }
  const BatchWindow& window() const { return window_; }

 private:
  BatchPolicy policy_;
  BatchWindow window_;
  std::deque<std::unique_ptr<InferTask>> tasks_;
};

}  // namespace seqserve
