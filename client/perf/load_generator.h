// seqperf's load generator: keeps N requests outstanding (closed loop) or sends at a
// given rate (open loop, Poisson or constant arrivals) over the client's asynchronous
// API, unary or streaming, and records each request's latency and status.
//
// Cost per request is what matters here (seqperf must not be the bottleneck it is
// measuring), so each outstanding request has a slot that owns its request message,
// response message and context and reuses them: no allocation of ours per request, no
// thread per request (completions run on gRPC's callback threads), and no shared lock per
// request in closed loop — a slot's own recorder lock is only contended when Collect
// drains it once per window.
//
// Thread-safety: Start*, Collect and Stop are called from one controlling thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "client/client.h"
#include "client/perf/perf_stats.h"

namespace seqserve::perf {

struct LoadGeneratorOptions {
  bool streaming = false;
  // Per-request deadline of unary calls; 0 = none.
  int64_t timeout_ms = 0;
  // Streaming: streams the slots are spread over; 0 = one per slot in closed loop, 4 in
  // open loop.
  int streams = 0;
};

class LoadGenerator {
 public:
  // `request` is the prepared request every slot sends a copy of. `client` must outlive
  // the generator.
  LoadGenerator(const client::Client& client, inference::ModelInferRequest request,
                const LoadGeneratorOptions& options);
  ~LoadGenerator();  // stops, waiting for outstanding requests

  LoadGenerator(const LoadGenerator&) = delete;
  LoadGenerator& operator=(const LoadGenerator&) = delete;

  // Closed loop: `concurrency` requests outstanding; each completion sends the next.
  absl::Status StartClosedLoop(int concurrency);
  // Open loop: `rate_per_s` requests per second, exponential (Poisson) or constant gaps,
  // at most `max_outstanding` at once (a send finding every slot busy is counted as
  // dropped). Latency counts from the scheduled send time, so a sender falling behind
  // shows up as latency instead of hiding it.
  absl::Status StartOpenLoop(double rate_per_s, bool poisson, int max_outstanding,
                             uint64_t seed = 1);
  // Moves everything completed since the last Collect into `window` (latencies, errors,
  // dropped sends); duration and CPU are the caller's.
  void Collect(Window* window);
  // Requests completed since Start, for progress display.
  int64_t completed() const { return completed_.load(std::memory_order_relaxed); }
  // Stops sending and waits for every outstanding request. A request left unanswered by
  // a stream that closed counts as an error with the stream's status. Returns the first
  // stream failure, if any.
  absl::Status Stop();

 private:
  struct Slot;

  absl::Status Start(int slots, int streams);
  void Issue(Slot& slot, int64_t start_ns);
  void OnDone(Slot& slot, int code, int64_t now_ns);
  void OnStreamResponse(const inference::ModelStreamInferResponse& response);
  void Release(Slot& slot);
  Slot* PopFree();
  void DispatchLoop(double rate_per_s, bool poisson, uint64_t seed);

  const client::Client& client_;
  const inference::ModelInferRequest request_;
  const LoadGeneratorOptions options_;

  std::vector<std::unique_ptr<Slot>> slots_;
  std::vector<std::unique_ptr<client::InferStream>> streams_;
  std::atomic<bool> running_{false};
  bool closed_loop_ = true;
  std::atomic<int64_t> completed_{0};
  std::atomic<int64_t> dropped_{0};
  std::atomic<int64_t> stray_responses_{0};
  std::thread dispatcher_;

  absl::Mutex mu_;
  int outstanding_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<Slot*> free_ ABSL_GUARDED_BY(mu_);  // open loop: idle slots
  bool stop_requested_ ABSL_GUARDED_BY(mu_) = false;
};

struct MeasureOptions {
  double warmup_s = 1.0;
  int64_t window_ms = 2000;
  StabilityRule stability;
  int server_pid = 0;  // > 0: also measure that process's CPU per request
  // Names the step in progress lines, e.g. "concurrency 4"; empty: "load <load>".
  std::string progress_label;
};

// Measures one step on a started generator: warm-up, then windows until the stability
// rule holds or max_windows is reached; the last `stability.windows` windows form the
// result. `progress`, when set, is called a few times a second with a one-line status.
absl::StatusOr<StepResult> MeasureStep(LoadGenerator& generator, double load, int batch_size,
                                       const MeasureOptions& options,
                                       const std::function<void(const std::string&)>& progress);

}  // namespace seqserve::perf
