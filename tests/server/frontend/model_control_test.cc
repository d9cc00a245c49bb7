// The one load/unload path of both protocols, on a real repository of the bundled LeNet:
// refusals answered at once on the caller's thread, changes answered on the control thread,
// and the shutdown: queued changes answered UNAVAILABLE, the running one finished. Waits are
// on notifications and states (the control thread is held by an unload draining a held
// request), never on sleeps.
#include "server/frontend/model_control.h"

#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"
#include "server/frontend/serving_state.h"
#include "server/repository/model_repository.h"
#include "tests/util/server_test_util.h"

namespace seqserve {
namespace {

using testing::CopyModel;
using testing::Gate;
using testing::GateOpener;
using testing::GateTask;
using testing::kGuard;
using testing::TempDir;

// One answer of a Change: its status and whether it came before Change returned.
struct Answer {
  absl::Notification done;
  absl::Status status;
  std::thread::id thread;
};

ModelControl::Done Record(Answer& answer) {
  return [&answer](const absl::Status& status) {
    answer.status = status;
    answer.thread = std::this_thread::get_id();
    answer.done.Notify();
  };
}

// Until version 1 of `model` is in `state`; false after kGuard.
bool WaitForState(const ModelRepository& repository, const std::string& model, ModelState state) {
  const absl::Time deadline = absl::Now() + kGuard;
  while (absl::Now() < deadline) {
    for (const ModelVersionStatus& status : repository.Index()) {
      if (status.name == model && status.version == 1 && status.state == state) return true;
    }
    std::this_thread::yield();
  }
  return false;
}

class ModelControlTest : public ::testing::Test {
 protected:
  void SetUp() override { CopyModel(dir_.path(), "lenet", "lenet"); }

  void Start(ModelControlMode mode) {
    RepositoryOptions options;
    options.roots = {dir_.path()};
    options.mode = mode;
    options.startup_models = {"*"};
    auto repository = ModelRepository::Create(options);
    ASSERT_TRUE(repository.ok()) << repository.status();
    repository_ = std::move(*repository);
    auto control = ModelControl::Create(*repository_, state_);
    ASSERT_TRUE(control.ok()) << control.status();
    control_ = std::move(*control);
  }

  void TearDown() override {
    control_.reset();
    repository_.reset();
  }

  TempDir dir_{"model_control_test"};
  ServingState state_;
  std::unique_ptr<ModelRepository> repository_;
  std::unique_ptr<ModelControl> control_;
};

TEST_F(ModelControlTest, ChangesRunOnTheControlThread) {
  Start(ModelControlMode::kExplicit);
  Answer unload;
  control_->Change("", "lenet", /*load=*/false, {}, Record(unload));
  ASSERT_TRUE(unload.done.WaitForNotificationWithTimeout(kGuard));
  EXPECT_TRUE(unload.status.ok()) << unload.status;
  EXPECT_NE(unload.thread, std::this_thread::get_id());
  EXPECT_FALSE(repository_->Get("lenet").ok());

  EXPECT_TRUE(control_->ChangeAndWait("", "lenet", /*load=*/true, {}).ok());
  EXPECT_TRUE(repository_->Get("lenet").ok());
}

TEST_F(ModelControlTest, RefusalsAreAnsweredAtOnceOnTheCallersThread) {
  Start(ModelControlMode::kNone);
  Answer none_mode;
  control_->Change("", "lenet", /*load=*/true, {}, Record(none_mode));
  ASSERT_TRUE(none_mode.done.HasBeenNotified());
  EXPECT_EQ(none_mode.thread, std::this_thread::get_id());
  EXPECT_EQ(none_mode.status.code(), absl::StatusCode::kFailedPrecondition);

  Answer named_repository;
  control_->Change("elsewhere", "lenet", /*load=*/true, {}, Record(named_repository));
  ASSERT_TRUE(named_repository.done.HasBeenNotified());
  EXPECT_EQ(named_repository.status.code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(ModelControlTest, OnceShutdownBeginsChangesAreRefused) {
  Start(ModelControlMode::kExplicit);
  state_.BeginShutdown();
  const absl::Status status = control_->ChangeAndWait("", "lenet", /*load=*/true, {});
  EXPECT_EQ(status, ShuttingDownError());
  EXPECT_TRUE(repository_->Get("lenet").ok());  // nothing changed
}

TEST_F(ModelControlTest, StopAnswersQueuedChangesAndFinishesTheRunningOne) {
  Start(ModelControlMode::kExplicit);
  // Hold LeNet's worker, so that an unload blocks the control thread while it drains.
  auto servable = repository_->Get("lenet");
  ASSERT_TRUE(servable.ok()) << servable.status();
  auto gate = std::make_shared<Gate>();
  GateOpener opener(gate);
  (*servable)->scheduler->Enqueue(std::make_unique<GateTask>(gate));
  servable->reset();
  ASSERT_TRUE(gate->entered.WaitForNotificationWithTimeout(kGuard));

  Answer running, queued;
  control_->Change("", "lenet", /*load=*/false, {}, Record(running));
  // The unload runs (LeNet is UNLOADING, draining the held request) before the next queues.
  ASSERT_TRUE(WaitForState(*repository_, "lenet", ModelState::kUnloading));
  control_->Change("", "lenet", /*load=*/true, {}, Record(queued));
  std::thread stopper([this] { control_->Stop(); });
  // Stop has begun once a new change is refused at once; the probes sent before queue up
  // behind the running unload (a deque keeps them where their callbacks write).
  std::deque<Answer> probes;
  const absl::Time deadline = absl::Now() + kGuard;
  do {
    Answer& probe = probes.emplace_back();
    control_->Change("", "lenet", /*load=*/true, {}, Record(probe));
    if (probe.done.HasBeenNotified()) break;
    std::this_thread::yield();
  } while (absl::Now() < deadline);
  EXPECT_TRUE(probes.back().done.HasBeenNotified()) << "Stop did not begin";
  gate->release.Notify();
  stopper.join();
  for (const Answer& probe : probes) {
    EXPECT_TRUE(probe.done.HasBeenNotified());
    EXPECT_EQ(probe.status, ShuttingDownError());
  }
  ASSERT_TRUE(running.done.HasBeenNotified());
  EXPECT_TRUE(running.status.ok()) << running.status;
  ASSERT_TRUE(queued.done.HasBeenNotified());
  EXPECT_EQ(queued.status, ShuttingDownError());
  EXPECT_TRUE(gate->finished.WaitForNotificationWithTimeout(kGuard));
}

}  // namespace
}  // namespace seqserve
