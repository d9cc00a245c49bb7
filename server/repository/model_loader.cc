#include "server/repository/model_loader.h"

#include <algorithm>
#include <chrono>
#include <exception>
#include <string_view>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/safe_file.h"
#include "common/status_macros.h"
#include "server/config/model_config.h"
#include "server/repository/repository_log.h"
#include "spdlog/spdlog.h"

namespace seqserve {
namespace {

std::string Plural(int64_t n, std::string_view word) {
  return absl::StrCat(n, " ", std::string(word), n == 1 ? "" : "s");
}

// The output's label_filename (Triton's: a file in the model directory, one label per line),
// read as model.seq is read (a regular file within its size limit and confinement). A
// sample with more classes than labels is a load error, when the output dims say how many.
absl::Status ReadOutputLabels(const LoadRequest& request, ServingConfig& serving) {
  const std::string& file = serving.config.output(0).label_filename();
  if (file.empty()) return absl::OkStatus();
  const std::filesystem::path name(file);
  const std::string field = absl::StrCat("config.pbtxt: output '", serving.output_name,
                                         "' label_filename '", file, "'");
  if (name.is_absolute() || name.filename() != name || file == "." || file == "..") {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": must be the name of a file in the model directory"));
  }
  absl::StatusOr<std::string> text = ReadRegularFile(
      request.version_dir.parent_path() / name, request.file_limits.seq_file);
  if (!text.ok()) {
    return absl::Status(text.status().code(), absl::StrCat(field, ": ", text.status().message()));
  }
  std::vector<std::string> labels = absl::StrSplit(*text, '\n');
  if (!labels.empty() && labels.back().empty()) labels.pop_back();  // the final newline
  for (std::string& label : labels) {
    if (!label.empty() && label.back() == '\r') label.pop_back();
  }
  int64_t classes = 1;
  for (const int64_t dim : serving.output_dims) {
    if (dim <= 0) {  // follows a free input dim: checked per request
      classes = -1;
      break;
    }
    classes *= dim;
  }
  if (classes > 0 && static_cast<int64_t>(labels.size()) < classes) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, " has ", labels.size(), " labels, but each sample of the output has ", classes,
        " classes"));
  }
  serving.output_labels = std::move(labels);
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<ServableModel>> Load(const LoadRequest& request) {
  SEQ_ASSIGN_OR_RETURN(ModelOptions model_options,
                       ModelOptionsFromConfig(request.config, request.available_cpus));
  model_options.limits = request.file_limits;
  SEQ_ASSIGN_OR_RETURN(std::shared_ptr<Model> model,
                       Model::Load(request.version_dir, model_options));
  SEQ_ASSIGN_OR_RETURN(ServingConfig serving,
                       CompleteModelConfig(request.config, request.name, request.config_present,
                                           *model, request.available_cpus));
  serving.limits = request.request_limits;
  SEQ_RETURN_IF_ERROR(ReadOutputLabels(request, serving));
  for (const std::string& warning : serving.warnings) {
    RepositoryLog().warn("{} version {}: {}", request.name, request.version, warning);
  }
  // Compile the plan for one request now, so the first request does not pay for it and a
  // model oneDNN cannot compile fails its load. With free (-1) dims the shape of the first
  // request is unknown, so there is nothing to compile yet.
  Shape warm_up = serving.input_dims;
  if (serving.max_batch_size > 0) warm_up.insert(warm_up.begin(), 1);
  if (std::find(warm_up.begin(), warm_up.end(), int64_t{-1}) == warm_up.end()) {
    absl::StatusOr<std::shared_ptr<const Plan>> plan =
        model->GetPlan(warm_up, serving.input_dtype);
    if (!plan.ok()) {
      return absl::Status(plan.status().code(),
                          absl::StrCat("warm-up with input ", ShapeToString(warm_up),
                                       " failed: ", plan.status().message()));
    }
    if ((*plan)->precision() != Precision::kFp32) {
      RepositoryLog().info(
          "{} version {}: {} of {} steps with weights compute in {} for input {} (tuning keeps "
          "the others in fp32, which it timed faster here)",
          request.name, request.version, (*plan)->reduced_layers(), (*plan)->weighted_layers(),
          std::string(PrecisionName((*plan)->precision())), ShapeToString(warm_up));
    }
  }
  // Last before the workers start: a load that failed earlier reserved nothing.
  ThreadBudget::Reservation threads;
  if (request.thread_budget != nullptr) {
    const int workers = serving.scheduler_options.instance_count;
    const int per_worker = serving.model_options.num_threads;
    SEQ_ASSIGN_OR_RETURN(
        threads, request.thread_budget->Reserve(
                     workers * per_worker,
                     absl::StrCat("model '", request.name, "' version ", request.version, " (",
                                  Plural(workers, "worker"), " x ", per_worker,
                                  " intra_op_threads)")));
  }
  SEQ_ASSIGN_OR_RETURN(std::unique_ptr<ServableModel> servable,
                       ServableModel::Create(request.name, request.version, std::move(serving),
                                             std::move(model)));
  servable->threads = std::move(threads);
  return servable;
}

}  // namespace

absl::StatusOr<std::unique_ptr<ServableModel>> LoadVersion(const LoadRequest& request) {
  const auto start = std::chrono::steady_clock::now();
  absl::StatusOr<std::unique_ptr<ServableModel>> servable;
  try {
    servable = Load(request);
  } catch (const std::exception& e) {
    // A bad model must not take the server down, whatever it throws.
    servable = absl::InternalError(absl::StrCat("unexpected error while loading: ", e.what()));
  }
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  if (servable.ok()) {
    const ServingConfig& config = (*servable)->config;
    const Model& model = *(*servable)->model;
    std::string precision(PrecisionName(model.precision()));
    if (!model.precision_fallback_reason().empty()) {
      absl::StrAppend(&precision, " (", std::string(PrecisionName(model.options().precision)),
                      " asked for; the CPU lacks its instructions)");
    }
    RepositoryLog().info("{} {} version {} in {:.1f} ms: {} x {}, {}, precision {}",
                         request.reload ? "reloaded" : "loaded", request.name, request.version, ms,
                         Plural(config.scheduler_options.instance_count, "worker"),
                         Plural(config.model_options.num_threads, "thread"),
                         config.max_batch_size > 0
                             ? absl::StrCat("max batch ", config.max_batch_size)
                             : std::string("no batching"),
                         precision);
  } else if (request.reload) {
    RepositoryLog().error("failed to reload {} version {}, still serving the previous load: {}",
                          request.name, request.version, std::string(servable.status().message()));
  } else {
    RepositoryLog().error("failed to load {} version {}: {}", request.name, request.version,
                          std::string(servable.status().message()));
  }
  return servable;
}

}  // namespace seqserve
