#include "server/grpc/grpc_service.h"

#include <exception>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "server/frontend/infer_request.h"
#include "server/frontend/model_queries.h"
#include "server/grpc/grpc_codec.h"
#include "server/grpc/grpc_infer_task.h"
#include "server/grpc/grpc_status.h"
#include "server/grpc/infer_stream.h"
#include "server/logging/named_logger.h"
#include "spdlog/spdlog.h"

namespace seqserve {
namespace {

using inference::ModelInferRequest;
using inference::ModelInferResponse;
using inference::ModelStreamInferResponse;

spdlog::logger& Log() {
  static const std::shared_ptr<spdlog::logger> logger = NamedLogger("grpc");
  return *logger;
}

// Runs a unary RPC's body and finishes the call with its status; an exception becomes
// INTERNAL, and the server keeps serving.
template <typename Body>
grpc::ServerUnaryReactor* FinishWith(grpc::CallbackServerContext* context, const char* rpc,
                                     Body&& body) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::Status status;
  try {
    status = body();
  } catch (const std::exception& e) {
    status = absl::InternalError(absl::StrCat(rpc, ": unexpected error: ", e.what()));
    Log().error("{}", std::string(status.message()));
  }
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

// One ModelInfer call. The context, request, response and reactor belong to gRPC and stay
// valid until the reactor is finished, which is the last thing the task does with them.
class UnaryInferTask final : public GrpcInferTask {
 public:
  UnaryInferTask(grpc::CallbackServerContext* context, grpc::ServerUnaryReactor* reactor,
                 const ModelInferRequest* request, ModelInferResponse* response)
      : GrpcInferTask(ClientDeadlineMicros(*context)),
        context_(context),
        reactor_(reactor),
        request_(request),
        response_(response) {}

  bool IsCancelled() const override { return context_->IsCancelled(); }
  const ModelInferRequest& request() const override { return *request_; }
  ModelInferResponse& response() override { return *response_; }
  void Answer(const absl::Status& status) override { reactor_->Finish(ToGrpcStatus(status)); }

 private:
  grpc::CallbackServerContext* context_;
  grpc::ServerUnaryReactor* reactor_;
  const ModelInferRequest* request_;
  ModelInferResponse* response_;
};

}  // namespace

// ---- The service ------------------------------------------------------------------------

GrpcInferenceService::GrpcInferenceService(ModelRepository& repository,
                                           const ServingState& state, ModelControl& control)
    : repository_(repository), state_(state), control_(control) {}

GrpcInferenceService::~GrpcInferenceService() = default;

void GrpcInferenceService::CloseStreams() {
  std::vector<InferStream*> open;
  {
    absl::MutexLock lock(&streams_mu_);
    streams_closed_ = true;
    for (InferStream* stream : streams_) {
      stream->Ref();
      open.push_back(stream);
    }
  }
  for (InferStream* stream : open) {
    stream->Close();
    stream->Unref();
  }
}

bool GrpcInferenceService::RegisterStream(InferStream* stream) {
  absl::MutexLock lock(&streams_mu_);
  if (streams_closed_) return false;
  streams_.insert(stream);
  return true;
}

void GrpcInferenceService::UnregisterStream(InferStream* stream) {
  absl::MutexLock lock(&streams_mu_);
  streams_.erase(stream);
}

// ---- Inference ----------------------------------------------------------------------------

absl::Status GrpcInferenceService::Prepare(GrpcInferTask& task) {
  if (shutting_down()) return ShuttingDownError();
  const ModelInferRequest& request = task.request();
  absl::StatusOr<PreparedRequest> prepared =
      PrepareInferRequest(repository_, request.model_name(), request.model_version(),
                          ViewOf(request), task.client_deadline_us());
  if (!prepared.ok()) return prepared.status();
  StartInferResponse(request, prepared->servable->version, task.response());
  task.Accept(*std::move(prepared));
  return absl::OkStatus();
}

void GrpcInferenceService::Submit(std::unique_ptr<GrpcInferTask> task) {
  absl::Status status;
  try {
    status = Prepare(*task);
  } catch (const std::exception& e) {
    status = absl::InternalError(absl::StrCat("unexpected error in ModelInfer: ", e.what()));
    Log().error("{}", std::string(status.message()));
  }
  if (!status.ok()) {
    task->Answer(status);
    return;
  }
  // The task holds the version's handle, so the scheduler outlives the call.
  Scheduler& scheduler = *task->servable()->scheduler;
  scheduler.Enqueue(std::move(task));
}

grpc::ServerUnaryReactor* GrpcInferenceService::ModelInfer(grpc::CallbackServerContext* context,
                                                           const ModelInferRequest* request,
                                                           ModelInferResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  std::unique_ptr<UnaryInferTask> task;
  try {
    task = std::make_unique<UnaryInferTask>(context, reactor, request, response);
  } catch (const std::exception& e) {
    reactor->Finish(ToGrpcStatus(absl::InternalError(e.what())));
    return reactor;
  }
  Submit(std::move(task));
  return reactor;
}

grpc::ServerBidiReactor<ModelInferRequest, ModelStreamInferResponse>*
GrpcInferenceService::ModelStreamInfer(grpc::CallbackServerContext* context) {
  InferStream* stream = new InferStream(*this, context);
  stream->Start();
  return stream;
}

// ---- Health and metadata ----------------------------------------------------------------

grpc::ServerUnaryReactor* GrpcInferenceService::ServerLive(
    grpc::CallbackServerContext* context, const inference::ServerLiveRequest*,
    inference::ServerLiveResponse* response) {
  return FinishWith(context, "ServerLive", [&] {
    response->set_live(true);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* GrpcInferenceService::ServerReady(
    grpc::CallbackServerContext* context, const inference::ServerReadyRequest*,
    inference::ServerReadyResponse* response) {
  return FinishWith(context, "ServerReady", [&] {
    response->set_ready(state_.ready());
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* GrpcInferenceService::ModelReady(
    grpc::CallbackServerContext* context, const inference::ModelReadyRequest* request,
    inference::ModelReadyResponse* response) {
  return FinishWith(context, "ModelReady", [&]() -> absl::Status {
    absl::StatusOr<bool> ready =
        GetModelReady(repository_, request->name(), request->version(), shutting_down());
    if (!ready.ok()) return ready.status();
    response->set_ready(*ready);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* GrpcInferenceService::ServerMetadata(
    grpc::CallbackServerContext* context, const inference::ServerMetadataRequest*,
    inference::ServerMetadataResponse* response) {
  return FinishWith(context, "ServerMetadata", [&] {
    *response = GetServerMetadata();
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* GrpcInferenceService::ModelMetadata(
    grpc::CallbackServerContext* context, const inference::ModelMetadataRequest* request,
    inference::ModelMetadataResponse* response) {
  return FinishWith(context, "ModelMetadata", [&]() -> absl::Status {
    absl::StatusOr<inference::ModelMetadataResponse> metadata =
        GetModelMetadata(repository_, request->name(), request->version());
    if (!metadata.ok()) return metadata.status();
    *response = std::move(*metadata);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* GrpcInferenceService::ModelConfig(
    grpc::CallbackServerContext* context, const inference::ModelConfigRequest* request,
    inference::ModelConfigResponse* response) {
  return FinishWith(context, "ModelConfig", [&]() -> absl::Status {
    absl::StatusOr<inference::ModelConfig> config =
        GetModelConfig(repository_, request->name(), request->version());
    if (!config.ok()) return config.status();
    *response->mutable_config() = std::move(*config);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* GrpcInferenceService::ModelStatistics(
    grpc::CallbackServerContext* context, const inference::ModelStatisticsRequest* request,
    inference::ModelStatisticsResponse* response) {
  return FinishWith(context, "ModelStatistics", [&]() -> absl::Status {
    absl::StatusOr<inference::ModelStatisticsResponse> statistics =
        GetModelStatistics(repository_, request->name(), request->version());
    if (!statistics.ok()) return statistics.status();
    *response = std::move(*statistics);
    return absl::OkStatus();
  });
}

// ---- Repository -------------------------------------------------------------------------

grpc::ServerUnaryReactor* GrpcInferenceService::RepositoryIndex(
    grpc::CallbackServerContext* context, const inference::RepositoryIndexRequest* request,
    inference::RepositoryIndexResponse* response) {
  return FinishWith(context, "RepositoryIndex", [&]() -> absl::Status {
    absl::StatusOr<inference::RepositoryIndexResponse> index =
        GetRepositoryIndex(repository_, request->repository_name(), request->ready());
    if (!index.ok()) return index.status();
    *response = std::move(*index);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* GrpcInferenceService::RepositoryModelLoad(
    grpc::CallbackServerContext* context, const inference::RepositoryModelLoadRequest* request,
    inference::RepositoryModelLoadResponse*) {
  std::vector<std::string> parameters;
  for (const auto& [name, value] : request->parameters()) parameters.push_back(name);
  return ChangeRepository(context, request->repository_name(), request->model_name(),
                          /*load=*/true, parameters);
}

grpc::ServerUnaryReactor* GrpcInferenceService::RepositoryModelUnload(
    grpc::CallbackServerContext* context, const inference::RepositoryModelUnloadRequest* request,
    inference::RepositoryModelUnloadResponse*) {
  std::vector<std::string> parameters;
  for (const auto& [name, value] : request->parameters()) parameters.push_back(name);
  return ChangeRepository(context, request->repository_name(), request->model_name(),
                          /*load=*/false, parameters);
}

grpc::ServerUnaryReactor* GrpcInferenceService::ChangeRepository(
    grpc::CallbackServerContext* context, const std::string& repository_name,
    const std::string& model_name, bool load, const std::vector<std::string>& parameters) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  // Finished on the control thread: loads and unloads block until the model is loaded or
  // drained, never on a gRPC thread.
  control_.Change(repository_name, model_name, load, parameters,
                  [reactor](const absl::Status& status) { reactor->Finish(ToGrpcStatus(status)); });
  return reactor;
}

}  // namespace seqserve
