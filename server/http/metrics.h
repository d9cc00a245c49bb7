// Prometheus metrics (SPEC §8) in the text exposition format, served at /metrics on the
// metrics port. Every value is read at scrape time from the counters and histograms the
// batch runner keeps in each version's ModelStats — the same ones ModelStatistics reports —
// so the two never disagree, and nothing is aggregated on the request path.
//
// Families (labels model, version; HELP and TYPE for each):
//   seqserve_inference_request_success_total        counter  successful requests
//   seqserve_inference_request_failure_total        counter  + reason: the status code name
//   seqserve_inference_count_total                  counter  samples (rows) inferred
//   seqserve_inference_exec_count_total             counter  batched executions
//   seqserve_request_duration_seconds               histogram successful requests, enqueue
//                                                             to answer (count = successes)
//   seqserve_queue_duration_seconds                 histogram their time in the queue
//   seqserve_compute_duration_seconds               histogram per batched execution
//   seqserve_batch_size                             histogram rows per batched execution
//   seqserve_queue_depth                            gauge    requests queued now
//   seqserve_model_ready                            gauge    1 READY, 0 otherwise
//   process_cpu_seconds_total, process_resident_memory_bytes, process_virtual_memory_bytes,
//   process_start_time_seconds, process_open_fds, process_max_fds (Prometheus' names)
//
// Model versions that are not loaded have no counters: a version that is unloaded or
// replaced by a reload disappears from the counters (Prometheus treats its return as a
// counter reset) and stays listed in seqserve_model_ready with 0 while the repository
// still knows it. A model with no version known at all is listed with version="".
// Failures are those of requests that reached a model version: refused by its scheduler
// (queue full, stopping), dropped before compute (deadline, cancelled), failed in compute,
// or rejected by validation (INVALID_ARGUMENT). Requests for unknown or unavailable models
// are not attributed to a version.
//
// Thread-safe: rendering only reads the repository and atomics.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "server/http/http_listener.h"
#include "server/repository/model_repository.h"

namespace seqserve {

// The exposition text for every model version in `repository`, plus the process metrics.
std::string RenderMetrics(const ModelRepository& repository);

struct MetricsOptions {
  std::string address = "0.0.0.0";
  int port = 8002;  // 0 picks a free port
};

// GET /metrics on its own port, on one event-loop thread (scrapes are rare and cheap; a
// stalled client holds only its own connection).
class MetricsService {
 public:
  // `repository` must outlive the service.
  static absl::StatusOr<std::unique_ptr<MetricsService>> Start(const MetricsOptions& options,
                                                               const ModelRepository& repository);
  int port() const { return listener_->port(); }
  // Stops listening and waits for scrapes in progress. Idempotent.
  void Stop() { listener_->Stop(); }

 private:
  MetricsService() = default;
  std::unique_ptr<HttpListener> listener_;
};

}  // namespace seqserve
