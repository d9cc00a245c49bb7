#include "server/http/http_service.h"

#include <charconv>
#include <chrono>
#include <exception>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "httplib.h"
#include "nlohmann/json.hpp"
#include "server/frontend/access_log.h"
#include "server/frontend/infer_request.h"
#include "server/scheduling/infer_task.h"
#include "server/logging/json_text.h"
#include "server/logging/logging.h"
#include "server/frontend/model_queries.h"
#include "server/http/proto_json.h"
#include "server/http/rest_infer.h"

namespace seqserve {
namespace {

spdlog::logger& Log() {
  static const std::shared_ptr<spdlog::logger> logger = NamedLogger("http");
  return *logger;
}

constexpr char kJson[] = "application/json";

void SendJson(httplib::Response& response, int status, std::string body) {
  response.status = status;
  response.body = std::move(body);
  response.set_header("Content-Type", kJson);
}

void SendError(httplib::Response& response, const absl::Status& status) {
  SendJson(response, HttpStatusFromCode(status.code()),
           absl::StrCat("{\"error\":", JsonQuote(std::string(status.message())), "}"));
}

void SendProtoJson(httplib::Response& response, const google::protobuf::Message& message) {
  SendJson(response, 200, ProtoToJson(message).dump());
}

// What the access log says about the request a thread is serving: set when routing starts,
// completed by the handlers, written once the response is.
struct AccessRecord {
  std::chrono::steady_clock::time_point start;
  std::string model;
  std::string version;
  std::string request_id;
};
thread_local AccessRecord access_record;

// One inference request's outcome, shared by the task (which the scheduler destroys right
// after Finish) and the HTTP thread waiting for it.
struct InferOutcome {
  absl::Notification done;
  absl::Status status;
  Shape shape;
  std::vector<float> output;
};

class HttpInferTask final : public InferTask {
 public:
  // `input` belongs to the HTTP thread, which waits for Finish before letting it go.
  HttpInferTask(const InferInput& input, std::shared_ptr<InferOutcome> outcome)
      : input_(input), outcome_(std::move(outcome)) {}

  const Shape& input_shape() const override { return input_.shape; }
  DType input_dtype() const override { return input_.dtype; }
  const void* input_data() const override { return input_.bytes.data(); }

  float* MutableOutput(const Shape& shape) override {
    try {
      outcome_->shape = shape;
      outcome_->output.resize(static_cast<size_t>(NumElements(shape)));
      return outcome_->output.data();
    } catch (const std::exception&) {
      return nullptr;  // the batch runner fails the task with INTERNAL
    }
  }

  void Finish(const absl::Status& status) override {
    outcome_->status = status;
    outcome_->done.Notify();
  }

 private:
  const InferInput& input_;
  std::shared_ptr<InferOutcome> outcome_;
};

// The model and version of a /v2/models/{m}[/versions/{v}]... route.
std::string MatchedModel(const httplib::Request& request) { return request.matches[1].str(); }
std::string MatchedVersion(const httplib::Request& request) {
  return request.matches.size() > 2 ? request.matches[2].str() : std::string();
}

// Reads a POST body through httplib's content reader. Unlike the plain handlers, this path
// does not apply httplib's 8 KiB limit to bodies labelled application/x-www-form-urlencoded
// — the label curl -d and urllib put on any body — so `curl -d @tensor.json` works; the
// --http-max-body-bytes limit (413) still applies. False when the body could not be read
// (httplib then answers with its status).
bool ReadBody(const httplib::Request& request, const httplib::ContentReader& reader,
              std::string& body) {
  const uint64_t length = request.get_header_value<uint64_t>("Content-Length");
  if (length > 0 && length <= (uint64_t{1} << 32)) body.reserve(static_cast<size_t>(length));
  return reader([&body](const char* data, size_t size) {
    body.append(data, size);
    return true;
  });
}

// An optional JSON body (Triton's repository requests take one); null when empty.
absl::StatusOr<nlohmann::json> ParseOptionalJson(const std::string& body) {
  if (body.empty()) return nlohmann::json();
  try {
    nlohmann::json parsed = nlohmann::json::parse(body);
    if (!parsed.is_object()) {
      return absl::InvalidArgumentError("the request body must be a JSON object");
    }
    return parsed;
  } catch (const nlohmann::json::parse_error& e) {
    std::string_view what = e.what();
    if (const size_t end = what.find("] "); end != std::string_view::npos) {
      what.remove_prefix(end + 2);
    }
    return absl::InvalidArgumentError(absl::StrCat("malformed JSON: ", std::string(what)));
  }
}

}  // namespace

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
    default:  // INTERNAL, UNKNOWN, DATA_LOSS
      return 500;
  }
}

HttpService::HttpService(const HttpOptions& options, ModelRepository& repository,
                         const ServingState& state, ModelControl& control)
    : options_(options), repository_(repository), state_(state), control_(control) {}

HttpService::~HttpService() { Stop(); }

absl::StatusOr<std::unique_ptr<HttpService>> HttpService::Start(const HttpOptions& options,
                                                                ModelRepository& repository,
                                                                const ServingState& state,
                                                                ModelControl& control) {
  if (options.port < 0 || options.port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("HTTP port must be in [0, 65535], got ", options.port));
  }
  if (options.max_body_bytes < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("max HTTP body size must be at least 1 byte, got ", options.max_body_bytes));
  }
  if (options.thread_count < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("HTTP threads must be at least 1, got ", options.thread_count));
  }
  std::unique_ptr<HttpService> service(new HttpService(options, repository, state, control));
  auto server = std::make_unique<httplib::Server>();
  const size_t threads = static_cast<size_t>(options.thread_count);
  server->new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  // Small replies must not wait for Nagle's algorithm and the peer's delayed ACK.
  server->set_tcp_nodelay(true);
  server->set_keep_alive_max_count(1000);
  server->set_payload_max_length(static_cast<size_t>(options.max_body_bytes));
  service->Route(*server);
  absl::StatusOr<std::unique_ptr<HttpListener>> listener =
      HttpListener::Start(std::move(server), options.address, options.port, "HTTP");
  if (!listener.ok()) return listener.status();
  service->listener_ = std::move(*listener);
  return service;
}

void HttpService::Stop() {
  if (listener_ != nullptr) listener_->Stop();
}

void HttpService::Route(httplib::Server& server) {
  using httplib::Request;
  using httplib::Response;
  // Exceptions become 500 with the message; the server keeps serving.
  server.set_exception_handler(
      [](const Request& request, Response& response, std::exception_ptr error) {
        std::string what = "unknown exception";
        try {
          std::rethrow_exception(error);
        } catch (const std::exception& e) {
          what = e.what();
        } catch (...) {
        }
        const absl::Status status = absl::InternalError(
            absl::StrCat(request.method, " ", request.path, ": unexpected error: ", what));
        Log().error("{}", std::string(status.message()));
        SendError(response, status);
      });
  // httplib's own errors (no route, body too large) come without a body: give them one.
  const int64_t max_body_bytes = options_.max_body_bytes;
  server.set_error_handler([max_body_bytes](const Request& request, Response& response) {
    if (!response.body.empty()) return;
    std::string message;
    if (response.status == 413) {
      const std::string length = request.get_header_value("Content-Length");
      message = absl::StrCat("request body", length.empty() ? "" : " of ", length,
                             length.empty() ? "" : " bytes", " exceeds the limit of ",
                             max_body_bytes, " bytes (--http-max-body-bytes)");
    } else if (response.status == 400) {
      message = absl::StrCat("cannot read the ", request.method, " ", request.path,
                             " request: it needs a Content-Length header (or a chunked body); "
                             "with curl, pass the body with -d");
    } else if (response.status == 404) {
      message =
          absl::StrCat("no endpoint ", request.method, " ", request.path,
                       " (KServe v2 REST: /v2/health/..., /v2/models/..., /v2/repository/...)");
    } else {
      message = absl::StrCat("HTTP ", response.status, " for ", request.method, " ", request.path);
    }
    response.body = absl::StrCat("{\"error\":", JsonQuote(message), "}");
    response.set_header("Content-Type", kJson);
  });
  if (options_.log_requests) {
    server.set_pre_routing_handler([](const Request&, Response&) {
      access_record = AccessRecord{std::chrono::steady_clock::now(), {}, {}, {}};
      return httplib::Server::HandlerResponse::Unhandled;
    });
    server.set_logger([](const Request& request, const Response& response) {
      const double duration_ms = std::chrono::duration<double, std::milli>(
                                     std::chrono::steady_clock::now() - access_record.start)
                                     .count();
      const std::string what = absl::StrCat(request.method, " ", request.path);
      AccessEntry entry;
      entry.protocol = "http";
      entry.request = what;
      entry.status = int64_t{response.status};
      entry.server_error = response.status >= 500;
      entry.duration_ms = duration_ms;
      entry.model = access_record.model;
      entry.version = access_record.version;
      entry.request_id = access_record.request_id;
      entry.bytes_in = static_cast<int64_t>(request.get_header_value<uint64_t>("Content-Length"));
      entry.bytes_out = static_cast<int64_t>(response.body.size());
      entry.peer = request.remote_addr;
      LogAccess(entry);
    });
  }

  // Health and server metadata.
  server.Get("/v2/health/live", [](const Request&, Response& response) {
    SendJson(response, 200, R"({"live":true})");
  });
  server.Get("/v2/health/ready", [this](const Request&, Response& response) {
    const bool ready = state_.ready();
    SendJson(response, ready ? 200 : 400, ready ? R"({"ready":true})" : R"({"ready":false})");
  });
  server.Get("/v2/?", [](const Request&, Response& response) {
    inference::ServerMetadataResponse metadata = GetServerMetadata();
    // REST only: Triton's binary tensor data extension.
    metadata.add_extensions("binary_tensor_data");
    SendProtoJson(response, metadata);
  });

  // Models. The statistics route comes first: /v2/models/stats is every model's.
  constexpr char kModel[] = R"(/v2/models/([^/]+)(?:/versions/([^/]+))?)";
  server.Get(
      R"(/v2/models(?:/([^/]+)(?:/versions/([^/]+))?)?/stats)",
      [this](const Request& request, Response& response) { ModelStatsHandler(request, response); });
  server.Get(absl::StrCat(kModel, "/ready"), [this](const Request& request, Response& response) {
    ModelReadyHandler(request, response);
  });
  server.Get(absl::StrCat(kModel, "/config"), [this](const Request& request, Response& response) {
    ModelConfigHandler(request, response);
  });
  server.Get(kModel, [this](const Request& request, Response& response) {
    ModelMetadataHandler(request, response);
  });
  server.Post(absl::StrCat(kModel, "/infer"), [this](const Request& request, Response& response,
                                                     const httplib::ContentReader& reader) {
    std::string body;
    if (ReadBody(request, reader, body)) Infer(request, body, response);
  });

  // Repository (Triton's extension).
  server.Post("/v2/repository/index", [this](const Request& request, Response& response,
                                             const httplib::ContentReader& reader) {
    std::string body;
    if (ReadBody(request, reader, body)) RepositoryIndexHandler(body, response);
  });
  for (const bool load : {true, false}) {
    server.Post(
        load ? "/v2/repository/models/([^/]+)/load" : "/v2/repository/models/([^/]+)/unload",
        [this, load](const Request& request, Response& response,
                     const httplib::ContentReader& reader) {
          std::string body;
          if (ReadBody(request, reader, body)) {
            RepositoryChangeHandler(request, body, response, load);
          }
        });
  }
}

void HttpService::Infer(const httplib::Request& http_request, const std::string& body,
                        httplib::Response& response) {
  const std::string model = MatchedModel(http_request);
  const std::string version = MatchedVersion(http_request);
  if (options_.log_requests) {
    access_record.model = model;
    access_record.version = version;
  }
  if (shutting_down()) return SendError(response, ShuttingDownError());

  std::optional<size_t> json_length;
  if (http_request.has_header("Inference-Header-Content-Length")) {
    const std::string value = http_request.get_header_value("Inference-Header-Content-Length");
    size_t length = 0;
    const auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), length);
    if (error != std::errc() || end != value.data() + value.size()) {
      return SendError(response, absl::InvalidArgumentError(absl::StrCat(
                                     "Inference-Header-Content-Length: expected the JSON's "
                                     "length in bytes, got '",
                                     value, "'")));
    }
    json_length = length;
  }
  absl::StatusOr<std::unique_ptr<RestInferRequest>> request =
      DecodeRestInferRequest(body, json_length);
  if (!request.ok()) return SendError(response, request.status());
  if (options_.log_requests) access_record.request_id = (*request)->id;

  absl::StatusOr<PreparedRequest> prepared =
      PrepareInferRequest(repository_, model, version, (*request)->view, /*client_deadline_us=*/0);
  if (!prepared.ok()) return SendError(response, prepared.status());
  if (options_.log_requests) access_record.version = std::to_string(prepared->servable->version);

  auto outcome = std::make_shared<InferOutcome>();
  auto task = std::make_unique<HttpInferTask>(prepared->input, outcome);
  task->deadline_us = prepared->deadline_us;
  // The handle in `prepared` keeps the scheduler alive until the answer is in.
  prepared->servable->scheduler->Enqueue(std::move(task));
  outcome->done.WaitForNotification();
  if (!outcome->status.ok()) return SendError(response, outcome->status);

  RestInferResponse reply = EncodeRestInferResponse(model, prepared->servable->version, **request,
                                                    prepared->servable->config.output_name,
                                                    outcome->shape, outcome->output);
  response.status = 200;
  response.body = std::move(reply.body);
  if (reply.json_length.has_value()) {
    response.set_header("Inference-Header-Content-Length", std::to_string(*reply.json_length));
    response.set_header("Content-Type", "application/octet-stream");
  } else {
    response.set_header("Content-Type", kJson);
  }
}

void HttpService::ModelReadyHandler(const httplib::Request& request, httplib::Response& response) {
  const std::string model = MatchedModel(request);
  absl::StatusOr<bool> ready =
      GetModelReady(repository_, model, MatchedVersion(request), shutting_down());
  if (!ready.ok()) return SendError(response, ready.status());
  SendJson(
      response, *ready ? 200 : 400,
      absl::StrCat("{\"name\":", JsonQuote(model), ",\"ready\":", *ready ? "true" : "false", "}"));
}

void HttpService::ModelMetadataHandler(const httplib::Request& request,
                                       httplib::Response& response) {
  absl::StatusOr<inference::ModelMetadataResponse> metadata =
      GetModelMetadata(repository_, MatchedModel(request), MatchedVersion(request));
  if (!metadata.ok()) return SendError(response, metadata.status());
  SendProtoJson(response, *metadata);
}

void HttpService::ModelConfigHandler(const httplib::Request& request, httplib::Response& response) {
  absl::StatusOr<inference::ModelConfig> config =
      GetModelConfig(repository_, MatchedModel(request), MatchedVersion(request));
  if (!config.ok()) return SendError(response, config.status());
  SendProtoJson(response, *config);
}

void HttpService::ModelStatsHandler(const httplib::Request& request, httplib::Response& response) {
  absl::StatusOr<inference::ModelStatisticsResponse> statistics =
      GetModelStatistics(repository_, MatchedModel(request), MatchedVersion(request));
  if (!statistics.ok()) return SendError(response, statistics.status());
  SendProtoJson(response, *statistics);
}

void HttpService::RepositoryIndexHandler(const std::string& request_body,
                                         httplib::Response& response) {
  absl::StatusOr<nlohmann::json> body = ParseOptionalJson(request_body);
  if (!body.ok()) return SendError(response, body.status());
  bool ready_only = false;
  if (body->contains("ready")) {
    if (!(*body)["ready"].is_boolean()) {
      return SendError(response, absl::InvalidArgumentError("\"ready\": expected a boolean"));
    }
    ready_only = (*body)["ready"].get<bool>();
  }
  absl::StatusOr<inference::RepositoryIndexResponse> index =
      GetRepositoryIndex(repository_, "", ready_only);
  if (!index.ok()) return SendError(response, index.status());
  // Triton answers with the array itself.
  SendJson(response, 200, ProtoToJson(*index)["models"].dump());
}

void HttpService::RepositoryChangeHandler(const httplib::Request& request,
                                          const std::string& request_body,
                                          httplib::Response& response, bool load) {
  const std::string model = MatchedModel(request);
  absl::StatusOr<nlohmann::json> body = ParseOptionalJson(request_body);
  if (!body.ok()) return SendError(response, body.status());
  std::vector<std::string> parameters;
  if (body->contains("parameters")) {
    const nlohmann::json& given = (*body)["parameters"];
    if (!given.is_object()) {
      return SendError(response, absl::InvalidArgumentError("\"parameters\": expected an object"));
    }
    for (const auto& [name, value] : given.items()) parameters.push_back(name);
  }
  const absl::Status status = control_.ChangeAndWait("", model, load, parameters);
  if (!status.ok()) return SendError(response, status);
  response.status = 200;
}

}  // namespace seqserve
