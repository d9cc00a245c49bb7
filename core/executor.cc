#include "core/executor.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <new>

#include "absl/strings/str_cat.h"
#include "core/modules/cpu_clones.h"

namespace seqserve {
namespace {

// Whether every x[i] is finite with |x[i]| <= limit (NaN fails the comparison), a pass at
// memory speed: compiled once per instruction set, vectorised, stopping at the first block
// that fails.
SEQSERVE_CPU_CLONES bool AllWithin(const float* x, int64_t n, float limit) {
  constexpr int64_t kBlock = 256;
  int bad = 0;
  int64_t i = 0;
  for (; i + kBlock <= n; i += kBlock) {
    for (int64_t j = 0; j < kBlock; ++j) bad |= !(std::fabs(x[i + j]) <= limit);
    if (bad) return false;
  }
  for (; i < n; ++i) bad |= !(std::fabs(x[i]) <= limit);
  return bad == 0;
}

}  // namespace

void AlignedBuffer::Free::operator()(uint8_t* p) const { std::free(p); }

bool AlignedBuffer::Reserve(size_t bytes) {
  if (bytes <= size_) return false;
  size_t rounded = (bytes + 63) / 64 * 64;
  auto* p = static_cast<uint8_t*>(std::aligned_alloc(64, rounded));
  if (p == nullptr) throw std::bad_alloc();
  data_.reset(p);
  size_ = rounded;
  return true;
}

void AlignedBuffer::Release() {
  data_.reset();
  size_ = 0;
}

Executor::Executor(const dnnl::engine& engine) : engine_(engine), stream_(engine) {}

void Executor::ReleaseWorkspace() {
  arena_.Release();
  scratchpad_.Release();
  // The bound memory objects point into the freed buffers: re-point them on the next run.
  ++arena_generation_;
}

uint8_t* Executor::BufferAddress(const Plan& plan, int buffer, const void* input,
                                 float* output) const {
  const PlanBuffer& b = plan.buffers()[buffer];
  switch (b.kind) {
    case PlanBuffer::Kind::kInput:
      // oneDNN takes non-const handles; plans never write to the input buffer.
      return static_cast<uint8_t*>(const_cast<void*>(input));
    case PlanBuffer::Kind::kOutput:
      return reinterpret_cast<uint8_t*>(output);
    case PlanBuffer::Kind::kArena:
      break;
  }
  return arena_.data() + b.offset_bytes;
}

Executor::Binding& Executor::Bind(const Plan& plan) {
  for (auto it = bindings_.begin(); it != bindings_.end(); ++it) {
    if (it->plan_id == plan.id()) {
      bindings_.splice(bindings_.begin(), bindings_, it);
      return bindings_.front();
    }
  }
  Binding binding;
  binding.plan_id = plan.id();
  binding.args.resize(plan.steps().size());
  for (size_t s = 0; s < plan.steps().size(); ++s) {
    const PlanStep& step = plan.steps()[s];
    if (!step.primitive) continue;
    for (const StepArg& arg : step.args) {
      if (arg.buffer < 0) {
        binding.args[s].emplace(arg.arg, arg.constant);
      } else {
        dnnl::memory m(arg.md, engine_, DNNL_MEMORY_NONE);
        binding.activations.push_back({m, arg.buffer, arg.offset_bytes});
        binding.args[s].emplace(arg.arg, m);
      }
    }
    if (step.scratchpad_md.get_size() > 0) {
      dnnl::memory m(step.scratchpad_md, engine_, DNNL_MEMORY_NONE);
      binding.activations.push_back({m, -1, 0});
      binding.args[s].emplace(DNNL_ARG_SCRATCHPAD, m);
    }
  }
  binding.arena_generation = 0;  // handles not yet pointed at the arena
  bindings_.push_front(std::move(binding));
  if (bindings_.size() > kMaxBindings) bindings_.pop_back();
  return bindings_.front();
}

void Executor::PointActivations(const Plan& plan, Binding& binding, const void* input,
                                float* output) {
  const bool arena_moved = binding.arena_generation != arena_generation_;
  for (auto& [memory, buffer, offset_bytes] : binding.activations) {
    if (buffer < 0) {
      if (arena_moved) memory.set_data_handle(scratchpad_.data());
      continue;
    }
    const PlanBuffer::Kind kind = plan.buffers()[buffer].kind;
    if (arena_moved || kind != PlanBuffer::Kind::kArena) {
      memory.set_data_handle(BufferAddress(plan, buffer, input, output) + offset_bytes);
    }
  }
  binding.arena_generation = arena_generation_;
}

absl::Status Executor::Run(const Plan& plan, const TensorView& view, float* output) {
  if (view.dtype != plan.input_dtype() ||
      !std::equal(view.shape.begin(), view.shape.end(), plan.input_shape().begin(),
                  plan.input_shape().end())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "input is ", DTypeName(view.dtype), " ",
        ShapeToString(Shape(view.shape.begin(), view.shape.end())), ", but the plan was compiled for ",
        DTypeName(plan.input_dtype()), " ", ShapeToString(plan.input_shape())));
  }
  if (plan.exact_plan() != nullptr && view.dtype == DType::kFloat32 &&
      !AllWithin(static_cast<const float*>(view.data), NumElements(plan.input_shape()),
                 plan.input_guard())) {
    return Run(*plan.exact_plan(), view, output);
  }
  const void* input = view.data;
  // OpenMP's thread count is per calling thread; plans were compiled for this count.
  thread_local int current_threads = 0;
  if (current_threads != plan.num_threads()) {
    omp_set_num_threads(plan.num_threads());
    current_threads = plan.num_threads();
  }
  try {
    bool moved = arena_.Reserve(plan.arena_bytes());
    moved = scratchpad_.Reserve(plan.scratchpad_bytes()) || moved;
    if (moved) ++arena_generation_;
    Binding& binding = Bind(plan);
    PointActivations(plan, binding, input, output);
    const std::vector<PlanStep>& steps = plan.steps();
    for (size_t s = 0; s < steps.size(); ++s) {
      const PlanStep& step = steps[s];
      if (step.primitive) {
        step.primitive.execute(stream_, binding.args[s]);
      } else if (step.input_kernel) {
        auto* dst = reinterpret_cast<float*>(BufferAddress(plan, step.args[1].buffer, input, output));
        absl::Status status =
            step.input_kernel(BufferAddress(plan, step.args[0].buffer, input, output), dst,
                              plan.num_threads());
        if (!status.ok()) {
          stream_.wait();
          return absl::Status(status.code(), absl::StrCat(step.name, ": ", status.message()));
        }
      } else {
        const auto* src = reinterpret_cast<const float*>(
            BufferAddress(plan, step.args[0].buffer, input, output));
        auto* dst = reinterpret_cast<float*>(BufferAddress(plan, step.args[1].buffer, input, output));
        step.kernel(src, dst, plan.num_threads());
      }
    }
    stream_.wait();
  } catch (const dnnl::error& e) {
    return absl::InternalError(absl::StrCat("oneDNN error while running the plan: ", e.what()));
  } catch (const std::bad_alloc&) {
    return absl::ResourceExhaustedError("out of memory for the activation arena");
  }
  return absl::OkStatus();
}

}  // namespace seqserve
