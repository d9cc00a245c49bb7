#include "server/grpc/grpc_service.h"

#include <algorithm>
#include <exception>
#include <optional>
#include <memory>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/byte_size.h"
#include "common/status_macros.h"
#include "server/frontend/infer_request.h"
#include "server/frontend/model_queries.h"
#include "server/grpc/grpc_codec.h"
#include "server/grpc/grpc_infer_task.h"
#include "server/grpc/grpc_status.h"
#include "server/grpc/infer_stream.h"
#include "server/logging/log_settings.h"
#include "server/logging/named_logger.h"
#include "spdlog/spdlog.h"

namespace seqserve {
namespace {

using inference::ModelInferRequest;
using inference::ModelInferResponse;
using inference::ModelStreamInferResponse;

// Triton's spelling of a restricted protocol's header in gRPC metadata: the prefix, then
// the key of --grpc-restricted-protocol.
constexpr char kRestrictedHeaderPrefix[] = "triton-grpc-protocol-";
// What a reply holds besides the output's bytes (names, shape, version), generously.
constexpr int64_t kReplyOverheadBytes = 4096;

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
  void Answer(const absl::Status& status) override {
    if (trace != nullptr) {
      // The last touch: the reactor that owns the trace may release it once finished.
      trace->Stamp(TraceActivity::kRequestEnd);
      trace->Stamp(TraceActivity::kGrpcSendStart);
    }
    reactor_->Finish(ToGrpcStatus(status));
  }

 private:
  grpc::CallbackServerContext* context_;
  grpc::ServerUnaryReactor* reactor_;
  const ModelInferRequest* request_;
  ModelInferResponse* response_;
};

// The reactor of a traced ModelInfer call: it owns the trace until gRPC is done with the
// call, stamps GRPC_SEND_END then and lets the trace go, which writes it. (Calls that are not
// traced take the context's default reactor.)
class TracedUnaryReactor final : public grpc::ServerUnaryReactor {
 public:
  explicit TracedUnaryReactor(std::unique_ptr<RequestTrace> trace) : trace_(std::move(trace)) {}

  void OnDone() override {
    trace_->Stamp(TraceActivity::kGrpcSendEnd);
    delete this;
  }

 private:
  ~TracedUnaryReactor() override = default;
  std::unique_ptr<RequestTrace> trace_;
};

// A load or unload request's parameters: their names, and "config" when it is a string.
RepositoryChangeParameters ChangeParameters(
    const google::protobuf::Map<std::string, inference::ModelRepositoryParameter>& given) {
  RepositoryChangeParameters parameters;
  for (const auto& [name, value] : given) {
    parameters.names.push_back(name);
    if (name == "config" && value.parameter_choice_case() ==
                                inference::ModelRepositoryParameter::kStringParam) {
      parameters.config = value.string_param();
    }
  }
  return parameters;
}

}  // namespace

// ---- The service ------------------------------------------------------------------------

GrpcInferenceService::GrpcInferenceService(ModelRepository& repository,
                                           const ServingState& state, ModelControl& control,
                                           GrpcServiceOptions options)
    : options_(std::move(options)), repository_(repository), state_(state), control_(control) {}

absl::Status GrpcInferenceService::Authorize(const grpc::CallbackServerContext& context,
                                             Protocol protocol) const {
  if (options_.restrictions.Find(protocol) == nullptr) return absl::OkStatus();
  return options_.restrictions.Check(
      protocol, kRestrictedHeaderPrefix,
      [&context](std::string_view name) -> std::optional<std::string> {
        // gRPC keeps metadata keys in lower case.
        const std::string key = absl::AsciiStrToLower(std::string(name));
        auto found = context.client_metadata().find(key);
        if (found == context.client_metadata().end()) return std::nullopt;
        return std::string(found->second.data(), found->second.size());
      });
}

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
                          ViewOf(request), task.client_deadline_us(), options_.shared_memory);
  if (!prepared.ok()) return prepared.status();
  // The reply must fit in one message; checked before the request is queued, so an output
  // too large to send is refused rather than computed and then lost (SPEC §7).
  ServableModel& servable = *prepared->servable;
  const Shape& output_shape = prepared->input.output_shape;
  const int64_t room = options_.max_message_bytes - kReplyOverheadBytes -
                       static_cast<int64_t>(request.id().size() + request.model_name().size());
  const bool output_in_reply = !prepared->input.output_block.has_value();
  if (output_in_reply && OutputBytes(output_shape) > room) {
    const absl::Status too_large = absl::ResourceExhaustedError(absl::StrCat(
        "output '", servable.config.output_name, "' of shape ", ShapeToString(output_shape),
        " would take ", FormatBytes(static_cast<uint64_t>(OutputBytes(output_shape))),
        " (FP32), more than a reply may hold; ",
        LimitText(static_cast<uint64_t>(options_.max_message_bytes),
                  "--grpc-max-message-bytes")));
    servable.stats.AddFailure(too_large.code(), 0);
    return too_large;
  }
  if (task.trace != nullptr) task.trace->set_model_version(prepared->servable->version);
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
  // The task holds the version's handle, and so does this call until Enqueue returns: the
  // task may be run, answered and released inside it.
  const std::shared_ptr<ServableModel> servable = task->shared_servable();
  Scheduler& scheduler = *servable->scheduler;
  if (task->trace != nullptr) task->trace->Stamp(TraceActivity::kQueueStart);
  scheduler.Enqueue(std::move(task));
}

grpc::ServerUnaryReactor* GrpcInferenceService::ModelInfer(grpc::CallbackServerContext* context,
                                                           const ModelInferRequest* request,
                                                           ModelInferResponse* response) {
  if (absl::Status allowed = Authorize(*context, Protocol::kInference); !allowed.ok()) {
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    reactor->Finish(ToGrpcStatus(allowed));
    return reactor;
  }
  grpc::ServerUnaryReactor* reactor = nullptr;
  RequestTrace* trace = nullptr;
  if (std::unique_ptr<RequestTrace> sampled = SampleTrace(request->model_name())) {
    sampled->Stamp(TraceActivity::kRequestStart);
    sampled->set_request_id(request->id());
    trace = sampled.get();
    reactor = new TracedUnaryReactor(std::move(sampled));
  } else {
    reactor = context->DefaultReactor();
  }
  std::unique_ptr<UnaryInferTask> task;
  try {
    task = std::make_unique<UnaryInferTask>(context, reactor, request, response);
  } catch (const std::exception& e) {
    reactor->Finish(ToGrpcStatus(absl::InternalError(e.what())));
    return reactor;
  }
  task->trace = trace;
  Submit(std::move(task));
  return reactor;
}

grpc::ServerBidiReactor<ModelInferRequest, ModelStreamInferResponse>*
GrpcInferenceService::ModelStreamInfer(grpc::CallbackServerContext* context) {
  InferStream* stream = new InferStream(*this, context);
  if (absl::Status allowed = Authorize(*context, Protocol::kInference); !allowed.ok()) {
    stream->Refuse(allowed);
  } else {
    stream->Start();
  }
  return stream;
}

// ---- Health and metadata ----------------------------------------------------------------

grpc::ServerUnaryReactor* GrpcInferenceService::ServerLive(
    grpc::CallbackServerContext* context, const inference::ServerLiveRequest*,
    inference::ServerLiveResponse* response) {
  return FinishWith(context, "ServerLive", [&] {
    SEQ_RETURN_IF_ERROR(Authorize(*context, Protocol::kHealth));
    response->set_live(true);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* GrpcInferenceService::ServerReady(
    grpc::CallbackServerContext* context, const inference::ServerReadyRequest*,
    inference::ServerReadyResponse* response) {
  return FinishWith(context, "ServerReady", [&] {
    SEQ_RETURN_IF_ERROR(Authorize(*context, Protocol::kHealth));
    response->set_ready(state_.ready());
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* GrpcInferenceService::ModelReady(
    grpc::CallbackServerContext* context, const inference::ModelReadyRequest* request,
    inference::ModelReadyResponse* response) {
  return FinishWith(context, "ModelReady", [&]() -> absl::Status {
    SEQ_RETURN_IF_ERROR(Authorize(*context, Protocol::kHealth));
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
    SEQ_RETURN_IF_ERROR(Authorize(*context, Protocol::kMetadata));
    *response = GetServerMetadata(options_.shared_memory != nullptr, options_.tracer != nullptr);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* GrpcInferenceService::ModelMetadata(
    grpc::CallbackServerContext* context, const inference::ModelMetadataRequest* request,
    inference::ModelMetadataResponse* response) {
  return FinishWith(context, "ModelMetadata", [&]() -> absl::Status {
    SEQ_RETURN_IF_ERROR(Authorize(*context, Protocol::kMetadata));
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
    SEQ_RETURN_IF_ERROR(Authorize(*context, Protocol::kModelConfig));
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
    SEQ_RETURN_IF_ERROR(Authorize(*context, Protocol::kStatistics));
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
    SEQ_RETURN_IF_ERROR(Authorize(*context, Protocol::kModelRepository));
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
  return ChangeRepository(context, request->repository_name(), request->model_name(),
                          /*load=*/true, ChangeParameters(request->parameters()));
}

grpc::ServerUnaryReactor* GrpcInferenceService::RepositoryModelUnload(
    grpc::CallbackServerContext* context, const inference::RepositoryModelUnloadRequest* request,
    inference::RepositoryModelUnloadResponse*) {
  return ChangeRepository(context, request->repository_name(), request->model_name(),
                          /*load=*/false, ChangeParameters(request->parameters()));
}

// ---- System shared memory ---------------------------------------------------------------

grpc::ServerUnaryReactor* GrpcInferenceService::SystemSharedMemoryStatus(
    grpc::CallbackServerContext* context, const inference::SystemSharedMemoryStatusRequest* request,
    inference::SystemSharedMemoryStatusResponse* response) {
  return FinishWith(context, "SystemSharedMemoryStatus", [&]() -> absl::Status {
    SEQ_RETURN_IF_ERROR(Authorize(*context, Protocol::kSharedMemory));
    SEQ_RETURN_IF_ERROR(SharedMemoryOffered());
    absl::StatusOr<std::vector<SharedMemoryRegionStatus>> regions =
        options_.shared_memory->Status(request->name());
    if (!regions.ok()) return regions.status();
    for (const SharedMemoryRegionStatus& region : *regions) {
      auto& status = (*response->mutable_regions())[region.name];
      status.set_name(region.name);
      status.set_key(region.key);
      status.set_offset(region.offset);
      status.set_byte_size(region.byte_size);
    }
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* GrpcInferenceService::SystemSharedMemoryRegister(
    grpc::CallbackServerContext* context,
    const inference::SystemSharedMemoryRegisterRequest* request,
    inference::SystemSharedMemoryRegisterResponse*) {
  return FinishWith(context, "SystemSharedMemoryRegister", [&]() -> absl::Status {
    SEQ_RETURN_IF_ERROR(Authorize(*context, Protocol::kSharedMemory));
    SEQ_RETURN_IF_ERROR(SharedMemoryOffered());
    return options_.shared_memory->Register(request->name(), request->key(), request->offset(),
                                            request->byte_size());
  });
}

grpc::ServerUnaryReactor* GrpcInferenceService::SystemSharedMemoryUnregister(
    grpc::CallbackServerContext* context,
    const inference::SystemSharedMemoryUnregisterRequest* request,
    inference::SystemSharedMemoryUnregisterResponse*) {
  return FinishWith(context, "SystemSharedMemoryUnregister", [&]() -> absl::Status {
    SEQ_RETURN_IF_ERROR(Authorize(*context, Protocol::kSharedMemory));
    SEQ_RETURN_IF_ERROR(SharedMemoryOffered());
    options_.shared_memory->Unregister(request->name());
    return absl::OkStatus();
  });
}

absl::Status GrpcInferenceService::SharedMemoryOffered() const {
  if (options_.shared_memory != nullptr) return absl::OkStatus();
  return SharedMemoryOffError();
}

grpc::ServerUnaryReactor* GrpcInferenceService::ChangeRepository(
    grpc::CallbackServerContext* context, const std::string& repository_name,
    const std::string& model_name, bool load, const RepositoryChangeParameters& parameters) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (absl::Status allowed = Authorize(*context, Protocol::kModelRepository); !allowed.ok()) {
    reactor->Finish(ToGrpcStatus(allowed));
    return reactor;
  }
  // Finished on the control thread: loads and unloads block until the model is loaded or
  // drained, never on a gRPC thread.
  control_.Change(repository_name, model_name, load, parameters,
                  [reactor](const absl::Status& status) { reactor->Finish(ToGrpcStatus(status)); });
  return reactor;
}

// ---- Logging ----------------------------------------------------------------------------

grpc::ServerUnaryReactor* GrpcInferenceService::LogSettings(
    grpc::CallbackServerContext* context, const inference::LogSettingsRequest* request,
    inference::LogSettingsResponse* response) {
  return FinishWith(context, "LogSettings", [&]() -> absl::Status {
    SEQ_RETURN_IF_ERROR(Authorize(*context, Protocol::kLogging));
    LogSettingList changes;
    for (const auto& [name, value] : request->settings()) {
      using Value = inference::LogSettingsRequest::SettingValue;
      switch (value.parameter_choice_case()) {
        case Value::kBoolParam: changes.emplace_back(name, value.bool_param()); break;
        case Value::kUint32Param: changes.emplace_back(name, value.uint32_param()); break;
        case Value::kStringParam: changes.emplace_back(name, value.string_param()); break;
        case Value::PARAMETER_CHOICE_NOT_SET:
          return absl::InvalidArgumentError(
              absl::StrCat("log setting '", name, "': no value (bool_param, uint32_param or "
                           "string_param)"));
      }
    }
    SEQ_RETURN_IF_ERROR(UpdateLogSettings(changes));
    for (const auto& [name, value] : CurrentLogSettings()) {
      inference::LogSettingsRequest::SettingValue& out = (*response->mutable_settings())[name];
      if (const bool* on = std::get_if<bool>(&value)) out.set_bool_param(*on);
      if (const uint32_t* number = std::get_if<uint32_t>(&value)) out.set_uint32_param(*number);
      if (const std::string* text = std::get_if<std::string>(&value)) out.set_string_param(*text);
    }
    return absl::OkStatus();
  });
}

// ---- Trace ------------------------------------------------------------------------------

grpc::ServerUnaryReactor* GrpcInferenceService::TraceSetting(
    grpc::CallbackServerContext* context, const inference::TraceSettingRequest* request,
    inference::TraceSettingResponse* response) {
  return FinishWith(context, "TraceSetting", [&]() -> absl::Status {
    SEQ_RETURN_IF_ERROR(Authorize(*context, Protocol::kTrace));
    TraceSettingUpdate update;
    for (const auto& [name, value] : request->settings()) {
      update.emplace_back(name,
                          std::vector<std::string>(value.value().begin(), value.value().end()));
    }
    absl::StatusOr<TraceSettingList> settings =
        ChangeTraceSettings(repository_, options_.tracer, request->model_name(), update);
    if (!settings.ok()) return settings.status();
    for (const auto& [name, values] : *settings) {
      auto& out = (*response->mutable_settings())[name];
      for (const std::string& value : values) out.add_value(value);
    }
    return absl::OkStatus();
  });
}

}  // namespace seqserve
