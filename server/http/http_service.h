// The KServe v2 REST front end (SPEC §6) on cpp-httplib, beside the gRPC one and sharing
// its rules: requests are decoded from JSON (http/rest_infer.h, REST's codec), validated and
// enqueued through frontend/infer_request.h, answered by frontend/model_queries.h — the
// same code the gRPC service runs — and converted to JSON. Endpoints:
//
//   GET  /v2/health/live                       200 {"live":true}
//   GET  /v2/health/ready                      200 {"ready":true} | 400 {"ready":false}
//   GET  /v2                                   server metadata
//   GET  /v2/models/{m}[/versions/{v}]         model metadata
//   GET  /v2/models/{m}[/versions/{v}]/ready   200 {"name","ready":true} | 400 ...false
//   GET  /v2/models/{m}[/versions/{v}]/config  the effective config (Triton)
//   GET  /v2/models[/{m}[/versions/{v}]]/stats {"model_stats":[...]} (Triton)
//   POST /v2/models/{m}[/versions/{v}]/infer   inference (+ Triton's binary extension)
//   POST /v2/repository/index                  [{"name","version","state","reason"}] (Triton)
//   POST /v2/repository/models/{m}/load        200, empty body (Triton)
//   POST /v2/repository/models/{m}/unload      200, empty body (Triton)
//
// Health answers follow the KServe spec (200 true, 4xx false) and Triton, which uses 400.
// Errors are {"error": "<message>"} with the status of the canonical mapping of status
// codes to HTTP (google.rpc.Code), which is Triton's wherever Triton has the code:
//
//   | status              | HTTP | when                                                     |
//   | ------------------- | ---- | -------------------------------------------------------- |
//   | INVALID_ARGUMENT    | 400  | malformed JSON, wrong name/datatype/shape/size           |
//   | FAILED_PRECONDITION | 400  | load/unload in model control mode none                   |
//   | NOT_FOUND           | 404  | unknown model, version or endpoint                       |
//   | (httplib)           | 413  | body larger than --http-max-body-bytes                   |
//   | RESOURCE_EXHAUSTED  | 429  | the model's queue is full                                |
//   | CANCELLED           | 499  | dropped before compute (Triton: 400; nginx's "client     |
//   |                     |      | closed request": only the access log ever sees it)       |
//   | INTERNAL, UNKNOWN   | 500  | anything unexpected; the server keeps serving            |
//   | UNIMPLEMENTED       | 501  |                                                          |
//   | UNAVAILABLE         | 503  | model loading/unloading/failed, server shutting down     |
//   | DEADLINE_EXCEEDED   | 504  | the request's timeout passed before compute              |
//
// cpp-httplib 0.11 cannot tell that a client went away mid-request, so an HTTP request is
// never cancelled: it is computed and its answer discarded.
//
// Threads: httplib's thread pool (bounded: `thread_count` threads, each serving one
// connection at a time, keep-alive included). An inference request blocks its HTTP thread
// until the model's worker has answered, then the reply is encoded on the HTTP thread, so
// workers never spend time on JSON. Loads and unloads run on the ModelControl both
// protocols share; the HTTP thread waits for the answer. Readiness and shutdown are the
// server's one ServingState.
//
// Thread-safe: httplib calls the handlers from its pool; Stop may be called from any thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "server/frontend/model_control.h"
#include "server/frontend/serving_state.h"
#include "server/http/http_listener.h"
#include "server/repository/model_repository.h"

namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace seqserve {

struct HttpOptions {
  // Where to listen; port 0 picks a free port (see HttpService::port()).
  std::string address = "0.0.0.0";
  int port = 8000;
  // Largest request body; a larger one is refused with 413 before it is parsed.
  int64_t max_body_bytes = 64 * 1024 * 1024;
  // Threads serving connections (and so requests in progress at once).
  int thread_count = 16;
  // Log every request on the "access" logger at info level.
  bool log_requests = false;
};

class HttpService {
 public:
  // `repository`, `state` and `control` must outlive the service. Listens at once.
  // /v2/health/ready answers state.ready(); once state.shutting_down(), new inference
  // requests get 503 "server is shutting down" (requests already enqueued finish).
  static absl::StatusOr<std::unique_ptr<HttpService>> Start(const HttpOptions& options,
                                                            ModelRepository& repository,
                                                            const ServingState& state,
                                                            ModelControl& control);
  ~HttpService();  // Stop()s

  int port() const { return listener_->port(); }

  // Shutdown, once the repository has drained: stops listening and waits for the requests
  // in progress (their answers are being written). Idempotent.
  void Stop();

 private:
  HttpService(const HttpOptions& options, ModelRepository& repository, const ServingState& state,
              ModelControl& control);
  bool shutting_down() const { return state_.shutting_down(); }
  void Route(httplib::Server& server);

  // POST handlers get the body read by httplib's content reader (see Route).
  void Infer(const httplib::Request& request, const std::string& body, httplib::Response& response);
  void ModelReadyHandler(const httplib::Request& request, httplib::Response& response);
  void ModelMetadataHandler(const httplib::Request& request, httplib::Response& response);
  void ModelConfigHandler(const httplib::Request& request, httplib::Response& response);
  void ModelStatsHandler(const httplib::Request& request, httplib::Response& response);
  void RepositoryIndexHandler(const std::string& body, httplib::Response& response);
  void RepositoryChangeHandler(const httplib::Request& request, const std::string& body,
                               httplib::Response& response, bool load);

  const HttpOptions options_;
  ModelRepository& repository_;  // outlives the service (see Start)
  const ServingState& state_;    // likewise
  ModelControl& control_;        // likewise
  std::unique_ptr<HttpListener> listener_;
};

// The HTTP status for a status code (the table above); 200 for OK.
int HttpStatusFromCode(absl::StatusCode code);

}  // namespace seqserve
