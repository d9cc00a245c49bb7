// The serving process minus main(): the model repository, the gRPC server with the KServe
// v2 service, gRPC health checking (grpc.health.v1) and server reflection, the KServe v2
// REST front end, the Prometheus metrics endpoint, and in poll mode the thread that rescans
// the repositories. Start brings it all up; Shutdown drains it as SPEC §9 says.
//
// Readiness (ServerReady, /v2/health/ready, and health service ""): true from the end of
// Start — the initial loads are done by then — until Shutdown begins. Health service
// "<model>": SERVING while that model has a READY version, NOT_SERVING otherwise (kept
// current through the repository's readiness listener); every service reports NOT_SERVING
// once Shutdown begins.
//
// Thread-safe: Shutdown and Wait may be called from any thread, any number of times.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "server/frontend/restricted_protocols.h"
#include "server/frontend/serving_state.h"
#include "server/frontend/shared_memory_registry.h"
#include "server/http/http_listener.h"
#include "server/repository/model_repository.h"
#include "server/scheduling/heap_trimmer.h"
#include "server/tracing/tracer.h"

namespace grpc {
class Server;
class HealthCheckServiceInterface;
}  // namespace grpc

namespace seqserve {

class GrpcInferenceService;
class HttpService;
class MetricsService;
class ModelControl;

struct ServerOptions {
  // --model-repository: at least one directory of models.
  std::vector<std::filesystem::path> model_repositories;
  ModelControlMode control_mode = ModelControlMode::kNone;
  // Poll mode: seconds between rescans of the repositories (>= 1).
  int repository_poll_secs = 15;
  // Explicit mode: the models loaded at start (--load-model); "*" loads all.
  std::vector<std::string> startup_models;
  // Where gRPC listens; port 0 picks a free port (see Server::grpc_port()).
  std::string address = "0.0.0.0";
  int grpc_port = 8001;
  // Largest gRPC message received or sent; a larger one fails with RESOURCE_EXHAUSTED.
  int grpc_max_message_bytes = 64 * 1024 * 1024;
  // KServe v2 REST; port 0 picks a free port (see http_port()), -1 serves no HTTP. (The
  // seqserve binary's --http-port defaults to 8000; the library's default is off so that
  // servers in tests do not collide.)
  int http_port = -1;
  // Largest HTTP request body; a larger one gets 413.
  int64_t http_max_body_bytes = 64 * 1024 * 1024;
  // HTTP event-loop threads (each serves any number of connections).
  int http_thread_count = 2;
  // A request's deadlines: headers (from its first byte), body (from the end of the
  // headers; also the time its response may take to write), and how long a keep-alive
  // connection may wait for its next request. Beyond: 408 and the connection closes.
  int64_t http_header_timeout_ms = 30'000;
  int64_t http_body_timeout_ms = 120'000;
  int64_t http_idle_timeout_ms = 60'000;
  // Limits of a request's headers (431 beyond).
  int64_t http_max_header_bytes = 16 * 1024;
  int http_max_header_count = 100;
  // HTTPS (--http-use-ssl and its files) when set.
  std::optional<HttpTlsOptions> http_tls;
  // --http-restricted-protocol values: `<protocol>[,...]:<header>=<value>`.
  std::vector<std::string> http_restricted_protocols;
  // Prometheus /metrics; port 0 picks a free port, -1 serves none (the binary's default is
  // 8002).
  int metrics_port = -1;
  // Where /metrics listens; empty: `address` (Triton's --metrics-address).
  std::string metrics_address;
  // Triton's --allow-metrics: false serves no /metrics and stops the histogram updates
  // (process-wide; the counters ModelStatistics reports are always kept).
  bool allow_metrics = true;
  // One access-log line per request (gRPC and HTTP) on the "access" logger at info level.
  bool log_requests = false;
  // How long Shutdown may take before RPCs still running are cancelled.
  int exit_timeout_secs = 30;
  // CPUs to size default worker pools by; 0 = what the process may use (AvailableCpus()).
  int available_cpus = 0;

  // Security (README "Security"). gRPC over TLS (Triton's flags): --grpc-use-ssl with
  // --grpc-server-cert and --grpc-server-key (PEM files); --grpc-root-cert, the CA that
  // client certificates must chain to; --grpc-use-ssl-mutual, clients must present one
  // (implies TLS, needs the root cert).
  bool grpc_use_ssl = false;
  bool grpc_use_ssl_mutual = false;
  std::filesystem::path grpc_server_cert;
  std::filesystem::path grpc_server_key;
  std::filesystem::path grpc_root_cert;
  // --grpc-restricted-protocol values (frontend/restricted_protocols.h).
  std::vector<std::string> grpc_restricted_protocols;

  // Limits (README "Limits"). Worker threads across all models (--max-worker-threads);
  // 0: DefaultMaxWorkerThreads(available CPUs).
  int max_worker_threads = 0;
  // Model files, each a regular file of at most (--max-*-file-bytes):
  uint64_t max_seq_file_bytes = uint64_t{1} << 20;
  uint64_t max_config_file_bytes = uint64_t{1} << 20;
  uint64_t max_safetensors_file_bytes = uint64_t{16} << 30;
  // The parameters a model declares, as float32 (--max-model-bytes).
  uint64_t max_model_bytes = uint64_t{4} << 30;
  // --allow-symlinks-outside-repository.
  bool allow_symlinks_outside_repository = false;
  // --allow-shared-memory: Triton's system shared memory extension. Off by default: a client
  // that may register regions can make the server read and write any POSIX shared memory
  // object the server's user can open, another program's too. For clients on this host that
  // are trusted (and the shared-memory protocol restricted to them).
  bool allow_shared_memory = false;
  // --trace-file: Triton's trace extension, its traces written to this file (and to
  // <file>.<k> with a log_frequency). Empty: the extension is not offered. The path is the
  // operator's alone: clients change the trace settings (level, rate, count, frequency) but
  // cannot name another file.
  std::filesystem::path trace_file;
  // Per request: output and activation bytes, and what a worker keeps between requests.
  RequestLimits request_limits;
};

class Server {
 public:
  // Loads the repositories (waiting for the initial loads) and starts serving. Fails when a
  // repository cannot be read, the options are out of range or the address cannot be bound
  // (the error says which). A model that fails to load does not fail Start: it is reported
  // UNAVAILABLE with its error.
  static absl::StatusOr<std::unique_ptr<Server>> Start(const ServerOptions& options);
  ~Server();  // Shutdown()s

  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // The ports listened on (the ones picked when the options said 0); 0 when not served.
  int grpc_port() const { return grpc_port_; }
  int http_port() const;
  int metrics_port() const;

  // SPEC §9: reports not-ready at once (ServerReady false, every health service
  // NOT_SERVING, /v2/health/ready 400), refuses new inference requests with UNAVAILABLE
  // "server is shutting down" (HTTP 503), finishes every queued and in-flight request, ends
  // open streams once their answers are written, then shuts gRPC down, cancelling whatever
  // still runs when exit_timeout_secs (counted from the call) have passed, and stops HTTP
  // (whose requests have been answered by then) and the metrics endpoint. Blocks until
  // done; concurrent and later calls wait for the first.
  void Shutdown();

  // Blocks until Shutdown (called on another thread) has finished.
  void Wait();

  // For tests and tools: the repository (e.g. to Poll now instead of waiting for the poll
  // thread) and the readiness as ServerReady reports it.
  ModelRepository& repository() { return *repository_; }
  bool ready() const;

 private:
  explicit Server(const ServerOptions& options);
  // The readiness listener: keeps model health services in step with the repository.
  void SetModelHealth(const std::string& name, bool ready);
  void PollLoop();
  void LogSummary() const;
  // Start-up's warning when anyone who reaches a port could load and unload models.
  void WarnAboutOpenRepositoryControl(const ProtocolRestrictions& grpc_restrictions) const;

  const ServerOptions options_;
  int grpc_port_ = 0;

  // Gives back what large requests freed (scheduling/heap_trimmer.h); shared by every Server
  // of the process, destroyed last.
  std::shared_ptr<HeapTrimmer> heap_trimmer_ = HeapTrimmer::Acquire();

  // Declared before the repository so it outlives the listener calls the repository makes
  // until it is destroyed.
  absl::Mutex health_mu_;
  // Owned by grpc_server_; null until it is built, and never used after it shut down.
  grpc::HealthCheckServiceInterface* health_ ABSL_GUARDED_BY(health_mu_) = nullptr;

  std::unique_ptr<ModelRepository> repository_;
  // Ready / shutting down, and the load/unload path: both protocols share them.
  ServingState state_;
  std::unique_ptr<ModelControl> control_;
  // Triton's system shared memory regions, one registry for both protocols; outlives the
  // front ends (declared before them), emptied at shutdown.
  std::unique_ptr<SharedMemoryRegistry> shared_memory_ =
      std::make_unique<SharedMemoryRegistry>();
  // Triton's trace extension, shared by both protocols; null without --trace-file. Outlives
  // the front ends (declared before them).
  std::unique_ptr<Tracer> tracer_;
  std::unique_ptr<GrpcInferenceService> service_;
  std::unique_ptr<grpc::Server> grpc_server_;  // destroyed before the service it calls
  std::unique_ptr<HttpService> http_;           // null when not served
  std::unique_ptr<MetricsService> metrics_;     // null when not served

  absl::Mutex poll_mu_;
  bool poll_stop_ ABSL_GUARDED_BY(poll_mu_) = false;
  std::thread poll_thread_;

  absl::Mutex shutdown_mu_;
  bool shutdown_started_ ABSL_GUARDED_BY(shutdown_mu_) = false;
  absl::Notification shutdown_done_;
};

}  // namespace seqserve
