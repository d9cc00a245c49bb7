#include "core/model.h"

#include <algorithm>
#include <fstream>
#include <sstream>
#include <utility>

#include <omp.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/compiler.h"
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

}  // namespace

Model::Model(std::unique_ptr<Sequential> root, const ModelOptions& options)
    : root_(std::move(root)), layers_(root_->Flatten()), options_(options),
      weights_(CpuEngine()) {}

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
  SEQ_RETURN_IF_ERROR(CheckIdModulesComeFirst(root->Flatten(), seq_file));
  return std::shared_ptr<Model>(new Model(std::move(root), options));
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
  return FromSource(text, seq_path.string(), weights ? &*weights : nullptr,
                    weights_path.string(), options);
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

absl::StatusOr<std::shared_ptr<const Plan>> Model::GetPlan(const Shape& input, DType dtype) {
  auto lookup = [&]() -> std::shared_ptr<const Plan> {
    absl::MutexLock lock(&mu_);
    for (auto it = plans_.begin(); it != plans_.end(); ++it) {
      if (it->shape == input && it->dtype == dtype) {
        plans_.splice(plans_.begin(), plans_, it);
        return plans_.front().plan;
      }
    }
    return nullptr;
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
  try {
    PlanBuilder builder(CpuEngine(), options_.num_threads, weights_, input, dtype);
    builder.set_fuse(options_.fuse);
    SEQ_ASSIGN_OR_RETURN(PlanValue out, CompileLayers(builder, layers_, builder.input()));
    return builder.Finish(out);
  } catch (const dnnl::error& e) {
    return absl::InternalError(absl::StrCat("oneDNN: ", e.what()));
  }
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
