// What the server tests share (gRPC, REST, metrics): a temporary repository made of the
// bundled models with test-made configs, the PyTorch goldens of the bundled models, and a
// way to hold a model's single worker without sleeping.
#pragma once

#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/npy.h"
#include "gtest/gtest.h"
#include "server/scheduling/infer_task.h"
#include "server/server.h"
#include "tests/util/gate.h"
#include "tests/util/temp_dir.h"

namespace seqserve::testing {

namespace fs = std::filesystem;

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

// LeNet's input and output, for configs written by tests.
inline constexpr char kLenetTensors[] =
    "input [ { name: \"input\" data_type: TYPE_FP32 dims: [ 1, 28, 28 ] } ]\n"
    "output [ { name: \"output\" data_type: TYPE_FP32 dims: [ 10 ] } ]\n";

// LeNet with one worker and a queue of one: a held worker makes the queue full
// deterministically.
inline const std::string kHeldConfig =
    absl::StrCat("max_batch_size: 8\n", kLenetTensors,
                 "instance_group [ { count: 1 kind: KIND_CPU } ]\n"
                 "dynamic_batching { default_queue_policy { max_queue_size: 1 } }\n");

// A bundled model's golden tensor: tests/data/bundled/<model>/<name>.npy (from PyTorch).
inline Tensor LoadNpy(const std::string& model, const std::string& name) {
  absl::StatusOr<Tensor> tensor =
      ReadNpy(fs::path(SEQSERVE_TEST_DATA_DIR) / "bundled" / model / (name + ".npy"));
  EXPECT_TRUE(tensor.ok()) << tensor.status();
  return tensor.ok() ? *tensor : Tensor();
}

// ---- Holding a worker -------------------------------------------------------------------

// A task put straight into a scheduler: a zero image whose MutableOutput blocks until the
// gate opens (when `block`), so the worker running it is held.
class GateTask : public InferTask {
 public:
  explicit GateTask(std::shared_ptr<Gate> gate, bool block = true)
      : gate_(std::move(gate)), block_(block) {}
  const Shape& input_shape() const override { return shape_; }
  const float* input_data() const override { return input_.data(); }
  float* MutableOutput(const Shape& shape) override {
    if (block_) {
      gate_->entered.Notify();
      gate_->release.WaitForNotification();
    }
    output_.resize(static_cast<size_t>(NumElements(shape)));
    return output_.data();
  }
  void Finish(const absl::Status& status) override {
    gate_->status = status;
    gate_->finished.Notify();
  }

 private:
  std::shared_ptr<Gate> gate_;  // shared: the task may outlive a failed test's scope
  const bool block_;
  const Shape shape_{1, 1, 28, 28};
  const std::vector<float> input_ = std::vector<float>(784, 0.0f);
  std::vector<float> output_;
};

// Puts `task` straight into `model`'s scheduler.
inline void Enqueue(Server& server, const std::string& model, std::unique_ptr<InferTask> task) {
  absl::StatusOr<std::shared_ptr<ServableModel>> servable = server.repository().Get(model);
  ASSERT_TRUE(servable.ok()) << servable.status();
  (*servable)->scheduler->Enqueue(std::move(task));
}

// Blocks `model`'s (single) worker until the returned gate is released.
inline std::shared_ptr<Gate> HoldWorker(Server& server, const std::string& model) {
  auto gate = std::make_shared<Gate>();
  Enqueue(server, model, std::make_unique<GateTask>(gate));
  EXPECT_TRUE(gate->entered.WaitForNotificationWithTimeout(kGuard));
  return gate;
}

// Polls `model`'s scheduler until `done(scheduler)`: how a test knows that something another
// thread caused has reached the server. False after kGuard.
inline bool WaitForScheduler(Server& server, const std::string& model,
                             const std::function<bool(const Scheduler&)>& done) {
  absl::StatusOr<std::shared_ptr<ServableModel>> servable = server.repository().Get(model);
  if (!servable.ok()) return false;
  const absl::Time deadline = absl::Now() + kGuard;
  while (!done(*(*servable)->scheduler)) {
    if (absl::Now() > deadline) return false;
    std::this_thread::yield();
  }
  return true;
}

// Until `depth` tasks are queued (e.g. a request sent on another thread has arrived).
inline bool WaitForQueueDepth(Server& server, const std::string& model, size_t depth) {
  return WaitForScheduler(server, model,
                          [depth](const Scheduler& s) { return s.QueueDepth() == depth; });
}

// Until `count` queued tasks are known to be cancelled.
inline bool WaitForQueuedCancelled(Server& server, const std::string& model, size_t count) {
  return WaitForScheduler(server, model,
                          [count](const Scheduler& s) { return s.QueuedCancelled() == count; });
}

}  // namespace seqserve::testing
