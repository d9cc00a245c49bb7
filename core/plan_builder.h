// Builds a Plan: modules add primitives and kernels that consume and produce PlanValues
// (activations with a logical PyTorch shape and a oneDNN layout). The builder inserts
// reorders only where a layout must change, runs elementwise steps in place, and at the
// end assigns arena offsets by liveness and writes the last step straight into the
// caller's output. Single-threaded; one builder per compile.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/eltwise.h"
#include "core/int8_calibration.h"
#include "core/plan.h"
#include "core/precision.h"
#include "common/tensor.h"
#include "core/weight_cache.h"
#include "dnnl.hpp"

namespace seqserve {

// An activation while a plan is built. `md` has the same number of elements as `shape`
// and either the same rank or extra leading unit dims (an unbatched (C, H, W) input that a
// Conv2d sees as (1, C, H, W)). When `md` is dense row-major, memory order equals
// PyTorch's.
struct PlanValue {
  Shape shape;
  dnnl::memory::desc md;
  int buffer = -1;
  // kFloat32, except for a model's input of integer ids, which only a module whose
  // InputDTypes() includes them reads (through AddInputKernel); `md` then just spans its bytes.
  DType dtype = DType::kFloat32;
  // For s8/u8 elements (an int8 plan): the real value of element q is q * scale.
  float scale = 1.f;
};

// Dense row-major layout of `dims` (dims {1} for a rank-0 shape), f32 unless `type` says.
dnnl::memory::desc PlainDesc(const Shape& dims,  // Shape is dnnl::memory::dims
                             dnnl::memory::data_type type = dnnl::memory::data_type::f32);
// Whether `md` is dense row-major with elements of `type`. Kernels read and write plain f32.
bool IsPlain(const dnnl::memory::desc& md,
             dnnl::memory::data_type type = dnnl::memory::data_type::f32);
// `md` with elements of `type` instead, in the same layout (format_tag::any stays any).
dnnl::memory::desc WithDataType(const dnnl::memory::desc& md, dnnl::memory::data_type type);

// The element types of the step being compiled (PlanBuilder::dtypes()): what a module that
// computes in reduced precision reads, holds its weights in and writes. All f32 except in a
// bf16 or int8 plan, where a module that computes in it reads and keeps its weights in the
// reduced type and writes it when the next module reads it too, else f32. Biases stay f32.
// In an int8 plan src is u8 or s8 (quantised with src_scale), weights s8 (scaled per output
// channel by the module) and dst, when not f32, the next step's src type and scale.
struct StepDTypes {
  dnnl::memory::data_type src = dnnl::memory::data_type::f32;
  dnnl::memory::data_type weights = dnnl::memory::data_type::f32;
  dnnl::memory::data_type dst = dnnl::memory::data_type::f32;
  float src_scale = 1.f;  // int8: the input's real value per unit
  float dst_scale = 1.f;  // int8 with an 8-bit dst: the output's real value per unit
  bool reduced() const { return weights != dnnl::memory::data_type::f32; }
  bool int8() const { return weights == dnnl::memory::data_type::s8; }
};

// Whether `type` is s8 or u8.
bool IsInt8(dnnl::memory::data_type type);

// Activation and constant arguments for AddPrimitive.
StepArg ValueArg(int arg, const PlanValue& value);
// Part of `value`'s buffer seen through `md` from `offset_bytes` on (attention reads the
// queries, keys and values as strided views of one projection's output).
StepArg ViewArg(int arg, const PlanValue& value, const dnnl::memory::desc& md,
                size_t offset_bytes);
StepArg ConstArg(int arg, const dnnl::memory& constant);

class PlanBuilder {
 public:
  PlanBuilder(const dnnl::engine& engine, int num_threads, WeightCache& weights,
              const Shape& input_shape, DType input_dtype = DType::kFloat32);

  const dnnl::engine& engine() const { return engine_; }
  int num_threads() const { return num_threads_; }
  WeightCache& weights() { return weights_; }
  PlanValue input() const { return input_; }
  // Whether the compiler may fold BatchNorm and fuse activations (default true).
  bool fuse() const { return fuse_; }
  void set_fuse(bool fuse) { fuse_ = fuse; }
  // Whether the compiler may fuse ReLUs as FastReluOps behind an input guard (default
  // false). The first CompileLayers, the model's, clears it and sets input_guard() to the
  // guard its plan needs (0: it fused none so).
  bool fast_relu() const { return fast_relu_; }
  void set_fast_relu(bool fast_relu) { fast_relu_ = fast_relu; }
  float input_guard() const { return input_guard_; }
  void set_input_guard(float limit) { input_guard_ = limit; }
  // The precision the plan computes in (default fp32; core/compiler.h applies it).
  Precision precision() const { return precision_; }
  void set_precision(Precision precision) { precision_ = precision; }
  // The activation ranges of an int8 plan (borrowed; null otherwise).
  const Int8Calibration* calibration() const { return calibration_; }
  void set_calibration(const Int8Calibration* calibration) { calibration_ = calibration; }
  // The current module's element types (set per module by the compiler).
  const StepDTypes& dtypes() const { return dtypes_; }
  void set_dtypes(const StepDTypes& dtypes) { dtypes_ = dtypes; }

  // The module being compiled ("features.3", "Conv2d"); names steps and weight keys.
  void SetCurrentModule(std::string path, std::string type);
  const std::string& current_path() const { return current_path_; }
  // The implementation tuning chose for the current module (a Candidate id); empty: the
  // module's default. A module that does not know the id compiles its default.
  const std::string& choice() const { return choice_; }
  void set_choice(std::string id) { choice_ = std::move(id); }
  // "features.3 (Conv2d)"
  std::string CurrentName() const;

  // A fresh buffer for a step's output (an s8/u8 one has the step's dtypes().dst_scale).
  PlanValue NewValue(Shape shape, const dnnl::memory::desc& md);
  // Where an elementwise step on `v` writes: v's own buffer, unless v is the plan's
  // input (which belongs to the caller and is read-only).
  PlanValue InPlace(const PlanValue& v);

  // `v` in layout `md` (same dims), with a reorder only if the layouts differ. A change of
  // element type between f32 and s8/u8 quantises with the current step's input scale
  // (dtypes().src_scale: only a step's input is ever quantised) or dequantises with v's.
  PlanValue Convert(const PlanValue& v, const dnnl::memory::desc& md);
  // `v` as dense row-major with md dims == v.shape, in elements of `type`.
  PlanValue Plain(const PlanValue& v, dnnl::memory::data_type type = dnnl::memory::data_type::f32);
  // `v` viewed as `shape` (same element count), plain in `type`: free for such a value.
  PlanValue Reshape(const PlanValue& v, Shape shape,
                    dnnl::memory::data_type type = dnnl::memory::data_type::f32);
  // `v` with f32 elements, in its layout: what modules without a reduced-precision form
  // read (a reorder when `v` holds bf16).
  PlanValue ToF32(const PlanValue& v);
  // `v` with md dims `dims` (same element count), keeping its layout where oneDNN can
  // reshape it, else reordering to plain first. The logical shape is unchanged.
  PlanValue WithDims(const PlanValue& v, const dnnl::memory::dims& dims);

  // Adds a oneDNN primitive; its scratchpad (mode user) is taken from `pd`.
  void AddPrimitive(const dnnl::primitive_desc_base& pd, dnnl::primitive primitive,
                    std::vector<StepArg> args);
  // Adds a kernel reading plain `src` and writing plain `dst` (may be the same buffer).
  void AddKernel(KernelFn kernel, const PlanValue& src, const PlanValue& dst);
  // Adds a kernel reading the plan's input `src` in its own dtype and writing plain `dst`.
  void AddInputKernel(InputKernelFn kernel, const PlanValue& src, const PlanValue& dst);
  // A chain of eltwise primitives on `v`, in place where allowed.
  PlanValue Eltwise(const PlanValue& v, const std::vector<EltwiseOp>& ops);

  // A primitive attribute with scratchpad_mode::user and `ops` as post-ops.
  static dnnl::primitive_attr Attr(const std::vector<EltwiseOp>& post_ops = {});
  // The same with per-output-channel scales (mask: dim 1 of dst) applied to the int32
  // accumulators (plus bias) before the post-ops; none when `output_scales` is empty.
  static dnnl::primitive_attr Attr(const std::vector<EltwiseOp>& post_ops,
                                   const std::vector<float>& output_scales);

  // Recorded in the plan (Plan::tuning()).
  void SetTuningReport(const TuningReport& report) { plan_->tuning_ = report; }

  // `fast`, which fuses ReLUs as FastReluOps for inputs finite and within `input_guard`, with
  // `exact` to run any other input (see Plan::input_guard).
  static std::shared_ptr<const Plan> WithExactFallback(const Plan& fast, float input_guard,
                                                       std::shared_ptr<const Plan> exact);

  // Ends the plan with `out` as the model's output (made plain, written to the caller's
  // output buffer) and lays out the arena.
  absl::StatusOr<std::shared_ptr<const Plan>> Finish(const PlanValue& out);

 private:
  int AddBuffer();
  void AddStep(PlanStep step);

  const dnnl::engine& engine_;  // outlives the builder (process-wide engine)
  int num_threads_;
  WeightCache& weights_;         // the model's; outlives the builder
  PlanValue input_;
  bool fuse_ = true;
  bool fast_relu_ = false;
  float input_guard_ = 0;
  Precision precision_ = Precision::kFp32;
  const Int8Calibration* calibration_ = nullptr;
  StepDTypes dtypes_;
  std::string current_path_;
  std::string current_type_;
  std::string choice_;
  std::unique_ptr<Plan> plan_;
};

}  // namespace seqserve
