#include "server/server.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/safe_file.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/security/server_credentials.h"
#include "server/config/cpu_budget.h"
#include "server/frontend/model_control.h"
#include "server/grpc/grpc_access_log.h"
#include "server/grpc/grpc_service.h"
#include "server/http/http_service.h"
#include "server/http/metrics.h"
#include "server/logging/log_settings.h"
#include "server/logging/named_logger.h"
#include "server/scheduling/model_stats.h"
#include "spdlog/spdlog.h"

namespace seqserve {
namespace {

spdlog::logger &Log() {
  static const std::shared_ptr<spdlog::logger> logger = NamedLogger("server");
  return *logger;
}

// "host:port", with an IPv6 address in brackets as gRPC expects.
std::string HostPort(const std::string &address, int port) {
  const bool ipv6 =
      address.find(':') != std::string::npos && address.front() != '[';
  return ipv6 ? absl::StrCat("[", address, "]:", port)
              : absl::StrCat(address, ":", port);
}

// True for an address only this machine reaches (127.0.0.0/8, ::1,
// "localhost").
bool IsLoopback(const std::string &address) {
  if (address == "localhost")
    return true;
  std::string host = address;
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  in_addr v4{};
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1)
    return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6{};
  return inet_pton(AF_INET6, host.c_str(), &v6) == 1 &&
         IN6_IS_ADDR_LOOPBACK(&v6);
}

// A PEM file the TLS flag `flag` names, read whole (at most 1 MiB); `needed_by`
// is the flag that needs it, for the errors.
absl::StatusOr<std::string> ReadPem(const std::filesystem::path &path,
                                    const char *flag, const char *needed_by) {
  if (path.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(needed_by, " needs ", flag));
  }
  absl::StatusOr<std::string> pem =
      ReadRegularFile(path, {.max_bytes = uint64_t{1} << 20});
  if (!pem.ok()) {
    return absl::Status(pem.status().code(),
                        absl::StrCat(flag, ": ", pem.status().message()));
  }
  return pem;
}

// gRPC's credentials: insecure, or TLS as the Triton flags say.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>>
GrpcCredentials(const ServerOptions &options) {
  if (!options.grpc_use_ssl && !options.grpc_use_ssl_mutual) {
    return grpc::InsecureServerCredentials();
  }
  const char *needs =
      options.grpc_use_ssl_mutual ? "--grpc-use-ssl-mutual" : "--grpc-use-ssl";
  absl::StatusOr<std::string> cert =
      ReadPem(options.grpc_server_cert, "--grpc-server-cert", needs);
  if (!cert.ok())
    return cert.status();
  absl::StatusOr<std::string> key =
      ReadPem(options.grpc_server_key, "--grpc-server-key", needs);
  if (!key.ok())
    return key.status();
  grpc::SslServerCredentialsOptions ssl(
      options.grpc_use_ssl_mutual
          ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
          : GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  if (options.grpc_use_ssl_mutual || !options.grpc_root_cert.empty()) {
    absl::StatusOr<std::string> root =
        ReadPem(options.grpc_root_cert, "--grpc-root-cert", needs);
    if (!root.ok())
      return root.status();
    ssl.pem_root_certs = *std::move(root);
  }
  ssl.pem_key_cert_pairs.push_back({*std::move(key), *std::move(cert)});
  return grpc::SslServerCredentials(ssl);
}

absl::Status ValidateOptions(const ServerOptions &options) {
  if (options.model_repositories.empty()) {
    return absl::InvalidArgumentError("no model repository given");
  }
  if (options.grpc_port < 0 || options.grpc_port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat(
        "gRPC port must be in [0, 65535], got ", options.grpc_port));
  }
  if (options.grpc_max_message_bytes < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("max gRPC message size must be at least 1 byte, got ",
                     options.grpc_max_message_bytes));
  }
  for (const auto &[name, port] :
       {std::pair{"HTTP", options.http_port},
        std::pair{"metrics", options.metrics_port}}) {
    if (port < -1 || port > 65535) {
      return absl::InvalidArgumentError(absl::StrCat(
          name, " port must be in [0, 65535] (or -1: off), got ", port));
    }
  }
  if (options.control_mode == ModelControlMode::kPoll &&
      options.repository_poll_secs < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("repository poll interval must be at least 1 second, got ",
                     options.repository_poll_secs));
  }
  if (options.exit_timeout_secs < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "exit timeout must be >= 0 seconds, got ", options.exit_timeout_secs));
  }
  return absl::OkStatus();
}

} // namespace

Server::Server(const ServerOptions &options) : options_(options) {}

Server::~Server() { Shutdown(); }

absl::StatusOr<std::unique_ptr<Server>>
Server::Start(const ServerOptions &options) {
  if (absl::Status valid = ValidateOptions(options); !valid.ok())
    return valid;
  // The flags that can be wrong are checked before any model loads.
  absl::StatusOr<ProtocolRestrictions> grpc_restrictions =
      ProtocolRestrictions::Parse(options.grpc_restricted_protocols,
                                  "--grpc-restricted-protocol");
  if (!grpc_restrictions.ok())
    return grpc_restrictions.status();
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials =
      GrpcCredentials(options);
  if (!credentials.ok())
    return credentials.status();
  std::unique_ptr<Server> server(new Server(options));
  if (!options.trace_file.empty()) {
    absl::StatusOr<std::unique_ptr<Tracer>> tracer =
        Tracer::Create(options.trace_file.string());
    if (!tracer.ok())
      return absl::InvalidArgumentError(
          absl::StrCat("--trace-file: ", tracer.status().message()));
    server->tracer_ = std::move(*tracer);
    Log().info("trace extension on: traces go to '{}' (trace_level OFF until a "
               "client changes it)",
               options.trace_file.string());
  }
  // Before any model loads, so that every scheduler sees it from its first
  // request.
  SetHistogramsEnabled(options.allow_metrics);

  RepositoryOptions repository_options;
  repository_options.roots = options.model_repositories;
  repository_options.mode = options.control_mode;
  repository_options.startup_models = options.startup_models;
  repository_options.available_cpus =
      options.available_cpus > 0 ? options.available_cpus : AvailableCpus();
  // Loads are mostly file reads and plan compilation: one per CPU, a few at
  // most.
  repository_options.load_threads =
      std::clamp(repository_options.available_cpus, 1, 4);
  repository_options.max_worker_threads = options.max_worker_threads;
  repository_options.file_limits.seq_file = {options.max_seq_file_bytes,
                                             "--max-seq-file-bytes"};
  repository_options.file_limits.safetensors_file = {
      options.max_safetensors_file_bytes, "--max-safetensors-file-bytes"};
  repository_options.file_limits.max_parameter_bytes = options.max_model_bytes;
  repository_options.file_limits.max_parameter_bytes_name = "--max-model-bytes";
  repository_options.config_file = {options.max_config_file_bytes,
                                    "--max-config-file-bytes"};
  repository_options.allow_symlinks_outside_repository =
      options.allow_symlinks_outside_repository;
  repository_options.request_limits = options.request_limits;
  absl::StatusOr<std::unique_ptr<ModelRepository>> repository =
      ModelRepository::Create(repository_options);
  if (!repository.ok())
    return repository.status();
  server->repository_ = std::move(*repository);
  Server *self = server.get();
  server->repository_->SetReadinessListener(
      [self](const std::string &name, bool ready) {
        self->SetModelHealth(name, ready);
      });
  absl::StatusOr<std::unique_ptr<ModelControl>> control =
      ModelControl::Create(*server->repository_, server->state_);
  if (!control.ok())
    return control.status();
  server->control_ = std::move(*control);
  GrpcServiceOptions service_options;
  service_options.max_message_bytes = options.grpc_max_message_bytes;
  service_options.restrictions = *std::move(grpc_restrictions);
  service_options.shared_memory =
      options.allow_shared_memory ? server->shared_memory_.get() : nullptr;
  service_options.tracer = server->tracer_.get();
  server->service_ = std::make_unique<GrpcInferenceService>(
      *server->repository_, server->state_, *server->control_, service_options);

  // Both are process-wide switches read when a server is built.
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  const std::string address = HostPort(options.address, options.grpc_port);
  builder.AddListeningPort(address, *credentials, &server->grpc_port_);
  builder.RegisterService(server->service_.get());
  // gRPC sets SO_REUSEPORT by default, which would let a second server share a
  // port in use instead of failing to start.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.SetMaxReceiveMessageSize(options.grpc_max_message_bytes);
  builder.SetMaxSendMessageSize(options.grpc_max_message_bytes);
  // The access log is switched at runtime (log_requests of the logging extension), so its
  // interceptor is always there; it adds nothing to an RPC while the switch is off.
  SetRequestLogging(options.log_requests);
  {
    std::vector<
        std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
        creators;
    creators.push_back(MakeGrpcAccessLog());
    builder.experimental().SetInterceptorCreators(std::move(creators));
  }
  server->grpc_server_ = builder.BuildAndStart();
  if (server->grpc_server_ == nullptr || server->grpc_port_ == 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen for gRPC on ", address,
                     options.grpc_use_ssl || options.grpc_use_ssl_mutual
                         ? " (address in use or not local, or the TLS "
                           "certificate, key or root certificate "
                           "not valid PEM or not a pair?)"
                         : " (address in use or not local?)"));
  }

  {
    absl::MutexLock lock(&server->health_mu_);
    server->health_ = server->grpc_server_->GetHealthCheckService();
    if (server->health_ != nullptr) {
      // Under health_mu_, so a listener call racing with this sweep is applied
      // after it.
      std::map<std::string, bool> models;
      for (const ModelVersionStatus &status : server->repository_->Index()) {
        models[status.name] =
            models[status.name] || status.state == ModelState::kReady;
      }
      for (const auto &[name, ready] : models)
        server->health_->SetServingStatus(name, ready);
      server->health_->SetServingStatus("", true);
    }
  }
  if (options.http_port >= 0) {
    HttpOptions http_options;
    http_options.address = options.address;
    http_options.port = options.http_port;
    http_options.max_body_bytes = options.http_max_body_bytes;
    http_options.thread_count = options.http_thread_count;
    http_options.header_timeout_ms = options.http_header_timeout_ms;
    http_options.body_timeout_ms = options.http_body_timeout_ms;
    http_options.idle_timeout_ms = options.http_idle_timeout_ms;
    http_options.max_header_bytes = options.http_max_header_bytes;
    http_options.max_header_count = options.http_max_header_count;
    http_options.tls = options.http_tls;
    http_options.restricted_protocols = options.http_restricted_protocols;
    http_options.shared_memory =
        options.allow_shared_memory ? server->shared_memory_.get() : nullptr;
    http_options.tracer = server->tracer_.get();
    absl::StatusOr<std::unique_ptr<HttpService>> http = HttpService::Start(
        http_options, *server->repository_, server->state_, *server->control_);
    if (!http.ok())
      return http.status();
    server->http_ = std::move(*http);
  }
  if (options.metrics_port >= 0 && options.allow_metrics) {
    MetricsOptions metrics_options;
    metrics_options.address = options.metrics_address.empty()
                                  ? options.address
                                  : options.metrics_address;
    metrics_options.port = options.metrics_port;
    absl::StatusOr<std::unique_ptr<MetricsService>> metrics =
        MetricsService::Start(metrics_options, *server->repository_);
    if (!metrics.ok())
      return metrics.status();
    server->metrics_ = std::move(*metrics);
  }
  // Before ready: whoever sees the server ready finds the warning in the log
  // already.
  server->WarnAboutOpenRepositoryControl(service_options.restrictions);
  server->state_.SetReady(true);
  if (options.control_mode == ModelControlMode::kPoll) {
    server->poll_thread_ = std::thread([self] { self->PollLoop(); });
  }
  server->LogSummary();
  return server;
}

void Server::WarnAboutOpenRepositoryControl(
    const ProtocolRestrictions &grpc_restrictions) const {
  if (options_.control_mode == ModelControlMode::kNone ||
      IsLoopback(options_.address))
    return;
  std::vector<std::string> open;
  if (grpc_restrictions.Find(Protocol::kModelRepository) == nullptr) {
    open.push_back(
        absl::StrCat("gRPC on ", HostPort(options_.address, grpc_port_)));
  }
  if (http_ != nullptr &&
      http_->restrictions().Find(Protocol::kModelRepository) == nullptr) {
    open.push_back(
        absl::StrCat("HTTP on ", HostPort(options_.address, http_->port())));
  }
  if (open.empty())
    return;
  Log().warn(
      "model control mode {}: anyone who can reach {} may load and unload "
      "models; restrict "
      "it with --grpc-restricted-protocol=model-repository:<key>=<value> and "
      "--http-restricted-protocol=model-repository:<key>=<value>, or listen on "
      "a loopback --address (README \"Security\")",
      ModelControlModeName(options_.control_mode), absl::StrJoin(open, " or "));
}

bool Server::ready() const { return state_.ready(); }

int Server::http_port() const { return http_ != nullptr ? http_->port() : 0; }

int Server::metrics_port() const {
  return metrics_ != nullptr ? metrics_->port() : 0;
}

void Server::SetModelHealth(const std::string &name, bool ready) {
  absl::MutexLock lock(&health_mu_);
  if (health_ != nullptr)
    health_->SetServingStatus(name, ready);
}

void Server::PollLoop() {
  absl::MutexLock lock(&poll_mu_);
  while (true) {
    // Wakes at once when Shutdown sets poll_stop_.
    poll_mu_.AwaitWithTimeout(absl::Condition(&poll_stop_),
                              absl::Seconds(options_.repository_poll_secs));
    if (poll_stop_)
      return;
    poll_mu_.Unlock();
    // The repository logs each load, unload and failure; this is the poll as a
    // whole.
    if (absl::Status status = repository_->Poll(); !status.ok()) {
      Log().warn("repository poll: {}", std::string(status.message()));
    }
    poll_mu_.Lock();
  }
}

void Server::LogSummary() const {
  Log().info("seqserve {} listening for gRPC (KServe v2) on {}",
             SEQSERVE_VERSION, HostPort(options_.address, grpc_port_));
  std::vector<std::string> roots;
  for (const std::filesystem::path &root : options_.model_repositories) {
    roots.push_back(root.string());
  }
  if (http_ != nullptr) {
    Log().info("listening for HTTP (KServe v2 REST) on {}; max body {} bytes, "
               "{} event-loop "
               "thread{}{}{}",
               HostPort(options_.address, http_->port()),
               options_.http_max_body_bytes, options_.http_thread_count,
               options_.http_thread_count == 1 ? "" : "s",
               options_.http_tls.has_value() ? ", HTTPS" : "",
               options_.http_tls.has_value() && options_.http_tls->mutual
                   ? " with client certificates"
                   : "");
  }
  if (metrics_ != nullptr) {
    Log().info("serving Prometheus metrics on http://{}/metrics",
               HostPort(options_.metrics_address.empty()
                            ? options_.address
                            : options_.metrics_address,
                        metrics_->port()));
  }
  Log().info("model repositories: {} (model control mode {}); max gRPC message "
             "{} bytes",
             absl::StrJoin(roots, ", "),
             ModelControlModeName(options_.control_mode),
             options_.grpc_max_message_bytes);
  for (const ModelVersionStatus &status : repository_->Index()) {
    absl::StatusOr<std::shared_ptr<ServableModel>> servable =
        status.state == ModelState::kReady
            ? repository_->Get(status.name, status.version)
            : absl::UnavailableError(status.reason);
    if (servable.ok()) {
      const ServingConfig &config = (*servable)->config;
      const int workers = config.scheduler_options.instance_count;
      const int threads = config.model_options.num_threads;
      Log().info(
          "model {} version {}: READY, {} worker{} x {} thread{}, max batch {}",
          status.name, status.version, workers, workers == 1 ? "" : "s",
          threads, threads == 1 ? "" : "s", config.max_batch_size);
    } else {
      Log().warn("model {} version {}: {}{}{}", status.name, status.version,
                 ModelStateName(status.state),
                 status.reason.empty() ? "" : ": ", status.reason);
    }
  }
}

void Server::Shutdown() {
  bool first = false;
  {
    absl::MutexLock lock(&shutdown_mu_);
    first = !shutdown_started_;
    shutdown_started_ = true;
  }
  if (!first) {
    shutdown_done_.WaitForNotification();
    return;
  }
  const absl::Time start = absl::Now();
  const absl::Time deadline = start + absl::Seconds(options_.exit_timeout_secs);
  if (grpc_server_ != nullptr) {
    Log().info(
        "shutting down: not ready; finishing queued and in-flight requests");
  }

  // Not ready at once, and no new work.
  state_.BeginShutdown();
  {
    absl::MutexLock lock(&health_mu_);
    // Every service NOT_SERVING; the repository's unloads below cannot change
    // that.
    if (health_ != nullptr)
      health_->Shutdown();
  }
  {
    absl::MutexLock lock(&poll_mu_);
    poll_stop_ = true;
  }
  if (poll_thread_.joinable())
    poll_thread_.join();
  if (control_ != nullptr)
    control_->Stop();

  // Drain: Stop returns once every queued and running request is answered.
  if (repository_ != nullptr)
    repository_->Stop();
  if (service_ != nullptr)
    service_->CloseStreams();
  if (grpc_server_ != nullptr) {
    grpc_server_->Shutdown(absl::ToChronoTime(deadline));
    grpc_server_->Wait();
  }
  // Every HTTP request has its answer by now (the repository drained them):
  // only replies being written are waited for. Metrics last, so a final scrape
  // still sees the counters.
  if (http_ != nullptr)
    http_->Stop();
  if (metrics_ != nullptr)
    metrics_->Stop();
  // Every request is answered: no mapping is in use any more, and every trace
  // is finished; those still held go to the trace file.
  shared_memory_->UnregisterAll();
  if (tracer_ != nullptr)
    tracer_->Flush();
  if (grpc_server_ != nullptr) {
    Log().info("shut down in {} ms",
               absl::ToInt64Milliseconds(absl::Now() - start));
  }
  {
    absl::MutexLock lock(&health_mu_);
    health_ = nullptr;
  }
  shutdown_done_.Notify();
}

void Server::Wait() { shutdown_done_.WaitForNotification(); }

} // namespace seqserve
