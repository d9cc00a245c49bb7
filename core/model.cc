#include "core/model.h"

#include <chrono>
#include <fstream>
#include <sstream>
#include <utility>

#include <omp.h>

#include "absl/strings/str_cat.h"
#include "core/compiler.h"
#include "core/engine_log.h"
#include "core/tuner.h"
#include "core/engine.h"
#include "core/plan_builder.h"
#include "core/safetensors.h"
#include "core/seq_parser.h"
#include "core/sequential_builder.h"
#include "core/state_dict.h"
#include "common/status_macros.h"

namespace seqserve {
namespace {

absl::StatusOr<std::string> ReadFile(const std::filesystem::path& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) return absl::NotFoundError(absl::StrCat(path.string(), ": cannot open file"));
  std::ostringstream text;
  text << file.rdbuf();
  if (file.bad()) return absl::DataLossError(absl::StrCat(path.string(), ": read error"));
  return text.str();
}

// Sets OpenMP's thread count on this thread for a scope: oneDNN sizes some primitives
// for the thread count current when they are created.
class ScopedThreads {
 public:
  explicit ScopedThreads(int n) : previous_(omp_get_max_threads()) { omp_set_num_threads(n); }
  ~ScopedThreads() { omp_set_num_threads(previous_); }

 private:
  int previous_;
};

}  // namespace

Model::Model(std::unique_ptr<Sequential> root, const ModelOptions& options)
    : root_(std::move(root)), layers_(root_->Flatten()), options_(options),
      weights_(CpuEngine()), tuning_budget_left_ms_(options.tuning.budget_ms) {}

absl::StatusOr<std::shared_ptr<Model>> Model::FromSource(std::string_view seq_text,
                                                         std::string_view seq_file,
                                                         const TensorMap* weights,
                                                         std::string_view weights_file,
                                                         const ModelOptions& options) {
  SEQ_ASSIGN_OR_RETURN(SeqValue ast, ParseModelSeq(seq_text, seq_file));
  SEQ_ASSIGN_OR_RETURN(std::unique_ptr<Sequential> root, BuildSequential(ast, seq_file));

  std::vector<ExpectedParam> expected;
  std::vector<std::pair<std::string, Module*>> leaves = root->MutableLeaves();
  for (const auto& [path, module] : leaves) {
    for (const ParamSpec& spec : module->params()) {
      expected.push_back({absl::StrCat(path, ".", spec.name), spec.shape});
    }
  }
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
  auto model = std::shared_ptr<Model>(new Model(std::move(root), options));
  model->source_ = std::string(seq_file);
  if (options.tuning.mode == TuningMode::kOn) {
    // What tuning decisions depend on in the model: its text and every weight.
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
  SEQ_ASSIGN_OR_RETURN(std::string text, ReadFile(seq_path));
  std::optional<TensorMap> weights;
  if (std::filesystem::exists(weights_path)) {
    SEQ_ASSIGN_OR_RETURN(weights, LoadSafetensors(weights_path));
  }
  SEQ_ASSIGN_OR_RETURN(std::shared_ptr<Model> model,
                       FromSource(text, seq_path.string(), weights ? &*weights : nullptr,
                                  weights_path.string(), options));
  model->version_dir_ = version_dir;
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

absl::StatusOr<std::shared_ptr<const Plan>> Model::GetPlan(const Shape& input) {
  auto lookup = [&]() -> std::shared_ptr<const Plan> {
    absl::MutexLock lock(&mu_);
    for (auto it = plans_.begin(); it != plans_.end(); ++it) {
      if (it->first == input) {
        plans_.splice(plans_.begin(), plans_, it);
        return plans_.front().second;
      }
    }
    return nullptr;
  };
  if (std::shared_ptr<const Plan> plan = lookup()) return plan;
  absl::MutexLock compile_lock(&compile_mu_);
  if (std::shared_ptr<const Plan> plan = lookup()) return plan;
  SEQ_ASSIGN_OR_RETURN(std::shared_ptr<const Plan> plan, Compile(input));
  absl::MutexLock lock(&mu_);
  plans_.emplace_front(input, plan);
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

absl::StatusOr<std::shared_ptr<const Plan>> Model::Compile(const Shape& input) {
  SEQ_RETURN_IF_ERROR(InferShapes(layers_, input).status());
  ScopedThreads threads(options_.num_threads);
  PlanTuning tuning;
  tuning.mode = options_.tuning.mode;
  tuning.forced_candidate = options_.tuning.forced_candidate;
  std::string plan_key;
  std::optional<Tuner> tuner;
  const auto start = std::chrono::steady_clock::now();
  if (tuning.mode == TuningMode::kOn) {
    plan_key = TuningPlanKey(input, options_.num_threads, options_.fuse);
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
    PlanBuilder builder(CpuEngine(), options_.num_threads, weights_, input);
    builder.set_fuse(options_.fuse);
    SEQ_ASSIGN_OR_RETURN(PlanValue out, CompileLayers(builder, layers_, builder.input(), &tuning));
    builder.SetTuningReport(TuningReport{tuning.tunable_layers, tuning.cached_layers,
                                         tuning.timed_layers, tuning.untimed_layers, tuning.ms});
    SEQ_ASSIGN_OR_RETURN(plan, builder.Finish(out));
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

absl::StatusOr<Tensor> Model::Run(Executor& executor, const Tensor& input) {
  SEQ_ASSIGN_OR_RETURN(std::shared_ptr<const Plan> plan, GetPlan(input.shape));
  Tensor output(plan->output_shape());
  SEQ_RETURN_IF_ERROR(executor.Run(*plan, input.data.data(), output.data.data()));
  return output;
}

}  // namespace seqserve
