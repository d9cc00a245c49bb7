// What the in-process server tests share (gRPC, REST, metrics, the repository's control):
// server options on free ports, and ways to hold a model's worker and to wait until
// something another thread caused has reached the server, without sleeping. The bundled
// models and their goldens are in bundled_models.h, temporary directories in temp_dir.h.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "server/scheduling/infer_task.h"
#include "server/server.h"
#include "tests/util/bundled_models.h"
#include "tests/util/gate.h"
#include "tests/util/temp_dir.h"

namespace seqserve::testing {

// gRPC only, on 127.0.0.1 and a free port, control mode none, two CPUs.
inline ServerOptions LocalOptions(const fs::path& repository) {
  ServerOptions options;
  options.model_repositories = {repository};
  options.address = "127.0.0.1";
  options.grpc_port = 0;
  options.available_cpus = 2;
  options.exit_timeout_secs = 30;
  return options;
}

// Puts `task` straight into `model`'s scheduler.
inline void Enqueue(Server& server, const std::string& model, std::unique_ptr<InferTask> task) {
  absl::StatusOr<std::shared_ptr<ServableModel>> servable = server.repository().Get(model);
  ASSERT_TRUE(servable.ok()) << servable.status();
  (*servable)->scheduler->Enqueue(std::move(task));
}

// Blocks `model`'s (single) worker until the returned gate is released. The gate's task is a
// zero input of `shape` and `dtype` (a LeNet image by default).
inline std::shared_ptr<Gate> HoldWorker(Server& server, const std::string& model,
                                        Shape shape = {1, 1, 28, 28},
                                        DType dtype = DType::kFloat32) {
  auto gate = std::make_shared<Gate>();
  Enqueue(server, model, std::make_unique<GateTask>(gate, true, std::move(shape), dtype));
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
