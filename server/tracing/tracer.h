// Triton's trace extension, the server's side: the trace settings in force, which inference
// requests are sampled, and where their traces go. trace_settings.h has the settings as a
// client sees them, request_trace.h a trace, trace_file.h the files. Offered only when the
// operator names a trace file (--trace-file); nothing a client sends can make the server
// write anywhere else.
//
// Scopes. The global settings cover every model without settings of its own. A model's own
// settings override the global ones they name and follow the others, also when those change
// later (clearing a model's last own setting makes it follow the global ones entirely).
// Each scope has its counters — requests seen (for trace_rate), traces left (trace_count,
// counted down as traces are taken) — which start afresh whenever its settings change, as
// Triton's do; a trace_count the change does not name carries on from where it was. A
// model that follows the global settings entirely shares the global counters.
//
// Output. A scope keeps its finished traces in memory. With log_frequency N > 0, every N of
// them go to a new <trace_file>.<k>; with 0 they are appended to <trace_file> when the
// scope's settings change, at Flush (shutdown), or once they pass 1 MiB. When trace_count
// has counted down to 0, the scope's last traces go to a <trace_file>.<k> of their own as
// soon as they are all finished (Triton's rule, whatever log_frequency says).
//
// Cost. While nothing is traced (the default: trace_level OFF), Sample is one relaxed atomic
// load and allocates nothing. Thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "server/tracing/request_trace.h"
#include "server/tracing/trace_file.h"
#include "server/tracing/trace_settings.h"

namespace seqserve {

class TraceScope;

// The values of one scope's settings.
struct TraceValues {
  bool timestamps = false;  // trace_level TIMESTAMPS; false: OFF
  uint32_t rate = 1000;
  int32_t count = -1;  // traces left; -1: no limit
  uint32_t log_frequency = 0;
};

// A scope's own settings; each one not set follows the scope's fallback (a model's: the
// global settings; the global ones: the start-up defaults, TraceValues{}).
struct TraceOverrides {
  std::optional<bool> timestamps;
  std::optional<uint32_t> rate;
  std::optional<int32_t> count;
  std::optional<uint32_t> log_frequency;

  bool none() const { return !timestamps && !rate && !count && !log_frequency; }
  bool all() const { return timestamps && rate && count && log_frequency; }
};

// UNIMPLEMENTED: the server was started without --trace-file.
absl::Status TracingOffError();

class Tracer {
 public:
  // Traces go to `trace_file` (TraceFile::CheckPath's errors); tracing starts OFF with
  // Triton's defaults (rate 1000, count -1, log_frequency 0).
  static absl::StatusOr<std::unique_ptr<Tracer>> Create(const std::string& trace_file);
  ~Tracer();  // Flush()es

  Tracer(const Tracer&) = delete;
  Tracer& operator=(const Tracer&) = delete;

  // A trace for this request of `model_name` (the name the request gives), or null when it
  // is not sampled: its scope is OFF, out of traces, or not at its trace_rate-th request.
  std::unique_ptr<RequestTrace> Sample(std::string_view model_name) {
    if (!active_.load(std::memory_order_relaxed)) return nullptr;
    return SampleSlow(model_name);
  }
  // Whether any scope may sample now (Sample's first test).
  bool active() const { return active_.load(std::memory_order_relaxed); }

  // The settings in force for `model_name` ("" = the global ones), trace_settings.h's order.
  TraceSettingList Settings(std::string_view model_name) const;
  // Applies `update` to `model_name`'s settings ("" = the global ones), all or nothing
  // (ParseTraceSettingUpdate's errors), and returns the settings then in force.
  absl::StatusOr<TraceSettingList> Update(std::string_view model_name,
                                          const TraceSettingUpdate& update);

  // Writes every finished trace still held (shutdown, once requests have drained).
  void Flush();

  const std::string& trace_file() const { return file_->path(); }

 private:
  struct ModelSettings {
    TraceOverrides overrides;  // never none()
    std::shared_ptr<TraceScope> scope;
  };

  explicit Tracer(std::shared_ptr<TraceFile> file);
  std::unique_ptr<RequestTrace> SampleSlow(std::string_view model_name);
  // The scope for `overrides` over `fallback` (whose count is its traces left), replacing
  // `current` (null: none yet); `count` is what the update says of trace_count.
  std::shared_ptr<TraceScope> MakeScope(const TraceOverrides& overrides,
                                        const TraceValues& fallback,
                                        const TraceSettingChange<int32_t>& count,
                                        const TraceScope* current) const;
  const std::shared_ptr<TraceScope>& ScopeOfLocked(std::string_view model_name) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  void RefreshActiveLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::shared_ptr<TraceFile> file_;
  // Whether any scope traces and has traces left; written under mu_.
  std::atomic<bool> active_{false};
  std::atomic<uint64_t> next_id_{1};

  mutable absl::Mutex mu_;
  TraceOverrides global_overrides_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<TraceScope> global_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, ModelSettings> models_ ABSL_GUARDED_BY(mu_);
};

}  // namespace seqserve
