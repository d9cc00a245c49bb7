#include "client/perf/load_generator.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <random>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace seqserve::perf {
namespace {

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Latency buffers start with room for a busy window so the hot path rarely reallocates.
constexpr size_t kReservedLatencies = 4096;
constexpr int kDefaultOpenLoopStreams = 4;

}  // namespace

struct LoadGenerator::Slot {
  LoadGenerator* owner = nullptr;
  int index = 0;
  inference::ModelInferRequest request;
  inference::ModelInferResponse response;
  std::optional<grpc::ClientContext> context;
  client::InferStream* stream = nullptr;  // owned by streams_, which outlive the slot's requests
  int64_t start_ns = 0;
  // Set when a request goes out, cleared when it completes; Stop uses it to find requests
  // a closed stream never answered.
  std::atomic<bool> pending{false};

  absl::Mutex mu;
  std::vector<int64_t> latencies_ns ABSL_GUARDED_BY(mu);
  ErrorCounts errors ABSL_GUARDED_BY(mu){};
};

LoadGenerator::LoadGenerator(const client::Client& client, inference::ModelInferRequest request,
                             const LoadGeneratorOptions& options)
    : client_(client), request_(std::move(request)), options_(options) {}

LoadGenerator::~LoadGenerator() { Stop().IgnoreError(); }

absl::Status LoadGenerator::StartClosedLoop(int concurrency) {
  if (concurrency < 1) {
    return absl::InvalidArgumentError(absl::StrCat("concurrency must be >= 1, got ", concurrency));
  }
  closed_loop_ = true;
  const int streams = options_.streams > 0 ? std::min(options_.streams, concurrency) : concurrency;
  if (absl::Status s = Start(concurrency, streams); !s.ok()) return s;
  {
    absl::MutexLock lock(&mu_);
    outstanding_ = concurrency;
    free_.clear();
  }
  const int64_t now = NowNs();
  for (auto& slot : slots_) Issue(*slot, now);
  return absl::OkStatus();
}

absl::Status LoadGenerator::StartOpenLoop(double rate_per_s, bool poisson, int max_outstanding,
                                          uint64_t seed) {
  if (!(rate_per_s > 0)) {
    return absl::InvalidArgumentError(absl::StrCat("request rate must be > 0, got ", rate_per_s));
  }
  if (max_outstanding < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("max outstanding requests must be >= 1, got ", max_outstanding));
  }
  closed_loop_ = false;
  const int streams = std::min(
      max_outstanding, options_.streams > 0 ? options_.streams : kDefaultOpenLoopStreams);
  if (absl::Status s = Start(max_outstanding, streams); !s.ok()) return s;
  {
    absl::MutexLock lock(&mu_);
    outstanding_ = 0;
    free_.clear();
    // Reversed so slot 0 goes out first; only cosmetic.
    for (auto it = slots_.rbegin(); it != slots_.rend(); ++it) free_.push_back(it->get());
  }
  dispatcher_ = std::thread([this, rate_per_s, poisson, seed] {
    DispatchLoop(rate_per_s, poisson, seed);
  });
  return absl::OkStatus();
}

absl::Status LoadGenerator::Start(int slots, int streams) {
  if (running_.load()) return absl::FailedPreconditionError("load generator already running");
  {
    absl::MutexLock lock(&mu_);
    stop_requested_ = false;
  }
  slots_.clear();
  streams_.clear();
  completed_ = 0;
  dropped_ = 0;
  if (options_.streaming) {
    for (int i = 0; i < streams; ++i) {
      streams_.push_back(client_.OpenRawStream(
          [this](const inference::ModelStreamInferResponse& r) { OnStreamResponse(r); }));
    }
  }
  slots_.reserve(static_cast<size_t>(slots));
  for (int i = 0; i < slots; ++i) {
    auto slot = std::make_unique<Slot>();
    slot->owner = this;
    slot->index = i;
    slot->request = request_;
    // The id is how a stream response finds its slot.
    slot->request.set_id(std::to_string(i));
    slot->latencies_ns.reserve(kReservedLatencies);
    if (options_.streaming) slot->stream = streams_[static_cast<size_t>(i % streams)].get();
    slots_.push_back(std::move(slot));
  }
  running_ = true;
  return absl::OkStatus();
}

void LoadGenerator::Issue(Slot& slot, int64_t start_ns) {
  slot.start_ns = start_ns;
  slot.pending.store(true, std::memory_order_relaxed);
  if (options_.streaming) {
    absl::Status sent = slot.stream->Send(&slot.request);
    if (!sent.ok()) OnDone(slot, static_cast<int>(absl::StatusCode::kUnavailable), NowNs());
    return;
  }
  // A ClientContext serves one call; emplace rebuilds it in place without allocating.
  slot.context.emplace();
  client_.SetDeadline(&*slot.context, options_.timeout_ms);
  client_.StartModelInfer(&*slot.context, &slot.request, &slot.response,
                          [s = &slot](grpc::Status status) {
                            s->owner->OnDone(*s, static_cast<int>(status.error_code()), NowNs());
                          });
}

void LoadGenerator::OnDone(Slot& slot, int code, int64_t now_ns) {
  // A stream response and Stop's sweep for unanswered requests could both try to finish
  // the same request; the first one wins.
  if (!slot.pending.exchange(false, std::memory_order_acq_rel)) return;
  {
    absl::MutexLock lock(&slot.mu);
    if (code == 0) {
      slot.latencies_ns.push_back(now_ns - slot.start_ns);
    } else {
      ++slot.errors[static_cast<size_t>(std::clamp(code, 0, kNumStatusCodes - 1))];
    }
  }
  completed_.fetch_add(1, std::memory_order_relaxed);
  if (closed_loop_ && running_.load(std::memory_order_acquire)) {
    Issue(slot, now_ns);
  } else {
    Release(slot);
  }
}

void LoadGenerator::OnStreamResponse(const inference::ModelStreamInferResponse& response) {
  const int64_t now = NowNs();
  const std::string& id = response.infer_response().id();
  int index = -1;
  auto [end, ec] = std::from_chars(id.data(), id.data() + id.size(), index);
  if (ec != std::errc() || end != id.data() + id.size() || index < 0 ||
      index >= static_cast<int>(slots_.size())) {
    // A response we cannot attribute (e.g. an error without the request's id).
    stray_responses_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  const int code = static_cast<int>(client::StreamResponseStatus(response).code());
  OnDone(*slots_[static_cast<size_t>(index)], code, now);
}

void LoadGenerator::Release(Slot& slot) {
  absl::MutexLock lock(&mu_);
  if (!closed_loop_) free_.push_back(&slot);
  --outstanding_;
}

LoadGenerator::Slot* LoadGenerator::PopFree() {
  absl::MutexLock lock(&mu_);
  if (free_.empty()) return nullptr;
  Slot* slot = free_.back();
  free_.pop_back();
  ++outstanding_;
  return slot;
}

void LoadGenerator::DispatchLoop(double rate_per_s, bool poisson, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::exponential_distribution<double> gap_s(rate_per_s);
  const double constant_gap_ns = 1e9 / rate_per_s;
  double next_ns = static_cast<double>(NowNs());
  while (running_.load(std::memory_order_acquire)) {
    const int64_t now = NowNs();
    while (next_ns <= static_cast<double>(now)) {
      if (Slot* slot = PopFree()) {
        Issue(*slot, static_cast<int64_t>(next_ns));
      } else {
        dropped_.fetch_add(1, std::memory_order_relaxed);
      }
      next_ns += poisson ? gap_s(rng) * 1e9 : constant_gap_ns;
    }
    absl::MutexLock lock(&mu_);
    mu_.AwaitWithTimeout(absl::Condition(&stop_requested_),
                         absl::Nanoseconds(static_cast<int64_t>(next_ns) - NowNs()));
  }
}

absl::Status LoadGenerator::Stop() {
  if (!running_.exchange(false)) return absl::OkStatus();
  {
    absl::MutexLock lock(&mu_);
    stop_requested_ = true;
  }
  if (dispatcher_.joinable()) dispatcher_.join();
  absl::Status first_error;
  // Half-closing lets the server answer what it has; once Finish returns a stream calls
  // back no more, so whatever it left unanswered is failed here.
  for (auto& stream : streams_) {
    absl::Status s = stream->Finish();
    if (first_error.ok() && !s.ok()) first_error = s;
  }
  if (!streams_.empty()) {
    const int code = static_cast<int>(first_error.ok() ? absl::StatusCode::kUnavailable
                                                       : first_error.code());
    for (auto& slot : slots_) OnDone(*slot, code, NowNs());
  }
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(
      +[](int* outstanding) { return *outstanding == 0; }, &outstanding_));
  return first_error;
}

void LoadGenerator::Collect(Window* window) {
  for (auto& slot : slots_) {
    absl::MutexLock lock(&slot->mu);
    window->latencies_ns.insert(window->latencies_ns.end(), slot->latencies_ns.begin(),
                                slot->latencies_ns.end());
    slot->latencies_ns.clear();
    for (int c = 0; c < kNumStatusCodes; ++c) {
      window->errors[static_cast<size_t>(c)] += slot->errors[static_cast<size_t>(c)];
      slot->errors[static_cast<size_t>(c)] = 0;
    }
  }
  window->dropped += dropped_.exchange(0);
}

absl::StatusOr<StepResult> MeasureStep(LoadGenerator& generator, double load, int batch_size,
                                       const MeasureOptions& options,
                                       const std::function<void(const std::string&)>& progress) {
  if (options.window_ms <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("measurement window must be > 0 ms, got ", options.window_ms));
  }
  constexpr absl::Duration kProgressPeriod = absl::Milliseconds(250);
  auto sleep_with_progress = [&](absl::Duration total, const std::string& label) {
    const absl::Time end = absl::Now() + total;
    const int64_t done_before = generator.completed();
    const absl::Time start = absl::Now();
    for (absl::Time now = start; now < end; now = absl::Now()) {
      absl::SleepFor(progress ? std::min(kProgressPeriod, end - now) : end - now);
      if (progress) {
        const double elapsed_s = absl::ToDoubleSeconds(absl::Now() - start);
        const int64_t done = generator.completed() - done_before;
        progress(absl::StrFormat("%s %.1fs: %d done, %.0f/s", label, elapsed_s, done,
                                 elapsed_s > 0 ? done / elapsed_s : 0.0));
      }
    }
  };

  const std::string load_label =
      absl::StrCat("[", options.progress_label.empty() ? absl::StrFormat("load %g", load)
                                                        : options.progress_label, "]");
  if (options.warmup_s > 0) {
    sleep_with_progress(absl::Seconds(options.warmup_s), load_label + " warm-up");
  }
  Window discard;
  generator.Collect(&discard);

  auto server_cpu = [&]() -> absl::StatusOr<double> {
    if (options.server_pid <= 0) return -1.0;
    return ProcessCpuMicros(options.server_pid);
  };
  std::vector<Window> windows;
  std::vector<WindowSummary> summaries;
  bool stable = false;
  const int max_windows = std::max(options.stability.max_windows, options.stability.windows);
  while (static_cast<int>(windows.size()) < max_windows) {
    const auto t0 = std::chrono::steady_clock::now();
    const double cpu0 = SelfCpuMicros();
    absl::StatusOr<double> server0 = server_cpu();
    if (!server0.ok()) return server0.status();
    sleep_with_progress(absl::Milliseconds(options.window_ms),
                        absl::StrFormat("%s window %d/%d", load_label, windows.size() + 1,
                                        max_windows));
    Window w;
    generator.Collect(&w);
    w.duration_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    w.client_cpu_us = SelfCpuMicros() - cpu0;
    absl::StatusOr<double> server1 = server_cpu();
    if (!server1.ok()) return server1.status();
    w.server_cpu_us = *server0 < 0 ? -1 : *server1 - *server0;
    summaries.push_back(SummarizeWindow(w));
    windows.push_back(std::move(w));
    if (IsStable(summaries, options.stability)) {
      stable = true;
      break;
    }
  }
  const size_t keep = std::min(windows.size(), static_cast<size_t>(options.stability.windows));
  return MergeWindows(std::span<const Window>(windows).last(keep), load, batch_size, stable,
                      static_cast<int>(windows.size()));
}

}  // namespace seqserve::perf
