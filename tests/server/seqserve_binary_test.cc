// The real `seqserve` binary as a user runs it: spawned on port 0 with JSON logs (every
// line must be a JSON object with ts, level, logger and msg), the chosen port read from its
// log, inference over gRPC, then SIGTERM with requests still queued: every request is
// answered and the process exits 0. Also the command-line errors and the offline
// subcommands. Waits are on pipes and gRPC calls, each bounded by a guard timeout.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/npy.h"
#include "core/module_registry.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "proto/grpc_service.grpc.pb.h"
#include "tests/util/bundled_models.h"
#include "tests/util/grpc_requests.h"
#include "tests/util/temp_dir.h"

extern char** environ;

namespace seqserve {
namespace {

namespace fs = std::filesystem;
using inference::ModelInferRequest;
using inference::ModelInferResponse;
using inference::ModelStreamInferResponse;
using testing::ExpectRows;
using testing::LoadNpy;
using testing::MakeRequest;
using testing::OutputValues;
using testing::WriteFile;

constexpr int kGuardMs = 60000;

// A child process with its stdout and stderr on one pipe, read line by line.
class Child {
 public:
  explicit Child(const std::vector<std::string>& args) {
    int fds[2];
    EXPECT_EQ(pipe(fds), 0);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&actions, fds[1], STDERR_FILENO);
    posix_spawn_file_actions_addclose(&actions, fds[0]);
    posix_spawn_file_actions_addclose(&actions, fds[1]);
    std::vector<char*> argv;
    std::vector<std::string> owned = args;
    owned.insert(owned.begin(), SEQSERVE_BINARY);
    for (std::string& arg : owned) argv.push_back(arg.data());
    argv.push_back(nullptr);
    EXPECT_EQ(posix_spawn(&pid_, SEQSERVE_BINARY, &actions, nullptr, argv.data(), environ), 0);
    posix_spawn_file_actions_destroy(&actions);
    close(fds[1]);
    fd_ = fds[0];
  }

  ~Child() {
    if (pid_ > 0 && !exited_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    if (fd_ >= 0) close(fd_);
  }

  // The next line of output; nullopt at end of output or when none comes within the guard.
  std::optional<std::string> ReadLine() {
    while (true) {
      const size_t newline = buffer_.find('\n');
      if (newline != std::string::npos) {
        std::string line = buffer_.substr(0, newline);
        buffer_.erase(0, newline + 1);
        output_ += line + "\n";
        return line;
      }
      pollfd pfd{fd_, POLLIN, 0};
      if (poll(&pfd, 1, kGuardMs) <= 0) return std::nullopt;
      char chunk[4096];
      const ssize_t n = read(fd_, chunk, sizeof(chunk));
      if (n <= 0) return std::nullopt;
      buffer_.append(chunk, static_cast<size_t>(n));
    }
  }

  // Reads the rest of the output, then waits for the exit; the exit code, or -signal.
  int Wait() {
    while (ReadLine()) {
    }
    int status = 0;
    waitpid(pid_, &status, 0);
    exited_ = true;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
  }

  void Signal(int signal_number) { kill(pid_, signal_number); }
  const std::string& output() const { return output_; }

 private:
  pid_t pid_ = 0;
  int fd_ = -1;
  bool exited_ = false;
  std::string buffer_;
  std::string output_;
};

// The reply's one raw output must be row `row` of `expected` (PyTorch's).
void ExpectRow(const ModelInferResponse& response, const Tensor& expected, int row) {
  ASSERT_EQ(response.raw_output_contents_size(), 1);
  ExpectRows(OutputValues(response), expected, {row});
}

TEST(SeqserveBinary, WithoutRepositoryFailsWithAClearError) {
  Child child({"--grpc-port=0"});
  EXPECT_EQ(child.Wait(), 1);
  EXPECT_THAT(child.output(), ::testing::HasSubstr("no --model-repository given"));
}

TEST(SeqserveBinary, OfflineCheckStillWorks) {
  Child child({"check", (fs::path(SEQSERVE_SOURCE_DIR) / "models" / "lenet").string()});
  EXPECT_EQ(child.Wait(), 0) << child.output();
  EXPECT_THAT(child.output(), ::testing::HasSubstr("Conv2d"));
}

TEST(SeqserveBinary, ModulesPrintsTheEnginesRegistryOnePerLine) {
  Child child({"modules"});
  EXPECT_EQ(child.Wait(), 0) << child.output();
  std::string expected;
  for (const std::string& type : ModuleTypes()) absl::StrAppend(&expected, type, "\n");
  EXPECT_EQ(child.output(), expected);
}

// Before: SIGTERM was taken only once start-up had finished, so a start-up that hung (a
// model.seq FIFO) or took long could not be stopped. Here 300 models (symlinks inside the
// repository to one copy of lenet) take a while to load; SIGTERM after the first one has
// loaded ends the process at once, before any port opens.
TEST(SeqserveBinary, SigtermDuringStartUpExitsPromptly) {
  testing::TempDir dir("seqserve_bin_startup");
  const fs::path lenet = fs::path(SEQSERVE_SOURCE_DIR) / "models" / "lenet";
  // Hidden: not a model, but inside the repository, so the links to it are allowed.
  fs::create_directories(dir.path() / ".shared");
  fs::copy(lenet / "1", dir.path() / ".shared" / "1", fs::copy_options::recursive);
  for (int i = 0; i < 300; ++i) {
    const fs::path model = dir.path() / absl::StrCat("m", i);
    fs::create_directories(model);
    fs::create_directory_symlink("../.shared/1", model / "1");
    // Fixed dims, so each load compiles its warm-up plan.
    WriteFile(model / "config.pbtxt",
              "max_batch_size: 64\n"
              "input [ { name: \"input\" data_type: TYPE_FP32 dims: [ 1, 28, 28 ] } ]\n"
              "instance_group [ { count: 1 kind: KIND_CPU } ]\n");
  }
  Child child({"--model-repository=" + dir.path().string(), "--grpc-port=0", "--http-port=0",
               "--metrics-port=0", "--address=127.0.0.1", "--max-worker-threads=1000"});
  while (true) {
    std::optional<std::string> line = child.ReadLine();
    ASSERT_TRUE(line.has_value()) << "no load in the log:\n" << child.output();
    if (line->find("loaded m") != std::string::npos) break;
  }
  const auto signalled = std::chrono::steady_clock::now();
  child.Signal(SIGTERM);
  EXPECT_EQ(child.Wait(), 0) << child.output();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - signalled).count();
  EXPECT_LT(seconds, 5.0);
  // Not EXPECT_THAT on the output: 300 load lines would drown the message.
  EXPECT_NE(child.output().find("received Terminated during start-up: exiting"),
            std::string::npos);
  EXPECT_EQ(child.output().find("listening for gRPC"), std::string::npos);
}

// Explicit control mode on every interface: a warning that anyone who reaches the ports
// may load and unload models, naming each protocol that does not restrict it; none on a
// loopback address.
TEST(SeqserveBinary, WarnsWhenRepositoryControlIsOpenOnANonLoopbackAddress) {
  const std::string repository =
      "--model-repository=" + (fs::path(SEQSERVE_SOURCE_DIR) / "models").string();
  const std::vector<std::string> common = {repository, "--grpc-port=0", "--http-port=0",
                                           "--metrics-port=0", "--model-control-mode=explicit"};
  auto run = [&](std::vector<std::string> extra, bool expect_warning) {
    std::vector<std::string> args = common;
    args.insert(args.end(), extra.begin(), extra.end());
    Child child(args);
    std::string warning;
    while (true) {
      std::optional<std::string> line = child.ReadLine();
      if (!line) break;
      if (line->find("may load and unload models") != std::string::npos) warning = *line;
      // The warning comes before readiness, readiness before this line.
      if (line->find("listening for gRPC") != std::string::npos) break;
    }
    child.Signal(SIGTERM);
    EXPECT_EQ(child.Wait(), 0) << child.output();
    EXPECT_EQ(!warning.empty(), expect_warning) << child.output();
    return warning;
  };
  const std::string open = run({"--address=0.0.0.0"}, true);
  EXPECT_THAT(open, ::testing::HasSubstr("model control mode explicit: anyone who can reach gRPC "
                                         "on 0.0.0.0:"));
  EXPECT_THAT(open, ::testing::HasSubstr(" or HTTP on 0.0.0.0:"));
  EXPECT_THAT(open, ::testing::HasSubstr("--grpc-restricted-protocol=model-repository"));
  // gRPC restricted: only HTTP (which cannot be restricted in this build) is named.
  const std::string http_only =
      run({"--address=0.0.0.0", "--grpc-restricted-protocol=model-repository:admin-key=k"}, true);
  EXPECT_THAT(http_only, ::testing::Not(::testing::HasSubstr("gRPC on")));
  EXPECT_THAT(http_only, ::testing::HasSubstr("anyone who can reach HTTP on 0.0.0.0:"));
  run({"--address=127.0.0.1"}, false);
}

TEST(SeqserveBinary, ServesThenDrainsQueuedRequestsOnSigterm) {
  testing::TempDir dir("seqserve_bin");
  fs::copy(fs::path(SEQSERVE_SOURCE_DIR) / "models" / "lenet", dir.path() / "lenet",
           fs::copy_options::recursive);
  // Requests to `slow` wait up to 2 s for a batch to fill: still queued when SIGTERM comes.
  // (The fixed window: the adaptive one would run them at once, having seen no batches.)
  fs::create_directories(dir.path() / "slow");
  fs::copy(fs::path(SEQSERVE_SOURCE_DIR) / "models" / "lenet" / "1", dir.path() / "slow" / "1",
           fs::copy_options::recursive);
  WriteFile(dir.path() / "slow" / "config.pbtxt",
            "max_batch_size: 64\n"
            "input [ { name: \"input\" data_type: TYPE_FP32 dims: [ 1, 28, 28 ] } ]\n"
            "instance_group [ { count: 1 kind: KIND_CPU } ]\n"
            "dynamic_batching { max_queue_delay_microseconds: 2000000 }\n"
            "parameters { key: \"adaptive_batching\" value: { string_value: \"false\" } }\n");

  Child child({"--model-repository=" + dir.path().string(), "--grpc-port=0", "--http-port=0",
               "--metrics-port=0", "--address=127.0.0.1", "--log-format=json"});
  int port = 0;
  const std::regex listening("listening for gRPC .* on 127\\.0\\.0\\.1:([0-9]+)");
  while (port == 0) {
    std::optional<std::string> line = child.ReadLine();
    ASSERT_TRUE(line.has_value()) << "no port in the log:\n" << child.output();
    const nlohmann::json entry = nlohmann::json::parse(*line, nullptr, /*allow_exceptions=*/false);
    ASSERT_TRUE(entry.is_object()) << "not a JSON log line: " << *line;
    for (const char* key : {"ts", "level", "logger", "msg"}) {
      ASSERT_TRUE(entry.contains(key) && entry[key].is_string()) << key << " in " << *line;
    }
    std::smatch match;
    const std::string msg = entry["msg"].get<std::string>();
    if (std::regex_search(msg, match, listening)) port = std::stoi(match[1]);
  }

  grpc::ChannelArguments args;
  auto channel = grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", port),
                                           grpc::InsecureChannelCredentials(), args);
  auto stub = inference::GRPCInferenceService::NewStub(channel);
  const Tensor input = LoadNpy("lenet", "input");
  const Tensor expected = LoadNpy("lenet", "expected");
  {
    grpc::ClientContext context;
    ModelInferResponse response;
    const grpc::Status status = stub->ModelInfer(
        &context, MakeRequest("lenet", input, {2}, /*raw=*/true, "unary"), &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
    ExpectRow(response, expected, 2);
  }

  // The stream reads requests in order and enqueues each before reading the next, so once
  // the answer to `marker` arrives, the three requests to `slow` are queued.
  grpc::ClientContext context;
  auto stream = stub->ModelStreamInfer(&context);
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(
        stream->Write(MakeRequest("slow", input, {i}, /*raw=*/true, absl::StrCat("slow-", i))));
  }
  ASSERT_TRUE(stream->Write(MakeRequest("lenet", input, {3}, /*raw=*/true, "marker")));
  ASSERT_TRUE(stream->WritesDone());
  std::map<std::string, ModelStreamInferResponse> answers;
  ModelStreamInferResponse answer;
  while (answers.count("marker") == 0) {
    ASSERT_TRUE(stream->Read(&answer));
    answers[answer.infer_response().id()] = answer;
  }

  child.Signal(SIGTERM);
  while (stream->Read(&answer)) answers[answer.infer_response().id()] = answer;
  const grpc::Status status = stream->Finish();
  EXPECT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(answers.size(), 4u);
  for (int i = 0; i < 3; ++i) {
    const ModelStreamInferResponse& slow = answers[absl::StrCat("slow-", i)];
    EXPECT_EQ(slow.error_message(), "");
    ExpectRow(slow.infer_response(), expected, i);
  }
  ExpectRow(answers["marker"].infer_response(), expected, 3);

  // Keep the connection polled while the server exits: an idle C++ client would read the
  // server's graceful GOAWAY only when its backup poller runs (every 5 s), holding the
  // server's exit back that long.
  // Short waits in a loop: once the server is gone the state may never change again, and
  // the loop must end as soon as the child has exited.
  std::atomic<bool> exited{false};
  std::thread poller([&channel, &exited] {
    while (!exited.load()) {
      channel->WaitForStateChange(channel->GetState(false), std::chrono::system_clock::now() +
                                                                std::chrono::milliseconds(100));
    }
  });
  EXPECT_EQ(child.Wait(), 0) << child.output();
  exited = true;
  poller.join();
  EXPECT_THAT(child.output(), ::testing::HasSubstr("draining"));
}

}  // namespace
}  // namespace seqserve
