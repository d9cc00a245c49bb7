#include "server/http/http_service.h"

#include <charconv>
#include <chrono>
#include <exception>
#include <optional>
#include <utility>
#include <variant>
#include <vector>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "server/frontend/access_log.h"
#include "server/frontend/classification.h"
#include "server/frontend/infer_request.h"
#include "server/frontend/model_queries.h"
#include "server/http/proto_json.h"
#include "server/http/rest_infer.h"
#include "server/logging/json_text.h"
#include "server/logging/log_settings.h"
#include "server/logging/logging.h"
#include "server/scheduling/infer_task.h"

namespace seqserve {
namespace {

spdlog::logger &Log() {
  static const std::shared_ptr<spdlog::logger> logger = NamedLogger("http");
  return *logger;
}

HttpResponse ErrorResponse(const absl::Status &status) {
  return HttpResponse::Error(HttpStatusFromCode(status.code()),
                             std::string(status.message()));
}

HttpResponse ProtoResponse(const google::protobuf::Message &message) {
  return HttpResponse::Json(200, ProtoToJson(message).dump());
}

// What a request asks for, from its method and path.
struct Route {
  enum Kind {
    kLive,
    kReady,
    kServerMetadata,
    kModelMetadata,
    kModelReady,
    kModelConfig,
    kModelStats,
    kInfer,
    kRepositoryIndex,
    kLoad,
    kUnload,
    kLogging,
    kTraceSetting,
    kShmStatus,
    kShmRegister,
    kShmUnregister,
  };
  Kind kind;
  std::string model;
  std::string version;

  // Triton's protocol group of the route (frontend/restricted_protocols.h).
  Protocol protocol() const {
    switch (kind) {
    case kLive:
    case kReady:
    case kModelReady:
      return Protocol::kHealth;
    case kServerMetadata:
    case kModelMetadata:
      return Protocol::kMetadata;
    case kModelConfig:
      return Protocol::kModelConfig;
    case kModelStats:
      return Protocol::kStatistics;
    case kInfer:
      return Protocol::kInference;
    case kRepositoryIndex:
    case kLoad:
    case kUnload:
      return Protocol::kModelRepository;
    case kLogging:
      return Protocol::kLogging;
    case kTraceSetting:
      return Protocol::kTrace;
    case kShmStatus:
    case kShmRegister:
    case kShmUnregister:
      return Protocol::kSharedMemory;
    }
    return Protocol::kHealth;
  }
};

// The routes of http_service.h's table; nullopt for anything else (HEAD is
// GET's).
std::optional<Route> MatchRoute(std::string_view method,
                                std::string_view path) {
  const bool get = method == "GET" || method == "HEAD";
  const bool post = method == "POST";
  std::vector<std::string_view> parts;
  for (size_t begin = 0;;) {
    const size_t end = path.find('/', begin);
    parts.push_back(
        path.substr(begin, end == std::string_view::npos ? end : end - begin));
    if (end == std::string_view::npos)
      break;
    begin = end + 1;
  }
  // "/v2/..." splits into "", "v2", ...; one trailing slash is allowed
  // ("/v2/").
  if (parts.size() < 2 || !parts[0].empty() || parts[1] != "v2")
    return std::nullopt;
  if (parts.size() > 2 && parts.back().empty())
    parts.pop_back();
  for (size_t i = 2; i < parts.size(); ++i) {
    if (parts[i].empty())
      return std::nullopt;
  }
  const size_t n = parts.size();
  if (n == 2) {
    return get ? std::optional<Route>(Route{Route::kServerMetadata, {}, {}})
               : std::nullopt;
  }
  if (parts[2] == "health" && n == 4 && get) {
    if (parts[3] == "live")
      return Route{Route::kLive, {}, {}};
    if (parts[3] == "ready")
      return Route{Route::kReady, {}, {}};
    return std::nullopt;
  }
  if (parts[2] == "logging" && n == 3) {
    return get || post ? std::optional<Route>(Route{Route::kLogging, {}, {}})
                       : std::nullopt;
  }
  // /v2/trace/setting and /v2/models/{m}/trace/setting (Triton: no versions).
  const bool trace_setting =
      (n == 4 && parts[2] == "trace" && parts[3] == "setting") ||
      (n == 6 && parts[2] == "models" && parts[4] == "trace" &&
       parts[5] == "setting");
  if (trace_setting) {
    return get || post ? std::optional<Route>(Route{
                             Route::kTraceSetting,
                             n == 6 ? std::string(parts[3]) : std::string(),
                             {}})
                       : std::nullopt;
  }
  if (parts[2] == "repository" && post) {
    if (n == 4 && parts[3] == "index")
      return Route{Route::kRepositoryIndex, {}, {}};
    if (n == 6 && parts[3] == "models" &&
        (parts[5] == "load" || parts[5] == "unload")) {
      return Route{parts[5] == "load" ? Route::kLoad : Route::kUnload,
                   std::string(parts[4]),
                   {}};
    }
    return std::nullopt;
  }
  if (parts[2] == "systemsharedmemory") {
    // .../status, .../unregister, or .../region/{r}/(status|register|unregister);
    // the region's name goes in `model`.
    std::string region;
    if (n == 6 && parts[3] == "region") {
      region = std::string(parts[4]);
    } else if (n != 4) {
      return std::nullopt;
    }
    const std::string_view action = parts[n - 1];
    if (action == "status" && get)
      return Route{Route::kShmStatus, region, {}};
    if (action == "register" && post && !region.empty())
      return Route{Route::kShmRegister, region, {}};
    if (action == "unregister" && post)
      return Route{Route::kShmUnregister, region, {}};
    return std::nullopt;
  }
  if (parts[2] != "models")
    return std::nullopt;
  if (n == 4 && parts[3] == "stats") {
    return get ? std::optional<Route>(Route{Route::kModelStats, {}, {}})
               : std::nullopt;
  }
  if (n < 4)
    return std::nullopt;
  Route route{Route::kModelMetadata, std::string(parts[3]), {}};
  size_t next = 4;
  if (n >= 6 && parts[4] == "versions") {
    route.version = std::string(parts[5]);
    next = 6;
  }
  if (next == n)
    return get ? std::optional<Route>(route) : std::nullopt;
  if (next + 1 != n)
    return std::nullopt;
  const std::string_view action = parts[next];
  if (action == "infer") {
    route.kind = Route::kInfer;
    return post ? std::optional<Route>(route) : std::nullopt;
  }
  if (!get)
    return std::nullopt;
  if (action == "ready") {
    route.kind = Route::kModelReady;
  } else if (action == "config") {
    route.kind = Route::kModelConfig;
  } else if (action == "stats") {
    route.kind = Route::kModelStats;
  } else {
    return std::nullopt;
  }
  return route;
}

// One inference request from decode to reply, shared by the task (which the
// scheduler destroys right after Finish) and the reply's encoding on the
// connection's event loop.
struct InferCall {
  HttpRequest http; // its body is what `request` points into
  std::unique_ptr<RestInferRequest> request;
  PreparedRequest prepared;
  std::string model;
  absl::Status status;
  Shape shape;
  std::vector<float> output;
  // When the tracer sampled the request; handed to the response once it is answered.
  std::unique_ptr<RequestTrace> trace;
};

// The prepared request's output block when its output goes to shared memory.
const std::optional<SharedMemoryBlock> &OutputBlock(const InferCall &call) {
  return call.prepared.input.output_block;
}

HttpResponse AnnotateInfer(HttpResponse response, const InferCall &call) {
  response.log_model = call.model;
  response.log_version = call.prepared.servable != nullptr
                             ? std::to_string(call.prepared.servable->version)
                             : std::string();
  response.log_request_id =
      call.request != nullptr ? call.request->id : std::string();
  return response;
}

// A traced request's response: the trace is stamped HTTP_SEND_START now (the response is
// about to be written) and HTTP_SEND_END by the listener once it has been, and released
// then, which writes it.
HttpResponse WithTrace(HttpResponse response, InferCall &call) {
  if (call.trace == nullptr)
    return response;
  // Refused before it was queued: answered now.
  if (call.trace->stamp(TraceActivity::kRequestEnd) == 0)
    call.trace->Stamp(TraceActivity::kRequestEnd);
  call.trace->Stamp(TraceActivity::kHttpSendStart);
  response.on_written = [trace = std::shared_ptr<RequestTrace>(
                             std::move(call.trace))] {
    trace->Stamp(TraceActivity::kHttpSendEnd);
  };
  return response;
}

// The reply to a finished inference, on the event loop.
HttpResponse InferReply(const InferCall &call) {
  if (!call.status.ok())
    return AnnotateInfer(ErrorResponse(call.status), call);
  const ServingConfig &config = call.prepared.servable->config;
  RestInferResponse reply;
  if (OutputBlock(call).has_value()) {
    if (absl::Status written = FinishSharedMemoryOutput(
            config.output_name, *OutputBlock(call), call.output);
        !written.ok()) {
      return AnnotateInfer(ErrorResponse(written), call);
    }
    reply = EncodeRestSharedMemoryResponse(
        call.model, call.prepared.servable->version, *call.request,
        config.output_name, call.shape, *OutputBlock(call));
  } else if (call.prepared.input.class_count > 0) {
    absl::StatusOr<Classification> classes =
        Classify(config.output_name, call.shape, call.output,
                 config.max_batch_size > 0, call.prepared.input.class_count,
                 config.output_labels);
    if (!classes.ok())
      return AnnotateInfer(ErrorResponse(classes.status()), call);
    reply = EncodeRestBytesResponse(call.model, call.prepared.servable->version,
                                    *call.request, config.output_name,
                                    classes->shape, classes->items);
  } else {
    reply = EncodeRestInferResponse(call.model, call.prepared.servable->version,
                                    *call.request, config.output_name,
                                    call.shape, call.output);
  }
  HttpResponse response;
  response.status = 200;
  response.body = std::move(reply.body);
  if (reply.json_length.has_value()) {
    response.headers.emplace_back("Inference-Header-Content-Length",
                                  std::to_string(*reply.json_length));
    response.headers.emplace_back("Content-Type", "application/octet-stream");
  } else {
    response.headers.emplace_back("Content-Type", "application/json");
  }
  return AnnotateInfer(std::move(response), call);
}

class HttpInferTask final : public InferTask {
public:
  HttpInferTask(std::shared_ptr<InferCall> call, HttpResponder responder)
      : call_(std::move(call)), responder_(std::move(responder)) {}

  const Shape &input_shape() const override {
    return call_->prepared.input.shape;
  }
  DType input_dtype() const override { return call_->prepared.input.dtype; }
  const void *input_data() const override {
    return call_->prepared.input.bytes.data();
  }

  float *MutableOutput(const Shape &shape) override {
    try {
      call_->shape = shape;
      if (OutputBlock(*call_).has_value()) {
        return SharedMemoryOutput(*OutputBlock(*call_), shape, call_->output);
      }
      call_->output.resize(static_cast<size_t>(NumElements(shape)));
      return call_->output.data();
    } catch (const std::exception &) {
      return nullptr; // the batch runner fails the task with INTERNAL
    }
  }

  void Finish(const absl::Status &status) override {
    call_->status = status;
    if (trace != nullptr)
      trace->Stamp(TraceActivity::kRequestEnd);
    // Encoded on the connection's event loop, not on the model's worker.
    responder_.SendFrom([call = std::move(call_)] {
      return WithTrace(InferReply(*call), *call);
    });
  }

private:
  std::shared_ptr<InferCall> call_;
  HttpResponder responder_;
};

// An optional JSON body (Triton's repository requests take one); null when
// empty.
absl::StatusOr<nlohmann::json> ParseOptionalJson(const std::string &body) {
  if (body.empty())
    return nlohmann::json();
  try {
    nlohmann::json parsed = nlohmann::json::parse(body);
    if (!parsed.is_object()) {
      return absl::InvalidArgumentError(
          "the request body must be a JSON object");
    }
    return parsed;
  } catch (const nlohmann::json::parse_error &e) {
    std::string_view what = e.what();
    if (const size_t end = what.find("] "); end != std::string_view::npos) {
      what.remove_prefix(end + 2);
    }
    return absl::InvalidArgumentError(
        absl::StrCat("malformed JSON: ", std::string(what)));
  }
}

} // namespace

int HttpStatusFromCode(absl::StatusCode code) {
  switch (code) {
  case absl::StatusCode::kOk:
    return 200;
  case absl::StatusCode::kInvalidArgument:
  case absl::StatusCode::kFailedPrecondition:
  case absl::StatusCode::kOutOfRange:
    return 400;
  case absl::StatusCode::kUnauthenticated:
    return 401;
  case absl::StatusCode::kPermissionDenied:
    return 403;
  case absl::StatusCode::kNotFound:
    return 404;
  case absl::StatusCode::kAlreadyExists:
  case absl::StatusCode::kAborted:
    return 409;
  case absl::StatusCode::kResourceExhausted:
    return 429;
  case absl::StatusCode::kCancelled:
    return 499;
  case absl::StatusCode::kUnimplemented:
    return 501;
  case absl::StatusCode::kUnavailable:
    return 503;
  case absl::StatusCode::kDeadlineExceeded:
    return 504;
  default: // INTERNAL, UNKNOWN, DATA_LOSS
    return 500;
  }
}

HttpService::HttpService(const HttpOptions &options,
                         ModelRepository &repository, const ServingState &state,
                         ModelControl &control)
    : options_(options), repository_(repository), state_(state),
      control_(control) {}

HttpService::~HttpService() { Stop(); }

absl::StatusOr<std::unique_ptr<HttpService>>
HttpService::Start(const HttpOptions &options, ModelRepository &repository,
                   const ServingState &state, ModelControl &control) {
  absl::StatusOr<ProtocolRestrictions> restricted = ProtocolRestrictions::Parse(
      options.restricted_protocols, "--http-restricted-protocol");
  if (!restricted.ok())
    return restricted.status();
  std::unique_ptr<HttpService> service(
      new HttpService(options, repository, state, control));
  service->restricted_ = std::move(*restricted);

  HttpListenerOptions listen;
  listen.what = "HTTP";
  listen.address = options.address;
  listen.port = options.port;
  listen.threads = options.thread_count;
  listen.max_body_bytes = options.max_body_bytes;
  listen.max_body_flag = "--http-max-body-bytes";
  listen.max_header_bytes = options.max_header_bytes;
  listen.max_header_count = options.max_header_count;
  listen.header_timeout_ms = options.header_timeout_ms;
  listen.body_timeout_ms = options.body_timeout_ms;
  listen.idle_timeout_ms = options.idle_timeout_ms;
  listen.tls = options.tls;
  {
    // Switched at runtime (the logging extension's log_requests).
    listen.on_response = [](const HttpExchangeRecord &record) {
      if (!RequestLoggingEnabled())
        return;
      const std::string what =
          absl::StrCat(record.request.method, " ", record.request.path);
      AccessEntry entry;
      entry.protocol = "http";
      entry.request = what;
      entry.status = int64_t{record.response.status};
      entry.server_error = record.response.status >= 500;
      entry.duration_ms = record.duration_ms;
      entry.model = record.response.log_model;
      entry.version = record.response.log_version;
      entry.request_id = record.response.log_request_id;
      int64_t bytes_in = 0;
      if (const std::string *length = record.request.Header("Content-Length")) {
        std::from_chars(length->data(), length->data() + length->size(),
                        bytes_in);
      }
      entry.bytes_in = bytes_in;
      entry.bytes_out = record.response_body_bytes;
      entry.peer = record.request.peer;
      LogAccess(entry);
    };
  }
  HttpService *self = service.get();
  absl::StatusOr<std::unique_ptr<HttpListener>> listener = HttpListener::Start(
      listen, [self](HttpRequest request, HttpResponder responder) {
        self->Handle(std::move(request), std::move(responder));
      });
  if (!listener.ok())
    return listener.status();
  service->listener_ = std::move(*listener);
  return service;
}

void HttpService::Stop() {
  if (listener_ != nullptr)
    listener_->Stop();
}

void HttpService::Handle(HttpRequest request, HttpResponder responder) {
  const std::optional<Route> route = MatchRoute(request.method, request.path);
  if (!route.has_value()) {
    return responder.Send(HttpResponse::Error(
        404, absl::StrCat("no endpoint ", request.method, " ", request.path,
                          " (KServe v2 REST: /v2/health/..., /v2/models/..., "
                          "/v2/repository/..., /v2/logging, "
                          "/v2/trace/setting)")));
  }
  if (absl::Status allowed = restricted_.Check(
          route->protocol(), /*header_prefix=*/"",
          [&request](std::string_view name) -> std::optional<std::string> {
            const std::string *value = request.Header(name);
            return value != nullptr ? std::optional<std::string>(*value)
                                    : std::nullopt;
          });
      !allowed.ok()) {
    return responder.Send(ErrorResponse(allowed));
  }
  try {
    switch (route->kind) {
    case Route::kLive:
      return responder.Send(HttpResponse::Json(200, R"({"live":true})"));
    case Route::kReady: {
      const bool ready = state_.ready();
      return responder.Send(
          HttpResponse::Json(ready ? 200 : 400, ready ? R"({"ready":true})"
                                                      : R"({"ready":false})"));
    }
    case Route::kServerMetadata: {
      inference::ServerMetadataResponse metadata =
          GetServerMetadata(options_.shared_memory != nullptr,
                            options_.tracer != nullptr);
      // REST only: Triton's binary tensor data extension.
      metadata.add_extensions("binary_tensor_data");
      return responder.Send(ProtoResponse(metadata));
    }
    case Route::kModelMetadata: {
      absl::StatusOr<inference::ModelMetadataResponse> metadata =
          GetModelMetadata(repository_, route->model, route->version);
      return responder.Send(metadata.ok() ? ProtoResponse(*metadata)
                                          : ErrorResponse(metadata.status()));
    }
    case Route::kModelReady:
      return responder.Send(ModelReady(route->model, route->version));
    case Route::kModelConfig: {
      absl::StatusOr<inference::ModelConfig> config =
          GetModelConfig(repository_, route->model, route->version);
      return responder.Send(config.ok() ? ProtoResponse(*config)
                                        : ErrorResponse(config.status()));
    }
    case Route::kModelStats: {
      absl::StatusOr<inference::ModelStatisticsResponse> statistics =
          GetModelStatistics(repository_, route->model, route->version);
      return responder.Send(statistics.ok()
                                ? ProtoResponse(*statistics)
                                : ErrorResponse(statistics.status()));
    }
    case Route::kInfer:
      return Infer(std::move(request), route->model, route->version,
                   std::move(responder));
    case Route::kRepositoryIndex:
      return responder.Send(RepositoryIndex(request.body));
    case Route::kLoad:
    case Route::kUnload:
      return RepositoryChange(route->model, request.body,
                              route->kind == Route::kLoad,
                              std::move(responder));
    case Route::kLogging:
      return responder.Send(
          Logging(request.method == "POST" ? &request.body : nullptr));
    case Route::kTraceSetting:
      return responder.Send(TraceSetting(
          route->model, request.method == "POST" ? &request.body : nullptr));
    case Route::kShmStatus:
      return responder.Send(SharedMemoryStatus(route->model));
    case Route::kShmRegister:
      return responder.Send(SharedMemoryRegister(route->model, request.body));
    case Route::kShmUnregister:
      return responder.Send(SharedMemoryUnregister(route->model));
    }
  } catch (const std::exception &e) {
    // The server keeps serving; the responder (if still here) answers with the
    // message.
    const absl::Status status = absl::InternalError(absl::StrCat(
        request.method, " ", request.path, ": unexpected error: ", e.what()));
    Log().error("{}", std::string(status.message()));
    responder.Send(ErrorResponse(status));
  }
}

void HttpService::Infer(HttpRequest http_request, const std::string &model,
                        const std::string &version, HttpResponder responder) {
  auto call = std::make_shared<InferCall>();
  call->model = model;
  call->http = std::move(http_request);
  if (options_.tracer != nullptr)
    call->trace = options_.tracer->Sample(model);
  RequestTrace *const trace = call->trace.get();
  if (trace != nullptr) {
    trace->Stamp(TraceActivity::kHttpRecvStart, call->http.received_ns);
    trace->Stamp(TraceActivity::kHttpRecvEnd);
  }
  const auto fail = [&](const absl::Status &status) {
    HttpResponse response = AnnotateInfer(ErrorResponse(status), *call);
    if (call->prepared.servable == nullptr)
      response.log_version = version;
    responder.Send(WithTrace(std::move(response), *call));
  };
  if (shutting_down())
    return fail(ShuttingDownError());

  std::optional<size_t> json_length;
  if (const std::string *value =
          call->http.Header("Inference-Header-Content-Length")) {
    size_t length = 0;
    const auto [end, error] =
        std::from_chars(value->data(), value->data() + value->size(), length);
    if (error != std::errc() || end != value->data() + value->size()) {
      return fail(absl::InvalidArgumentError(
          absl::StrCat("Inference-Header-Content-Length: expected the JSON's "
                       "length in bytes, "
                       "got '",
                       *value, "'")));
    }
    json_length = length;
  }
  absl::StatusOr<std::unique_ptr<RestInferRequest>> request =
      DecodeRestInferRequest(call->http.body, json_length);
  if (!request.ok())
    return fail(request.status());
  call->request = std::move(*request);
  if (trace != nullptr) {
    trace->set_request_id(call->request->id);
    trace->Stamp(TraceActivity::kRequestStart);
  }

  absl::StatusOr<PreparedRequest> prepared =
      PrepareInferRequest(repository_, model, version, call->request->view,
                          /*client_deadline_us=*/0, options_.shared_memory);
  if (!prepared.ok())
    return fail(prepared.status());
  call->prepared = std::move(*prepared);
  if (trace != nullptr)
    trace->set_model_version(call->prepared.servable->version);

  // The call (and in it the servable handle, which keeps the scheduler alive)
  // lives until the reply is encoded; this handle until Enqueue returns, as the
  // task may be run, answered and released inside it.
  const std::shared_ptr<ServableModel> servable = call->prepared.servable;
  Scheduler &scheduler = *servable->scheduler;
  const int64_t deadline_us = call->prepared.deadline_us;
  auto task =
      std::make_unique<HttpInferTask>(std::move(call), std::move(responder));
  task->deadline_us = deadline_us;
  task->trace = trace;
  if (trace != nullptr)
    trace->Stamp(TraceActivity::kQueueStart);
  scheduler.Enqueue(std::move(task));
}

HttpResponse HttpService::ModelReady(const std::string &model,
                                     const std::string &version) {
  absl::StatusOr<bool> ready =
      GetModelReady(repository_, model, version, shutting_down());
  if (!ready.ok())
    return ErrorResponse(ready.status());
  return HttpResponse::Json(
      *ready ? 200 : 400,
      absl::StrCat("{\"name\":", JsonQuote(model),
                   ",\"ready\":", *ready ? "true" : "false", "}"));
}

HttpResponse HttpService::Logging(const std::string *update_body) {
  if (update_body != nullptr) {
    absl::StatusOr<nlohmann::json> body = ParseOptionalJson(*update_body);
    if (!body.ok())
      return ErrorResponse(body.status());
    LogSettingList changes;
    for (const auto &[name, value] : body->items()) {
      if (value.is_boolean()) {
        changes.emplace_back(name, value.get<bool>());
      } else if (value.is_number_unsigned() &&
                 value.get<uint64_t>() <= UINT32_MAX) {
        changes.emplace_back(name, static_cast<uint32_t>(value.get<uint64_t>()));
      } else if (value.is_string()) {
        changes.emplace_back(name, value.get<std::string>());
      } else {
        return ErrorResponse(absl::InvalidArgumentError(absl::StrCat(
            "log setting '", name,
            "': expected a boolean, an unsigned 32-bit integer or a string, got ",
            value.dump())));
      }
    }
    if (absl::Status updated = UpdateLogSettings(changes); !updated.ok())
      return ErrorResponse(updated);
  }
  nlohmann::json settings = nlohmann::json::object();
  for (const auto &[name, value] : CurrentLogSettings()) {
    std::visit([&](const auto &v) { settings[name] = v; }, value);
  }
  return HttpResponse::Json(200, settings.dump());
}

HttpResponse HttpService::TraceSetting(const std::string &model,
                                       const std::string *update_body) {
  TraceSettingUpdate update;
  if (update_body != nullptr) {
    absl::StatusOr<nlohmann::json> body = ParseOptionalJson(*update_body);
    if (!body.ok())
      return ErrorResponse(body.status());
    for (const auto &[name, value] : body->items()) {
      std::vector<std::string> values;
      bool valid = true;
      if (value.is_string()) {
        values.push_back(value.get<std::string>());
      } else if (value.is_number_integer()) {
        values.push_back(value.dump());
      } else if (value.is_array()) {
        for (const nlohmann::json &element : value) {
          valid = valid && element.is_string();
          if (valid)
            values.push_back(element.get<std::string>());
        }
      } else {
        valid = value.is_null(); // null clears it
      }
      if (!valid) {
        return ErrorResponse(absl::InvalidArgumentError(absl::StrCat(
            "trace setting '", name,
            "': expected a string, a list of strings or null, got ",
            value.dump())));
      }
      update.emplace_back(name, std::move(values));
    }
  }
  absl::StatusOr<TraceSettingList> settings =
      ChangeTraceSettings(repository_, options_.tracer, model, update);
  if (!settings.ok())
    return ErrorResponse(settings.status());
  // Triton's JSON: trace_level is a list, every other setting a string.
  nlohmann::json reply = nlohmann::json::object();
  for (const auto &[name, values] : *settings) {
    if (name == "trace_level" || values.size() != 1) {
      reply[name] = values;
    } else {
      reply[name] = values[0];
    }
  }
  return HttpResponse::Json(200, reply.dump());
}

HttpResponse HttpService::RepositoryIndex(const std::string &request_body) {
  absl::StatusOr<nlohmann::json> body = ParseOptionalJson(request_body);
  if (!body.ok())
    return ErrorResponse(body.status());
  bool ready_only = false;
  if (body->contains("ready")) {
    if (!(*body)["ready"].is_boolean()) {
      return ErrorResponse(
          absl::InvalidArgumentError("\"ready\": expected a boolean"));
    }
    ready_only = (*body)["ready"].get<bool>();
  }
  absl::StatusOr<inference::RepositoryIndexResponse> index =
      GetRepositoryIndex(repository_, "", ready_only);
  if (!index.ok())
    return ErrorResponse(index.status());
  // Triton answers with the array itself.
  return HttpResponse::Json(200, ProtoToJson(*index)["models"].dump());
}

HttpResponse HttpService::SharedMemoryStatus(const std::string &region) {
  if (options_.shared_memory == nullptr)
    return ErrorResponse(SharedMemoryOffError());
  absl::StatusOr<std::vector<SharedMemoryRegionStatus>> regions =
      options_.shared_memory->Status(region);
  if (!regions.ok())
    return ErrorResponse(regions.status());
  nlohmann::json reply = nlohmann::json::array();
  for (const SharedMemoryRegionStatus &status : *regions) {
    reply.push_back({{"name", status.name},
                     {"key", status.key},
                     {"offset", status.offset},
                     {"byte_size", status.byte_size}});
  }
  return HttpResponse::Json(200, reply.dump());
}

HttpResponse HttpService::SharedMemoryRegister(const std::string &region,
                                               const std::string &request_body) {
  if (options_.shared_memory == nullptr)
    return ErrorResponse(SharedMemoryOffError());
  absl::StatusOr<nlohmann::json> body = ParseOptionalJson(request_body);
  if (!body.ok())
    return ErrorResponse(body.status());
  const auto number = [&](const char *field,
                          bool required) -> absl::StatusOr<uint64_t> {
    if (!body->contains(field)) {
      if (!required)
        return 0;
      return absl::InvalidArgumentError(
          absl::StrCat("register region '", region, "': missing \"", field,
                       "\""));
    }
    const nlohmann::json &value = (*body)[field];
    if (!value.is_number_unsigned()) {
      return absl::InvalidArgumentError(
          absl::StrCat("register region '", region, "': \"", field,
                       "\" must be an integer >= 0, got ", value.dump()));
    }
    return value.get<uint64_t>();
  };
  if (!body->contains("key") || !(*body)["key"].is_string()) {
    return ErrorResponse(absl::InvalidArgumentError(absl::StrCat(
        "register region '", region, "': \"key\" must be a string")));
  }
  absl::StatusOr<uint64_t> offset = number("offset", /*required=*/false);
  if (!offset.ok())
    return ErrorResponse(offset.status());
  absl::StatusOr<uint64_t> byte_size = number("byte_size", /*required=*/true);
  if (!byte_size.ok())
    return ErrorResponse(byte_size.status());
  const absl::Status registered = options_.shared_memory->Register(
      region, (*body)["key"].get<std::string>(), *offset, *byte_size);
  return registered.ok() ? HttpResponse() : ErrorResponse(registered);
}

HttpResponse HttpService::SharedMemoryUnregister(const std::string &region) {
  if (options_.shared_memory == nullptr)
    return ErrorResponse(SharedMemoryOffError());
  options_.shared_memory->Unregister(region);
  return HttpResponse();
}

void HttpService::RepositoryChange(const std::string &model,
                                   const std::string &request_body, bool load,
                                   HttpResponder responder) {
  absl::StatusOr<nlohmann::json> body = ParseOptionalJson(request_body);
  if (!body.ok())
    return responder.Send(ErrorResponse(body.status()));
  RepositoryChangeParameters parameters;
  if (body->contains("parameters")) {
    const nlohmann::json &given = (*body)["parameters"];
    if (!given.is_object()) {
      return responder.Send(ErrorResponse(
          absl::InvalidArgumentError("\"parameters\": expected an object")));
    }
    for (const auto &[name, value] : given.items()) {
      parameters.names.push_back(name);
      if (name == "config" && value.is_string())
        parameters.config = value.get<std::string>();
    }
  }
  // Answered from the control thread (or at once when refused); the event loop
  // goes on.
  auto shared = std::make_shared<HttpResponder>(std::move(responder));
  control_.Change("", model, load, parameters,
                  [shared](const absl::Status &status) {
                    HttpResponse response;
                    if (!status.ok())
                      response = ErrorResponse(status);
                    shared->Send(std::move(response));
                  });
}

} // namespace seqserve
