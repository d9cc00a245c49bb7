// The server-wide worker-thread cap: reservations add up, a reservation that does not fit is
// refused naming what it needs, what is free and the limit, and released threads are free
// again (also when the reservation outlives the budget).
#include "server/repository/thread_budget.h"

#include <memory>
#include <utility>

#include "gtest/gtest.h"

namespace seqserve {
namespace {

TEST(ThreadBudget, ReservationsAddUpAndReleaseOnDestruction) {
  ThreadBudget budget(8, "--max-worker-threads");
  absl::StatusOr<ThreadBudget::Reservation> a = budget.Reserve(5, "model 'a' version 1");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->threads(), 5);
  EXPECT_EQ(budget.reserved(), 5);
  {
    absl::StatusOr<ThreadBudget::Reservation> b = budget.Reserve(3, "model 'b' version 1");
    ASSERT_TRUE(b.ok()) << b.status();
    EXPECT_EQ(budget.reserved(), 8);
    absl::StatusOr<ThreadBudget::Reservation> c = budget.Reserve(1, "model 'c' version 2");
    ASSERT_FALSE(c.ok());
    EXPECT_EQ(c.status().code(), absl::StatusCode::kResourceExhausted);
    EXPECT_EQ(c.status().message(),
              "model 'c' version 2 needs 1 worker thread, but only 0 of the server's 8 are free "
              "(--max-worker-threads=8, the cap on worker threads across models)");
  }
  EXPECT_EQ(budget.reserved(), 5);
  ThreadBudget::Reservation moved = *std::move(a);
  EXPECT_EQ(budget.reserved(), 5);
  moved.Release();
  EXPECT_EQ(budget.reserved(), 0);
  EXPECT_EQ(moved.threads(), 0);
}

TEST(ThreadBudget, AReservationMayOutliveTheBudget) {
  auto budget = std::make_unique<ThreadBudget>(4, "");
  absl::StatusOr<ThreadBudget::Reservation> held = budget->Reserve(2, "x");
  ASSERT_TRUE(held.ok());
  EXPECT_EQ(budget->Reserve(3, "y").status().message(),
            "y needs 3 worker threads, but only 2 of the server's 4 are free (4, the cap on "
            "worker threads across models)");
  budget.reset();
  held->Release();  // must not touch freed memory (ASan would say so)
}

TEST(ThreadBudget, RefusesNonPositiveReservations) {
  ThreadBudget budget(4, "");
  EXPECT_EQ(budget.Reserve(0, "x").status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace seqserve
