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
  StreamTask(InferStream* stream, std::unique_ptr<ModelInferRequest> request)
      : GrpcInferTask(stream->client_deadline_us()),
        stream_(stream),
        request_(std::move(request)),
        response_(std::make_unique<ModelStreamInferResponse>()) {}
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
    stream_->Deliver(std::move(response_));
  }

 private:
  InferStream* stream_;  // referenced (Ref) until this task is destroyed
  std::unique_ptr<ModelInferRequest> request_;
  std::unique_ptr<ModelStreamInferResponse> response_;
};

InferStream::InferStream(GrpcInferenceService& service, grpc::CallbackServerContext* context)
    : service_(service), client_deadline_us_(ClientDeadlineMicros(*context)) {}

void InferStream::Start() {
  if (service_.shutting_down() || !service_.RegisterStream(this)) {
    return Refuse(ShuttingDownError());
  }
  next_request_ = std::make_unique<ModelInferRequest>();
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
  {
    absl::MutexLock lock(&mu_);
    ++pending_;
  }
  Ref();  // released by the task's destructor
  service_.Submit(std::make_unique<StreamTask>(this, std::move(request)));

  bool read_more = false;
  {
    absl::MutexLock lock(&mu_);
    read_more = !broken_ && !closing_ && !finished_;
  }
  // Reads stop once the stream is closing or broken; the read path is the only user of
  // next_request_, and reads never overlap.
  if (read_more) {
    next_request_ = std::make_unique<ModelInferRequest>();
    StartRead(next_request_.get());
  }
}

void InferStream::OnWriteDone(bool ok) {
  Action action;
  std::unique_ptr<ModelStreamInferResponse> written;
  {
    absl::MutexLock lock(&mu_);
    written = std::move(writing_);
    if (!ok) Break();
    action = DecideLocked();
  }
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

void InferStream::Deliver(std::unique_ptr<ModelStreamInferResponse> response) {
  Action action;
  {
    absl::MutexLock lock(&mu_);
    --pending_;
    // Once broken or finished nobody will read it: drop it.
    if (!broken_ && !finished_) queue_.push_back(std::move(response));
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
  if (finished_ || writing_ != nullptr) return action;
  if (!broken_ && !queue_.empty()) {
    writing_ = std::move(queue_.front());
    queue_.pop_front();
    action.write = writing_.get();
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
