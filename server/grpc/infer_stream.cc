#include "server/grpc/infer_stream.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "server/frontend/serving_state.h"
#include "server/grpc/grpc_infer_task.h"
#include "server/grpc/grpc_service.h"
#include "server/grpc/grpc_status.h"

namespace seqserve {

using inference::ModelInferRequest;
using inference::ModelInferResponse;
using inference::ModelStreamInferResponse;

// A stream's inference task: owns its request (the input points into it) and the response
// the output is written into, which it hands to the stream when done.
class InferStream::StreamTask final : public GrpcInferTask {
 public:
  StreamTask(InferStream* stream, std::unique_ptr<ModelInferRequest> request,
             std::unique_ptr<RequestTrace> request_trace)
      : GrpcInferTask(stream->client_deadline_us()),
        stream_(stream),
        request_(std::move(request)),
        response_(std::make_unique<ModelStreamInferResponse>()),
        trace_(std::move(request_trace)) {
    trace = trace_.get();
  }
  ~StreamTask() override { stream_->Unref(); }

  bool IsCancelled() const override { return stream_->cancelled(); }
  const ModelInferRequest& request() const override { return *request_; }
  ModelInferResponse& response() override { return *response_->mutable_infer_response(); }

  void Answer(const absl::Status& status) override {
    if (!status.ok()) {
      // The client matches the error to its request by id.
      ModelInferResponse* reply = response_->mutable_infer_response();
      reply->clear_outputs();
      reply->clear_raw_output_contents();
      reply->set_model_name(request_->model_name());
      if (servable() == nullptr) reply->set_model_version(request_->model_version());
      reply->set_id(request_->id());
      // The stream has no status per message: the code leads the text ("NOT_FOUND: ...")
      // so clients can still tell a bad request from a full queue.
      response_->set_error_message(
          absl::StrCat(absl::StatusCodeToString(status.code()), ": ", status.message()));
    }
    if (trace != nullptr) trace->Stamp(TraceActivity::kRequestEnd);
    trace = nullptr;
    stream_->Deliver(std::move(response_), std::move(trace_));
  }

 private:
  InferStream* stream_;  // referenced (Ref) until this task is destroyed
  std::unique_ptr<ModelInferRequest> request_;
  std::unique_ptr<ModelStreamInferResponse> response_;
  std::unique_ptr<RequestTrace> trace_;  // InferTask::trace until answered
};

InferStream::InferStream(GrpcInferenceService& service, grpc::CallbackServerContext* context)
    : service_(service), client_deadline_us_(ClientDeadlineMicros(*context)) {}

void InferStream::Start() {
  if (service_.shutting_down() || !service_.RegisterStream(this)) {
    return Refuse(ShuttingDownError());
  }
  next_request_ = std::make_unique<ModelInferRequest>();
  read_start_ns_ = service_.tracing() ? TraceNowNanos() : 0;
  StartRead(next_request_.get());
}

void InferStream::Refuse(const absl::Status& status) {
  {
    absl::MutexLock lock(&mu_);
    finished_ = true;
  }
  Finish(ToGrpcStatus(status));
}

void InferStream::OnReadDone(bool ok) {
  if (!ok) {
    // The client half-closed (or the stream broke): finish once every answer is written.
    Action action;
    {
      absl::MutexLock lock(&mu_);
      reads_done_ = true;
      action = DecideLocked();
    }
    Act(action);
    return;
  }
  std::unique_ptr<ModelInferRequest> request = std::move(next_request_);
  std::unique_ptr<RequestTrace> trace = service_.SampleTrace(request->model_name());
  if (trace != nullptr) {
    if (read_start_ns_ != 0) trace->Stamp(TraceActivity::kGrpcWaitReadStart, read_start_ns_);
    trace->Stamp(TraceActivity::kGrpcWaitReadEnd);
    trace->Stamp(TraceActivity::kRequestStart);
    trace->set_request_id(request->id());
  }
  {
    absl::MutexLock lock(&mu_);
    ++pending_;
  }
  Ref();  // released by the task's destructor
  service_.Submit(std::make_unique<StreamTask>(this, std::move(request), std::move(trace)));

  bool read_more = false;
  {
    absl::MutexLock lock(&mu_);
    read_more = !broken_ && !closing_ && !finished_;
  }
  // Reads stop once the stream is closing or broken; the read path is the only user of
  // next_request_, and reads never overlap.
  if (read_more) {
    next_request_ = std::make_unique<ModelInferRequest>();
    read_start_ns_ = service_.tracing() ? TraceNowNanos() : 0;
    StartRead(next_request_.get());
  }
}

void InferStream::OnWriteDone(bool ok) {
  Action action;
  // Destroyed after the lock: its trace, if any, is written then.
  Outgoing written;
  {
    absl::MutexLock lock(&mu_);
    written = std::move(writing_);
    writing_ = Outgoing();
    if (!ok) Break();
    action = DecideLocked();
  }
  if (ok && written.trace != nullptr) written.trace->Stamp(TraceActivity::kGrpcSendEnd);
  Act(action);
}

void InferStream::OnCancel() {
  Action action;
  {
    absl::MutexLock lock(&mu_);
    Break();
    action = DecideLocked();
  }
  Act(action);
}

void InferStream::OnDone() {
  service_.UnregisterStream(this);
  Unref();
}

void InferStream::Deliver(std::unique_ptr<ModelStreamInferResponse> response,
                          std::unique_ptr<RequestTrace> trace) {
  Action action;
  {
    absl::MutexLock lock(&mu_);
    --pending_;
    // Once broken or finished nobody will read it: drop it (its trace, after the lock).
    if (!broken_ && !finished_) {
      queue_.push_back(Outgoing{std::move(response), std::move(trace)});
    }
    action = DecideLocked();
  }
  Act(action);
}

void InferStream::Close() {
  Action action;
  {
    absl::MutexLock lock(&mu_);
    closing_ = true;
    action = DecideLocked();
  }
  Act(action);
}

void InferStream::Break() {
  broken_ = true;
  cancelled_.store(true, std::memory_order_relaxed);
  queue_.clear();
}

InferStream::Action InferStream::DecideLocked() {
  Action action;
  if (finished_ || writing_.response != nullptr) return action;
  if (!broken_ && !queue_.empty()) {
    writing_ = std::move(queue_.front());
    queue_.pop_front();
    if (writing_.trace != nullptr) writing_.trace->Stamp(TraceActivity::kGrpcSendStart);
    action.write = writing_.response.get();
    return action;
  }
  if (broken_) {
    action.status = grpc::Status(grpc::StatusCode::CANCELLED, "stream cancelled");
  } else if (pending_ == 0 && reads_done_) {
    action.status = grpc::Status::OK;
  } else if (pending_ == 0 && closing_) {
    action.status = ToGrpcStatus(ShuttingDownError());
  } else {
    return action;
  }
  finished_ = true;
  action.finish = true;
  return action;
}

void InferStream::Act(const Action& action) {
  if (action.write != nullptr) {
    StartWrite(action.write);
  } else if (action.finish) {
    Finish(action.status);
  }
}

}  // namespace seqserve
