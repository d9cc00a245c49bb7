// Time as the scheduler sees it, injectable so batching and timeout tests run on a fake
// clock instead of sleeping. Implementations must be thread-safe.
#pragma once

#include <chrono>
#include <cstdint>

namespace seqserve {

class Clock {
 public:
  virtual ~Clock() = default;
  // Monotonic microseconds: enqueue times, deadlines, batching delays.
  virtual int64_t NowMicros() const = 0;
  // Monotonic nanoseconds on the same time base, for durations in statistics.
  virtual int64_t NowNanos() const { return NowMicros() * 1000; }
};

class SteadyClock : public Clock {
 public:
  int64_t NowMicros() const override {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }
  int64_t NowNanos() const override {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }
  // The process-wide instance.
  static SteadyClock* Get() {
    static SteadyClock clock;
    return &clock;
  }
};

}  // namespace seqserve
