// One inference request as the scheduler sees it: an input tensor of the model's input type
// (whose first dim is the batch dim when the model batches), a deadline, a way to ask whether
// the caller gave up, and where the result goes. Front ends (gRPC, HTTP) implement it; the
// scheduler owns each task from Enqueue until it calls Finish exactly once.
// Not thread-safe: exactly one thread touches a task at a time (front end, then queue,
// then one worker).
#pragma once

#include <cstdint>

#include "absl/status/status.h"
#include "common/tensor.h"

namespace seqserve {

class RequestTrace;  // tracing/request_trace.h

class InferTask {
 public:
  virtual ~InferTask() = default;

  // The request's input: NumElements(input_shape()) elements of input_dtype() (the model's
  // input type: float32, or int64/int32 ids) at input_data(), aligned for that type and
  // valid until Finish. When the model batches, input_shape()[0] is this request's number
  // of rows.
  virtual const Shape& input_shape() const = 0;
  virtual DType input_dtype() const { return DType::kFloat32; }
  virtual const void* input_data() const = 0;

  // True once the caller cancelled (or its connection went away): the task is dropped
  // before compute and finished with CANCELLED.
  virtual bool IsCancelled() const { return false; }

  // Called by the worker, at most once and before Finish(OK): a buffer for this task's
  // output of `shape` (NumElements(shape) floats), owned by the task.
  virtual float* MutableOutput(const Shape& shape) = 0;

  // Called exactly once with the outcome. The task is destroyed right after it returns.
  virtual void Finish(const absl::Status& status) = 0;

  // Absolute deadline in microseconds of the scheduler's clock; 0 means none. The earlier
  // of the client's deadline and the request's or model's timeout.
  int64_t deadline_us = 0;
  // Set by the scheduler when the task is queued.
  int64_t enqueue_us = 0;
  // The request's trace when it was sampled (Triton's trace extension), which the batch
  // runner stamps with its compute times; null for nearly every request. Owned by the front
  // end, valid until Finish returns.
  RequestTrace* trace = nullptr;
};

}  // namespace seqserve
