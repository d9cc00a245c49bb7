#include "core/modules/activations.h"

#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/module_args.h"
#include "core/parallel.h"
#include "common/status_macros.h"

namespace seqserve {
namespace {

using dnnl::algorithm;

// An activation oneDNN computes as a chain of eltwise ops.
class EltwiseActivation : public Module {
 public:
  EltwiseActivation(std::string type, std::vector<EltwiseOp> ops)
      : type_(std::move(type)), ops_(std::move(ops)) {}

  std::string_view type() const override { return type_; }
  absl::StatusOr<Shape> OutputShape(const Shape& in) const override { return in; }
  int64_t Flops(const Shape& in) const override { return NumElements(in); }
  std::optional<std::vector<EltwiseOp>> AsEltwise() const override { return ops_; }

  absl::StatusOr<PlanValue> Compile(PlanBuilder& builder, const PlanValue& in,
                                    const Fusion& /*fusion*/) const override {
    return builder.Eltwise(in, ops_);
  }

 private:
  std::string type_;
  std::vector<EltwiseOp> ops_;
};

// An activation computed by `Fn` (a functor float -> float) on plain layout.
template <typename Fn>
class KernelActivation : public Module {
 public:
  KernelActivation(std::string type, Fn fn) : type_(std::move(type)), fn_(fn) {}

  std::string_view type() const override { return type_; }
  absl::StatusOr<Shape> OutputShape(const Shape& in) const override { return in; }
  int64_t Flops(const Shape& in) const override { return NumElements(in); }

  absl::StatusOr<PlanValue> Compile(PlanBuilder& builder, const PlanValue& in,
                                    const Fusion& /*fusion*/) const override {
    PlanValue src = builder.Plain(in);
    PlanValue dst = builder.InPlace(src);
    const int64_t n = NumElements(in.shape);
    Fn fn = fn_;
    builder.AddKernel(
        [fn, n](const float* x, float* y, int threads) {
          ParallelFor(n, threads, [&](int64_t begin, int64_t end) {
            for (int64_t i = begin; i < end; ++i) y[i] = fn(x[i]);
          });
        },
        src, dst);
    return dst;
  }

 private:
  std::string type_;
  Fn fn_;
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

std::unique_ptr<Module> Eltwise(std::string type, std::vector<EltwiseOp> ops) {
  return std::make_unique<EltwiseActivation>(std::move(type), std::move(ops));
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

absl::StatusOr<std::unique_ptr<Module>> MakeReLU(const SeqCall& call, std::string_view file) {
  return MakeInplaceOnly(call, file, "ReLU", {{algorithm::eltwise_relu, 0.f, 0.f}});
}

absl::StatusOr<std::unique_ptr<Module>> MakeReLU6(const SeqCall& call, std::string_view file) {
  return MakeInplaceOnly(call, file, "ReLU6", {{algorithm::eltwise_clip, 0.f, 6.f}});
}

absl::StatusOr<std::unique_ptr<Module>> MakeLeakyReLU(const SeqCall& call, std::string_view file) {
  SEQ_ASSIGN_OR_RETURN(ModuleArgs args,
                       ModuleArgs::Bind(call, "LeakyReLU",
                                        {Default("negative_slope", FloatValue(0.01)),
                                         Default("inplace", BoolValue(false))},
                                        file));
  SEQ_ASSIGN_OR_RETURN(double slope, args.Float("negative_slope"));
  SEQ_RETURN_IF_ERROR(args.Bool("inplace").status());
  return Eltwise("LeakyReLU", {{algorithm::eltwise_relu, static_cast<float>(slope), 0.f}});
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

absl::StatusOr<std::unique_ptr<Module>> MakeSigmoid(const SeqCall& call, std::string_view file) {
  return MakeNoArgs(call, file, "Sigmoid", {{algorithm::eltwise_logistic, 0.f, 0.f}});
}

absl::StatusOr<std::unique_ptr<Module>> MakeTanh(const SeqCall& call, std::string_view file) {
  return MakeNoArgs(call, file, "Tanh", {{algorithm::eltwise_tanh, 0.f, 0.f}});
}

absl::StatusOr<std::unique_ptr<Module>> MakeHardswish(const SeqCall& call, std::string_view file) {
  return MakeInplaceOnly(call, file, "Hardswish", {{algorithm::eltwise_hardswish, 0.f, 0.f}});
}

absl::StatusOr<std::unique_ptr<Module>> MakeHardsigmoid(const SeqCall& call,
                                                        std::string_view file) {
  // hardsigmoid(x) = clip(x / 6 + 1/2, 0, 1).
  return MakeInplaceOnly(call, file, "Hardsigmoid",
                         {{algorithm::eltwise_linear, 1.f / 6.f, 0.5f},
                          {algorithm::eltwise_clip, 0.f, 1.f}});
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
  return Eltwise("Hardtanh", {{algorithm::eltwise_clip, static_cast<float>(min_val),
                               static_cast<float>(max_val)}});
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

}  // namespace seqserve
