#include "core/modules/lp_pooling.h"

#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/module_args.h"
#include "core/modules/pool_common.h"
#include "core/modules/pool_kernels.h"
#include "core/parallel.h"
#include "common/status_macros.h"

namespace seqserve {
namespace {

// x ^ e as torch.pow(tensor, scalar) computes it on CPU: its fast paths for the exponents
// it special-cases, std::pow otherwise.
float TorchPow(float x, float e) {
  if (e == 1.f) return x;
  if (e == 2.f) return x * x;
  if (e == 3.f) return x * x * x;
  if (e == 0.5f) return std::sqrt(x);
  if (e == -0.5f) return 1.f / std::sqrt(x);
  if (e == -1.f) return 1.f / x;
  if (e == -2.f) return 1.f / (x * x);
  return std::pow(x, e);
}

// dst[i] = TorchPow(src[i] * scale, exponent), in parallel.
KernelFn PowKernel(int64_t n, float scale, float exponent) {
  return [n, scale, exponent](const float* src, float* dst, int threads) {
    ParallelFor(n, threads, [&](int64_t begin, int64_t end) {
      if (exponent == 2.f && scale == 1.f) {
        for (int64_t i = begin; i < end; ++i) dst[i] = src[i] * src[i];
      } else {
        for (int64_t i = begin; i < end; ++i) dst[i] = TorchPow(src[i] * scale, exponent);
      }
    });
  };
}

class LPPool : public Module {
 public:
  LPPool(std::string type, double norm_type, PoolGeometry g)
      : type_(std::move(type)), p_(norm_type), g_(std::move(g)) {}

  std::string_view type() const override { return type_; }

  absl::StatusOr<Shape> OutputShape(const Shape& in) const override {
    return PoolOutputShape(in, g_);
  }

  // A power per input, a sum per window tap, a scale and root per output.
  int64_t Flops(const Shape& in) const override {
    absl::StatusOr<Shape> out = OutputShape(in);
    if (!out.ok()) return 0;
    int64_t taps = 1;
    for (int64_t k : g_.kernel) taps *= k;
    return NumElements(in) + NumElements(*out) * (taps + 2);
  }

  std::optional<Shape> InputDims() const override { return Shape(g_.rank + 1, -1); }

  absl::StatusOr<PlanValue> Compile(PlanBuilder& builder, const PlanValue& in,
                                    const Fusion& /*fusion*/) const override {
    SEQ_ASSIGN_OR_RETURN(Shape out_shape, OutputShape(in.shape));
    const size_t rank = static_cast<size_t>(g_.rank);
    std::vector<PoolWindows> windows;
    int64_t taps = 1;
    for (size_t a = 0; a < rank; ++a) {
      const size_t d = in.shape.size() - rank + a;
      windows.push_back(FixedWindows(in.shape[d], out_shape[d], g_.kernel[a], g_.stride[a],
                                     /*padding=*/0, /*dilation=*/1, /*count_include_pad=*/true));
      taps *= g_.kernel[a];
    }
    const PlanValue x = builder.Plain(in);
    const PlanValue powered = builder.InPlace(x);
    builder.AddKernel(PowKernel(NumElements(in.shape), 1.f, static_cast<float>(p_)), x, powered);
    const PlanValue mean = AddWindowPooling(builder, powered, PoolKind::kAvg, windows, out_shape);
    const PlanValue out = builder.InPlace(mean);
    // sign(a) * relu(|a|) is `a` itself, NaN included; the root's exponent is Python's
    // 1.0 / norm_type, rounded to float as torch.pow rounds it.
    builder.AddKernel(PowKernel(NumElements(out_shape), static_cast<float>(taps),
                                static_cast<float>(1.0 / p_)),
                      mean, out);
    return out;
  }

 private:
  std::string type_;
  double p_;
  PoolGeometry g_;
};

absl::StatusOr<std::unique_ptr<Module>> MakeLPPool(const SeqCall& call, std::string_view file,
                                                   std::string type, int rank) {
  SEQ_ASSIGN_OR_RETURN(
      ModuleArgs args,
      ModuleArgs::Bind(call, type,
                       {Required("norm_type"), Required("kernel_size"),
                        Default("stride", NoneValue()), Default("ceil_mode", BoolValue(false))},
                       file));
  SEQ_ASSIGN_OR_RETURN(double norm_type, args.Float("norm_type"));
  if (norm_type == 0) {
    // F.lp_pool's root 1.0 / norm_type.
    return args.Error("norm_type", "norm_type must not be 0 (the output is the (1 / norm_type)-th "
                                   "root)");
  }
  // F.lp_pool1d multiplies by kernel_size and lp_pool2d unpacks it into (kw, kh), so only an
  // int (or, in 2-d, a pair) works there, whatever avg_pool would take.
  const SeqValue& kernel = args.Get("kernel_size");
  if (rank == 1 && kernel.kind != SeqValue::Kind::kInt) {
    return args.Error("kernel_size", absl::StrCat("expected an int (F.lp_pool1d multiplies the "
                                                  "output by it), got ",
                                                  kernel.Describe()));
  }
  if (rank == 2) SEQ_RETURN_IF_ERROR(args.IntTuple("kernel_size", 2).status());
  SEQ_ASSIGN_OR_RETURN(PoolGeometry g,
                       ReadPoolGeometry(args, type, rank, /*has_padding=*/false,
                                        /*has_dilation=*/false));
  return std::make_unique<LPPool>(std::move(type), norm_type, std::move(g));
}

}  // namespace

absl::StatusOr<std::unique_ptr<Module>> MakeLPPool1d(const SeqCall& call, std::string_view file) {
  return MakeLPPool(call, file, "LPPool1d", 1);
}

absl::StatusOr<std::unique_ptr<Module>> MakeLPPool2d(const SeqCall& call, std::string_view file) {
  return MakeLPPool(call, file, "LPPool2d", 2);
}

}  // namespace seqserve
