#include "core/calibrator.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "core/compiler.h"
#include "core/engine.h"
#include "core/executor.h"
#include "core/plan_builder.h"
#include "core/weight_cache.h"

namespace seqserve {
namespace {

constexpr int kBins = 4096;

// What is seen at one layer's input over all samples.
struct Observed {
  float min = INFINITY;
  float max = -INFINITY;
  float abs_max = 0;
  int64_t count = 0;
  std::vector<int64_t> histogram;  // of |x| over [0, abs_max], the second pass
};

// Runs the model's layers one by one, each as its own unfused fp32 plan, so that every
// layer's input is at hand. Plans are compiled once per (layer, input shape).
class LayerRunner {
 public:
  LayerRunner(const Model& model, int num_threads)
      : model_(model), weights_(CpuEngine()), executor_(CpuEngine()), threads_(num_threads) {}

  // Layer `i` on `input`.
  absl::StatusOr<TypedTensor> Run(size_t i, const TypedTensor& input) {
    const Layer& layer = model_.layers()[i];
    std::shared_ptr<const Plan>& plan = plans_[{i, input.shape}];
    if (plan == nullptr) {
      // Modules compile only inputs their shape rule takes (as Model::Compile checks).
      SEQ_RETURN_IF_ERROR(InferShapes({layer}, input.shape).status());
      PlanBuilder builder(CpuEngine(), threads_, weights_, input.shape, input.dtype);
      builder.set_fuse(false);
      SEQ_ASSIGN_OR_RETURN(PlanValue out, CompileLayers(builder, {layer}, builder.input()));
      SEQ_ASSIGN_OR_RETURN(plan, builder.Finish(out));
    }
    TypedTensor output;
    output.shape = plan->output_shape();
    output.bytes.resize(NumElements(output.shape) * sizeof(float));
    SEQ_RETURN_IF_ERROR(
        executor_.Run(*plan, input.view(), reinterpret_cast<float*>(output.bytes.data())));
    return output;
  }

 private:
  const Model& model_;
  WeightCache weights_;
  Executor executor_;
  int threads_;
  std::map<std::pair<size_t, Shape>, std::shared_ptr<const Plan>> plans_;
};

// Feeds every batch through the layers, calling observe(layer, values, n) at each int8
// layer's input.
template <typename Observe>
absl::Status Pass(const Model& model, LayerRunner& runner, const TypedTensor& samples,
                  int64_t batch, const Observe& observe) {
  const std::vector<Layer>& layers = model.layers();
  for (int64_t begin = 0; begin < samples.shape[0]; begin += batch) {
    TypedTensor x = SampleRows(samples, begin, std::min(samples.shape[0], begin + batch));
    for (size_t i = 0; i < layers.size(); ++i) {
      if (layers[i].module->IsIdentity()) continue;
      if (IsInt8Layer(layers[i])) {
        observe(i, reinterpret_cast<const float*>(x.bytes.data()), NumElements(x.shape));
      }
      absl::StatusOr<TypedTensor> y = runner.Run(i, x);
      if (!y.ok()) {
        return absl::Status(y.status().code(),
                            absl::StrCat(layers[i].path, " (", std::string(layers[i].module->type()),
                                         "): ", y.status().message()));
      }
      x = *std::move(y);
    }
  }
  return absl::OkStatus();
}

}  // namespace

TypedTensor SampleRows(const TypedTensor& samples, int64_t begin, int64_t end) {
  TypedTensor rows;
  rows.dtype = samples.dtype;
  rows.shape = samples.shape;
  rows.shape[0] = end - begin;
  const size_t row_bytes = samples.bytes.size() / samples.shape[0];
  rows.bytes.assign(samples.bytes.begin() + begin * row_bytes,
                    samples.bytes.begin() + end * row_bytes);
  return rows;
}

bool IsInt8Layer(const Layer& layer) {
  return !layer.module->IsIdentity() && layer.module->NumParams() > 0 &&
         layer.module->ComputesIn(Precision::kInt8, {});
}

absl::StatusOr<Int8Calibration> CalibrateInt8(const Model& model, const TypedTensor& samples,
                                              const CalibrationOptions& options) {
  if (samples.shape.empty() || samples.shape[0] < 1) {
    return absl::InvalidArgumentError("the samples must have a batch dim with at least one sample");
  }
  if (!(options.percentile > 0 && options.percentile <= 100)) {
    return absl::InvalidArgumentError("the percentile must be in (0, 100]");
  }
  SEQ_RETURN_IF_ERROR(model.OutputShape(samples.shape).status());
  const int64_t batch = std::max<int64_t>(1, options.batch);
  LayerRunner runner(model, options.num_threads);
  std::map<size_t, Observed> seen;
  SEQ_RETURN_IF_ERROR(Pass(model, runner, samples, batch,
                           [&](size_t i, const float* x, int64_t n) {
                             Observed& o = seen[i];
                             for (int64_t k = 0; k < n; ++k) {
                               if (!std::isfinite(x[k])) continue;
                               o.min = std::min(o.min, x[k]);
                               o.max = std::max(o.max, x[k]);
                               o.abs_max = std::max(o.abs_max, std::fabs(x[k]));
                             }
                             o.count += n;
                           }));
  if (options.percentile < 100) {
    for (auto& [i, o] : seen) o.histogram.assign(kBins, 0);
    SEQ_RETURN_IF_ERROR(Pass(model, runner, samples, batch,
                             [&](size_t i, const float* x, int64_t n) {
                               Observed& o = seen[i];
                               if (!(o.abs_max > 0)) return;
                               const float per_bin = kBins / o.abs_max;
                               for (int64_t k = 0; k < n; ++k) {
                                 if (!std::isfinite(x[k])) continue;
                                 const int bin = std::min<int>(
                                     kBins - 1, static_cast<int>(std::fabs(x[k]) * per_bin));
                                 ++o.histogram[bin];
                               }
                             }));
  }
  Int8Calibration calibration;
  calibration.model_hash = model.content_hash();
  calibration.samples = samples.shape[0];
  calibration.percentile = options.percentile;
  for (const auto& [i, o] : seen) {
    ActivationRange range;
    range.min = std::isfinite(o.min) ? o.min : 0.f;
    range.max = std::isfinite(o.max) ? o.max : 0.f;
    range.clip = o.abs_max;
    if (!o.histogram.empty() && o.abs_max > 0) {
      int64_t total = 0;
      for (int64_t c : o.histogram) total += c;
      const double wanted = total * options.percentile / 100.0;
      int64_t cumulative = 0;
      for (int b = 0; b < kBins; ++b) {
        cumulative += o.histogram[b];
        if (cumulative >= wanted) {
          range.clip = std::min(o.abs_max, o.abs_max * static_cast<float>(b + 1) / kBins);
          break;
        }
      }
    }
    if (!(range.clip > 0)) range.clip = 1.f;  // only zeros seen: any grid holds them
    calibration.inputs[model.layers()[i].path] = range;
  }
  return calibration;
}

}  // namespace seqserve
