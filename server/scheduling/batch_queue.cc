#include "server/scheduling/batch_queue.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"

namespace seqserve {
namespace {

// True when a task of shape `b` may join a batch started by a task of shape `a`: both have
// a batch dim and their other dims are equal.
bool SameNonBatchDims(const Shape& a, const Shape& b) {
  return !a.empty() && a.size() == b.size() && std::equal(a.begin() + 1, a.end(), b.begin() + 1);
}

// Whether `task` can join a batch led by `head`: the same non-batch dims and input type.
bool Batchable(const InferTask& head, const InferTask& task) {
  return head.input_dtype() == task.input_dtype() &&
         SameNonBatchDims(head.input_shape(), task.input_shape());
}

bool Expired(const InferTask& task, int64_t now_us) {
  return task.deadline_us != 0 && now_us >= task.deadline_us;
}

}  // namespace

absl::Status BatchQueue::Validate(const BatchPolicy& policy) {
  if (policy.max_batch_size < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_batch_size must be >= 0, got ", policy.max_batch_size));
  }
  if (policy.max_queue_delay_us < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_queue_delay_microseconds must be >= 0, got ", policy.max_queue_delay_us));
  }
  for (int64_t size : policy.preferred_batch_sizes) {
    if (size < 1 || (policy.max_batch_size > 0 && size > policy.max_batch_size)) {
      return absl::InvalidArgumentError(
          absl::StrCat("preferred_batch_size ", size,
                       " must be in [1, max_batch_size = ", policy.max_batch_size, "]"));
    }
  }
  return absl::OkStatus();
}

BatchQueue::BatchQueue(BatchPolicy policy)
    : policy_(std::move(policy)), window_(policy_.max_queue_delay_us) {
  std::vector<int64_t>& preferred = policy_.preferred_batch_sizes;
  std::sort(preferred.begin(), preferred.end());
  preferred.erase(std::unique(preferred.begin(), preferred.end()), preferred.end());
}

absl::Status BatchQueue::Push(std::unique_ptr<InferTask>& task, int64_t now_us) {
  if (policy_.max_queue_size > 0 && tasks_.size() >= policy_.max_queue_size) {
    return absl::ResourceExhaustedError(
        absl::StrCat("queue full: ", policy_.max_queue_size, " requests queued"));
  }
  task->enqueue_us = now_us;
  if (policy_.adaptive_window) window_.RecordArrival(now_us);
  tasks_.push_back(std::move(task));
  return absl::OkStatus();
}

BatchQueue::Decision BatchQueue::Take(int64_t now_us, bool flush) {
  Decision decision;

  // Drop expired and cancelled tasks (keeping the others in order) and find the earliest
  // deadline of those that stay.
  int64_t earliest_deadline_us = -1;
  size_t kept = 0;
  for (size_t i = 0; i < tasks_.size(); ++i) {
    InferTask& task = *tasks_[i];
    if (Expired(task, now_us) || task.IsCancelled()) {
      decision.dropped.push_back(std::move(tasks_[i]));
      continue;
    }
    if (task.deadline_us != 0 &&
        (earliest_deadline_us < 0 || task.deadline_us < earliest_deadline_us)) {
      earliest_deadline_us = task.deadline_us;
    }
    if (kept != i) tasks_[kept] = std::move(tasks_[i]);
    ++kept;
  }
  tasks_.erase(tasks_.begin() + static_cast<std::ptrdiff_t>(kept), tasks_.end());
  if (tasks_.empty()) return decision;

  const InferTask* head = tasks_.front().get();
  const Shape& head_shape = head->input_shape();
  if (policy_.max_batch_size <= 0 || head_shape.empty()) {
    decision.batch.push_back(std::move(tasks_.front()));
    tasks_.pop_front();
    return decision;
  }

  // Gather the candidate batch: tasks [0, end) that match the head's non-batch dims.
  const std::vector<int64_t>& preferred = policy_.preferred_batch_sizes;
  const int64_t max_rows = policy_.max_batch_size;
  const int64_t max_preferred_rows = preferred.empty() ? max_rows : preferred.back();
  int64_t rows = 0;
  size_t count = 0;
  size_t end = 0;
  bool cannot_grow = false;
  // The preferred cut: the largest prefix whose rows are a preferred size or, failing
  // that, the largest prefix that fits the largest preferred size once the rows exceed it.
  size_t mark_end = 0;
  size_t mark_count = 0;
  for (; end < tasks_.size(); ++end) {
    const Shape& shape = tasks_[end]->input_shape();
    if (end > 0 && !Batchable(*head, *tasks_[end])) continue;
    const int64_t task_rows = shape[0];
    if (count > 0) {
      if (!preferred.empty() && mark_count == 0 && rows + task_rows > max_preferred_rows) {
        mark_end = end;
        mark_count = count;
      }
      if (rows + task_rows > max_rows) {
        cannot_grow = true;
        break;
      }
    }
    rows += task_rows;
    ++count;
    if (std::binary_search(preferred.begin(), preferred.end(), rows)) {
      mark_end = end + 1;
      mark_count = count;
    }
    if (rows >= max_rows) {
      ++end;
      cannot_grow = true;
      break;
    }
  }

  const int64_t window_end_us = head->enqueue_us + policy_.max_queue_delay_us;
  const bool delay_expired = now_us >= window_end_us;
  size_t take_end = 0;
  size_t take_count = 0;
  if (mark_count > 0 && !delay_expired && !flush) {
    take_end = mark_end;
    take_count = mark_count;
  } else if (flush || delay_expired || cannot_grow || rows >= max_preferred_rows) {
    take_end = end;
    take_count = count;
  } else {
    // The batch could grow: wait for the window's end, or, adaptively, only while waiting
    // pays (batch_window.h).
    BatchWindow::Verdict verdict{.wait = true, .recheck_at_us = window_end_us};
    if (policy_.adaptive_window) {
      verdict = window_.Decide(now_us, static_cast<int64_t>(count), window_end_us);
    }
    if (verdict.wait) {
      decision.wake_at_us = verdict.recheck_at_us;
      if (earliest_deadline_us >= 0) {
        decision.wake_at_us = std::min(decision.wake_at_us, earliest_deadline_us);
      }
      return decision;
    }
    take_end = end;
    take_count = count;
  }

  decision.batch.reserve(take_count);
  if (take_count == take_end) {
    // The usual case: the batch is a prefix of the queue.
    for (size_t i = 0; i < take_end; ++i) decision.batch.push_back(std::move(tasks_[i]));
    tasks_.erase(tasks_.begin(), tasks_.begin() + static_cast<std::ptrdiff_t>(take_end));
    return decision;
  }
  // Tasks of other shapes sit between the batch's tasks: they keep their order. (Moving
  // the head's pointer into the batch leaves the task, and so head_shape, alive.)
  size_t write = 0;
  for (size_t i = 0; i < tasks_.size(); ++i) {
    if (i < take_end && (i == 0 || Batchable(*head, *tasks_[i]))) {
      decision.batch.push_back(std::move(tasks_[i]));
      continue;
    }
    if (write != i) tasks_[write] = std::move(tasks_[i]);
    ++write;
  }
  tasks_.erase(tasks_.begin() + static_cast<std::ptrdiff_t>(write), tasks_.end());
  return decision;
}

void BatchQueue::RecordCompute(int64_t rows, int64_t compute_ns) {
  if (policy_.adaptive_window) window_.RecordCompute(rows, compute_ns);
}

size_t BatchQueue::CancelledCount() const {
  size_t n = 0;
  for (const std::unique_ptr<InferTask>& task : tasks_) n += task->IsCancelled() ? 1 : 0;
  return n;
}

}  // namespace seqserve
