// seqserve: the server binary. Without a subcommand it serves the model repositories over
// gRPC and HTTP/REST, with Prometheus metrics (SPEC §5, §6, §8); the subcommands `check`,
// `run` and `bench` work offline on a model directory, and `modules` lists the module types
// model.seq may use.
//
// Signals: SIGTERM and SIGINT are blocked in every thread from the start and taken with
// sigwait by the main thread, so no handler ever runs in the middle of a gRPC or oneDNN
// call. During start-up (the initial loads, on a thread of their own) one exits 0 at once:
// nothing is served yet. Once serving, the first one starts the drain of SPEC §9
// (Server::Shutdown) and the process exits 0 when it is done. A second SIGTERM/SIGINT during
// the drain exits at once with 128 + the signal number, abandoning what is still running; a
// drain still running 10 s after --exit-timeout-secs exits with 1.
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/synchronization/mutex.h"
#include "server/logging/logging.h"
#include "server/offline/bench_command.h"
#include "server/offline/calibrate_command.h"
#include "server/offline/offline_commands.h"
#include "server/server.h"
#include "spdlog/sinks/stdout_color_sinks.h"
#include "spdlog/spdlog.h"

namespace {

struct ServeFlags {
  std::vector<std::string> model_repositories;
  int grpc_port = 8001;
  int http_port = 8000;
  int metrics_port = 8002;
  std::string metrics_address;
  std::string model_control_mode = "none";
  int repository_poll_secs = 15;
  std::vector<std::string> load_models;
  int exit_timeout_secs = 30;
  std::string log_level = "info";
  std::string log_format = "text";
  std::string address = "0.0.0.0";
  int grpc_max_message_bytes = 64 * 1024 * 1024;
  int64_t http_max_body_bytes = 64 * 1024 * 1024;
  int http_thread_count = 2;
  // The HTTP transport (server/http/http_listener.h): deadlines, header limits, HTTPS and
  // restricted protocols.
  int http_header_timeout_secs = 30;
  int http_body_timeout_secs = 120;
  int http_idle_timeout_secs = 60;
  int64_t http_max_header_bytes = 16 * 1024;
  int http_max_header_count = 100;
  bool http_use_ssl = false;
  std::string http_server_cert;
  std::string http_server_key;
  std::string http_root_cert;
  bool http_use_ssl_mutual = false;
  std::vector<std::string> http_restricted_protocols;
  bool allow_metrics = true;
  bool log_requests = false;
  // Security (README "Security").
  bool grpc_use_ssl = false;
  bool grpc_use_ssl_mutual = false;
  std::string grpc_server_cert;
  std::string grpc_server_key;
  std::string grpc_root_cert;
  std::vector<std::string> grpc_restricted_protocols;
  // Limits (README "Limits").
  int max_worker_threads = 0;
  uint64_t max_seq_file_bytes = uint64_t{1} << 20;
  uint64_t max_config_file_bytes = uint64_t{1} << 20;
  uint64_t max_safetensors_file_bytes = uint64_t{16} << 30;
  uint64_t max_model_bytes = uint64_t{4} << 30;
  bool allow_symlinks_outside_repository = false;
  bool allow_shared_memory = false;
  std::string trace_file;
  int64_t max_output_bytes = int64_t{64} << 20;
  int64_t max_activation_bytes = int64_t{1} << 30;
  int64_t worker_retain_bytes = int64_t{64} << 20;
};

// Thousands of idle keep-alive HTTP connections are cheap, but each is a file descriptor:
// the soft limit (often 1,024) goes up to the hard one.
void RaiseOpenFileLimit() {
  rlimit files{};
  if (getrlimit(RLIMIT_NOFILE, &files) != 0) return;
  const rlim_t soft = files.rlim_cur;
  if (files.rlim_cur < files.rlim_max) {
    files.rlim_cur = files.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &files) != 0) {
      spdlog::warn("cannot raise the open-file limit from {} to {}: {}", soft, files.rlim_max,
                   std::strerror(errno));
      return;
    }
  }
  spdlog::info("open-file limit: {} (soft limit was {}; connections beyond it wait)",
               files.rlim_cur, soft);
}

// Beyond --exit-timeout-secs (after which gRPC cancels what still runs), how long the drain
// may still take before the process gives up on it.
constexpr int kExitGraceSecs = 10;

// glibc serves blocks below its mmap threshold from its heaps, and by default raises that
// threshold (up to 32 MiB) each time a mapped block is freed: after a burst of large
// requests, their buffers come from heaps that fragment and stay resident (measured: RSS 5x
// the baseline, bench/rss_after_bursts.py). A fixed threshold keeps every block of 1 MiB or
// more mapped, so it goes back to the system when freed. GLIBC_TUNABLES or
// MALLOC_MMAP_THRESHOLD_ / MALLOC_TRIM_THRESHOLD_ set by the operator win.
constexpr int kMmapThresholdBytes = 1 << 20;
// Fixing the mmap threshold also fixes glibc's trim threshold at its 128 KiB default: every
// free at the top of a heap past that returns the pages, and the next request of a few
// hundred KiB (a 1x3x224x224 input) faults them in again (measured: 943 -> 590 us of server
// CPU per 588 KiB request with 8 MiB, bench/RESULTS.md §11). Kept tops are bounded by this
// per heap, and the heap trimmer (scheduling/heap_trimmer.h) still gives everything back after
// large requests.
constexpr int kTrimThresholdBytes = 8 << 20;

bool Tuned(const char* tunables, const char* variable, const char* tunable) {
  return std::getenv(variable) != nullptr ||
         (tunables != nullptr && std::strstr(tunables, tunable) != nullptr);
}

void TuneAllocator() {
  const char* tunables = std::getenv("GLIBC_TUNABLES");
  if (!Tuned(tunables, "MALLOC_MMAP_THRESHOLD_", "mmap_threshold")) {
    mallopt(M_MMAP_THRESHOLD, kMmapThresholdBytes);
  }
  if (!Tuned(tunables, "MALLOC_TRIM_THRESHOLD_", "trim_threshold")) {
    mallopt(M_TRIM_THRESHOLD, kTrimThresholdBytes);
  }
}

int Serve(const ServeFlags& flags) {
  const absl::Status logging = seqserve::ConfigureLogging(
      flags.log_level,
      flags.log_format == "json" ? seqserve::LogFormat::kJson : seqserve::LogFormat::kText);
  if (!logging.ok()) {
    std::fprintf(stderr, "seqserve: %s\n", std::string(logging.message()).c_str());
    return 1;
  }
  if (flags.model_repositories.empty()) {
    spdlog::error("no --model-repository given");
    return 1;
  }
  RaiseOpenFileLimit();
  TuneAllocator();
  seqserve::ServerOptions options;
  options.model_repositories.assign(flags.model_repositories.begin(),
                                    flags.model_repositories.end());
  if (flags.model_control_mode == "poll") {
    options.control_mode = seqserve::ModelControlMode::kPoll;
  } else if (flags.model_control_mode == "explicit") {
    options.control_mode = seqserve::ModelControlMode::kExplicit;
  }
  if (!flags.load_models.empty() && options.control_mode != seqserve::ModelControlMode::kExplicit) {
    spdlog::error(
        "--load-model needs --model-control-mode=explicit (the other modes load every "
        "model in the repositories)");
    return 1;
  }
  options.startup_models = flags.load_models;
  options.repository_poll_secs = flags.repository_poll_secs;
  options.address = flags.address;
  options.grpc_port = flags.grpc_port;
  options.grpc_max_message_bytes = flags.grpc_max_message_bytes;
  options.http_port = flags.http_port;
  options.http_max_body_bytes = flags.http_max_body_bytes;
  options.http_thread_count = flags.http_thread_count;
  options.http_header_timeout_ms = int64_t{flags.http_header_timeout_secs} * 1000;
  options.http_body_timeout_ms = int64_t{flags.http_body_timeout_secs} * 1000;
  options.http_idle_timeout_ms = int64_t{flags.http_idle_timeout_secs} * 1000;
  options.http_max_header_bytes = flags.http_max_header_bytes;
  options.http_max_header_count = flags.http_max_header_count;
  if (flags.http_use_ssl) {
    options.http_tls = seqserve::HttpTlsOptions{flags.http_server_cert, flags.http_server_key,
                                                flags.http_root_cert, flags.http_use_ssl_mutual};
  } else if (flags.http_use_ssl_mutual || !flags.http_server_cert.empty() ||
             !flags.http_server_key.empty() || !flags.http_root_cert.empty()) {
    spdlog::error("--http-server-cert, --http-server-key, --http-root-cert and "
                  "--http-use-ssl-mutual need --http-use-ssl");
    return 1;
  }
  options.http_restricted_protocols = flags.http_restricted_protocols;
  options.metrics_port = flags.metrics_port;
  options.metrics_address = flags.metrics_address;
  options.allow_metrics = flags.allow_metrics;
  options.log_requests = flags.log_requests;
  options.exit_timeout_secs = flags.exit_timeout_secs;
  options.max_worker_threads = flags.max_worker_threads;
  options.max_seq_file_bytes = flags.max_seq_file_bytes;
  options.max_config_file_bytes = flags.max_config_file_bytes;
  options.max_safetensors_file_bytes = flags.max_safetensors_file_bytes;
  options.max_model_bytes = flags.max_model_bytes;
  options.allow_symlinks_outside_repository = flags.allow_symlinks_outside_repository;
  options.allow_shared_memory = flags.allow_shared_memory;
  options.trace_file = flags.trace_file;
  options.request_limits.max_output_bytes = flags.max_output_bytes;
  options.request_limits.max_activation_bytes = flags.max_activation_bytes;
  options.request_limits.worker_retain_bytes = flags.worker_retain_bytes;
  options.grpc_use_ssl = flags.grpc_use_ssl;
  options.grpc_use_ssl_mutual = flags.grpc_use_ssl_mutual;
  options.grpc_server_cert = flags.grpc_server_cert;
  options.grpc_server_key = flags.grpc_server_key;
  options.grpc_root_cert = flags.grpc_root_cert;
  options.grpc_restricted_protocols = flags.grpc_restricted_protocols;

  // Before any thread exists, so that every thread inherits the mask and only sigwait below
  // (and sigtimedwait during the drain) ever takes these signals. SIGUSR1 is how the drain
  // thread tells the main thread it is done.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  // Start-up (the initial loads) runs on a thread of its own, so that the main thread can
  // take a SIGTERM/SIGINT at once: nothing is served yet, so there is nothing to drain.
  const pthread_t main_thread = pthread_self();
  absl::StatusOr<std::unique_ptr<seqserve::Server>> server =
      absl::UnavailableError("start-up did not finish");
  std::thread starter([&server, &options, main_thread] {
    server = seqserve::Server::Start(options);
    pthread_kill(main_thread, SIGUSR1);
  });
  int signal_number = 0;
  while (sigwait(&signals, &signal_number) != 0) {
  }
  if (signal_number != SIGUSR1) {
    spdlog::info("received {} during start-up: exiting", strsignal(signal_number));
    spdlog::apply_all([](const std::shared_ptr<spdlog::logger>& logger) { logger->flush(); });
    std::_Exit(0);
  }
  starter.join();
  if (!server.ok()) {
    spdlog::error("cannot start: {}", std::string(server.status().message()));
    return 1;
  }

  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  while (sigwait(&stop_signals, &signal_number) != 0) {
  }
  spdlog::info("received {}: draining (send it again to exit at once)", strsignal(signal_number));

  std::thread drain([&server, main_thread] {
    (*server)->Shutdown();
    pthread_kill(main_thread, SIGUSR1);
  });
  timespec timeout{};
  timeout.tv_sec = flags.exit_timeout_secs + kExitGraceSecs;
  while (true) {
    const int got = sigtimedwait(&signals, nullptr, &timeout);
    if (got == SIGUSR1) break;
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      spdlog::error("the drain did not finish within --exit-timeout-secs={} (+{} s); exiting",
                    flags.exit_timeout_secs, kExitGraceSecs);
      spdlog::default_logger()->flush();
      std::_Exit(1);
    }
    spdlog::warn("received {} again: exiting without finishing the drain", strsignal(got));
    spdlog::default_logger()->flush();
    std::_Exit(128 + got);
  }
  drain.join();
  // Every request is answered and every listener closed. Tearing the gRPC library down
  // on top (destructors, grpc_shutdown) can wait ~10 s for idle client connections to
  // notice the GOAWAY, which would outlast a container runtime's default stop timeout:
  // there is nothing left to save, so leave now.
  spdlog::info("bye");
  spdlog::apply_all([](const std::shared_ptr<spdlog::logger>& logger) { logger->flush(); });
  std::_Exit(0);
}

}  // namespace

int main(int argc, char** argv) {
  // Debian builds abseil without NDEBUG, so every absl::Mutex (gRPC's included) keeps a
  // lock-order graph for deadlock detection: about 2% of a small request's server CPU in
  // GraphCycles. The tests keep it on; the server does not pay for it.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  CLI::App app{
      "seqserve: serves PyTorch nn.Sequential models on CPU over the KServe v2 gRPC and "
      "REST protocols (Triton-compatible), with Prometheus metrics. Without a subcommand it "
      "starts the server."};
  app.require_subcommand(0, 1);

  ServeFlags serve;
  app.add_option("--model-repository", serve.model_repositories,
                 "model repository directory (repeatable)")
      ->type_name("DIR")
      ->expected(1);
  app.add_option("--grpc-port", serve.grpc_port, "gRPC port; 0 picks a free one")
      ->check(CLI::Range(0, 65535))
      ->capture_default_str();
  app.add_option("--http-port", serve.http_port, "HTTP/REST (KServe v2) port; 0 picks a free one")
      ->check(CLI::Range(0, 65535))
      ->capture_default_str();
  app.add_option("--metrics-port", serve.metrics_port,
                 "Prometheus metrics port (/metrics); 0 picks a free one")
      ->check(CLI::Range(0, 65535))
      ->capture_default_str();
  app.add_option("--metrics-address", serve.metrics_address,
                 "address /metrics listens on (default: --address), e.g. 127.0.0.1 to keep "
                 "it off the network");
  app.add_option("--model-control-mode", serve.model_control_mode,
                 "none: load everything at start; poll: also pick up changes on disk; "
                 "explicit: load and unload on request")
      ->check(CLI::IsMember({"none", "poll", "explicit"}))
      ->capture_default_str();
  app.add_option("--repository-poll-secs", serve.repository_poll_secs,
                 "poll mode: seconds between repository rescans")
      ->check(CLI::Range(1, 1 << 30))
      ->capture_default_str();
  app.add_option("--load-model", serve.load_models,
                 "explicit mode: a model to load at start (repeatable; '*' loads all)")
      ->type_name("NAME")
      ->expected(1);
  app.add_option("--exit-timeout-secs", serve.exit_timeout_secs,
                 "on SIGTERM/SIGINT, how long to let requests finish")
      ->check(CLI::Range(0, 1 << 30))
      ->capture_default_str();
  app.add_option("--log-level", serve.log_level, "trace, debug, info, warn or error")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}))
      ->capture_default_str();
  app.add_option("--log-format", serve.log_format, "text, or json (one object per line)")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  app.add_option("--address", serve.address, "address to listen on")->capture_default_str();
  app.add_option("--grpc-max-message-bytes", serve.grpc_max_message_bytes,
                 "largest gRPC message received or sent")
      ->check(CLI::Range(1, 2147483647))
      ->capture_default_str();

  app.add_option("--http-max-body-bytes", serve.http_max_body_bytes,
                 "largest HTTP request body; larger ones get 413")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 40))
      ->capture_default_str();
  app.add_option("--http-thread-count", serve.http_thread_count,
                 "HTTP event-loop threads (each serves any number of connections)")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  app.add_option("--http-header-timeout-secs", serve.http_header_timeout_secs,
                 "deadline for a request's headers, from its first byte (then 408)")
      ->check(CLI::Range(1, 86400))
      ->capture_default_str();
  app.add_option("--http-body-timeout-secs", serve.http_body_timeout_secs,
                 "deadline for a request's body, from the end of its headers, and for "
                 "writing its response (then 408 / close)")
      ->check(CLI::Range(1, 86400))
      ->capture_default_str();
  app.add_option("--http-idle-timeout-secs", serve.http_idle_timeout_secs,
                 "how long a keep-alive connection may wait for its next request")
      ->check(CLI::Range(1, 86400))
      ->capture_default_str();
  app.add_option("--http-max-header-bytes", serve.http_max_header_bytes,
                 "largest request line and headers together (then 431)")
      ->check(CLI::Range(int64_t{256}, int64_t{1} << 30))
      ->capture_default_str();
  app.add_option("--http-max-header-count", serve.http_max_header_count,
                 "most header fields in a request (then 431)")
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  app.add_flag("--http-use-ssl", serve.http_use_ssl,
               "serve HTTPS on --http-port (needs --http-server-cert and --http-server-key)");
  app.add_option("--http-server-cert", serve.http_server_cert,
                 "HTTPS: the server's certificate chain (PEM)")
      ->type_name("FILE");
  app.add_option("--http-server-key", serve.http_server_key, "HTTPS: the server's key (PEM)")
      ->type_name("FILE");
  app.add_option("--http-root-cert", serve.http_root_cert,
                 "HTTPS: CA certificates that sign client certificates (PEM)")
      ->type_name("FILE");
  app.add_flag("--http-use-ssl-mutual", serve.http_use_ssl_mutual,
               "HTTPS: require a client certificate signed by --http-root-cert");
  app.add_option("--http-restricted-protocol", serve.http_restricted_protocols,
                 "restrict HTTP endpoints to requests with a header: "
                 "<protocol>[,<protocol>...]:<header>=<value> (repeatable; protocols: health, "
                 "metadata, inference, shared-memory, model-config, model-repository, "
                 "statistics, trace, logging); others get 403")
      ->type_name("SPEC")
      ->expected(1);
  app.add_option("--allow-metrics", serve.allow_metrics,
                 "serve /metrics and keep the latency and batch-size histograms")
      ->capture_default_str();
  app.add_flag("--log-requests", serve.log_requests,
               "log every gRPC and HTTP request (status, duration) on the 'access' logger");

  // Limits (README "Limits").
  app.add_option("--max-worker-threads", serve.max_worker_threads,
                 "worker threads (instances x intra_op_threads) across all models; a load that "
                 "does not fit fails. 0: 16 per CPU the process may use, at least 64")
      ->check(CLI::Range(0, 1 << 20))
      ->capture_default_str();
  app.add_option("--max-seq-file-bytes", serve.max_seq_file_bytes, "largest model.seq read")
      ->check(CLI::Range(uint64_t{1}, uint64_t{1} << 40))
      ->capture_default_str();
  app.add_option("--max-config-file-bytes", serve.max_config_file_bytes,
                 "largest config.pbtxt read")
      ->check(CLI::Range(uint64_t{1}, uint64_t{1} << 40))
      ->capture_default_str();
  app.add_option("--max-safetensors-file-bytes", serve.max_safetensors_file_bytes,
                 "largest model.safetensors file")
      ->check(CLI::Range(uint64_t{1}, uint64_t{1} << 50))
      ->capture_default_str();
  app.add_option("--max-model-bytes", serve.max_model_bytes,
                 "largest total of the parameters a model declares (as float32), checked "
                 "before anything is allocated")
      ->check(CLI::Range(uint64_t{1}, uint64_t{1} << 50))
      ->capture_default_str();
  app.add_flag("--allow-symlinks-outside-repository", serve.allow_symlinks_outside_repository,
               "read model files whose symlinks lead outside their model repository (refused "
               "by default)");
  app.add_flag("--allow-shared-memory", serve.allow_shared_memory,
               "offer Triton's system shared memory extension to clients on this host (off by "
               "default: a client that may register regions can make the server read and write "
               "any shared memory object this user can open; restrict the shared-memory "
               "protocol too)");
  app.add_option("--trace-file", serve.trace_file,
                 "offer Triton's trace extension, writing traces to FILE (and FILE.<k> with a "
                 "log_frequency); clients set the level, rate and count but cannot name "
                 "another file. Without it the extension is off")
      ->type_name("FILE");
  app.add_option("--max-output-bytes", serve.max_output_bytes,
                 "largest output of one request, checked before it is queued "
                 "(RESOURCE_EXHAUSTED); gRPC replies are also bounded by "
                 "--grpc-max-message-bytes")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 40))
      ->capture_default_str();
  app.add_option("--max-activation-bytes", serve.max_activation_bytes,
                 "largest activations and scratchpad of one execution, checked from the "
                 "compiled plan before it runs (RESOURCE_EXHAUSTED)")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 40))
      ->capture_default_str();
  app.add_option("--worker-retain-bytes", serve.worker_retain_bytes,
                 "memory a worker keeps between batches; after a batch that needed more it is "
                 "given back to the system")
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 40))
      ->capture_default_str();

  // Security (README "Security"), with Triton's flag names.
  app.add_flag("--grpc-use-ssl", serve.grpc_use_ssl,
               "serve gRPC over TLS (needs --grpc-server-cert and --grpc-server-key)");
  app.add_flag("--grpc-use-ssl-mutual", serve.grpc_use_ssl_mutual,
               "serve gRPC over TLS and require client certificates signed by "
               "--grpc-root-cert");
  app.add_option("--grpc-server-cert", serve.grpc_server_cert, "server certificate (PEM)")
      ->type_name("FILE");
  app.add_option("--grpc-server-key", serve.grpc_server_key, "server private key (PEM)")
      ->type_name("FILE");
  app.add_option("--grpc-root-cert", serve.grpc_root_cert,
                 "CA certificate client certificates must chain to (PEM)")
      ->type_name("FILE");
  app.add_option("--grpc-restricted-protocol", serve.grpc_restricted_protocols,
                 "<protocol>[,<protocol>...]:<key>=<value>: those gRPC protocols need metadata "
                 "triton-grpc-protocol-<key> with <value> (repeatable; protocols: health, "
                 "metadata, inference, shared-memory, model-config, model-repository, "
                 "statistics, trace, logging)")
      ->expected(1);

  seqserve::CheckOptions check;
  int64_t check_version = 0;
  CLI::App* check_cmd = app.add_subcommand("check", "validate a model and print its layers");
  check_cmd->add_option("MODEL_DIR", check.model_dir, "model or version directory")->required();
  check_cmd->add_option("--version", check_version, "version to check (default: latest)");
  check_cmd->add_option("--input-shape", check.input_shape,
                        "input shape with batch, e.g. 1,3,224,224 (default: from the model)");
  check_cmd
      ->add_option("--precision", check.precision,
                   "precision to compile in (fp32, bf16, int8); other than fp32 also prints its "
                   "error against fp32")
      ->capture_default_str();

  seqserve::RunOptions run;
  int64_t run_version = 0;
  CLI::App* run_cmd = app.add_subcommand("run", "run one forward pass from .npy to .npy");
  run_cmd->add_option("MODEL_DIR", run.model_dir, "model or version directory")->required();
  run_cmd->add_option("--input", run.input_path, "input .npy (float32 or float64)")->required();
  run_cmd->add_option("--output", run.output_path, "output .npy (float32)")->required();
  run_cmd->add_option("--version", run_version, "version to run (default: latest)");
  run_cmd->add_option("--threads", run.num_threads, "oneDNN threads")->check(CLI::Range(1, 1024));
  run_cmd->add_option("--precision", run.precision, "precision to compute in (fp32, bf16, int8)")
      ->capture_default_str();

  seqserve::CalibrateOptions calibrate;
  int64_t calibrate_version = 0;
  CLI::App* calibrate_cmd = app.add_subcommand(
      "calibrate", "measure the activation ranges of an int8 model and write them beside it");
  calibrate_cmd->add_option("MODEL_DIR", calibrate.model_dir, "model or version directory")
      ->required();
  calibrate_cmd->add_option("--version", calibrate_version, "version (default: latest)");
  calibrate_cmd
      ->add_option("--data", calibrate.data_path,
                   ".npy of representative inputs, (N, *input): a few hundred samples")
      ->required();
  calibrate_cmd->add_option("--holdout", calibrate.holdout_path,
                            ".npy of other inputs to measure int8's accuracy on (default: every "
                            "fifth sample of --data, not calibrated on)");
  calibrate_cmd->add_option("--percentile", calibrate.percentile,
                            "clip each layer's input at this percentile of |x| (100: the maximum)")
      ->check(CLI::Range(1e-6, 100.0))
      ->capture_default_str();
  calibrate_cmd->add_option("--batch", calibrate.batch, "samples per forward pass")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 20))
      ->capture_default_str();
  calibrate_cmd->add_option("--threads", calibrate.num_threads, "oneDNN threads")
      ->check(CLI::Range(1, 1024));
  calibrate_cmd->add_option("--output", calibrate.output_path,
                            "file to write (default: int8_calibration.txt in the version "
                            "directory, where a model configured int8 reads it)");

  CLI::App* modules_cmd =
      app.add_subcommand("modules", "print the module types model.seq may use, one per line");
  seqserve::BenchOptions bench;
  int64_t bench_version = 0;
  CLI::App* bench_cmd =
      app.add_subcommand("bench", "measure in-process latency and throughput of a model");
  bench_cmd->add_option("MODEL_DIR", bench.model_dir, "model or version directory")->required();
  bench_cmd->add_option("--version", bench_version, "version to measure (default: latest)");
  bench_cmd->add_option("--batch", bench.batch, "samples per call")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 20))
      ->capture_default_str();
  bench_cmd->add_option("--shape", bench.shape,
                        "sizes of one sample without the batch, e.g. 3,224,224 (default: from "
                        "the model, as check infers it)");
  bench_cmd->add_option("--threads", bench.threads, "oneDNN threads of the one worker")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  bench_cmd->add_option("--seconds", bench.seconds, "measurement time after the warm-up")
      ->check(CLI::Range(0.001, 86400.0))
      ->capture_default_str();
  bench_cmd->add_option("--precision", bench.precision, "plan precision (fp32, bf16, int8)")
      ->capture_default_str();
  bench_cmd->add_flag("--json", bench.json, "print one JSON object");

  CLI11_PARSE(app, argc, argv);
  if (!app.get_subcommands().empty()) {
    // The offline commands print their results on stdout (bench --json: one JSON object);
    // log lines, such as the engine's tuning report, go to stderr.
    spdlog::set_default_logger(spdlog::stderr_color_mt("offline"));
  }
  if (check_cmd->parsed()) {
    if (check_version > 0) check.version = check_version;
    return seqserve::RunCheckCommand(check);
  }
  if (calibrate_cmd->parsed()) {
    if (calibrate_version > 0) calibrate.version = calibrate_version;
    return seqserve::RunCalibrateCommand(calibrate);
  }
  if (run_cmd->parsed()) {
    if (run_version > 0) run.version = run_version;
    return seqserve::RunRunCommand(run);
  }
  if (modules_cmd->parsed()) return seqserve::RunModulesCommand();
  if (bench_cmd->parsed()) {
    if (bench_version > 0) bench.version = bench_version;
    return seqserve::RunBenchCommand(bench);
  }
  return Serve(serve);
}
