// The interface every nn.* module implements: its state_dict entries, PyTorch's shape
// rule, its FLOPs, and how it adds itself to a compiled Plan. Modules are built once per
// model version from model.seq, receive their parameters once, and are then read-only:
// every const method is safe to call from several threads.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/eltwise.h"
#include "core/plan_builder.h"
#include "core/precision.h"
#include "common/tensor.h"

namespace seqserve {

// One state_dict entry of a module, named relative to it ("weight", "running_mean").
struct ParamSpec {
  std::string name;
  Shape shape;
};

using ParamMap = std::map<std::string, Tensor>;

// y = x * scale[c] + shift[c] along the channel axis: what BatchNorm computes at inference,
// and what a Conv or Linear folds into its weights and bias.
struct ChannelAffine {
  std::vector<float> scale;
  std::vector<float> shift;
};

// An activation as a kernel over `n` contiguous floats (in place allowed), and whether it
// maps +0 to +0, so that it may run over the zero padding of a blocked layout.
struct ActivationKernel {
  std::function<void(const float* x, float* y, int64_t n, int num_threads)> run;
  bool keeps_zero = false;
};

// What the compiler fuses into a producer (Conv, ConvTranspose, Linear): an optional
// BatchNorm folded into the weights, then elementwise activations as oneDNN post-ops.
struct Fusion {
  const ChannelAffine* affine = nullptr;  // borrowed from the BatchNorm module
  std::string affine_path;                // that BatchNorm's path, part of weight cache keys
  std::vector<EltwiseOp> post_ops;
  // The same activations as kernels, one per fused module, when every one of them has an
  // exact kernel (ReLU); else empty. A NaN-propagating ReLU post-op costs an exp per element
  // (see ReluOps), so a separate pass can be faster: tuning times both (not for FastReluOps,
  // which cost nothing fused).
  std::vector<ActivationKernel> kernels;
};

// One implementation a tunable layer may compile to (core/tuner.h times them): a oneDNN
// primitive for the layer's real shapes, whose descriptor gives its argument layouts, and
// a stable name, which the tuning cache records and PlanBuilder::choice() passes back.
struct Candidate {
  std::string id;  // "blocked16", "channels_last/unfused", "inner_product", ...
  dnnl::primitive_desc_base pd;
  dnnl::primitive primitive;
  // Run in place on the primitive's dst after it (the fused activations as a separate
  // pass); null for none.
  KernelFn epilogue;
};

// A bound on the magnitude of a module's output: when every input element is finite and
// |x| <= m, every output element (before the fused activations, which do not grow it) is
// finite in exact arithmetic and |y| <= gain * m + offset. The compiler chains these to
// tell which inputs cannot make any value on the way overflow to Inf, and so never NaN
// (see FastReluOps).
struct MagnitudeBound {
  double gain = 1;
  double offset = 0;
};

// The largest sum of |w| over one output's weights (row) of a (rows, per_row) weight
// matrix, each row scaled by |affine.scale| when a BatchNorm is folded in; and the largest
// |bias * scale + shift|. Infinite when a weight is not finite.
MagnitudeBound WeightedSumBound(const float* weight, int64_t rows, int64_t per_row,
                               const float* bias, const ChannelAffine* affine);

class Module {
 public:
  virtual ~Module() = default;

  // PyTorch's class name: "Conv2d".
  virtual std::string_view type() const = 0;

  // state_dict entries this module owns, in PyTorch's order.
  virtual std::vector<ParamSpec> params() const { return {}; }
  // Receives exactly the entries of params(), shapes already checked. Called once.
  virtual absl::Status SetParams(ParamMap /*params*/) { return absl::OkStatus(); }
  int64_t NumParams() const;

  // PyTorch's output shape for input `in`; InvalidArgument "expected ..., got [..]" when
  // the module cannot take it (the caller prefixes the module path).
  virtual absl::StatusOr<Shape> OutputShape(const Shape& in) const = 0;
  // Floating-point operations of one forward pass on `in` (a multiply-add counts 2).
  virtual int64_t Flops(const Shape& /*in*/) const { return 0; }
  // The input dims (without batch) a model starting with this module takes, -1 where any
  // size fits: Linear(784, 10) -> [784], Conv2d(1, ...) -> [1, -1, -1]. nullopt: no rule.
  virtual std::optional<Shape> InputDims() const { return std::nullopt; }
  // The element types this module takes, preferred first. Modules compute in float32;
  // Embedding and EmbeddingBag take integer ids instead (int64, int32), so a model that
  // starts with one takes ids, and nothing else may come before them.
  virtual std::vector<DType> InputDTypes() const { return {DType::kFloat32}; }
  // For a module that takes ids: how many there are (num_embeddings), so valid ids lie in
  // [0, NumInputIds()). nullopt for modules that take floats. Lets a server check each
  // request's ids before batching it with others (the kernels check again, as a defence).
  virtual std::optional<int64_t> NumInputIds() const { return std::nullopt; }
  // Why slice i (along dim 0) of this module's output for input `in` depends on other
  // slices of the input than slice i, or nullopt when it does not. A server that stacks
  // requests along dim 0 (dynamic batching) needs nullopt from every module, or requests
  // would change each other's answers: a sequence-first TransformerEncoder attends across
  // dim 0, Softmax(dim=0) normalises across it.
  virtual std::optional<std::string> MixesAlongDim0(const Shape& /*in*/) const {
    return std::nullopt;
  }

  // Modules that compute nothing at inference (Identity, Dropout*).
  virtual bool IsIdentity() const { return false; }
  // Activations oneDNN computes as a chain of eltwise ops; these fuse as post-ops.
  virtual std::optional<std::vector<EltwiseOp>> AsEltwise() const { return std::nullopt; }
  // The same activation as an exact kernel, if it has one.
  virtual std::optional<ActivationKernel> AsActivationKernel() const { return std::nullopt; }
  // BatchNorm's per-channel inference transform, which a producer may fold in.
  virtual const ChannelAffine* AsChannelAffine() const { return nullptr; }
  // How large this module's output can get for input `in` with `fusion` (see
  // MagnitudeBound); nullopt when not known (the default). A fusion's activations must not
  // grow magnitudes: a module returns nullopt when they might.
  virtual std::optional<MagnitudeBound> OutputBound(const Shape& /*in*/,
                                                    const Fusion& /*fusion*/) const {
    return std::nullopt;
  }
  // Producers that take a Fusion return the axis of their output's channels for input
  // `in` (the axis a following BatchNorm must normalise for folding to be exact), or -1
  // when they take no fusion.
  virtual int FusableChannelAxis(const Shape& /*in*/) const { return -1; }

  // Whether this module has a form in `precision` for input `in`: it then reads, keeps its
  // weights in and may write the element types PlanBuilder::dtypes() gives (reduced()
  // there). Every module computes fp32; a module without a form in a plan's reduced
  // precision gets f32 input (the compiler reorders around it).
  virtual bool ComputesIn(Precision precision, const Shape& /*in*/) const {
    return precision == Precision::kFp32;
  }

  // Whether, in an int8 plan, this module can take an 8-bit input and give its output on the
  // same grid (u8/s8 and scale unchanged): what commutes with a positive scale and with
  // rounding and saturation, so that running it on the quantised values is exact. Max
  // pooling and reshapes (Flatten) do; the compiler then keeps the 8-bit values flowing from
  // one int8 layer through them to the next instead of converting to f32 and back.
  virtual bool PassesInt8Through(const Shape& /*in*/) const { return false; }

  // Layers with a choice of implementation for input `in` (Conv, ConvTranspose, Linear).
  virtual bool IsTunable(const Shape& /*in*/) const { return false; }
  // Whether `id` names an implementation this layer may offer (a check of cached names
  // before they are trusted, without building anything).
  virtual bool OffersImplementation(const std::string& /*id*/) const { return false; }
  // The implementations a tunable layer offers for input `in` with `fusion`, the default
  // first, without touching the weights. Compile builds the one builder.choice() names.
  virtual std::vector<Candidate> Candidates(const PlanBuilder& /*builder*/, const Shape& /*in*/,
                                            const Fusion& /*fusion*/) const {
    return {};
  }

  // Adds this module (and `fusion`, if the module offered FusableChannelAxis) to the plan.
  // `in` is the previous module's output; shapes were already checked with OutputShape.
  virtual absl::StatusOr<PlanValue> Compile(PlanBuilder& builder, const PlanValue& in,
                                            const Fusion& fusion) const = 0;
};

}  // namespace seqserve
