// One ModelStreamInfer call, the stream reactor: reads requests one after another, submits
// each as a task to the service (which validates and enqueues it like a unary request), and
// writes the answers in the order they complete — one write outstanding at a time, the
// others queued. A request's error is sent as its response's error_message ("NOT_FOUND:
// ...", matched to the request by id) and the stream stays open. Finishes with OK once the
// client has half-closed and every answer is written; with UNAVAILABLE when the server
// closes it at shutdown; with CANCELLED when the client goes away.
//
// Tracing (tracing/tracer.h): a sampled request's trace has GRPC_WAITREAD_START (the read was
// started, recorded only while the tracer may sample) and GRPC_WAITREAD_END (it was read),
// travels with its task and then with its response, and is stamped GRPC_SEND_START when that
// response's write starts and GRPC_SEND_END when it is done.
//
// Reference-counted: gRPC holds one reference until OnDone, each task in flight one more,
// so a task finishing after the stream ended still has a stream to talk to. Thread-safe:
// reactions, answers (Deliver, from workers) and Close may come from any thread; gRPC is
// never called with the lock held (DecideLocked decides, Act calls gRPC afterwards).
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "grpcpp/grpcpp.h"
#include "proto/grpc_service.pb.h"
#include "server/tracing/request_trace.h"

namespace seqserve {

class GrpcInferenceService;

class InferStream final : public grpc::ServerBidiReactor<inference::ModelInferRequest,
                                                         inference::ModelStreamInferResponse> {
 public:
  // `service` outlives every stream (gRPC ends them before the service goes).
  InferStream(GrpcInferenceService& service, grpc::CallbackServerContext* context);

  // Called by the RPC handler: registers the stream and starts reading (or finishes it
  // with UNAVAILABLE when the server is shutting down).
  void Start();
  // Instead of Start: finishes the stream at once with `status` (not OK), reading nothing.
  void Refuse(const absl::Status& status);

  void OnReadDone(bool ok) override;
  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

  // A task's answer and its request's trace (null when not traced), from any thread.
  void Deliver(std::unique_ptr<inference::ModelStreamInferResponse> response,
               std::unique_ptr<RequestTrace> trace);
  // Server shutdown, after every request has drained: finish once the answers are written.
  void Close();

  // The client cancelled or the stream broke: queued tasks are dropped.
  bool cancelled() const { return cancelled_.load(std::memory_order_relaxed); }
  int64_t client_deadline_us() const { return client_deadline_us_; }

  void Ref() { refs_.fetch_add(1, std::memory_order_relaxed); }
  void Unref() {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }

 private:
  class StreamTask;  // one request of the stream (defined in the .cc)

  // An answer to write, with its request's trace.
  struct Outgoing {
    std::unique_ptr<inference::ModelStreamInferResponse> response;
    std::unique_ptr<RequestTrace> trace;
  };

  // What to do with gRPC once the lock is released: a reaction may run inline on the
  // calling thread, so StartWrite and Finish are never called with mu_ held.
  struct Action {
    const inference::ModelStreamInferResponse* write = nullptr;
    bool finish = false;
    grpc::Status status;
  };

  ~InferStream() override = default;

  // The stream is unusable (cancelled, or a write failed): queued tasks are dropped and
  // queued answers discarded.
  void Break() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Action DecideLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Act(const Action& action);

  GrpcInferenceService& service_;
  const int64_t client_deadline_us_;
  std::atomic<int> refs_{1};  // gRPC's, released in OnDone
  std::atomic<bool> cancelled_{false};
  // Only the read path touches them, and reads never overlap.
  std::unique_ptr<inference::ModelInferRequest> next_request_;
  int64_t read_start_ns_ = 0;  // when the read started, while tracing may sample; else 0

  absl::Mutex mu_;
  std::deque<Outgoing> queue_ ABSL_GUARDED_BY(mu_);
  // The response being written (kept alive until OnWriteDone); null when no write is out.
  Outgoing writing_ ABSL_GUARDED_BY(mu_);
  int64_t pending_ ABSL_GUARDED_BY(mu_) = 0;  // tasks submitted and not yet delivered
  bool reads_done_ ABSL_GUARDED_BY(mu_) = false;
  bool closing_ ABSL_GUARDED_BY(mu_) = false;
  bool broken_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace seqserve
