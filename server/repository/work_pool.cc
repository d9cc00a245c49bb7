#include "server/repository/work_pool.h"

#include <pthread.h>

#include <system_error>
#include <utility>

#include "absl/strings/str_cat.h"

namespace seqserve {

absl::StatusOr<std::unique_ptr<WorkPool>> WorkPool::Create(int threads, const std::string& name) {
  std::unique_ptr<WorkPool> pool(new WorkPool());
  try {
    for (int i = 0; i < threads; ++i) {
      std::string thread_name = absl::StrCat("seq-", name, "-", i).substr(0, 15);
      pool->threads_.emplace_back(
          [p = pool.get(), thread_name = std::move(thread_name)] { p->Loop(thread_name); });
    }
  } catch (const std::system_error& e) {
    // The destructor joins the threads already started.
    return absl::ResourceExhaustedError(
        absl::StrCat("cannot start a ", name, " thread: ", e.what()));
  }
  return pool;
}

WorkPool::~WorkPool() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  for (std::thread& thread : threads_) thread.join();
}

void WorkPool::Submit(std::function<void()> job) {
  absl::MutexLock lock(&mu_);
  jobs_.push_back(std::move(job));
}

bool WorkPool::HasWorkOrStopping() const { return stopping_ || !jobs_.empty(); }

void WorkPool::Loop(const std::string& thread_name) {
  pthread_setname_np(pthread_self(), thread_name.c_str());
  for (;;) {
    std::function<void()> job;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(this, &WorkPool::HasWorkOrStopping));
      if (jobs_.empty()) return;
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    job();
  }
}

}  // namespace seqserve
