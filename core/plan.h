// A Plan is a model compiled for one input shape: a flat list of oneDNN primitives and
// hand-written kernels with their arguments, and a memory layout for the activations
// (offsets into a per-worker arena). Immutable once built and shared by every worker of a
// model: primitives use scratchpad_mode::user, so all mutable memory (activations,
// scratchpad) belongs to the Executor that runs the plan. Thread-safe to read.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "common/tensor.h"
#include "core/precision.h"
#include "dnnl.hpp"

namespace seqserve {

// Where an activation buffer lives when the plan runs.
struct PlanBuffer {
  enum class Kind { kInput, kOutput, kArena };
  Kind kind = Kind::kArena;
  size_t offset_bytes = 0;  // into the arena (kArena only)
  size_t size_bytes = 0;
};

// One argument of a step: an activation buffer viewed through `md`, or a constant
// (weights, bias) shared by every worker.
struct StepArg {
  int arg = 0;  // DNNL_ARG_*; for kernels DNNL_ARG_SRC / DNNL_ARG_DST
  dnnl::memory::desc md;
  int buffer = -1;          // index into Plan::buffers(), or -1 for a constant
  size_t offset_bytes = 0;  // where `md` starts inside the buffer (a view of part of it)
  dnnl::memory constant;    // set when buffer == -1
};

// A hand-written kernel (for what oneDNN 2.6 lacks). Reads `src`, writes `dst`; both are
// dense row-major. `src == dst` when the step runs in place.
using KernelFn = std::function<void(const float* src, float* dst, int num_threads)>;

// A kernel that reads the model's input in the plan's input dtype (integer ids for
// Embedding), writes dense floats, and may reject the input: INVALID_ARGUMENT for an id out
// of range, found before it is used (never a read out of bounds).
using InputKernelFn = std::function<absl::Status(const void* src, float* dst, int num_threads)>;

struct PlanStep {
  std::string name;          // "features.0 (Conv2d)", "reorder", ...
  dnnl::primitive primitive; // set for oneDNN steps
  dnnl::memory::desc scratchpad_md;  // the primitive's scratchpad (empty when none)
  KernelFn kernel;           // set for kernel steps
  InputKernelFn input_kernel;  // set for steps that read the model's (integer) input
  std::vector<StepArg> args;
};

// What compile-time tuning (core/tuner.h) did for a plan.
struct TuningReport {
  int tunable_layers = 0;  // layers with a choice of implementation
  int cached_layers = 0;   // ... whose choice was read from the tuning cache
  int timed_layers = 0;    // ... chosen by timing during this compile
  int untimed_layers = 0;  // ... left at their default: the tuning budget was spent
  double tuning_ms = 0;    // wall time spent choosing (cache lookup, building and timing)
};

class Plan {
 public:
  const Shape& input_shape() const { return input_shape_; }
  DType input_dtype() const { return input_dtype_; }
  const Shape& output_shape() const { return output_shape_; }
  int num_threads() const { return num_threads_; }
  size_t arena_bytes() const { return arena_bytes_; }
  size_t scratchpad_bytes() const { return scratchpad_bytes_; }
  const std::vector<PlanStep>& steps() const { return steps_; }
  const std::vector<PlanBuffer>& buffers() const { return buffers_; }
  const TuningReport& tuning() const { return tuning_; }
  // A plan whose ReLUs are fused as max(x, 0) (FastReluOps: NaN becomes 0) is exact only
  // when no NaN can reach them: Executor::Run runs it on inputs whose every element is
  // finite with |x| <= input_guard() (so no value on the way can overflow to Inf, nor make
  // a NaN), and exact_plan(), the same layers with exact ReLUs, on any other input.
  // 0 and null: this plan is exact for every input.
  float input_guard() const { return input_guard_; }
  const Plan* exact_plan() const { return exact_plan_.get(); }
  // The precision the plan was compiled in (its input and output are f32 whatever it is).
  Precision precision() const { return precision_; }
  // Steps with weights (Conv, Linear, the Transformer's projections), and those of them
  // whose weights are in a reduced precision (bf16): the layers that compute in it. Tuning keeps a layer in fp32 where that
  // is faster.
  int weighted_layers() const { return weighted_layers_; }
  int reduced_layers() const { return reduced_layers_; }
  // Unique within the process; executors key their per-plan bindings by it.
  uint64_t id() const { return id_; }

 private:
  friend class PlanBuilder;
  Plan() = default;

  Shape input_shape_;
  DType input_dtype_ = DType::kFloat32;
  Shape output_shape_;
  int num_threads_ = 1;
  size_t arena_bytes_ = 0;
  size_t scratchpad_bytes_ = 0;
  std::vector<PlanStep> steps_;
  std::vector<PlanBuffer> buffers_;
  TuningReport tuning_;
  float input_guard_ = 0;
  std::shared_ptr<const Plan> exact_plan_;
  Precision precision_ = Precision::kFp32;
  int weighted_layers_ = 0;
  int reduced_layers_ = 0;
  uint64_t id_ = 0;
};

}  // namespace seqserve
