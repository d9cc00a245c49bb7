#include "server/grpc/grpc_service.h"

#include <algorithm>
#include <chrono>
#include <exception>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "server/scheduling/clock.h"
#include "server/grpc/grpc_status.h"
#include "server/frontend/infer_request.h"
#include "server/grpc/grpc_codec.h"
#include "server/scheduling/infer_task.h"
#include "server/frontend/model_queries.h"
#include "server/logging/named_logger.h"
#include "spdlog/spdlog.h"

namespace seqserve {
namespace {

using inference::ModelInferRequest;
using inference::ModelInferResponse;
using inference::ModelStreamInferResponse;

spdlog::logger& Log() {
  static const std::shared_ptr<spdlog::logger> logger = NamedLogger("grpc");
  return *logger;
}

// The client's gRPC deadline on the scheduler's (steady) clock; 0 when there is none.
int64_t ClientDeadlineMicros(const grpc::CallbackServerContext& context) {
  const std::chrono::system_clock::time_point deadline = context.deadline();
  const std::chrono::system_clock::time_point now = std::chrono::system_clock::now();
  // gRPC reports "no deadline" as time_point::max(); anything a century away means the same
  // and would overflow the subtraction below.
  if (deadline >= now + std::chrono::hours(24 * 365 * 100)) return 0;
  const int64_t remaining_us =
      std::chrono::duration_cast<std::chrono::microseconds>(deadline - now).count();
  // A deadline already passed stays in the past, so the queue drops the request at once.
  return SteadyClock::Get()->NowMicros() + std::max<int64_t>(remaining_us, 0);
}

// Runs a unary RPC's body and finishes the call with its status; an exception becomes
// INTERNAL, and the server keeps serving.
template <typename Body>
grpc::ServerUnaryReactor* FinishWith(grpc::CallbackServerContext* context, const char* rpc,
                                     Body&& body) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::Status status;
  try {
    status = body();
  } catch (const std::exception& e) {
    status = absl::InternalError(absl::StrCat(rpc, ": unexpected error: ", e.what()));
    Log().error("{}", std::string(status.message()));
  }
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

}  // namespace

// ---- Inference tasks --------------------------------------------------------------------

// What the unary and the streaming RPC share: the validated input, the model version
// handle (held until the task is destroyed, so the version cannot be retired under it), and
// the reply written straight into the response message.
class InferTaskBase : public InferTask {
 public:
  const Shape& input_shape() const override { return input_.shape; }
  const float* input_data() const override { return input_.floats(); }

  float* MutableOutput(const Shape& shape) override {
    try {
      return AddOutput(shape, servable_->config, input_.raw, response());
    } catch (const std::exception&) {
      return nullptr;  // the batch runner fails the task with INTERNAL
    }
  }

  void Finish(const absl::Status& status) override { Answer(status); }

  virtual const ModelInferRequest& request() const = 0;
  virtual ModelInferResponse& response() = 0;
  // Sends the reply (the response as filled) or the error. Called exactly once.
  virtual void Answer(const absl::Status& status) = 0;

  // Set by GrpcInferenceService::Prepare.
  std::shared_ptr<ServableModel> servable_;
  InferInput input_;
  // The client's gRPC deadline on the steady clock, 0 = none (set at construction).
  int64_t client_deadline_us_ = 0;
};

namespace {

// One ModelInfer call. The context, request, response and reactor belong to gRPC and stay
// valid until the reactor is finished, which is the last thing the task does with them.
class UnaryInferTask final : public InferTaskBase {
 public:
  UnaryInferTask(grpc::CallbackServerContext* context, grpc::ServerUnaryReactor* reactor,
                 const ModelInferRequest* request, ModelInferResponse* response)
      : context_(context), reactor_(reactor), request_(request), response_(response) {
    client_deadline_us_ = ClientDeadlineMicros(*context);
  }

  bool IsCancelled() const override { return context_->IsCancelled(); }
  const ModelInferRequest& request() const override { return *request_; }
  ModelInferResponse& response() override { return *response_; }
  void Answer(const absl::Status& status) override { reactor_->Finish(ToGrpcStatus(status)); }

 private:
  grpc::CallbackServerContext* context_;
  grpc::ServerUnaryReactor* reactor_;
  const ModelInferRequest* request_;
  ModelInferResponse* response_;
};

}  // namespace

// One ModelStreamInfer call: reads requests one after another, submits each as a task, and
// writes the answers in the order they complete — one write outstanding at a time, the
// others queued. Finishes with OK once the client has half-closed and every answer is
// written; with UNAVAILABLE when the server closes it at shutdown; with CANCELLED when the
// client goes away. Reference-counted: gRPC holds one reference until OnDone, each task in
// flight one more, so a task finishing after the stream ended still has a stream to talk
// to.
class InferStream final
    : public grpc::ServerBidiReactor<ModelInferRequest, ModelStreamInferResponse> {
 public:
  InferStream(GrpcInferenceService& service, grpc::CallbackServerContext* context)
      : service_(service), client_deadline_us_(ClientDeadlineMicros(*context)) {}

  // Called by the RPC handler: registers the stream and starts reading.
  void Start() {
    if (service_.shutting_down() || !service_.RegisterStream(this)) {
      {
        absl::MutexLock lock(&mu_);
        finished_ = true;
      }
      Finish(ToGrpcStatus(ShuttingDownError()));
      return;
    }
    next_request_ = std::make_unique<ModelInferRequest>();
    StartRead(next_request_.get());
  }

  void OnReadDone(bool ok) override {
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

  void OnWriteDone(bool ok) override {
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

  void OnCancel() override {
    Action action;
    {
      absl::MutexLock lock(&mu_);
      Break();
      action = DecideLocked();
    }
    Act(action);
  }

  void OnDone() override {
    service_.UnregisterStream(this);
    Unref();
  }

  // A task's answer, from any thread.
  void Deliver(std::unique_ptr<ModelStreamInferResponse> response) {
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

  // Server shutdown, after every request has drained: finish once the answers are written.
  void Close() {
    Action action;
    {
      absl::MutexLock lock(&mu_);
      closing_ = true;
      action = DecideLocked();
    }
    Act(action);
  }

  bool cancelled() const { return cancelled_.load(std::memory_order_relaxed); }
  int64_t client_deadline_us() const { return client_deadline_us_; }

  void Ref() { refs_.fetch_add(1, std::memory_order_relaxed); }
  void Unref() {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }

 private:
  // A stream's inference task: owns its request (the input points into it) and the
  // response the output is written into, which it hands to the stream when done.
  class StreamTask final : public InferTaskBase {
   public:
    StreamTask(InferStream* stream, std::unique_ptr<ModelInferRequest> request)
        : stream_(stream),
          request_(std::move(request)),
          response_(std::make_unique<ModelStreamInferResponse>()) {
      client_deadline_us_ = stream->client_deadline_us();
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
        if (servable_ == nullptr) reply->set_model_version(request_->model_version());
        reply->set_id(request_->id());
        // The stream has no status per message: the code leads the text ("NOT_FOUND: ...")
        // so clients can still tell a bad request from a full queue.
        response_->set_error_message(absl::StrCat(absl::StatusCodeToString(status.code()), ": ",
                                                  status.message()));
      }
      stream_->Deliver(std::move(response_));
    }

   private:
    InferStream* stream_;  // referenced (Ref) until this task is destroyed
    std::unique_ptr<ModelInferRequest> request_;
    std::unique_ptr<ModelStreamInferResponse> response_;
  };

  // What to do with gRPC once the lock is released: a reaction may run inline on the
  // calling thread, so StartWrite and Finish are never called with mu_ held.
  struct Action {
    const ModelStreamInferResponse* write = nullptr;
    bool finish = false;
    grpc::Status status;
  };

  ~InferStream() override = default;

  // The stream is unusable (cancelled, or a write failed): queued tasks are dropped and
  // queued answers discarded.
  void Break() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    broken_ = true;
    cancelled_.store(true, std::memory_order_relaxed);
    queue_.clear();
  }

  Action DecideLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
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

  void Act(const Action& action) {
    if (action.write != nullptr) {
      StartWrite(action.write);
    } else if (action.finish) {
      Finish(action.status);
    }
  }

  GrpcInferenceService& service_;
  const int64_t client_deadline_us_;
  std::atomic<int> refs_{1};  // gRPC's, released in OnDone
  std::atomic<bool> cancelled_{false};
  // Only the read path touches it, and reads never overlap.
  std::unique_ptr<ModelInferRequest> next_request_;

  absl::Mutex mu_;
  std::deque<std::unique_ptr<ModelStreamInferResponse>> queue_ ABSL_GUARDED_BY(mu_);
  // The response being written (kept alive until OnWriteDone); null when no write is out.
  std::unique_ptr<ModelStreamInferResponse> writing_ ABSL_GUARDED_BY(mu_);
  int64_t pending_ ABSL_GUARDED_BY(mu_) = 0;  // tasks submitted and not yet delivered
  bool reads_done_ ABSL_GUARDED_BY(mu_) = false;
  bool closing_ ABSL_GUARDED_BY(mu_) = false;
  bool broken_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
};

// ---- The service ------------------------------------------------------------------------

GrpcInferenceService::GrpcInferenceService(ModelRepository& repository,
                                           const ServingState& state, ModelControl& control)
    : repository_(repository), state_(state), control_(control) {}

GrpcInferenceService::~GrpcInferenceService() = default;

void GrpcInferenceService::CloseStreams() {
  std::vector<InferStream*> open;
  {
    absl::MutexLock lock(&streams_mu_);
    streams_closed_ = true;
    for (InferStream* stream : streams_) {
      stream->Ref();
      open.push_back(stream);
    }
  }
  for (InferStream* stream : open) {
    stream->Close();
    stream->Unref();
  }
}

bool GrpcInferenceService::RegisterStream(InferStream* stream) {
  absl::MutexLock lock(&streams_mu_);
  if (streams_closed_) return false;
  streams_.insert(stream);
  return true;
}

void GrpcInferenceService::UnregisterStream(InferStream* stream) {
  absl::MutexLock lock(&streams_mu_);
  streams_.erase(stream);
}

// ---- Inference ----------------------------------------------------------------------------

absl::Status GrpcInferenceService::Prepare(InferTaskBase& task) {
  if (shutting_down()) return ShuttingDownError();
  const ModelInferRequest& request = task.request();
  absl::StatusOr<PreparedRequest> prepared =
      PrepareInferRequest(repository_, request.model_name(), request.model_version(),
                          ViewOf(request), task.client_deadline_us_);
  if (!prepared.ok()) return prepared.status();
  task.deadline_us = prepared->deadline_us;
  StartInferResponse(request, prepared->servable->version, task.response());
  task.input_ = std::move(prepared->input);
  task.servable_ = std::move(prepared->servable);
  return absl::OkStatus();
}

void GrpcInferenceService::Submit(std::unique_ptr<InferTaskBase> task) {
  absl::Status status;
  try {
    status = Prepare(*task);
  } catch (const std::exception& e) {
    status = absl::InternalError(absl::StrCat("unexpected error in ModelInfer: ", e.what()));
    Log().error("{}", std::string(status.message()));
  }
  if (!status.ok()) {
    task->Answer(status);
    return;
  }
  // The task holds the version's handle, so the scheduler outlives the call.
  Scheduler& scheduler = *task->servable_->scheduler;
  scheduler.Enqueue(std::move(task));
}

grpc::ServerUnaryReactor* GrpcInferenceService::ModelInfer(grpc::CallbackServerContext* context,
                                                           const ModelInferRequest* request,
                                                           ModelInferResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  std::unique_ptr<UnaryInferTask> task;
  try {
    task = std::make_unique<UnaryInferTask>(context, reactor, request, response);
  } catch (const std::exception& e) {
    reactor->Finish(ToGrpcStatus(absl::InternalError(e.what())));
    return reactor;
  }
  Submit(std::move(task));
  return reactor;
}

grpc::ServerBidiReactor<ModelInferRequest, ModelStreamInferResponse>*
GrpcInferenceService::ModelStreamInfer(grpc::CallbackServerContext* context) {
  InferStream* stream = new InferStream(*this, context);
  stream->Start();
  return stream;
}

// ---- Health and metadata ----------------------------------------------------------------

grpc::ServerUnaryReactor* GrpcInferenceService::ServerLive(
    grpc::CallbackServerContext* context, const inference::ServerLiveRequest*,
    inference::ServerLiveResponse* response) {
  return FinishWith(context, "ServerLive", [&] {
    response->set_live(true);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* GrpcInferenceService::ServerReady(
    grpc::CallbackServerContext* context, const inference::ServerReadyRequest*,
    inference::ServerReadyResponse* response) {
  return FinishWith(context, "ServerReady", [&] {
    response->set_ready(state_.ready());
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* GrpcInferenceService::ModelReady(
    grpc::CallbackServerContext* context, const inference::ModelReadyRequest* request,
    inference::ModelReadyResponse* response) {
  return FinishWith(context, "ModelReady", [&]() -> absl::Status {
    absl::StatusOr<bool> ready =
        GetModelReady(repository_, request->name(), request->version(), shutting_down());
    if (!ready.ok()) return ready.status();
    response->set_ready(*ready);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* GrpcInferenceService::ServerMetadata(
    grpc::CallbackServerContext* context, const inference::ServerMetadataRequest*,
    inference::ServerMetadataResponse* response) {
  return FinishWith(context, "ServerMetadata", [&] {
    *response = GetServerMetadata();
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* GrpcInferenceService::ModelMetadata(
    grpc::CallbackServerContext* context, const inference::ModelMetadataRequest* request,
    inference::ModelMetadataResponse* response) {
  return FinishWith(context, "ModelMetadata", [&]() -> absl::Status {
    absl::StatusOr<inference::ModelMetadataResponse> metadata =
        GetModelMetadata(repository_, request->name(), request->version());
    if (!metadata.ok()) return metadata.status();
    *response = std::move(*metadata);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* GrpcInferenceService::ModelConfig(
    grpc::CallbackServerContext* context, const inference::ModelConfigRequest* request,
    inference::ModelConfigResponse* response) {
  return FinishWith(context, "ModelConfig", [&]() -> absl::Status {
    absl::StatusOr<inference::ModelConfig> config =
        GetModelConfig(repository_, request->name(), request->version());
    if (!config.ok()) return config.status();
    *response->mutable_config() = std::move(*config);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* GrpcInferenceService::ModelStatistics(
    grpc::CallbackServerContext* context, const inference::ModelStatisticsRequest* request,
    inference::ModelStatisticsResponse* response) {
  return FinishWith(context, "ModelStatistics", [&]() -> absl::Status {
    absl::StatusOr<inference::ModelStatisticsResponse> statistics =
        GetModelStatistics(repository_, request->name(), request->version());
    if (!statistics.ok()) return statistics.status();
    *response = std::move(*statistics);
    return absl::OkStatus();
  });
}

// ---- Repository -------------------------------------------------------------------------

grpc::ServerUnaryReactor* GrpcInferenceService::RepositoryIndex(
    grpc::CallbackServerContext* context, const inference::RepositoryIndexRequest* request,
    inference::RepositoryIndexResponse* response) {
  return FinishWith(context, "RepositoryIndex", [&]() -> absl::Status {
    absl::StatusOr<inference::RepositoryIndexResponse> index =
        GetRepositoryIndex(repository_, request->repository_name(), request->ready());
    if (!index.ok()) return index.status();
    *response = std::move(*index);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* GrpcInferenceService::RepositoryModelLoad(
    grpc::CallbackServerContext* context, const inference::RepositoryModelLoadRequest* request,
    inference::RepositoryModelLoadResponse*) {
  std::vector<std::string> parameters;
  for (const auto& [name, value] : request->parameters()) parameters.push_back(name);
  return ChangeRepository(context, request->repository_name(), request->model_name(),
                          /*load=*/true, parameters);
}

grpc::ServerUnaryReactor* GrpcInferenceService::RepositoryModelUnload(
    grpc::CallbackServerContext* context, const inference::RepositoryModelUnloadRequest* request,
    inference::RepositoryModelUnloadResponse*) {
  std::vector<std::string> parameters;
  for (const auto& [name, value] : request->parameters()) parameters.push_back(name);
  return ChangeRepository(context, request->repository_name(), request->model_name(),
                          /*load=*/false, parameters);
}

grpc::ServerUnaryReactor* GrpcInferenceService::ChangeRepository(
    grpc::CallbackServerContext* context, const std::string& repository_name,
    const std::string& model_name, bool load, const std::vector<std::string>& parameters) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  // Finished on the control thread: loads and unloads block until the model is loaded or
  // drained, never on a gRPC thread.
  control_.Change(repository_name, model_name, load, parameters,
                  [reactor](const absl::Status& status) { reactor->Finish(ToGrpcStatus(status)); });
  return reactor;
}

}  // namespace seqserve
