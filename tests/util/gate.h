// Waiting without sleeping, and holding a worker: a task that blocks in MutableOutput until
// the test opens its gate keeps the worker running it busy, so what the test sends meanwhile
// queues up deterministically.
#pragma once

#include <memory>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "common/tensor.h"
#include "server/scheduling/infer_task.h"

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

// A task put straight into a scheduler: a zero input (a LeNet image unless `shape` and
// `dtype` say otherwise, e.g. {1, 128} int64 ids) whose MutableOutput blocks until the gate
// opens (when `block`), so the worker running it is held.
class GateTask : public InferTask {
 public:
  explicit GateTask(std::shared_ptr<Gate> gate, bool block = true, Shape shape = {1, 1, 28, 28},
                    DType dtype = DType::kFloat32)
      : gate_(std::move(gate)),
        block_(block),
        shape_(std::move(shape)),
        dtype_(dtype),
        input_((static_cast<size_t>(NumElements(shape_)) * DTypeSize(dtype) + 7) / 8) {}
  const Shape& input_shape() const override { return shape_; }
  DType input_dtype() const override { return dtype_; }
  const void* input_data() const override { return input_.data(); }
  float* MutableOutput(const Shape& shape) override {
    if (block_) {
      gate_->entered.Notify();
      gate_->release.WaitForNotification();
    }
    output_.resize(static_cast<size_t>(NumElements(shape)));
    return output_.data();
  }
  void Finish(const absl::Status& status) override {
    gate_->status = status;
    gate_->finished.Notify();
  }

 private:
  std::shared_ptr<Gate> gate_;  // shared: the task may outlive a failed test's scope
  const bool block_;
  const Shape shape_;
  const DType dtype_;
  const std::vector<uint64_t> input_;  // zeros, 8-byte aligned, at least the input's bytes
  std::vector<float> output_;
};

}  // namespace seqserve::testing
