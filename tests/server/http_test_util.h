// What the REST and metrics tests share: a temporary repository made of the bundled models
// (plus test-made configs and a broken model), the PyTorch goldens, a way to hold a model's
// single worker without sleeping, and small cpp-httplib helpers that return the status and
// the parsed JSON body.
#pragma once

#include <stdlib.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "core/npy.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "nlohmann/json.hpp"
#include "server/infer_task.h"
#include "server/server.h"

namespace seqserve::testing {

namespace fs = std::filesystem;

// Bounds every wait on the server, so a bug fails the test instead of hanging it.
inline constexpr absl::Duration kGuard = absl::Seconds(60);

class TempDir {
 public:
  explicit TempDir(const std::string& prefix) {
    std::string pattern = (fs::temp_directory_path() / (prefix + "_XXXXXX")).string();
    path_ = mkdtemp(pattern.data());
  }
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

inline void WriteFile(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path) << text;
}

// Copies models/<from> to <root>/<to>, replacing its config.pbtxt when `config` is given.
inline void CopyModel(const fs::path& root, const std::string& from, const std::string& to,
                      const std::string& config = "") {
  fs::copy(fs::path(SEQSERVE_SOURCE_DIR) / "models" / from, root / to, fs::copy_options::recursive);
  if (!config.empty()) WriteFile(root / to / "config.pbtxt", config);
}

// LeNet with one worker and a queue of one: a held worker makes the queue full
// deterministically.
inline const std::string kHeldConfig =
    "max_batch_size: 8\n"
    "input [ { name: \"input\" data_type: TYPE_FP32 dims: [ 1, 28, 28 ] } ]\n"
    "output [ { name: \"output\" data_type: TYPE_FP32 dims: [ 10 ] } ]\n"
    "instance_group [ { count: 1 kind: KIND_CPU } ]\n"
    "dynamic_batching { default_queue_policy { max_queue_size: 1 } }\n";

// A repository of lenet, mlp, seed, "held" (lenet, kHeldConfig) and "broken" (fails to load).
inline void MakeRepository(const fs::path& root) {
  for (const char* model : {"lenet", "mlp", "seed"}) CopyModel(root, model, model);
  CopyModel(root, "lenet", "held", kHeldConfig);
  WriteFile(root / "broken" / "1" / "model.seq", "nn.Sequential(nn.Linear(4, 2), nn.Bogus())\n");
}

inline ServerOptions LocalOptions(const fs::path& repository) {
  ServerOptions options;
  options.model_repositories = {repository};
  options.address = "127.0.0.1";
  options.grpc_port = 0;
  options.http_port = 0;
  options.metrics_port = 0;
  options.control_mode = ModelControlMode::kExplicit;
  options.startup_models = {"*"};
  options.available_cpus = 2;
  options.exit_timeout_secs = 30;
  return options;
}

inline Tensor LoadNpy(const std::string& model, const std::string& name) {
  absl::StatusOr<Tensor> tensor =
      ReadNpy(fs::path(SEQSERVE_TEST_DATA_DIR) / "bundled" / model / (name + ".npy"));
  EXPECT_TRUE(tensor.ok()) << tensor.status();
  return tensor.ok() ? *tensor : Tensor();
}

// Rows [first, first + count) of `tensor`.
inline Tensor Rows(const Tensor& tensor, int64_t first, int64_t count) {
  const int64_t row = tensor.numel() / tensor.shape[0];
  Shape shape = tensor.shape;
  shape[0] = count;
  return Tensor(shape, std::vector<float>(tensor.data.begin() + first * row,
                                          tensor.data.begin() + (first + count) * row));
}

// `got` must equal `want` within 1e-4 relative (absolute below 1): PyTorch's tolerance.
inline void ExpectClose(const std::vector<float>& got, const std::vector<float>& want) {
  ASSERT_EQ(got.size(), want.size());
  int mismatches = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    if (std::fabs(got[i] - want[i]) > 1e-4f * std::max(1.0f, std::fabs(want[i])) &&
        ++mismatches <= 3) {
      ADD_FAILURE() << "element " << i << ": got " << got[i] << ", PyTorch " << want[i];
    }
  }
  EXPECT_EQ(mismatches, 0);
}

// ---- Holding a worker -------------------------------------------------------------------

struct Gate {
  absl::Notification entered;
  absl::Notification release;
};

// A task put straight into a scheduler whose MutableOutput blocks until the gate opens, so
// the worker running it is held.
class GateTask : public InferTask {
 public:
  explicit GateTask(std::shared_ptr<Gate> gate) : gate_(std::move(gate)) {}
  const Shape& input_shape() const override { return shape_; }
  const float* input_data() const override { return input_.data(); }
  float* MutableOutput(const Shape& shape) override {
    gate_->entered.Notify();
    gate_->release.WaitForNotification();
    output_.resize(static_cast<size_t>(NumElements(shape)));
    return output_.data();
  }
  void Finish(const absl::Status&) override {}

 private:
  std::shared_ptr<Gate> gate_;  // shared: the task may outlive a failed test's scope
  const Shape shape_{1, 1, 28, 28};
  const std::vector<float> input_ = std::vector<float>(784, 0.0f);
  std::vector<float> output_;
};

// Opens the gate when the test leaves its scope, so a failing test never leaves a worker
// blocked (which would hang the server's shutdown).
class GateOpener {
 public:
  explicit GateOpener(std::shared_ptr<Gate> gate) : gate_(std::move(gate)) {}
  ~GateOpener() {
    if (!gate_->release.HasBeenNotified()) gate_->release.Notify();
  }

 private:
  std::shared_ptr<Gate> gate_;
};

// Blocks `model`'s (single) worker until the returned gate is released.
inline std::shared_ptr<Gate> HoldWorker(Server& server, const std::string& model) {
  auto gate = std::make_shared<Gate>();
  absl::StatusOr<std::shared_ptr<ServableModel>> servable = server.repository().Get(model);
  EXPECT_TRUE(servable.ok()) << servable.status();
  if (!servable.ok()) return gate;
  (*servable)->scheduler->Enqueue(std::make_unique<GateTask>(gate));
  EXPECT_TRUE(gate->entered.WaitForNotificationWithTimeout(kGuard));
  return gate;
}

// Polls the scheduler's queue depth: how a test knows that a request sent on another thread
// has reached the queue.
inline bool WaitForQueueDepth(Server& server, const std::string& model, size_t depth) {
  absl::StatusOr<std::shared_ptr<ServableModel>> servable = server.repository().Get(model);
  if (!servable.ok()) return false;
  const absl::Time deadline = absl::Now() + kGuard;
  while ((*servable)->scheduler->QueueDepth() != depth) {
    if (absl::Now() > deadline) return false;
    std::this_thread::yield();
  }
  return true;
}

// ---- HTTP -------------------------------------------------------------------------------

struct HttpReply {
  int status = 0;  // 0: no response (connection failed)
  std::string body;
  httplib::Headers headers;
  // The body as JSON (discarded when it is not JSON).
  nlohmann::json json() const { return nlohmann::json::parse(body, nullptr, false); }
};

inline HttpReply ToReply(const httplib::Result& result) {
  HttpReply reply;
  if (!result) return reply;
  reply.status = result->status;
  reply.body = result->body;
  reply.headers = result->headers;
  return reply;
}

inline HttpReply HttpGet(int port, const std::string& path) {
  httplib::Client client("127.0.0.1", port);
  client.set_read_timeout(60);
  return ToReply(client.Get(path));
}

inline HttpReply HttpPost(int port, const std::string& path, const std::string& body,
                          const httplib::Headers& headers = {},
                          const std::string& content_type = "application/json") {
  httplib::Client client("127.0.0.1", port);
  client.set_read_timeout(60);
  client.set_write_timeout(60);
  return ToReply(client.Post(path, headers, body, content_type));
}

// A KServe v2 JSON request for `input`, its data flat or nested to the tensor's shape.
inline nlohmann::json InferJson(const Tensor& input, bool nested, const std::string& id = "") {
  nlohmann::json data;
  if (!nested) {
    data = input.data;
  } else {
    // Builds the nested arrays dim by dim, from the innermost.
    std::vector<nlohmann::json> level(input.data.begin(), input.data.end());
    for (size_t d = input.shape.size(); d-- > 1;) {
      const size_t size = static_cast<size_t>(input.shape[d]);
      std::vector<nlohmann::json> outer;
      for (size_t i = 0; i < level.size(); i += size) {
        outer.emplace_back(nlohmann::json(std::vector<nlohmann::json>(
            level.begin() + static_cast<long>(i), level.begin() + static_cast<long>(i + size))));
      }
      level = std::move(outer);
    }
    data = level;
  }
  nlohmann::json request = {
      {"inputs",
       {{{"name", "input"}, {"shape", input.shape}, {"datatype", "FP32"}, {"data", data}}}}};
  if (!id.empty()) request["id"] = id;
  return request;
}

// The floats of a JSON reply's first output.
inline std::vector<float> JsonOutput(const nlohmann::json& reply) {
  std::vector<float> values;
  for (const nlohmann::json& value : reply["outputs"][0]["data"]) {
    values.push_back(value.get<float>());
  }
  return values;
}

}  // namespace seqserve::testing
