// The KServe v2 REST front end (SPEC §6) on the event-driven HttpListener,
// beside the gRPC one and sharing its rules: requests are decoded from JSON
// (http/rest_infer.h, REST's codec), validated and enqueued through
// frontend/infer_request.h, answered by frontend/model_queries.h — the same
// code the gRPC service runs — and converted to JSON. Endpoints:
//
//   GET  /v2/health/live                          200 {"live":true}
//   GET  /v2/health/ready                         200 {"ready":true} | 400 {"ready":false}
//   GET  /v2                                      server metadata
//   GET  /v2/models/{m}[/versions/{v}]            model metadata
//   GET  /v2/models/{m}[/versions/{v}]/ready      200 {"name","ready":true} | 400 ...false
//   GET  /v2/models/{m}[/versions/{v}]/config     the effective config (Triton)
//   GET  /v2/models[/{m}[/versions/{v}]]/stats    {"model_stats":[...]} (Triton)
//   POST /v2/models/{m}[/versions/{v}]/infer      inference (+ Triton's binary extension)
//   POST /v2/repository/index                     [{"name","version","state","reason"}]
//   POST /v2/repository/models/{m}/load           200, empty body (Triton)
//   POST /v2/repository/models/{m}/unload         200, empty body (Triton)
//   GET  /v2/logging                              the log settings (Triton's logging
//   POST /v2/logging                              extension, logging/log_settings.h); POST
//                                                 changes those its JSON object names
//   GET  /v2[/models/{m}]/trace/setting           the trace settings, global or of model m
//   POST /v2[/models/{m}]/trace/setting           (Triton's trace extension, tracing/tracer.h);
//                                                 POST changes those its JSON object names
//                                                 (a string, a list of strings, or null to
//                                                 clear), then answers all of them
//   GET  /v2/systemsharedmemory[/region/{r}]/status   [{"name","key","offset","byte_size"}]
//   POST /v2/systemsharedmemory/region/{r}/register   {"key","offset","byte_size"} → 200,
//                                                     empty body (Triton)
//   POST /v2/systemsharedmemory[/region/{r}]/unregister   200, empty body (Triton)
//
// Health answers follow the KServe spec (200 true, 4xx false) and Triton, which
// uses 400. Errors are {"error": "<message>"} with the status of the canonical
// mapping of status codes to HTTP (google.rpc.Code), which is Triton's wherever
// Triton has the code:
//
//   | status              | HTTP | when                                                  |
//   | ------------------- | ---- | ----------------------------------------------------- |
//   | INVALID_ARGUMENT    | 400  | malformed JSON, wrong name/datatype/shape/size        |
//   | FAILED_PRECONDITION | 400  | load/unload in model control mode none                |
//   | PERMISSION_DENIED   | 403  | a restricted protocol without its header              |
//   | NOT_FOUND           | 404  | unknown model, version or endpoint                    |
//   | (listener)          | 408  | headers or body not in within their deadline          |
//   | (listener)          | 413  | body larger than --http-max-body-bytes                |
//   | (listener)          | 431  | headers over --http-max-header-bytes, or too many     |
//   | RESOURCE_EXHAUSTED  | 429  | the model's queue is full                             |
//   | CANCELLED           | 499  | dropped before compute (Triton: 400; nginx's "client  |
//   |                     |      | closed request": only the access log ever sees it)    |
//   | INTERNAL, UNKNOWN   | 500  | anything unexpected; the server keeps serving         |
//   | UNIMPLEMENTED       | 501  |                                                       |
//   | UNAVAILABLE         | 503  | model loading/unloading/failed, server shutting down  |
//   | DEADLINE_EXCEEDED   | 504  | the request's timeout passed before compute           |
//
// A request is not cancelled when its client goes away (nothing is read from a
// connection while its request is handled): it is computed and its answer
// discarded.
//
// Threads: the listener's event-loop threads (HttpOptions::thread_count) decode
// requests, answer the cheap queries and encode replies; nothing on them waits.
// An inference request is enqueued on the model's scheduler and its worker's
// Finish hands the reply's encoding back to the connection's event loop, so
// workers never spend time on JSON. Loads and unloads run on the ModelControl
// both protocols share and answer from its thread. Readiness and shutdown are
// the server's one ServingState. Each route belongs to one of Triton's
// protocols (health, metadata, inference, model-config, model-repository,
// statistics, shared-memory, trace, logging), which --http-restricted-protocol may restrict
// (frontend/restricted_protocols.h). An inference request the tracer samples carries its trace
// from HTTP_RECV_START (its first byte) through the scheduler to HTTP_SEND_END (its response
// written).
//
// Thread-safe: handlers run on the listener's threads; Stop may be called from
// any thread.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "server/frontend/model_control.h"
#include "server/frontend/restricted_protocols.h"
#include "server/frontend/serving_state.h"
#include "server/frontend/shared_memory_registry.h"
#include "server/http/http_listener.h"
#include "server/repository/model_repository.h"
#include "server/tracing/tracer.h"

namespace seqserve {

struct HttpOptions {
  // Where to listen; port 0 picks a free port (see HttpService::port()).
  std::string address = "0.0.0.0";
  int port = 8000;
  // Largest request body; a larger one is refused with 413 before it is read.
  int64_t max_body_bytes = 64 * 1024 * 1024;
  // Event-loop threads; each serves any number of connections.
  int thread_count = 2;
  // Deadlines and limits of a request (http/http_listener.h).
  int64_t header_timeout_ms = 30'000;
  int64_t body_timeout_ms = 120'000;
  int64_t idle_timeout_ms = 60'000;
  int64_t max_header_bytes = 16 * 1024;
  int max_header_count = 100;
  // HTTPS when set.
  std::optional<HttpTlsOptions> tls;
  // --http-restricted-protocol values (frontend/restricted_protocols.h).
  std::vector<std::string> restricted_protocols;
  // Triton's system shared memory regions (the Server's, shared with gRPC; outlives the
  // service); null: the extension is not offered.
  SharedMemoryRegistry *shared_memory = nullptr;
  // Triton's trace extension (the Server's, shared with gRPC; outlives the service); null:
  // the extension is not offered.
  Tracer *tracer = nullptr;
};

class HttpService {
public:
  // `repository`, `state` and `control` must outlive the service. Listens at
  // once. /v2/health/ready answers state.ready(); once state.shutting_down(),
  // new inference requests get 503 "server is shutting down" (requests already
  // enqueued finish).
  static absl::StatusOr<std::unique_ptr<HttpService>>
  Start(const HttpOptions &options, ModelRepository &repository,
        const ServingState &state, ModelControl &control);
  ~HttpService(); // Stop()s

  int port() const { return listener_->port(); }
  // What --http-restricted-protocol restricts.
  const ProtocolRestrictions &restrictions() const { return restricted_; }

  // Shutdown, once the repository has drained: stops listening and waits for
  // the requests in progress (their answers are being written). Idempotent.
  void Stop();

private:
  HttpService(const HttpOptions &options, ModelRepository &repository,
              const ServingState &state, ModelControl &control);
  bool shutting_down() const { return state_.shutting_down(); }

  // The listener's handler: routes, checks the restriction, answers.
  void Handle(HttpRequest request, HttpResponder responder);
  void Infer(HttpRequest request, const std::string &model,
             const std::string &version, HttpResponder responder);
  HttpResponse ModelReady(const std::string &model, const std::string &version);
  HttpResponse RepositoryIndex(const std::string &body);
  // GET (null body) or POST /v2/logging.
  HttpResponse Logging(const std::string *update_body);
  // GET (null body) or POST /v2[/models/{model}]/trace/setting; `model` empty: global.
  HttpResponse TraceSetting(const std::string &model,
                            const std::string *update_body);
  void RepositoryChange(const std::string &model, const std::string &body,
                        bool load, HttpResponder responder);
  // Triton's system shared memory extension; `region` empty: every region.
  HttpResponse SharedMemoryStatus(const std::string &region);
  HttpResponse SharedMemoryRegister(const std::string &region,
                                    const std::string &body);
  HttpResponse SharedMemoryUnregister(const std::string &region);

  const HttpOptions options_;
  ModelRepository &repository_; // outlives the service (see Start)
  const ServingState &state_;   // likewise
  ModelControl &control_;       // likewise
  ProtocolRestrictions restricted_;
  std::unique_ptr<HttpListener> listener_;
};

// The HTTP status for a status code (the table above); 200 for OK.
int HttpStatusFromCode(absl::StatusCode code);

} // namespace seqserve
