// seqserve: the server binary. Without a subcommand it serves the model repositories over
// gRPC and HTTP/REST, with Prometheus metrics (SPEC §5, §6, §8); the subcommands `check`,
// `run` and `bench` work offline on a model directory.
//
// Signals: SIGTERM and SIGINT are blocked in every thread from the start and taken with
// sigwait by the main thread, so no handler ever runs in the middle of a gRPC or oneDNN
// call. The first one starts the drain of SPEC §9 (Server::Shutdown) and the process exits 0
// when it is done. A second SIGTERM/SIGINT during the drain exits at once with 128 + the
// signal number, abandoning what is still running; a drain still running 10 s after
// --exit-timeout-secs exits with 1.
#include <pthread.h>
#include <signal.h>

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
#include "server/logging/logging.h"
#include "server/offline/bench_command.h"
#include "server/offline/offline_commands.h"
#include "server/server.h"
#include "spdlog/spdlog.h"

namespace {

struct ServeFlags {
  std::vector<std::string> model_repositories;
  int grpc_port = 8001;
  int http_port = 8000;
  int metrics_port = 8002;
  std::string model_control_mode = "none";
  int repository_poll_secs = 15;
  std::vector<std::string> load_models;
  int exit_timeout_secs = 30;
  std::string log_level = "info";
  std::string log_format = "text";
  std::string address = "0.0.0.0";
  int grpc_max_message_bytes = 64 * 1024 * 1024;
  int64_t http_max_body_bytes = 64 * 1024 * 1024;
  int http_thread_count = 16;
  bool allow_metrics = true;
  bool log_requests = false;
};

// Beyond --exit-timeout-secs (after which gRPC cancels what still runs), how long the drain
// may still take before the process gives up on it.
constexpr int kExitGraceSecs = 10;

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
  options.metrics_port = flags.metrics_port;
  options.allow_metrics = flags.allow_metrics;
  options.log_requests = flags.log_requests;
  options.exit_timeout_secs = flags.exit_timeout_secs;

  // Before any thread exists, so that every thread inherits the mask and only sigwait below
  // (and sigtimedwait during the drain) ever takes these signals. SIGUSR1 is how the drain
  // thread tells the main thread it is done.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  absl::StatusOr<std::unique_ptr<seqserve::Server>> server = seqserve::Server::Start(options);
  if (!server.ok()) {
    spdlog::error("cannot start: {}", std::string(server.status().message()));
    return 1;
  }

  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  int signal_number = 0;
  while (sigwait(&stop_signals, &signal_number) != 0) {
  }
  spdlog::info("received {}: draining (send it again to exit at once)", strsignal(signal_number));

  const pthread_t main_thread = pthread_self();
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
                 "HTTP threads (connections served at once)")
      ->check(CLI::Range(1, 4096))
      ->capture_default_str();
  app.add_option("--allow-metrics", serve.allow_metrics,
                 "serve /metrics and keep the latency and batch-size histograms")
      ->capture_default_str();
  app.add_flag("--log-requests", serve.log_requests,
               "log every gRPC and HTTP request (status, duration) on the 'access' logger");

  seqserve::CheckOptions check;
  int64_t check_version = 0;
  CLI::App* check_cmd = app.add_subcommand("check", "validate a model and print its layers");
  check_cmd->add_option("MODEL_DIR", check.model_dir, "model or version directory")->required();
  check_cmd->add_option("--version", check_version, "version to check (default: latest)");
  check_cmd->add_option("--input-shape", check.input_shape,
                        "input shape with batch, e.g. 1,3,224,224 (default: from the model)");

  seqserve::RunOptions run;
  int64_t run_version = 0;
  CLI::App* run_cmd = app.add_subcommand("run", "run one forward pass from .npy to .npy");
  run_cmd->add_option("MODEL_DIR", run.model_dir, "model or version directory")->required();
  run_cmd->add_option("--input", run.input_path, "input .npy (float32 or float64)")->required();
  run_cmd->add_option("--output", run.output_path, "output .npy (float32)")->required();
  run_cmd->add_option("--version", run_version, "version to run (default: latest)");
  run_cmd->add_option("--threads", run.num_threads, "oneDNN threads")->check(CLI::Range(1, 1024));

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
  bench_cmd->add_option("--precision", bench.precision, "plan precision (fp32)")
      ->capture_default_str();
  bench_cmd->add_flag("--json", bench.json, "print one JSON object");

  CLI11_PARSE(app, argc, argv);
  if (check_cmd->parsed()) {
    if (check_version > 0) check.version = check_version;
    return seqserve::RunCheckCommand(check);
  }
  if (run_cmd->parsed()) {
    if (run_version > 0) run.version = run_version;
    return seqserve::RunRunCommand(run);
  }
  if (bench_cmd->parsed()) {
    if (bench_version > 0) bench.version = bench_version;
    return seqserve::RunBenchCommand(bench);
  }
  return Serve(serve);
}
