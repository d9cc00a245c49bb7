// Elementwise activations computed by our own kernels instead of oneDNN eltwise: those oneDNN
// has no op for (Softsign, Hardshrink, Threshold, ...) and those whose oneDNN op differs from
// PyTorch on NaN (relu and clip turn NaN into a bound). A kernel is a functor float -> float
// inlined into a loop the compiler vectorises, run in parallel chunks. An activation may also
// offer an exact eltwise chain, used only when it fuses into a preceding Conv/Linear.
// Thread-safe after construction.
#pragma once

#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "core/module.h"
#include "core/modules/float4.h"
#include "core/parallel.h"
#include "core/plan_builder.h"

namespace seqserve {

// Whether every float of a buffer laid out as `md` is an element or zero padding: plain, or
// a blocked layout such as a Conv's nChw16c. An elementwise kernel that maps 0 to 0 may then
// run over the whole buffer as it is laid out, without a reorder.
bool IsDenseLayout(const dnnl::memory::desc& md);
// Dense without padding (plain, channels-last, nChw16c with a multiple of 16 channels): every
// float is an element, so any elementwise kernel may run over the buffer as it is laid out.
bool IsUnpaddedLayout(const dnnl::memory::desc& md);

// `v` as a T: a float, or a vec::Float4 of four copies. For functors written once for both.
template <typename T>
T Splat(float v) {
  return T{} + v;
}

// y[i] = fn(x[i]) for i in [begin, end). A functor that also takes a vec::Float4 (a template
// operator(), its selects written as `cond ? a : b`, which are blends on vectors) runs four
// lanes at a time; others are left to the compiler (GCC vectorises branch-free arithmetic,
// but not selects of operations that may trap, under the default -ftrapping-math).
template <typename Fn>
void ElementwiseRange(const Fn& fn, const float* x, float* y, int64_t begin, int64_t end) {
  if constexpr (std::is_invocable_r_v<vec::Float4, const Fn&, vec::Float4>) {
    int64_t i = begin;
    for (; i + vec::kLanes <= end; i += vec::kLanes) vec::Store(y + i, fn(vec::Load(x + i)));
    for (; i < end; ++i) y[i] = fn(x[i]);
  } else {
    for (int64_t i = begin; i < end; ++i) y[i] = fn(x[i]);
  }
}

// y = fn(x) for every element of `in`, in place unless `in` is the plan's input. Runs on the
// incoming layout when it has no padding, or when fn(+0) is +0 (padding stays zero), else on
// plain layout.
template <typename Fn>
PlanValue AddElementwiseKernel(PlanBuilder& builder, const PlanValue& in, Fn fn) {
  const float at_zero = fn(0.f);
  const bool keeps_zero = at_zero == 0.f && !std::signbit(at_zero);
  const bool as_is = keeps_zero ? IsDenseLayout(in.md) : IsUnpaddedLayout(in.md);
  PlanValue src = as_is ? in : builder.Plain(in);
  PlanValue dst = builder.InPlace(src);
  const int64_t n = static_cast<int64_t>(src.md.get_size() / sizeof(float));
  builder.AddKernel(
      [fn, n](const float* x, float* y, int threads) {
        ParallelFor(n, threads, [&](int64_t begin, int64_t end) {
          ElementwiseRange(fn, x, y, begin, end);
        });
      },
      src, dst);
  return dst;
}

// An activation computed by `Fn` (a functor float -> float). `fused`, when given, is the same
// function as an eltwise chain (exact, NaN included) for fusion as a post-op.
template <typename Fn>
class KernelActivation : public Module {
 public:
  KernelActivation(std::string type, Fn fn,
                   std::optional<std::vector<EltwiseOp>> fused = std::nullopt)
      : type_(std::move(type)), fn_(fn), fused_(std::move(fused)) {}

  std::string_view type() const override { return type_; }
  absl::StatusOr<Shape> OutputShape(const Shape& in) const override { return in; }
  int64_t Flops(const Shape& in) const override { return NumElements(in); }
  std::optional<std::vector<EltwiseOp>> AsEltwise() const override { return fused_; }
  // ReLU (the kernel whose fused form is a ReLU chain) never grows a magnitude.
  std::optional<MagnitudeBound> OutputBound(const Shape& /*in*/,
                                            const Fusion& /*fusion*/) const override {
    if (fused_ && IsReluChain(*fused_)) return MagnitudeBound{1, 0};
    return std::nullopt;
  }
  std::optional<ActivationKernel> AsActivationKernel() const override {
    const float at_zero = fn_(0.f);
    return ActivationKernel{[fn = fn_](const float* x, float* y, int64_t n, int threads) {
                              ParallelFor(n, threads, [&](int64_t begin, int64_t end) {
                                ElementwiseRange(fn, x, y, begin, end);
                              });
                            },
                            at_zero == 0.f && !std::signbit(at_zero)};
  }

  absl::StatusOr<PlanValue> Compile(PlanBuilder& builder, const PlanValue& in,
                                    const Fusion& /*fusion*/) const override {
    return AddElementwiseKernel(builder, in, fn_);
  }

 private:
  std::string type_;
  Fn fn_;
  std::optional<std::vector<EltwiseOp>> fused_;
};

}  // namespace seqserve
