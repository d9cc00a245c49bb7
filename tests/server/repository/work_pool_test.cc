// The work pool: FIFO order on one thread, jobs submitted from a job, and the jobs still
// queued at destruction running before it returns. Waits are on notifications, never sleeps.
#include "server/repository/work_pool.h"

#include <memory>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/util/gate.h"

namespace seqserve {
namespace {

using ::testing::ElementsAre;

// Job numbers in the order the jobs ran.
class RunLog {
 public:
  void Add(int job) {
    absl::MutexLock lock(&mu_);
    order_.push_back(job);
  }
  std::vector<int> order() const {
    absl::MutexLock lock(&mu_);
    return order_;
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<int> order_ ABSL_GUARDED_BY(mu_);
};

TEST(WorkPool, OneThreadRunsJobsInTheOrderSubmitted) {
  RunLog log;
  absl::Notification done;
  {
    auto pool = WorkPool::Create(1, "test");
    ASSERT_TRUE(pool.ok()) << pool.status();
    for (int i = 0; i < 5; ++i) (*pool)->Submit([&log, i] { log.Add(i); });
    (*pool)->Submit([&done] { done.Notify(); });
    ASSERT_TRUE(done.WaitForNotificationWithTimeout(testing::kGuard));
  }
  EXPECT_THAT(log.order(), ElementsAre(0, 1, 2, 3, 4));
}

TEST(WorkPool, QueuedJobsRunBeforeDestructionReturns) {
  RunLog log;
  absl::Notification entered;
  absl::Notification release;
  {
    auto pool = WorkPool::Create(1, "test");
    ASSERT_TRUE(pool.ok()) << pool.status();
    // The first job holds the only thread, so the others are still queued when the pool goes.
    (*pool)->Submit([&] {
      entered.Notify();
      release.WaitForNotification();
      log.Add(0);
    });
    ASSERT_TRUE(entered.WaitForNotificationWithTimeout(testing::kGuard));
    (*pool)->Submit([&log] { log.Add(1); });
    (*pool)->Submit([&log] { log.Add(2); });
    release.Notify();
  }
  EXPECT_THAT(log.order(), ElementsAre(0, 1, 2));
}

TEST(WorkPool, AJobMaySubmitAnother) {
  RunLog log;
  absl::Notification done;
  auto pool = WorkPool::Create(2, "test");
  ASSERT_TRUE(pool.ok()) << pool.status();
  WorkPool& p = **pool;
  p.Submit([&] {
    log.Add(0);
    p.Submit([&] {
      log.Add(1);
      done.Notify();
    });
  });
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(testing::kGuard));
  EXPECT_THAT(log.order(), ElementsAre(0, 1));
}

}  // namespace
}  // namespace seqserve
