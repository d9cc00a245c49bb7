#include "core/modules/activations.h"

#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/module_args.h"
#include "core/modules/elementwise.h"
#include "common/status_macros.h"

namespace seqserve {
namespace {

using dnnl::algorithm;

// An activation oneDNN computes as a chain of eltwise ops.
// `fusable` false: it runs as standalone eltwise steps only.
class EltwiseActivation : public Module {
 public:
  EltwiseActivation(std::string type, std::vector<EltwiseOp> ops, bool fusable = true)
      : type_(std::move(type)), ops_(std::move(ops)), fusable_(fusable) {}

  std::string_view type() const override { return type_; }
  absl::StatusOr<Shape> OutputShape(const Shape& in) const override { return in; }
  int64_t Flops(const Shape& in) const override { return NumElements(in); }
  std::optional<std::vector<EltwiseOp>> AsEltwise() const override {
    if (!fusable_) return std::nullopt;
    return ops_;
  }

  absl::StatusOr<PlanValue> Compile(PlanBuilder& builder, const PlanValue& in,
                                    const Fusion& /*fusion*/) const override {
    return builder.Eltwise(in, ops_);
  }

 private:
  std::string type_;
  std::vector<EltwiseOp> ops_;
  bool fusable_;
};

// torch.nn.Softplus: log1p(exp(beta x)) / beta, and x itself where beta x > threshold.
struct SoftplusFn {
  float beta;
  float threshold;
  float operator()(float x) const {
    const float bx = beta * x;
    return bx > threshold ? x : std::log1p(std::exp(bx)) / beta;
  }
};

struct SoftsignFn {
  float operator()(float x) const { return x / (1.f + std::fabs(x)); }
};

struct TanhshrinkFn {
  float operator()(float x) const { return x - std::tanh(x); }
};

// The functors below take a float or a vec::Float4 (elementwise.h). Comparisons are written
// so that NaN falls through to x, as in PyTorch (whose clamp and relu propagate NaN).
struct ReluFn {
  template <typename T>
  T operator()(T x) const {
    return x < 0.f ? Splat<T>(0.f) : x;
  }
};

// x > 0 ? x : slope * x, as PyTorch computes LeakyReLU: NaN stays NaN, and with slope 0,
// -Inf gives NaN (-Inf * 0).
struct LeakyReluFn {
  float slope;
  template <typename T>
  T operator()(T x) const {
    return x > 0.f ? x : x * slope;
  }
};

// torch.clamp(x, lo, hi): ReLU6 and Hardtanh.
struct ClipFn {
  float lo;
  float hi;
  template <typename T>
  T operator()(T x) const {
    const T y = x < lo ? Splat<T>(lo) : x;
    return y > hi ? Splat<T>(hi) : y;
  }
};

// PyTorch's hardsigmoid: min(max(x + 3, 0), 6) / 6.
struct HardsigmoidFn {
  template <typename T>
  T operator()(T x) const {
    T t = x + 3.f;
    t = t < 0.f ? Splat<T>(0.f) : t;
    t = t > 6.f ? Splat<T>(6.f) : t;
    return t / 6.f;
  }
};

// torch.nn.Hardshrink: 0 where -lambd <= x <= lambd, else x (NaN stays NaN).
struct HardshrinkFn {
  float lambd;
  template <typename T>
  T operator()(T x) const {
    return x >= -lambd && x <= lambd ? Splat<T>(0.f) : x;
  }
};

// torch.nn.Softshrink: x - lambd above lambd, x + lambd below -lambd, else 0. PyTorch 2.1's
// CPU kernel gives 0 for NaN too (no comparison holds), and so does this.
struct SoftshrinkFn {
  float lambd;
  template <typename T>
  T operator()(T x) const {
    const T above = x > lambd ? x - lambd : Splat<T>(0.f);
    return x < -lambd ? x + lambd : above;
  }
};

// torch.nn.Threshold: value where x <= threshold, else x (NaN stays NaN).
struct ThresholdFn {
  float threshold;
  float value;
  template <typename T>
  T operator()(T x) const {
    return x <= threshold ? Splat<T>(value) : x;
  }
};

std::unique_ptr<Module> Eltwise(std::string type, std::vector<EltwiseOp> ops) {
  return std::make_unique<EltwiseActivation>(std::move(type), std::move(ops));
}

// oneDNN's eltwise_relu computes a leaky ReLU exactly, NaN included, unless the slope is 0:
// then it is a max with 0 (NaN becomes 0), and no other oneDNN op gives PyTorch's -Inf * 0 =
// NaN, so a slope of 0 runs as a kernel and does not fuse.
std::unique_ptr<Module> LeakyRelu(std::string type, float slope) {
  if (slope == 0.f) {
    return std::make_unique<KernelActivation<LeakyReluFn>>(std::move(type), LeakyReluFn{slope});
  }
  return Eltwise(std::move(type), {{algorithm::eltwise_relu, slope, 0.f}});
}

// Binds a signature whose only arguments are ignored ones such as `inplace`.
absl::Status BindFlags(const SeqCall& call, std::string_view file, std::string_view type,
                       std::vector<ArgSpec> signature) {
  SEQ_ASSIGN_OR_RETURN(ModuleArgs args, ModuleArgs::Bind(call, type, signature, file));
  for (const ArgSpec& spec : signature) {
    SEQ_RETURN_IF_ERROR(args.Bool(spec.name).status());
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Module>> MakeInplaceOnly(const SeqCall& call, std::string_view file,
                                                        std::string type,
                                                        std::vector<EltwiseOp> ops) {
  SEQ_RETURN_IF_ERROR(BindFlags(call, file, type, {Default("inplace", BoolValue(false))}));
  return Eltwise(std::move(type), std::move(ops));
}

absl::StatusOr<std::unique_ptr<Module>> MakeNoArgs(const SeqCall& call, std::string_view file,
                                                   std::string type, std::vector<EltwiseOp> ops) {
  SEQ_RETURN_IF_ERROR(BindFlags(call, file, type, {}));
  return Eltwise(std::move(type), std::move(ops));
}

}  // namespace

// ReLU fuses as ReluOps(); standalone, a one-pass kernel does the same.
absl::StatusOr<std::unique_ptr<Module>> MakeReLU(const SeqCall& call, std::string_view file) {
  SEQ_RETURN_IF_ERROR(BindFlags(call, file, "ReLU", {Default("inplace", BoolValue(false))}));
  return std::make_unique<KernelActivation<ReluFn>>("ReLU", ReluFn{}, ReluOps());
}

// The clamps (ReLU6, Hardtanh, Hardsigmoid) do not fuse: oneDNN's clip turns NaN into a bound.
absl::StatusOr<std::unique_ptr<Module>> MakeReLU6(const SeqCall& call, std::string_view file) {
  SEQ_RETURN_IF_ERROR(BindFlags(call, file, "ReLU6", {Default("inplace", BoolValue(false))}));
  return std::make_unique<KernelActivation<ClipFn>>("ReLU6", ClipFn{0.f, 6.f});
}

absl::StatusOr<std::unique_ptr<Module>> MakeLeakyReLU(const SeqCall& call, std::string_view file) {
  SEQ_ASSIGN_OR_RETURN(ModuleArgs args,
                       ModuleArgs::Bind(call, "LeakyReLU",
                                        {Default("negative_slope", FloatValue(0.01)),
                                         Default("inplace", BoolValue(false))},
                                        file));
  SEQ_ASSIGN_OR_RETURN(double slope, args.Float("negative_slope"));
  SEQ_RETURN_IF_ERROR(args.Bool("inplace").status());
  return LeakyRelu("LeakyReLU", static_cast<float>(slope));
}

// In eval mode RReLU is a leaky ReLU with the mean slope (lower + upper) / 2.
absl::StatusOr<std::unique_ptr<Module>> MakeRReLU(const SeqCall& call, std::string_view file) {
  SEQ_ASSIGN_OR_RETURN(ModuleArgs args,
                       ModuleArgs::Bind(call, "RReLU",
                                        {Default("lower", FloatValue(1.0 / 8.0)),
                                         Default("upper", FloatValue(1.0 / 3.0)),
                                         Default("inplace", BoolValue(false))},
                                        file));
  SEQ_ASSIGN_OR_RETURN(double lower, args.Float("lower"));
  SEQ_ASSIGN_OR_RETURN(double upper, args.Float("upper"));
  SEQ_RETURN_IF_ERROR(args.Bool("inplace").status());
  if (!(lower <= upper)) {
    // PyTorch's rrelu checks this on every forward, eval mode included.
    return args.Error("upper", absl::StrCat("Lower bound should be less than or equal to the "
                                            "upper bound (lower=", lower, ", upper=", upper, ")"));
  }
  return LeakyRelu("RReLU", static_cast<float>((lower + upper) / 2.0));
}

absl::StatusOr<std::unique_ptr<Module>> MakeELU(const SeqCall& call, std::string_view file) {
  SEQ_ASSIGN_OR_RETURN(
      ModuleArgs args,
      ModuleArgs::Bind(call, "ELU",
                       {Default("alpha", FloatValue(1.0)), Default("inplace", BoolValue(false))},
                       file));
  SEQ_ASSIGN_OR_RETURN(double alpha, args.Float("alpha"));
  SEQ_RETURN_IF_ERROR(args.Bool("inplace").status());
  return Eltwise("ELU", {{algorithm::eltwise_elu, static_cast<float>(alpha), 0.f}});
}

absl::StatusOr<std::unique_ptr<Module>> MakeSELU(const SeqCall& call, std::string_view file) {
  // selu(x) = scale * elu(x, alpha), with PyTorch's constants.
  constexpr double kAlpha = 1.6732632423543772848170429916717;
  constexpr double kScale = 1.0507009873554804934193349852946;
  return MakeInplaceOnly(call, file, "SELU",
                         {{algorithm::eltwise_elu, static_cast<float>(kAlpha), 0.f},
                          {algorithm::eltwise_linear, static_cast<float>(kScale), 0.f}});
}

absl::StatusOr<std::unique_ptr<Module>> MakeCELU(const SeqCall& call, std::string_view file) {
  SEQ_ASSIGN_OR_RETURN(
      ModuleArgs args,
      ModuleArgs::Bind(call, "CELU",
                       {Default("alpha", FloatValue(1.0)), Default("inplace", BoolValue(false))},
                       file));
  SEQ_ASSIGN_OR_RETURN(double alpha, args.Float("alpha"));
  SEQ_RETURN_IF_ERROR(args.Bool("inplace").status());
  if (alpha == 0) return args.Error("alpha", "ZeroDivisionError: alpha cannot be 0 for CELU");
  // celu(x) = alpha * elu(x / alpha, 1).
  const float a = static_cast<float>(alpha);
  return Eltwise("CELU", {{algorithm::eltwise_linear, 1.f / a, 0.f},
                          {algorithm::eltwise_elu, 1.f, 0.f},
                          {algorithm::eltwise_linear, a, 0.f}});
}

absl::StatusOr<std::unique_ptr<Module>> MakeGELU(const SeqCall& call, std::string_view file) {
  SEQ_ASSIGN_OR_RETURN(
      ModuleArgs args,
      ModuleArgs::Bind(call, "GELU", {Default("approximate", StringValue("none"))}, file));
  // (Not SEQ_ASSIGN_OR_RETURN: GCC 12 warns of a maybe-uninitialized string through it.)
  const absl::StatusOr<std::string> approximate = args.String("approximate");
  if (!approximate.ok()) return approximate.status();
  if (*approximate == "none") return Eltwise("GELU", {{algorithm::eltwise_gelu_erf, 0.f, 0.f}});
  if (*approximate == "tanh") return Eltwise("GELU", {{algorithm::eltwise_gelu_tanh, 0.f, 0.f}});
  return args.Error("approximate", absl::StrCat("approximate argument must be either none or "
                                                "tanh, got '", *approximate, "'"));
}

absl::StatusOr<std::unique_ptr<Module>> MakeSiLU(const SeqCall& call, std::string_view file) {
  return MakeInplaceOnly(call, file, "SiLU", {{algorithm::eltwise_swish, 1.f, 0.f}});
}

absl::StatusOr<std::unique_ptr<Module>> MakeMish(const SeqCall& call, std::string_view file) {
  return MakeInplaceOnly(call, file, "Mish", {{algorithm::eltwise_mish, 0.f, 0.f}});
}

// Without AVX2, oneDNN 2.6's gemm convolution computes a fused logistic post-op with NaN
// turned into 0 (found with ONEDNN_MAX_CPU_ISA=AVX and SSE41); there Sigmoid does not fuse.
absl::StatusOr<std::unique_ptr<Module>> MakeSigmoid(const SeqCall& call, std::string_view file) {
  SEQ_RETURN_IF_ERROR(BindFlags(call, file, "Sigmoid", {}));
  const bool fusable = dnnl::get_effective_cpu_isa() >= dnnl::cpu_isa::avx2;
  return std::make_unique<EltwiseActivation>(
      "Sigmoid", std::vector<EltwiseOp>{{algorithm::eltwise_logistic, 0.f, 0.f}}, fusable);
}

absl::StatusOr<std::unique_ptr<Module>> MakeTanh(const SeqCall& call, std::string_view file) {
  return MakeNoArgs(call, file, "Tanh", {{algorithm::eltwise_tanh, 0.f, 0.f}});
}

absl::StatusOr<std::unique_ptr<Module>> MakeHardswish(const SeqCall& call, std::string_view file) {
  return MakeInplaceOnly(call, file, "Hardswish", {{algorithm::eltwise_hardswish, 0.f, 0.f}});
}

absl::StatusOr<std::unique_ptr<Module>> MakeHardsigmoid(const SeqCall& call,
                                                        std::string_view file) {
  SEQ_RETURN_IF_ERROR(
      BindFlags(call, file, "Hardsigmoid", {Default("inplace", BoolValue(false))}));
  return std::make_unique<KernelActivation<HardsigmoidFn>>("Hardsigmoid", HardsigmoidFn{});
}

absl::StatusOr<std::unique_ptr<Module>> MakeHardtanh(const SeqCall& call, std::string_view file) {
  SEQ_ASSIGN_OR_RETURN(ModuleArgs args,
                       ModuleArgs::Bind(call, "Hardtanh",
                                        {Default("min_val", FloatValue(-1.0)),
                                         Default("max_val", FloatValue(1.0)),
                                         Default("inplace", BoolValue(false))},
                                        file));
  SEQ_ASSIGN_OR_RETURN(double min_val, args.Float("min_val"));
  SEQ_ASSIGN_OR_RETURN(double max_val, args.Float("max_val"));
  SEQ_RETURN_IF_ERROR(args.Bool("inplace").status());
  if (!(max_val > min_val)) {
    return args.Error("max_val", absl::StrCat("max_val (", max_val, ") must be greater than "
                                              "min_val (", min_val, ")"));
  }
  return std::make_unique<KernelActivation<ClipFn>>(
      "Hardtanh", ClipFn{static_cast<float>(min_val), static_cast<float>(max_val)});
}

absl::StatusOr<std::unique_ptr<Module>> MakeSoftplus(const SeqCall& call, std::string_view file) {
  SEQ_ASSIGN_OR_RETURN(
      ModuleArgs args,
      ModuleArgs::Bind(call, "Softplus",
                       {Default("beta", FloatValue(1.0)), Default("threshold", FloatValue(20.0))},
                       file));
  SEQ_ASSIGN_OR_RETURN(double beta, args.Float("beta"));
  SEQ_ASSIGN_OR_RETURN(double threshold, args.Float("threshold"));
  if (beta == 0) return args.Error("beta", "beta cannot be 0 (softplus divides by it)");
  return std::make_unique<KernelActivation<SoftplusFn>>(
      "Softplus", SoftplusFn{static_cast<float>(beta), static_cast<float>(threshold)});
}

absl::StatusOr<std::unique_ptr<Module>> MakeSoftsign(const SeqCall& call, std::string_view file) {
  SEQ_RETURN_IF_ERROR(BindFlags(call, file, "Softsign", {}));
  return std::make_unique<KernelActivation<SoftsignFn>>("Softsign", SoftsignFn{});
}

absl::StatusOr<std::unique_ptr<Module>> MakeTanhshrink(const SeqCall& call,
                                                       std::string_view file) {
  SEQ_RETURN_IF_ERROR(BindFlags(call, file, "Tanhshrink", {}));
  return std::make_unique<KernelActivation<TanhshrinkFn>>("Tanhshrink", TanhshrinkFn{});
}

absl::StatusOr<std::unique_ptr<Module>> MakeLogSigmoid(const SeqCall& call,
                                                       std::string_view file) {
  return MakeNoArgs(call, file, "LogSigmoid", {{algorithm::eltwise_logsigmoid, 0.f, 0.f}});
}

absl::StatusOr<std::unique_ptr<Module>> MakeHardshrink(const SeqCall& call,
                                                       std::string_view file) {
  SEQ_ASSIGN_OR_RETURN(
      ModuleArgs args,
      ModuleArgs::Bind(call, "Hardshrink", {Default("lambd", FloatValue(0.5))}, file));
  SEQ_ASSIGN_OR_RETURN(double lambd, args.Float("lambd"));
  return std::make_unique<KernelActivation<HardshrinkFn>>(
      "Hardshrink", HardshrinkFn{static_cast<float>(lambd)});
}

absl::StatusOr<std::unique_ptr<Module>> MakeSoftshrink(const SeqCall& call,
                                                       std::string_view file) {
  SEQ_ASSIGN_OR_RETURN(
      ModuleArgs args,
      ModuleArgs::Bind(call, "Softshrink", {Default("lambd", FloatValue(0.5))}, file));
  SEQ_ASSIGN_OR_RETURN(double lambd, args.Float("lambd"));
  if (!(lambd >= 0)) {
    // PyTorch builds the module but every forward fails with this.
    return args.Error("lambd",
                      absl::StrCat("lambda must be greater or equal to 0, but found to be ", lambd));
  }
  return std::make_unique<KernelActivation<SoftshrinkFn>>(
      "Softshrink", SoftshrinkFn{static_cast<float>(lambd)});
}

absl::StatusOr<std::unique_ptr<Module>> MakeThreshold(const SeqCall& call, std::string_view file) {
  SEQ_ASSIGN_OR_RETURN(ModuleArgs args,
                       ModuleArgs::Bind(call, "Threshold",
                                        {Required("threshold"), Required("value"),
                                         Default("inplace", BoolValue(false))},
                                        file));
  SEQ_ASSIGN_OR_RETURN(double threshold, args.Float("threshold"));
  SEQ_ASSIGN_OR_RETURN(double value, args.Float("value"));
  SEQ_RETURN_IF_ERROR(args.Bool("inplace").status());
  return std::make_unique<KernelActivation<ThresholdFn>>(
      "Threshold", ThresholdFn{static_cast<float>(threshold), static_cast<float>(value)});
}

}  // namespace seqserve
