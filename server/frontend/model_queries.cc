#include "server/frontend/model_queries.h"

#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "server/frontend/infer_request.h"
#include "server/scheduling/model_stats.h"

#ifndef SEQSERVE_VERSION
#error "SEQSERVE_VERSION must be defined by the build (the CMake project version)"
#endif

namespace seqserve {
namespace {

void CopyDuration(const StatDuration& from, inference::StatisticDuration* to) {
  to->set_count(from.count.load(std::memory_order_relaxed));
  to->set_ns(from.ns.load(std::memory_order_relaxed));
}

void FillStatistics(const ServableModel& servable, inference::ModelStatistics* out) {
  const ModelStats& stats = servable.stats;
  out->set_name(servable.name);
  out->set_version(std::to_string(servable.version));
  out->set_last_inference(stats.last_inference_ms.load(std::memory_order_relaxed));
  out->set_inference_count(stats.inference_count.load(std::memory_order_relaxed));
  out->set_execution_count(stats.execution_count.load(std::memory_order_relaxed));
  inference::InferStatistics* infer = out->mutable_inference_stats();
  CopyDuration(stats.success, infer->mutable_success());
  CopyDuration(stats.fail, infer->mutable_fail());
  CopyDuration(stats.queue, infer->mutable_queue());
  CopyDuration(stats.compute_input, infer->mutable_compute_input());
  CopyDuration(stats.compute_infer, infer->mutable_compute_infer());
  CopyDuration(stats.compute_output, infer->mutable_compute_output());
  for (const auto& [batch_size, batch] : stats.BatchStats()) {
    inference::InferBatchStatistics* row = out->add_batch_stats();
    row->set_batch_size(static_cast<uint64_t>(batch_size));
    row->mutable_compute_input()->set_count(batch.executions);
    row->mutable_compute_input()->set_ns(batch.compute_input_ns);
    row->mutable_compute_infer()->set_count(batch.executions);
    row->mutable_compute_infer()->set_ns(batch.compute_infer_ns);
    row->mutable_compute_output()->set_count(batch.executions);
    row->mutable_compute_output()->set_ns(batch.compute_output_ns);
  }
}

void FillTensorMetadata(const std::string& name, DType dtype, const Shape& dims, bool batching,
                        inference::ModelMetadataResponse::TensorMetadata* out) {
  out->set_name(name);
  out->set_datatype(std::string(DatatypeName(dtype)));
  if (batching) out->add_shape(-1);
  for (const int64_t dim : dims) out->add_shape(dim);
}

absl::StatusOr<std::shared_ptr<ServableModel>> GetServable(const ModelRepository& repository,
                                                           std::string_view name,
                                                           std::string_view version) {
  absl::StatusOr<int64_t> number = ParseModelVersion(version);
  if (!number.ok()) return number.status();
  return repository.Get(name, *number);
}

absl::Status CheckRepositoryName(std::string_view repository_name) {
  if (repository_name.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("repository_name '", std::string(repository_name),
                   "': seqserve serves all its repositories as one; leave repository_name empty"));
}

}  // namespace

inference::ServerMetadataResponse GetServerMetadata(bool shared_memory, bool trace) {
  inference::ServerMetadataResponse response;
  response.set_name("seqserve");
  response.set_version(SEQSERVE_VERSION);
  // Triton's names for the extensions both protocols implement, and only those.
  for (const char* extension :
       {"model_repository", "model_configuration", "statistics", "classification", "logging"}) {
    response.add_extensions(extension);
  }
  if (shared_memory) response.add_extensions("system_shared_memory");
  if (trace) response.add_extensions("trace");
  return response;
}

absl::StatusOr<bool> GetModelReady(const ModelRepository& repository, std::string_view name,
                                   std::string_view version, bool shutting_down) {
  absl::StatusOr<std::shared_ptr<ServableModel>> servable = GetServable(repository, name, version);
  // An unknown model or version is an error; a known one that cannot serve is "not ready".
  if (absl::IsNotFound(servable.status()) || absl::IsInvalidArgument(servable.status())) {
    return servable.status();
  }
  return servable.ok() && !shutting_down;
}

absl::StatusOr<inference::ModelMetadataResponse> GetModelMetadata(const ModelRepository& repository,
                                                                  std::string_view name,
                                                                  std::string_view version) {
  absl::StatusOr<std::shared_ptr<ServableModel>> servable = GetServable(repository, name, version);
  if (!servable.ok()) return servable.status();
  const ServingConfig& config = (*servable)->config;
  inference::ModelMetadataResponse response;
  response.set_name(std::string(name));
  for (const ModelVersionStatus& status : repository.Index()) {
    if (status.name == name && status.state == ModelState::kReady) {
      response.add_versions(std::to_string(status.version));
    }
  }
  response.set_platform("seqserve");
  const bool batching = config.max_batch_size > 0;
  FillTensorMetadata(config.input_name, config.input_dtype, config.input_dims, batching,
                     response.add_inputs());
  FillTensorMetadata(config.output_name, DType::kFloat32, config.output_dims, batching,
                     response.add_outputs());
  return response;
}

absl::StatusOr<inference::ModelConfig> GetModelConfig(const ModelRepository& repository,
                                                      std::string_view name,
                                                      std::string_view version) {
  absl::StatusOr<std::shared_ptr<ServableModel>> servable = GetServable(repository, name, version);
  if (!servable.ok()) return servable.status();
  return (*servable)->config.config;
}

absl::StatusOr<inference::ModelStatisticsResponse> GetModelStatistics(
    const ModelRepository& repository, std::string_view name, std::string_view version) {
  absl::StatusOr<int64_t> number = ParseModelVersion(version);
  if (!number.ok()) return number.status();
  inference::ModelStatisticsResponse response;
  if (!name.empty() && *number > 0) {
    absl::StatusOr<std::shared_ptr<ServableModel>> servable = repository.Get(name, *number);
    if (!servable.ok()) return servable.status();
    FillStatistics(**servable, response.add_model_stats());
    return response;
  }
  // Every ready version (of every model, or of the one named).
  for (const ModelVersionStatus& status : repository.Index()) {
    if (status.state != ModelState::kReady) continue;
    if (!name.empty() && status.name != name) continue;
    absl::StatusOr<std::shared_ptr<ServableModel>> servable =
        repository.Get(status.name, status.version);
    if (servable.ok()) FillStatistics(**servable, response.add_model_stats());
  }
  if (!name.empty() && response.model_stats_size() == 0) {
    // Say why: an unknown model, or one with no version ready.
    absl::StatusOr<std::shared_ptr<ServableModel>> servable = repository.Get(name);
    if (!servable.ok()) return servable.status();
    FillStatistics(**servable, response.add_model_stats());
  }
  return response;
}

absl::StatusOr<inference::RepositoryIndexResponse> GetRepositoryIndex(
    const ModelRepository& repository, std::string_view repository_name, bool ready_only) {
  if (absl::Status valid = CheckRepositoryName(repository_name); !valid.ok()) return valid;
  inference::RepositoryIndexResponse response;
  for (const ModelVersionStatus& status : repository.Index()) {
    if (ready_only && status.state != ModelState::kReady) continue;
    inference::RepositoryIndexResponse::ModelIndex* model = response.add_models();
    model->set_name(status.name);
    // Version 0 stands for a model without any version known (never loaded, or no version
    // directories); Triton leaves the version empty then.
    if (status.version > 0) model->set_version(std::to_string(status.version));
    model->set_state(ModelStateName(status.state));
    model->set_reason(status.reason);
  }
  return response;
}

absl::Status CheckRepositoryChange(const ModelRepository& repository,
                                   std::string_view repository_name, std::string_view model_name,
                                   bool load, const RepositoryChangeParameters& parameters) {
  if (absl::Status valid = CheckRepositoryName(repository_name); !valid.ok()) return valid;
  for (const std::string& parameter : parameters.names) {
    // seqserve has no ensembles, so a model never has dependents to unload with it.
    if (!load && parameter == "unload_dependents") continue;
    if (load && parameter == "config") {
      if (parameters.config.has_value()) continue;
      return absl::InvalidArgumentError(
          "parameter 'config': expected a string holding the model configuration as JSON");
    }
    if (load && absl::StartsWith(parameter, "file:")) {
      return absl::InvalidArgumentError(absl::StrCat(
          "parameter '", parameter,
          "' is not supported by seqserve: it loads model files from its repository only, "
          "never from a request"));
    }
    return absl::InvalidArgumentError(
        load ? absl::StrCat("parameter '", parameter,
                            "' is not supported by seqserve (a load takes \"config\")")
             : absl::StrCat("parameter '", parameter, "' is not supported by seqserve"));
  }
  if (model_name.empty()) return absl::InvalidArgumentError("model_name is empty");
  if (repository.mode() == ModelControlMode::kNone) {
    return absl::FailedPreconditionError(absl::StrCat(
        "model control mode is none: start seqserve with --model-control-mode=explicit to ",
        load ? "load" : "unload", " models"));
  }
  return absl::OkStatus();
}

absl::StatusOr<TraceSettingList> ChangeTraceSettings(const ModelRepository& repository,
                                                     Tracer* tracer, std::string_view model_name,
                                                     const TraceSettingUpdate& update) {
  if (tracer == nullptr) return TracingOffError();
  if (!model_name.empty()) {
    // A model that is loading or failed has settings like any other; one never heard of is
    // a mistake.
    absl::StatusOr<std::shared_ptr<ServableModel>> servable = repository.Get(model_name, 0);
    if (absl::IsNotFound(servable.status())) return servable.status();
  }
  if (update.empty()) return tracer->Settings(model_name);
  return tracer->Update(model_name, update);
}

}  // namespace seqserve
