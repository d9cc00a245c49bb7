// What the scheduling tests share: a real tiny model whose every output is derivable by
// hand, a fake clock, and a task that records what the scheduler and the batch runner did
// to it (and can be held at a Gate or a Rendezvous inside MutableOutput).
//
// The model: Linear(2, 2) with W = [[1, 2], [3, 4]], b = [1, -1], then ReLU, so
//   y = [relu(x0 + 2 x1 + 1), relu(3 x0 + 4 x1 - 1)].
#pragma once

#include <algorithm>
#include <atomic>
#include <cmath>
#include <memory>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/tensor.h"
#include "core/model.h"
#include "gtest/gtest.h"
#include "server/scheduling/clock.h"
#include "server/scheduling/infer_task.h"
#include "tests/util/gate.h"

namespace seqserve::testing {

inline std::shared_ptr<Model> HandModel() {
  TensorMap w;
  w["0.weight"] = Tensor({2, 2}, {1, 2, 3, 4});
  w["0.bias"] = Tensor({2}, {1, -1});
  auto model = Model::FromSource("nn.Sequential(nn.Linear(2, 2), nn.ReLU())", "model.seq", &w,
                                 "model.safetensors");
  EXPECT_TRUE(model.ok()) << model.status();
  return *model;
}

// The hand formula for rows of (x0, x1).
inline std::vector<float> Expected(const std::vector<float>& x) {
  std::vector<float> y;
  for (size_t i = 0; i + 1 < x.size(); i += 2) {
    y.push_back(std::max(0.0f, x[i] + 2 * x[i + 1] + 1));
    y.push_back(std::max(0.0f, 3 * x[i] + 4 * x[i + 1] - 1));
  }
  return y;
}

class FakeClock : public Clock {
 public:
  explicit FakeClock(int64_t now_us) : now_us_(now_us) {}
  int64_t NowMicros() const override { return now_us_.load(); }
  void Advance(int64_t us) { now_us_.fetch_add(us); }

 private:
  std::atomic<int64_t> now_us_;
};

// Counts finished tasks; Wait returns false if they do not all finish in time.
class Countdown {
 public:
  explicit Countdown(int n) : n_(n) {}
  void Done() {
    absl::MutexLock lock(&mu_);
    --n_;
  }
  bool Wait(absl::Duration timeout = kGuard) {
    absl::MutexLock lock(&mu_);
    return mu_.AwaitWithTimeout(absl::Condition(+[](int* n) { return *n <= 0; }, &n_), timeout);
  }

 private:
  absl::Mutex mu_;
  int n_ ABSL_GUARDED_BY(mu_);
};

// Tasks that wait in MutableOutput until `n` of them are there at once.
class Rendezvous {
 public:
  explicit Rendezvous(int n) : n_(n) {}
  bool ArriveAndWait() {
    absl::MutexLock lock(&mu_);
    ++arrived_;
    return mu_.AwaitWithTimeout(absl::Condition(this, &Rendezvous::AllArrived), kGuard);
  }

 private:
  bool AllArrived() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return arrived_ >= n_; }
  absl::Mutex mu_;
  int arrived_ ABSL_GUARDED_BY(mu_) = 0;
  const int n_;
};

// What a task saw, kept by the test because the scheduler destroys the task after Finish.
struct Result {
  absl::Status status = absl::UnknownError("not finished");
  Shape output_shape;
  std::vector<float> output;  // the task's output buffer
  int mutable_output_calls = 0;
  int finish_calls = 0;
  int64_t deadline_us = 0;
  bool met = false;  // reached its Rendezvous with the others
};

class TestTask : public InferTask {
 public:
  // `done` counts the finish, if given.
  TestTask(Tensor input, Result* result, Countdown* done)
      : input_(std::move(input)), result_(result), done_(done) {}

  const Shape& input_shape() const override { return input_.shape; }
  const void* input_data() const override { return input_.data.data(); }
  bool IsCancelled() const override { return cancelled != nullptr && cancelled->load(); }

  float* MutableOutput(const Shape& shape) override {
    ++result_->mutable_output_calls;
    if (no_output_buffer) return nullptr;
    if (gate != nullptr) {
      gate->entered.Notify();
      gate->release.WaitForNotification();
    }
    if (rendezvous != nullptr) result_->met = rendezvous->ArriveAndWait();
    result_->output_shape = shape;
    result_->output.assign(static_cast<size_t>(NumElements(shape)), std::nanf(""));
    return result_->output.data();
  }

  void Finish(const absl::Status& status) override {
    result_->status = status;
    result_->deadline_us = deadline_us;
    ++result_->finish_calls;
    if (done_ != nullptr) done_->Done();
  }

  Gate* gate = nullptr;
  Rendezvous* rendezvous = nullptr;
  const std::atomic<bool>* cancelled = nullptr;
  // MutableOutput gives no buffer (as a front end that cannot allocate one).
  bool no_output_buffer = false;

 private:
  Tensor input_;
  Result* result_;
  Countdown* done_;
};

inline std::unique_ptr<TestTask> MakeTask(Shape shape, std::vector<float> data, Result* result,
                                          Countdown* done) {
  return std::make_unique<TestTask>(Tensor(std::move(shape), std::move(data)), result, done);
}

// The task finished OK with `shape` and the hand formula's rows for `input`.
inline void ExpectOutput(const Result& result, const Shape& shape,
                         const std::vector<float>& input) {
  ASSERT_TRUE(result.status.ok()) << result.status;
  EXPECT_EQ(result.output_shape, shape);
  EXPECT_EQ(result.output, Expected(input));
}

}  // namespace seqserve::testing
