#include "core/model.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <fstream>
#include <map>
#include <sstream>
#include <system_error>
#include <utility>

#include <omp.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/calibrator.h"
#include "core/compiler.h"
#include "core/engine_log.h"
#include "core/tuner.h"
#include "core/engine.h"
#include "core/plan_builder.h"
#include "core/safetensors.h"
#include "core/seq_parser.h"
#include "core/sequential_builder.h"
#include "core/state_dict.h"
#include "common/byte_size.h"
#include "common/safe_file.h"
#include "common/status_macros.h"

namespace seqserve {
namespace {

// Sets OpenMP's thread count on this thread for a scope: oneDNN sizes some primitives
// for the thread count current when they are created.
class ScopedThreads {
 public:
  explicit ScopedThreads(int n) : previous_(omp_get_max_threads()) { omp_set_num_threads(n); }
  ~ScopedThreads() { omp_set_num_threads(previous_); }

 private:
  int previous_;
};

std::string LayerName(const Layer& layer) {
  return absl::StrCat(layer.path, " (", std::string(layer.module->type()), ")");
}

// A module that takes integer ids (Embedding) can only be the first that computes: every
// module before it would produce float32.
absl::Status CheckIdModulesComeFirst(const std::vector<Layer>& layers, std::string_view seq_file) {
  const Layer* first = nullptr;
  for (const Layer& layer : layers) {
    if (layer.module->IsIdentity()) continue;
    if (first == nullptr) {
      first = &layer;
      continue;
    }
    const std::vector<DType> dtypes = layer.module->InputDTypes();
    if (std::find(dtypes.begin(), dtypes.end(), DType::kFloat32) == dtypes.end()) {
      return absl::InvalidArgumentError(absl::StrCat(
          std::string(seq_file), ": ", LayerName(layer),
          " takes integer ids, so it must be the model's first module; here it follows ",
          LayerName(*first), ", whose output is float32"));
    }
  }
  return absl::OkStatus();
}

// What the parameters of a module tree take as float32, and the module taking the most.
struct DeclaredParameters {
  uint64_t bytes = 0;  // saturates at UINT64_MAX
  std::string largest;  // "0 (Linear)"
  uint64_t largest_bytes = 0;
};

uint64_t SaturatingMul(uint64_t a, uint64_t b) {
  uint64_t product = 0;
  return __builtin_mul_overflow(a, b, &product) ? UINT64_MAX : product;
}

uint64_t SaturatingAdd(uint64_t a, uint64_t b) {
  uint64_t sum = 0;
  return __builtin_add_overflow(a, b, &sum) ? UINT64_MAX : sum;
}

DeclaredParameters CountParameters(const std::vector<std::pair<std::string, Module*>>& leaves) {
  DeclaredParameters declared;
  for (const auto& [path, module] : leaves) {
    uint64_t module_bytes = 0;
    for (const ParamSpec& spec : module->params()) {
      // The shapes come from model.seq: multiply without trusting them to fit.
      uint64_t bytes = sizeof(float);
      for (int64_t dim : spec.shape) bytes = SaturatingMul(bytes, static_cast<uint64_t>(dim));
      module_bytes = SaturatingAdd(module_bytes, bytes);
    }
    declared.bytes = SaturatingAdd(declared.bytes, module_bytes);
    if (module_bytes > declared.largest_bytes) {
      declared.largest_bytes = module_bytes;
      declared.largest = absl::StrCat(path, " (", std::string(module->type()), ")");
    }
  }
  return declared;
}

// The state_dict keys and shapes the modules of `root` take.
std::vector<ExpectedParam> ExpectedParams(Sequential& root) {
  std::vector<ExpectedParam> expected;
  for (const auto& [path, module] : root.MutableLeaves()) {
    for (const ParamSpec& spec : module->params()) {
      expected.push_back({absl::StrCat(path, ".", spec.name), spec.shape});
    }
  }
  return expected;
}

std::string ByteCount(uint64_t bytes) {
  return bytes == UINT64_MAX ? std::string("more than 18 EB") : FormatBytes(bytes);
}

// The declared parameters against the limit, before anything is allocated for them.
absl::Status CheckParameterBytes(const DeclaredParameters& declared, const ModelFileLimits& limits,
                                 std::string_view seq_file) {
  if (declared.bytes <= limits.max_parameter_bytes) return absl::OkStatus();
  const std::string limit = LimitText(limits.max_parameter_bytes, limits.max_parameter_bytes_name);
  if (declared.largest_bytes > limits.max_parameter_bytes) {
    return absl::ResourceExhaustedError(absl::StrCat(std::string(seq_file), ": ", declared.largest,
                                                     " needs ", ByteCount(declared.largest_bytes),
                                                     " of parameters; ", limit));
  }
  return absl::ResourceExhaustedError(absl::StrCat(
      std::string(seq_file), ": the model needs ", ByteCount(declared.bytes),
      " of parameters (the largest module, ", declared.largest, ", ",
      ByteCount(declared.largest_bytes), "); ", limit));
}

}  // namespace

Model::Model(std::unique_ptr<Sequential> root, const ModelOptions& options)
    : root_(std::move(root)), layers_(root_->Flatten()), options_(options),
      precision_(ResolvePrecision(options.precision)), weights_(CpuEngine()),
      tuning_budget_left_ms_(options.tuning.budget_ms) {}

absl::StatusOr<std::shared_ptr<Model>> Model::FromSource(std::string_view seq_text,
                                                         std::string_view seq_file,
                                                         const TensorMap* weights,
                                                         std::string_view weights_file,
                                                         const ModelOptions& options) {
  SEQ_ASSIGN_OR_RETURN(SeqValue ast, ParseModelSeq(seq_text, seq_file));
  SEQ_ASSIGN_OR_RETURN(std::unique_ptr<Sequential> root, BuildSequential(ast, seq_file));
  SEQ_ASSIGN_OR_RETURN(std::shared_ptr<Model> model, FromTree(std::move(root), seq_text, seq_file,
                                                              weights, weights_file, options));
  SEQ_RETURN_IF_ERROR(model->AttachCalibration({}));
  return model;
}

absl::Status Model::AttachCalibration(const std::filesystem::path& version_dir) {
  if (options_.precision != Precision::kInt8) return absl::OkStatus();
  const std::string how = absl::StrCat(
      "make it with `seqserve calibrate ",
      version_dir.empty() ? std::string("MODEL_DIR") : version_dir.parent_path().string(),
      " --data samples.npy` (a few hundred representative inputs)");
  std::string file = "the calibration of options";
  if (options_.calibration) {
    calibration_ = options_.calibration;
  } else {
    if (version_dir.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(source_, ": precision int8 needs calibration data; ", how));
    }
    const std::filesystem::path path = version_dir / kInt8CalibrationFile;
    file = path.string();
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "precision int8 needs calibration data, and ", file, " does not exist; ", how));
    }
    FilePolicy policy = options_.limits.seq_file;  // a small text file, confined alike
    SEQ_ASSIGN_OR_RETURN(std::string text, ReadRegularFile(path, policy));
    SEQ_ASSIGN_OR_RETURN(Int8Calibration calibration, ParseInt8Calibration(text, file));
    calibration_ = std::move(calibration);
  }
  if (calibration_->model_hash != content_hash_) {
    return absl::InvalidArgumentError(absl::StrCat(
        file, " was made for another model or other weights (model ", calibration_->model_hash,
        ", this one is ", content_hash_, "); ", how));
  }
  int int8_layers = 0;
  std::vector<std::string> missing;
  for (const Layer& layer : layers_) {
    if (!IsInt8Layer(layer)) continue;
    if (calibration_->inputs.count(layer.path) > 0) {
      ++int8_layers;
    } else {
      missing.push_back(layer.path);
    }
  }
  for (const auto& entry : calibration_->inputs) {
    const std::string& path = entry.first;
    const bool known = std::any_of(layers_.begin(), layers_.end(),
                                   [&](const Layer& layer) { return layer.path == path; });
    if (!known) {
      return absl::InvalidArgumentError(absl::StrCat(file, ": the model has no layer '", path,
                                                     "'; ", how));
    }
  }
  if (!missing.empty()) {
    EngineLog()->warn("{}: {} has no range for {} (they run in fp32)", source_, file,
                      absl::StrJoin(missing, ", "));
  }
  EngineLog()->info("{}: int8 with the ranges of {} ({} samples, percentile {}) for {} layer(s)",
                    source_, file, calibration_->samples, calibration_->percentile, int8_layers);
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<Model>> Model::FromTree(std::unique_ptr<Sequential> root,
                                                       std::string_view seq_text,
                                                       std::string_view seq_file,
                                                       const TensorMap* weights,
                                                       std::string_view weights_file,
                                                       const ModelOptions& options) {
  const std::vector<ExpectedParam> expected = ExpectedParams(*root);
  std::vector<std::pair<std::string, Module*>> leaves = root->MutableLeaves();
  if (weights == nullptr) {
    if (!expected.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          std::string(weights_file), ": file is missing, and the model has parameters (the first is '",
          expected[0].key, "' of shape ", ShapeToString(expected[0].shape), ")"));
    }
  } else {
    SEQ_RETURN_IF_ERROR(CheckStateDict(expected, *weights, weights_file));
    for (const auto& [path, module] : leaves) {
      ParamMap params;
      for (const ParamSpec& spec : module->params()) {
        params[spec.name] = weights->at(absl::StrCat(path, ".", spec.name));
      }
      absl::Status set = module->SetParams(std::move(params));
      if (!set.ok()) {
        return absl::InvalidArgumentError(absl::StrCat(std::string(weights_file), ": ", path, " (",
                                                       std::string(module->type()), "): ",
                                                       set.message()));
      }
    }
  }
  SEQ_RETURN_IF_ERROR(CheckIdModulesComeFirst(root->Flatten(), seq_file));
  auto model = std::shared_ptr<Model>(new Model(std::move(root), options));
  model->source_ = std::string(seq_file);
  if (!model->precision_.fallback_reason.empty()) {
    EngineLog()->warn("{}: {}", model->source_, model->precision_.fallback_reason);
  }
  {
    // What tuning decisions and int8 calibrations depend on: the model's text and every weight.
    ContentHash hash;
    hash.Update(seq_text);
    if (weights != nullptr) {
      for (const auto& [name, tensor] : *weights) {
        hash.Update(name);
        hash.Update(tensor.shape.data(), tensor.shape.size() * sizeof(int64_t));
        hash.Update(tensor.data.data(), tensor.data.size() * sizeof(float));
      }
    }
    model->content_hash_ = hash.Hex();
  }
  return model;
}

absl::StatusOr<std::shared_ptr<Model>> Model::Load(const std::filesystem::path& version_dir,
                                                   const ModelOptions& options) {
  const std::filesystem::path seq_path = version_dir / "model.seq";
  const std::filesystem::path weights_path = version_dir / "model.safetensors";
  const std::string seq_file = seq_path.string();
  const std::string weights_file = weights_path.string();
  SEQ_ASSIGN_OR_RETURN(std::string text, ReadRegularFile(seq_path, options.limits.seq_file));
  SEQ_ASSIGN_OR_RETURN(SeqValue ast, ParseModelSeq(text, seq_file));
  SEQ_ASSIGN_OR_RETURN(std::unique_ptr<Sequential> root, BuildSequential(ast, seq_file));
  const DeclaredParameters declared = CountParameters(root->MutableLeaves());
  SEQ_RETURN_IF_ERROR(CheckParameterBytes(declared, options.limits, seq_file));

  std::optional<TensorMap> weights;
  std::error_code ec;
  // A dangling symlink counts as missing, with the error that says the file is missing.
  if (std::filesystem::exists(weights_path, ec)) {
    SEQ_ASSIGN_OR_RETURN(OpenedFile file,
                         OpenRegularFile(weights_path, options.limits.safetensors_file));
    // Two bytes per parameter at the least (F16, BF16): a smaller file cannot hold them, and
    // saying so beats a missing-key error.
    const uint64_t least_bytes = declared.bytes / 2;
    if (file.size_bytes() < least_bytes) {
      return absl::InvalidArgumentError(absl::StrCat(
          weights_file, ": the file is ", FormatBytes(file.size_bytes()), ", too small for the ",
          ByteCount(declared.bytes), " of parameters ", seq_path.filename().string(),
          " declares (", FormatBytes(least_bytes), " even as float16)"));
    }
    TensorBudget budget;
    const std::vector<ExpectedParam> expected = ExpectedParams(*root);
    budget.check_shapes = [&](const std::map<std::string, Shape>& shapes) {
      return CheckStateDictShapes(expected, shapes, weights_file);
    };
    budget.max_float32_bytes = declared.bytes;
    budget.what = absl::StrCat("the ", ByteCount(declared.bytes), " of parameters ",
                               seq_path.filename().string(), " declares");
    SEQ_ASSIGN_OR_RETURN(weights, LoadSafetensors(file, weights_file, budget));
  }
  SEQ_ASSIGN_OR_RETURN(std::shared_ptr<Model> model,
                       FromTree(std::move(root), text, seq_file, weights ? &*weights : nullptr,
                                weights_file, options));
  model->version_dir_ = version_dir;
  SEQ_RETURN_IF_ERROR(model->AttachCalibration(version_dir));
  return model;
}

int64_t Model::NumParams() const {
  int64_t n = 0;
  for (const Layer& layer : layers_) n += layer.module->NumParams();
  return n;
}

absl::StatusOr<Shape> Model::OutputShape(const Shape& input) const {
  return root_->OutputShape(input);
}

size_t Model::cached_plans() const {
  absl::MutexLock lock(&mu_);
  return plans_.size();
}

std::list<Model::CachedPlan>::const_iterator Model::FindPlanLocked(const Shape& input,
                                                                  DType dtype) const {
  return std::find_if(plans_.begin(), plans_.end(), [&](const CachedPlan& cached) {
    return cached.shape == input && cached.dtype == dtype;
  });
}

bool Model::HasPlan(const Shape& input, DType dtype) const {
  absl::MutexLock lock(&mu_);
  return FindPlanLocked(input, dtype) != plans_.end();
}

absl::StatusOr<std::shared_ptr<const Plan>> Model::GetPlan(const Shape& input, DType dtype) {
  auto lookup = [&]() -> std::shared_ptr<const Plan> {
    absl::MutexLock lock(&mu_);
    auto it = FindPlanLocked(input, dtype);
    if (it == plans_.end()) return nullptr;
    plans_.splice(plans_.begin(), plans_, it);
    return plans_.front().plan;
  };
  if (std::shared_ptr<const Plan> plan = lookup()) return plan;
  absl::MutexLock compile_lock(&compile_mu_);
  if (std::shared_ptr<const Plan> plan = lookup()) return plan;
  SEQ_ASSIGN_OR_RETURN(std::shared_ptr<const Plan> plan, Compile(input, dtype));
  absl::MutexLock lock(&mu_);
  plans_.push_front(CachedPlan{input, dtype, plan});
  if (plans_.size() > options_.plan_cache_capacity) plans_.pop_back();
  return plan;
}

TuningCache& Model::tuning_cache() {
  if (tuning_cache_ == nullptr) {
    tuning_cache_ = std::make_unique<TuningCache>(
        TuningFilePath(options_.tuning, version_dir_, content_hash_), content_hash_);
  }
  return *tuning_cache_;
}

absl::StatusOr<std::shared_ptr<const Plan>> Model::Compile(const Shape& input, DType dtype) {
  const std::vector<DType> accepted = InputDTypes();
  if (std::find(accepted.begin(), accepted.end(), dtype) == accepted.end()) {
    std::vector<std::string> names;
    for (DType d : accepted) names.push_back(DTypeName(d));
    std::string first;
    for (const Layer& layer : layers_) {
      if (layer.module->IsIdentity()) continue;
      first = absl::StrCat(", as its first module ", layer.path, " (",
                           std::string(layer.module->type()), ") does");
      break;
    }
    return absl::InvalidArgumentError(absl::StrCat("the model takes ",
                                                   absl::StrJoin(names, " or "), " input", first,
                                                   "; got ", DTypeName(dtype)));
  }
  SEQ_RETURN_IF_ERROR(InferShapes(layers_, input).status());
  ScopedThreads threads(options_.num_threads);
  PlanTuning tuning;
  tuning.mode = options_.tuning.mode;
  tuning.forced_candidate = options_.tuning.forced_candidate;
  std::string plan_key;
  std::optional<Tuner> tuner;
  const auto start = std::chrono::steady_clock::now();
  if (tuning.mode == TuningMode::kOn) {
    plan_key = TuningPlanKey(input, options_.num_threads, options_.fuse, options_.fast_relu,
                             precision_.precision);
    tuning.cached = tuning_cache().Lookup(plan_key);
    tuning.ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
                    .count();
    if (tuning_budget_left_ms_ > 0) {
      tuner.emplace(CpuEngine(), start + std::chrono::duration_cast<Tuner::Clock::duration>(
                                             std::chrono::duration<double, std::milli>(
                                                 tuning_budget_left_ms_)));
      tuning.tuner = &*tuner;
    }
  }
  std::shared_ptr<const Plan> plan;
  try {
    PlanBuilder builder(CpuEngine(), options_.num_threads, weights_, input, dtype);
    builder.set_fuse(options_.fuse);
    builder.set_fast_relu(options_.fast_relu);
    builder.set_precision(precision_.precision);
    builder.set_calibration(calibration());
    SEQ_ASSIGN_OR_RETURN(PlanValue out, CompileLayers(builder, layers_, builder.input(), &tuning));
    builder.SetTuningReport(TuningReport{tuning.tunable_layers, tuning.cached_layers,
                                         tuning.timed_layers, tuning.untimed_layers, tuning.ms});
    SEQ_ASSIGN_OR_RETURN(plan, builder.Finish(out));
    if (builder.input_guard() > 0) {
      SEQ_ASSIGN_OR_RETURN(std::shared_ptr<const Plan> exact, CompileExactTwin(input, dtype, tuning));
      plan = PlanBuilder::WithExactFallback(*plan, builder.input_guard(), std::move(exact));
    }
  } catch (const dnnl::error& e) {
    return absl::InternalError(absl::StrCat("oneDNN: ", e.what()));
  }
  if (tuning.mode != TuningMode::kOn || tuning.tunable_layers == 0) return plan;
  tuning_budget_left_ms_ -= tuning.ms;
  if (!tuning.decided.empty()) tuning_cache().Store(plan_key, tuning.decided);
  const std::string what = absl::StrCat(source_, ": input ", ShapeToString(input), ", ",
                                        options_.num_threads, " thread(s)");
  if (tuning.timed_layers == 0 && tuning.untimed_layers == 0) {
    EngineLog()->info("{}: {} layer(s) tuned from the cache in {:.1f} ms (cache hit)", what,
                      tuning.cached_layers, tuning.ms);
    return plan;
  }
  std::string detail = "cache miss";
  if (tuning.cached_layers > 0) {
    absl::StrAppend(&detail, "; ", tuning.cached_layers, " from the cache");
  }
  if (tuning.untimed_layers > 0) {
    absl::StrAppend(&detail, "; ", tuning.untimed_layers,
                    " left at their default: tuning budget of ", options_.tuning.budget_ms,
                    " ms spent");
  }
  EngineLog()->info("{}: tuned {} layer(s) in {:.1f} ms ({}){}", what, tuning.timed_layers,
                    tuning.ms, detail,
                    tuning_cache().file() ? absl::StrCat(", decisions in ",
                                                         tuning_cache().file()->string())
                                          : std::string());
  return plan;
}

absl::StatusOr<std::shared_ptr<const Plan>> Model::CompileExactTwin(const Shape& input,
                                                                   DType dtype,
                                                                   const PlanTuning& fast) {
  // The fast plan's implementations, without timing anything again: only inputs that fail
  // the guard (NaN, Inf, huge values) run this plan.
  PlanTuning tuning;
  tuning.mode = fast.mode;
  tuning.forced_candidate = fast.forced_candidate;
  tuning.cached = fast.chosen;
  PlanBuilder builder(CpuEngine(), options_.num_threads, weights_, input, dtype);
  builder.set_fuse(options_.fuse);
  builder.set_precision(precision_.precision);
  builder.set_calibration(calibration());
  SEQ_ASSIGN_OR_RETURN(PlanValue out, CompileLayers(builder, layers_, builder.input(), &tuning));
  builder.SetTuningReport(TuningReport{tuning.tunable_layers, tuning.cached_layers,
                                       tuning.timed_layers, tuning.untimed_layers, tuning.ms});
  return builder.Finish(out);
}

absl::StatusOr<Tensor> Model::Run(Executor& executor, const Tensor& input) {
  return Run(executor, View(input));
}

absl::StatusOr<Tensor> Model::Run(Executor& executor, const TensorView& input) {
  SEQ_ASSIGN_OR_RETURN(std::shared_ptr<const Plan> plan,
                       GetPlan(Shape(input.shape.begin(), input.shape.end()), input.dtype));
  Tensor output(plan->output_shape());
  SEQ_RETURN_IF_ERROR(executor.Run(*plan, input, output.data.data()));
  return output;
}

}  // namespace seqserve
