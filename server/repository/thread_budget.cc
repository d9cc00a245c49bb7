#include "server/repository/thread_budget.h"

#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace seqserve {

struct ThreadBudget::Reservation::Ledger {
  Ledger(int max, std::string_view name) : max_threads(max), limit_name(name) {}

  const int max_threads;
  const std::string limit_name;
  mutable absl::Mutex mu;
  int reserved ABSL_GUARDED_BY(mu) = 0;
};

ThreadBudget::Reservation::Reservation(Reservation&& other) noexcept
    : ledger_(std::move(other.ledger_)), threads_(std::exchange(other.threads_, 0)) {}

ThreadBudget::Reservation& ThreadBudget::Reservation::operator=(Reservation&& other) noexcept {
  if (this != &other) {
    Release();
    ledger_ = std::move(other.ledger_);
    threads_ = std::exchange(other.threads_, 0);
  }
  return *this;
}

void ThreadBudget::Reservation::Release() {
  if (ledger_ != nullptr && threads_ > 0) {
    absl::MutexLock lock(&ledger_->mu);
    ledger_->reserved -= threads_;
  }
  threads_ = 0;
  ledger_.reset();
}

ThreadBudget::ThreadBudget(int max_threads, std::string_view limit_name)
    : ledger_(std::make_shared<Reservation::Ledger>(max_threads < 1 ? 1 : max_threads,
                                                    limit_name)) {}

absl::StatusOr<ThreadBudget::Reservation> ThreadBudget::Reserve(int threads,
                                                                std::string_view what) {
  if (threads < 1) {
    return absl::InvalidArgumentError(absl::StrCat("cannot reserve ", threads, " threads"));
  }
  absl::MutexLock lock(&ledger_->mu);
  const int free = ledger_->max_threads - ledger_->reserved;
  if (threads > free) {
    const std::string limit =
        ledger_->limit_name.empty()
            ? absl::StrCat(ledger_->max_threads)
            : absl::StrCat(ledger_->limit_name, "=", ledger_->max_threads);
    return absl::ResourceExhaustedError(absl::StrCat(
        std::string(what), " needs ", threads, threads == 1 ? " worker thread" : " worker threads",
        ", but only ", free, " of the ",
        "server's ", ledger_->max_threads, " are free (", limit,
        ", the cap on worker threads across models)"));
  }
  ledger_->reserved += threads;
  return Reservation(ledger_, threads);
}

int ThreadBudget::max_threads() const { return ledger_->max_threads; }

int ThreadBudget::reserved() const {
  absl::MutexLock lock(&ledger_->mu);
  return ledger_->reserved;
}

}  // namespace seqserve
