// Runs compiled Plans on the calling thread. One Executor per worker: it owns the
// worker's oneDNN stream, its activation arena and its scratchpad (reused across calls,
// so large activations do not page-fault on every request, until the owner releases them),
// and caches the oneDNN memory objects bound for the plans it ran recently. Not
// thread-safe: use one per thread.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <unordered_map>
#include <vector>

#include "absl/status/status.h"
#include "common/tensor.h"
#include "core/plan.h"
#include "dnnl.hpp"

namespace seqserve {

// A 64-byte aligned buffer that grows on demand and is given back by Release.
class AlignedBuffer {
 public:
  // Ensures room for `bytes`; returns true when the memory moved.
  bool Reserve(size_t bytes);
  // Frees the memory (size 0); the next Reserve allocates afresh.
  void Release();
  uint8_t* data() const { return data_.get(); }
  size_t size() const { return size_; }

 private:
  struct Free {
    void operator()(uint8_t* p) const;
  };
  std::unique_ptr<uint8_t, Free> data_;
  size_t size_ = 0;
};

class Executor {
 public:
  explicit Executor(const dnnl::engine& engine);

  // Runs `plan` on `input`, which must have the plan's input dtype and shape (else
  // INVALID_ARGUMENT); writes NumElements(plan.output_shape()) floats at `output`. An input
  // the plan rejects (an id out of range) is INVALID_ARGUMENT naming the step; oneDNN
  // errors become INTERNAL. A guarded plan checks the input first and runs its exact twin
  // on an input outside its guard (Plan::input_guard).
  absl::Status Run(const Plan& plan, const TensorView& input, float* output);
  // The same for a float32 plan: reads NumElements(plan.input_shape()) floats at `input`.
  absl::Status Run(const Plan& plan, const float* input, float* output) {
    return Run(plan, TensorView{DType::kFloat32, plan.input_shape(), input}, output);
  }

  // Bytes this executor holds for activations and scratchpad.
  size_t workspace_bytes() const { return arena_.size() + scratchpad_.size(); }
  // Bytes `plan` needs for activations and scratchpad when it runs here (or its exact twin,
  // which runs the inputs its guard rejects: the larger of the two).
  static size_t WorkspaceBytes(const Plan& plan) {
    const size_t bytes = plan.arena_bytes() + plan.scratchpad_bytes();
    return plan.exact_plan() != nullptr ? std::max(bytes, WorkspaceBytes(*plan.exact_plan()))
                                        : bytes;
  }
  // Frees the activation arena and scratchpad: after a request much larger than the usual
  // ones, so that a worker does not keep its peak for good. The next Run allocates again.
  void ReleaseWorkspace();

 private:
  // The memory objects of one plan bound to this executor's buffers.
  struct Binding {
    uint64_t plan_id = 0;
    uint64_t arena_generation = 0;
    std::vector<std::unordered_map<int, dnnl::memory>> args;  // per step (oneDNN steps)
    struct Activation {
      dnnl::memory memory;
      int buffer;  // -1: the scratchpad
      size_t offset_bytes;
    };
    std::vector<Activation> activations;
  };

  Binding& Bind(const Plan& plan);
  void PointActivations(const Plan& plan, Binding& binding, const void* input, float* output);
  uint8_t* BufferAddress(const Plan& plan, int buffer, const void* input, float* output) const;

  static constexpr size_t kMaxBindings = 16;

  const dnnl::engine& engine_;  // process-wide, outlives the executor
  dnnl::stream stream_;
  AlignedBuffer arena_;
  AlignedBuffer scratchpad_;
  uint64_t arena_generation_ = 1;
  std::list<Binding> bindings_;  // most recently used first
};

}  // namespace seqserve
