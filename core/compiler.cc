#include "core/compiler.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <optional>
#include <string>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "core/engine_log.h"

namespace seqserve {
namespace {

// Whether `more` may join the post-op chain `chain`. oneDNN 2.6's jit post-op injectors give
// every op of one algorithm the parameters of its first occurrence in the chain (linear(2)
// then linear(3) computes 2x twice; elu(1) then elu(0) computes elu(1) twice), in matmul,
// inner product and convolution alike; only its reference code is right. So a chain may
// repeat an algorithm only with the same parameters (ReLU6's elu(0), linear(-1, 6), elu(0),
// linear(-1, 6) is fine); otherwise the rest runs as standalone steps.
bool CanExtendPostOps(const std::vector<EltwiseOp>& chain, const std::vector<EltwiseOp>& more) {
  std::vector<EltwiseOp> all = chain;
  all.insert(all.end(), more.begin(), more.end());
  for (size_t i = 0; i < all.size(); ++i) {
    for (size_t j = 0; j < i; ++j) {
      if (all[j].algorithm == all[i].algorithm &&
          (all[j].alpha != all[i].alpha || all[j].beta != all[i].beta)) {
        return false;
      }
    }
  }
  return true;
}

// In a reduced-precision plan, tuning also offers each reduced layer's fp32 implementations,
// their ids prefixed with this, and keeps the reduced form only where it is faster: with
// AVX512_BF16 but no AMX, oneDNN 2.6's bf16 kernels ran at about half the speed of its fp32
// ones (bench/RESULTS.md §8), so bf16 can pay only where it halves memory traffic.
constexpr std::string_view kFp32Prefix = "fp32:";

// `id` without kFp32Prefix; sets `fp32` to whether it had it.
std::string StripFp32(const std::string& id, bool& fp32) {
  fp32 = id.starts_with(kFp32Prefix);
  return fp32 ? id.substr(kFp32Prefix.size()) : id;
}

std::string LayerName(const Layer& layer) {
  return absl::StrCat(layer.path, " (", std::string(layer.module->type()), ")");
}

// Prefixes a module's status with its path, keeping the code.
absl::Status AtLayer(const Layer& layer, const absl::Status& status) {
  return absl::Status(status.code(), absl::StrCat(LayerName(layer), ": ", status.message()));
}

}  // namespace

absl::StatusOr<std::vector<Shape>> InferShapes(const std::vector<Layer>& layers,
                                               const Shape& input) {
  std::vector<Shape> shapes;
  shapes.reserve(layers.size());
  const Shape* current = &input;
  for (const Layer& layer : layers) {
    absl::StatusOr<Shape> out = layer.module->OutputShape(*current);
    if (!out.ok()) return AtLayer(layer, out.status());
    shapes.push_back(*std::move(out));
    current = &shapes.back();
  }
  return shapes;
}

namespace {

// One module as the plan runs it: layers[layer] with the BatchNorm folded into it and the
// activations fused into it, up to layers[next].
struct Step {
  size_t layer = 0;
  size_t next = 0;
  Fusion fusion;
  Shape in_shape;
  StepDTypes dtypes;  // all f32 unless the plan's precision is reduced
};

// The steps of `layers` on input `in`, as the compiler fuses them. Shapes come from the
// modules' OutputShape; a layer whose shape fails ends the list there (its Compile reports
// the error).
std::vector<Step> PlanSteps(const std::vector<Layer>& layers, const Shape& in, bool fuse) {
  std::vector<Step> steps;
  // Index of the next layer that computes something, from `j` on.
  auto next_real = [&](size_t j) {
    while (j < layers.size() && layers[j].module->IsIdentity()) ++j;
    return j;
  };
  Shape shape = in;
  for (size_t i = next_real(0); i < layers.size(); i = next_real(i)) {
    const Module& module = *layers[i].module;
    Step step;
    step.layer = i;
    step.in_shape = shape;
    size_t next = i + 1;
    const int channel_axis = fuse ? module.FusableChannelAxis(shape) : -1;
    if (channel_axis == 1) {
      // Fold a BatchNorm (whose channel axis is always 1) and fuse the activations after it.
      size_t j = next_real(next);
      if (j < layers.size() && layers[j].module->AsChannelAffine() != nullptr) {
        step.fusion.affine = layers[j].module->AsChannelAffine();
        step.fusion.affine_path = layers[j].path;
        next = j + 1;
      }
    }
    if (channel_axis >= 0) {
      bool all_kernels = true;
      for (size_t j = next_real(next); j < layers.size(); j = next_real(j + 1)) {
        std::optional<std::vector<EltwiseOp>> ops = layers[j].module->AsEltwise();
        if (!ops || !CanExtendPostOps(step.fusion.post_ops, *ops)) break;
        step.fusion.post_ops.insert(step.fusion.post_ops.end(), ops->begin(), ops->end());
        std::optional<ActivationKernel> kernel = layers[j].module->AsActivationKernel();
        all_kernels = all_kernels && kernel.has_value();
        if (kernel) step.fusion.kernels.push_back(*std::move(kernel));
        next = j + 1;
      }
      if (!all_kernels) step.fusion.kernels.clear();
    }
    step.next = next;
    absl::StatusOr<Shape> out = module.OutputShape(shape);
    steps.push_back(std::move(step));
    if (!out.ok()) break;
    shape = *std::move(out);
    i = next;
  }
  return steps;
}

// Where FastReluOps may replace exact ReLUs: the input guard (Plan::input_guard) that makes
// them exact, after rewriting the fused ReLU chains of `steps` it covers; 0 when none can be
// rewritten. Chains each step's MagnitudeBound from the input: while every input is finite
// and |x| <= guard, every value up to the last rewritten step stays below FLT_MAX / 4 in
// exact arithmetic (the margin covers rounding), so no Inf, hence no NaN (Inf - Inf, 0 * Inf)
// ever reaches a ReLU, where max(x, 0) and PyTorch's relu agree. Steps from the first
// module without a bound on are left exact.
float RewriteFastRelus(const std::vector<Layer>& layers, std::vector<Step>& steps) {
  constexpr double kCeiling = std::numeric_limits<float>::max() / 4.0;
  double gain = 1, offset = 0;  // values entering the next step: |v| <= gain * m + offset
  double guard_so_far = HUGE_VAL;
  double guard = 0;
  size_t last = steps.size();
  for (size_t k = 0; k < steps.size(); ++k) {
    const Step& step = steps[k];
    const std::optional<MagnitudeBound> bound =
        layers[step.layer].module->OutputBound(step.in_shape, step.fusion);
    if (!bound) break;
    offset = offset * bound->gain + bound->offset;
    gain *= bound->gain;
    const double limit = gain > 0 ? (kCeiling - offset) / gain : (offset <= kCeiling ? HUGE_VAL : 0);
    if (!(limit > 0)) break;  // NaN (a non-finite weight) included
    guard_so_far = std::min(guard_so_far, limit);
    if (IsReluChain(step.fusion.post_ops)) {
      last = k;
      guard = guard_so_far;
    }
  }
  const float input_guard =
      static_cast<float>(std::min(guard, double{std::numeric_limits<float>::max()}));
  if (last == steps.size() || !(input_guard > 0)) return 0;
  for (size_t k = 0; k <= last; ++k) {
    if (IsReluChain(steps[k].fusion.post_ops)) steps[k].fusion.post_ops = FastReluOps();
  }
  return input_guard;
}

// The int8 form of AssignDTypes: a step computes in int8 when its module has that form and
// the calibration has its input's range; it reads u8 (a non-negative range) or s8 scaled to
// the range's clip, and writes the next int8 step's 8-bit input directly (requantised by its
// output scales) when its fused activations commute with a positive scale (none, or ReLUs)
// and only steps that pass 8-bit values through (max pooling, Flatten: exact on the grid, see
// Module::PassesInt8Through) come between; those then run on that grid too. Else f32.
void AssignInt8DTypes(std::vector<Step>& steps, const std::vector<Layer>& layers,
                      const Int8Calibration* calibration) {
  using dt = dnnl::memory::data_type;
  auto range = [&](size_t k) -> const ActivationRange* {
    if (calibration == nullptr || k >= steps.size() || NumElements(steps[k].in_shape) == 0) {
      return nullptr;
    }
    const Layer& layer = layers[steps[k].layer];
    if (!layer.module->ComputesIn(Precision::kInt8, steps[k].in_shape)) return nullptr;
    auto it = calibration->inputs.find(layer.path);
    return it == calibration->inputs.end() ? nullptr : &it->second;
  };
  auto quantised = [](const ActivationRange& r, dt& type, float& scale) {
    type = r.non_negative() ? dt::u8 : dt::s8;
    scale = r.clip / (r.non_negative() ? 255.f : 127.f);
  };
  for (size_t k = 0; k < steps.size(); ++k) {
    const ActivationRange* in = range(k);
    if (in == nullptr) continue;
    StepDTypes& d = steps[k].dtypes;
    quantised(*in, d.src, d.src_scale);
    d.weights = dt::s8;
    const std::vector<EltwiseOp>& ops = steps[k].fusion.post_ops;
    size_t next = k + 1;
    while (next < steps.size() && NumElements(steps[next].in_shape) > 0 &&
           layers[steps[next].layer].module->PassesInt8Through(steps[next].in_shape) &&
           range(next) == nullptr) {
      ++next;
    }
    const ActivationRange* consumer = range(next);
    if (consumer == nullptr || !(ops.empty() || IsReluChain(ops))) {
      d.dst = dt::f32;
      continue;
    }
    quantised(*consumer, d.dst, d.dst_scale);
    for (size_t j = k + 1; j < next; ++j) {
      StepDTypes& through = steps[j].dtypes;
      through.src = through.dst = d.dst;
      through.src_scale = through.dst_scale = d.dst_scale;
    }
  }
}

// Sets the element types of each step in a plan of `precision`: the reduced type for a module
// that computes in it, written out as f32 where the next step does not read it (a module
// without that form, or the plan's output: the last layer keeps its f32 accumulation).
void AssignDTypes(std::vector<Step>& steps, const std::vector<Layer>& layers,
                  Precision precision, const Int8Calibration* calibration) {
  if (precision == Precision::kFp32) return;
  if (precision == Precision::kInt8) {
    AssignInt8DTypes(steps, layers, calibration);
    return;
  }
  const dnnl::memory::data_type reduced = dnnl::memory::data_type::bf16;
  auto computes = [&](size_t k) {
    return k < steps.size() && NumElements(steps[k].in_shape) > 0 &&
           layers[steps[k].layer].module->ComputesIn(precision, steps[k].in_shape);
  };
  for (size_t k = 0; k < steps.size(); ++k) {
    if (!computes(k)) continue;
    steps[k].dtypes.src = reduced;
    steps[k].dtypes.weights = reduced;
    steps[k].dtypes.dst = computes(k + 1) ? reduced : dnnl::memory::data_type::f32;
  }
}

// Chooses the implementation of each tunable step in steps[begin, end), a chain of tunable
// layers each feeding the next, whose first reads a value in layout `input`. Sets
// choices[k] for each.
void TuneChain(PlanBuilder& builder, const std::vector<Layer>& layers,
               const std::vector<Step>& steps, size_t begin, size_t end,
               const dnnl::memory::desc& input, PlanTuning& tuning,
               std::vector<std::string>& choices) {
  auto path = [&](size_t k) { return layers[steps[k].layer].path; };
  // Cached names are checked before they are trusted: one the layer cannot offer (a
  // hand-edited or foreign file) is dropped with a warning, and the layer timed again.
  for (size_t k = begin; k < end; ++k) {
    auto it = tuning.cached.find(path(k));
    const Module& module = *layers[steps[k].layer].module;
    bool fp32 = false;
    if (it != tuning.cached.end() &&
        (!module.OffersImplementation(StripFp32(it->second, fp32)) ||
         (fp32 && !steps[k].dtypes.reduced()))) {
      EngineLog()->warn("{}: the tuning cache names implementation '{}', which this layer does "
                        "not offer; timing its candidates again",
                        path(k), it->second);
      tuning.cached.erase(it);
    }
  }
  bool all_cached = true;
  for (size_t k = begin; k < end; ++k) all_cached = all_cached && tuning.cached.count(path(k)) > 0;
  tuning.tunable_layers += static_cast<int>(end - begin);
  if (tuning.mode == TuningMode::kOn && all_cached) {
    // The common case after the first start: no candidate is even built.
    for (size_t k = begin; k < end; ++k) choices[k] = tuning.cached.at(path(k));
    tuning.cached_layers += static_cast<int>(end - begin);
    return;
  }
  std::vector<Tuner::Layer> chain(end - begin);
  for (size_t k = begin; k < end; ++k) {
    const Step& step = steps[k];
    builder.SetCurrentModule(path(k), std::string(layers[step.layer].module->type()));
    builder.set_dtypes(step.dtypes);
    chain[k - begin].candidates =
        layers[step.layer].module->Candidates(builder, step.in_shape, step.fusion);
    if (step.dtypes.reduced()) {
      builder.set_dtypes(StepDTypes{});
      for (Candidate& candidate :
           layers[step.layer].module->Candidates(builder, step.in_shape, step.fusion)) {
        candidate.id = std::string(kFp32Prefix) + candidate.id;
        chain[k - begin].candidates.push_back(std::move(candidate));
      }
    }
  }
  if (tuning.mode == TuningMode::kForced) {
    for (size_t k = begin; k < end; ++k) {
      const std::vector<Candidate>& candidates = chain[k - begin].candidates;
      if (!candidates.empty()) {
        choices[k] = candidates[tuning.forced_candidate % candidates.size()].id;
      }
    }
    return;
  }
  for (size_t k = begin; k < end; ++k) {
    auto it = tuning.cached.find(path(k));
    if (it == tuning.cached.end()) continue;
    const std::vector<Candidate>& candidates = chain[k - begin].candidates;
    for (size_t c = 0; c < candidates.size(); ++c) {
      if (candidates[c].id == it->second) chain[k - begin].fixed = static_cast<int>(c);
    }
    if (chain[k - begin].fixed < 0) {
      EngineLog()->warn("{}: the tuning cache names implementation '{}', which this layer does "
                        "not offer for this input; timing its candidates again",
                        path(k), it->second);
    } else {
      ++tuning.cached_layers;
    }
  }
  if (tuning.tuner == nullptr || tuning.tuner->deadline_passed()) {
    for (size_t k = begin; k < end; ++k) {
      const Tuner::Layer& layer = chain[k - begin];
      if (layer.fixed >= 0) {
        choices[k] = layer.candidates[layer.fixed].id;
      } else if (layer.candidates.size() > 1) {
        ++tuning.untimed_layers;
      }
    }
    return;
  }
  const Tuner::Choice choice = tuning.tuner->ChooseChain(input, chain);
  for (size_t k = begin; k < end; ++k) {
    const Tuner::Layer& layer = chain[k - begin];
    if (layer.candidates.empty()) continue;
    choices[k] = layer.candidates[choice.index[k - begin]].id;
    if (layer.fixed >= 0) continue;
    if (choice.untimed[k - begin]) {
      ++tuning.untimed_layers;
    } else {
      tuning.decided[path(k)] = choices[k];
      ++tuning.timed_layers;
    }
  }
}

}  // namespace

absl::StatusOr<PlanValue> CompileLayers(PlanBuilder& builder, const std::vector<Layer>& layers,
                                        const PlanValue& in, PlanTuning* tuning) {
  std::vector<Step> steps = PlanSteps(layers, in.shape, builder.fuse());
  AssignDTypes(steps, layers, builder.precision(), builder.calibration());
  if (builder.fast_relu()) {
    // The model's own layers only: bounds chain from the model's input, and a nested
    // Sequential compiled below must not rewrite (nor reset) anything.
    builder.set_fast_relu(false);
    builder.set_input_guard(builder.fuse() ? RewriteFastRelus(layers, steps) : 0.f);
  }
  std::vector<std::string> choices(steps.size());
  // An empty input (batch 0) runs nothing: there is nothing to time.
  auto tunable = [&](size_t k) {
    return k < steps.size() && NumElements(steps[k].in_shape) > 0 &&
           layers[steps[k].layer].module->IsTunable(steps[k].in_shape);
  };
  PlanValue value = in;
  for (size_t k = 0; k < steps.size(); ++k) {
    const Step& step = steps[k];
    const Layer& layer = layers[step.layer];
    const Module& module = *layer.module;
    try {
      if (tuning != nullptr && tuning->mode != TuningMode::kOff && tunable(k) &&
          (k == 0 || !tunable(k - 1))) {
        // The first of a chain of tunable steps: choose for the whole chain now that its
        // input layout is known.
        size_t end = k + 1;
        while (tunable(end)) ++end;
        const auto start = std::chrono::steady_clock::now();
        TuneChain(builder, layers, steps, k, end, value.md, *tuning, choices);
        tuning->ms += std::chrono::duration<double, std::milli>(
                          std::chrono::steady_clock::now() - start).count();
      }
      builder.SetCurrentModule(layer.path, std::string(module.type()));
      // A reduced layer that tuning found faster in fp32 runs fp32 (kFp32Prefix).
      bool fp32 = false;
      builder.set_choice(StripFp32(choices[k], fp32));
      if (tuning != nullptr && !choices[k].empty()) tuning->chosen[layer.path] = choices[k];
      builder.set_dtypes(fp32 ? StepDTypes{} : step.dtypes);
      // A module without a form in the plan's precision reads f32 (one that passes 8-bit
      // values through reads them as they are).
      if (builder.dtypes().src == dnnl::memory::data_type::f32) value = builder.ToF32(value);
      // A standalone activation compiles itself: oneDNN eltwise steps, or a kernel.
      absl::StatusOr<PlanValue> out = module.Compile(builder, value, step.fusion);
      if (!out.ok()) return AtLayer(layer, out.status());
      value = *std::move(out);
    } catch (const dnnl::error& e) {
      return AtLayer(layer, absl::InternalError(absl::StrCat("oneDNN: ", e.what())));
    }
  }
  return value;
}

}  // namespace seqserve
