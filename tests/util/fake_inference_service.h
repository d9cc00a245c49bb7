// An in-process fake of the KServe v2 / Triton gRPC service for the client tests, so they
// do not depend on the real server. It serves on 127.0.0.1, port 0, with these models:
//   "echo"    output = input, in the form the request used (raw or fp32_contents)
//   "double"  output = 2 * input
//   "ids"     takes INT64 ids (its metadata says so), also INT32; output = the ids as FP32
//   "gate"    each request is parked until `gate` requests are parked, then all are
//             answered (as echo): proves that many requests were outstanding at once
//   "broken"  ModelInfer fails INTERNAL; listed UNAVAILABLE with a reason
//   anything else: NOT_FOUND "unknown model '<name>'"
// Streams answer like ModelInfer; an error becomes error_message "CODE: message" with
// the request's id. Thread-safe; all waiting is on conditions, never on time.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "proto/grpc_service.grpc.pb.h"

namespace seqserve::testing {

class FakeInferenceService final : public inference::GRPCInferenceService::CallbackService {
 public:
  std::atomic<bool> live{true};
  std::atomic<bool> ready{true};

  // Requests "gate" must collect before they are answered; 0 answers at once.
  void SetGate(int requests) {
    std::vector<Parked> release;
    {
      absl::MutexLock lock(&mu_);
      gate_ = requests;
      if (static_cast<int>(parked_.size()) >= gate_) release.swap(parked_);
    }
    for (Parked& p : release) p.answer();
  }

  // The most requests that were parked at the gate at once.
  int max_parked() const {
    absl::MutexLock lock(&mu_);
    return max_parked_;
  }
  inference::ModelInferRequest last_request() const {
    absl::MutexLock lock(&mu_);
    return last_request_;
  }
  std::vector<std::string> loaded() const {
    absl::MutexLock lock(&mu_);
    return loaded_;
  }
  std::vector<std::string> unloaded() const {
    absl::MutexLock lock(&mu_);
    return unloaded_;
  }
  int64_t infer_count() const { return infer_count_.load(); }

  // Blocks until `n` requests are parked at the gate.
  void AwaitParked(int n) const {
    absl::MutexLock lock(&mu_);
    auto enough = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return static_cast<int>(parked_.size()) >= n;
    };
    mu_.Await(absl::Condition(&enough));
  }

  // Answers whatever is parked; the server must not be shut down with calls parked.
  void ReleaseAll() { SetGate(0); }

  grpc::ServerUnaryReactor* ServerLive(grpc::CallbackServerContext* context,
                                       const inference::ServerLiveRequest*,
                                       inference::ServerLiveResponse* response) override {
    response->set_live(live.load());
    return Finish(context, grpc::Status::OK);
  }
  grpc::ServerUnaryReactor* ServerReady(grpc::CallbackServerContext* context,
                                        const inference::ServerReadyRequest*,
                                        inference::ServerReadyResponse* response) override {
    response->set_ready(ready.load());
    return Finish(context, grpc::Status::OK);
  }
  grpc::ServerUnaryReactor* ModelReady(grpc::CallbackServerContext* context,
                                       const inference::ModelReadyRequest* request,
                                       inference::ModelReadyResponse* response) override {
    if (!Known(request->name())) return Finish(context, UnknownModel(request->name()));
    response->set_ready(request->name() != "broken");
    return Finish(context, grpc::Status::OK);
  }
  grpc::ServerUnaryReactor* ServerMetadata(grpc::CallbackServerContext* context,
                                           const inference::ServerMetadataRequest*,
                                           inference::ServerMetadataResponse* response) override {
    response->set_name("fake");
    response->set_version("0.1");
    response->add_extensions("model_repository");
    return Finish(context, grpc::Status::OK);
  }
  grpc::ServerUnaryReactor* ModelMetadata(grpc::CallbackServerContext* context,
                                          const inference::ModelMetadataRequest* request,
                                          inference::ModelMetadataResponse* response) override {
    if (!Known(request->name())) return Finish(context, UnknownModel(request->name()));
    response->set_name(request->name());
    response->add_versions("1");
    response->add_versions("2");
    response->set_platform("seqserve_sequential");
    auto* in = response->add_inputs();
    in->set_name("input");
    in->set_datatype(request->name() == "ids" ? "INT64" : "FP32");
    for (int64_t d : {-1, 4}) in->add_shape(d);
    auto* out = response->add_outputs();
    out->set_name("output");
    out->set_datatype("FP32");
    for (int64_t d : {-1, 4}) out->add_shape(d);
    return Finish(context, grpc::Status::OK);
  }
  grpc::ServerUnaryReactor* ModelConfig(grpc::CallbackServerContext* context,
                                        const inference::ModelConfigRequest* request,
                                        inference::ModelConfigResponse* response) override {
    if (!Known(request->name())) return Finish(context, UnknownModel(request->name()));
    response->mutable_config()->set_name(request->name());
    response->mutable_config()->set_max_batch_size(8);
    return Finish(context, grpc::Status::OK);
  }
  grpc::ServerUnaryReactor* ModelStatistics(
      grpc::CallbackServerContext* context, const inference::ModelStatisticsRequest* request,
      inference::ModelStatisticsResponse* response) override {
    if (!request->name().empty() && !Known(request->name())) {
      return Finish(context, UnknownModel(request->name()));
    }
    auto* stats = response->add_model_stats();
    stats->set_name(request->name().empty() ? "echo" : request->name());
    stats->set_version("1");
    stats->set_inference_count(static_cast<uint64_t>(infer_count_.load()));
    return Finish(context, grpc::Status::OK);
  }
  grpc::ServerUnaryReactor* RepositoryIndex(
      grpc::CallbackServerContext* context, const inference::RepositoryIndexRequest* request,
      inference::RepositoryIndexResponse* response) override {
    auto add = [&](const char* name, const char* state, const char* reason) {
      auto* m = response->add_models();
      m->set_name(name);
      m->set_version("1");
      m->set_state(state);
      m->set_reason(reason);
    };
    add("echo", "READY", "");
    if (!request->ready()) add("broken", "UNAVAILABLE", "model.seq:1:1: unknown module 'Foo'");
    return Finish(context, grpc::Status::OK);
  }
  grpc::ServerUnaryReactor* RepositoryModelLoad(
      grpc::CallbackServerContext* context, const inference::RepositoryModelLoadRequest* request,
      inference::RepositoryModelLoadResponse*) override {
    if (request->model_name() == "missing") {
      return Finish(context, grpc::Status(grpc::StatusCode::NOT_FOUND,
                                          "no model directory 'missing' in the repository"));
    }
    absl::MutexLock lock(&mu_);
    loaded_.push_back(request->model_name());
    return Finish(context, grpc::Status::OK);
  }
  grpc::ServerUnaryReactor* RepositoryModelUnload(
      grpc::CallbackServerContext* context,
      const inference::RepositoryModelUnloadRequest* request,
      inference::RepositoryModelUnloadResponse*) override {
    if (!Known(request->model_name())) return Finish(context, UnknownModel(request->model_name()));
    absl::MutexLock lock(&mu_);
    unloaded_.push_back(request->model_name());
    return Finish(context, grpc::Status::OK);
  }

  grpc::ServerUnaryReactor* ModelInfer(grpc::CallbackServerContext* context,
                                       const inference::ModelInferRequest* request,
                                       inference::ModelInferResponse* response) override {
    infer_count_.fetch_add(1);
    {
      absl::MutexLock lock(&mu_);
      last_request_ = *request;
    }
    grpc::Status status = Answer(*request, response);
    if (!status.ok() || request->model_name() != "gate") return Finish(context, status);
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    Park([reactor] { reactor->Finish(grpc::Status::OK); });
    return reactor;
  }

  // Holds `answer` until the gate opens (or runs it now if this request opens it).
  void Park(std::function<void()> answer) {
    std::vector<Parked> release;
    {
      absl::MutexLock lock(&mu_);
      parked_.push_back(Parked{std::move(answer)});
      max_parked_ = std::max(max_parked_, static_cast<int>(parked_.size()));
      if (static_cast<int>(parked_.size()) >= gate_) release.swap(parked_);
    }
    for (Parked& p : release) p.answer();
  }

  grpc::ServerBidiReactor<inference::ModelInferRequest, inference::ModelStreamInferResponse>*
  ModelStreamInfer(grpc::CallbackServerContext*) override {
    return new Stream(this);
  }

  // The answer of ModelInfer; "gate" answers like "echo" once released.
  grpc::Status Answer(const inference::ModelInferRequest& request,
                      inference::ModelInferResponse* response) {
    const std::string& model = request.model_name();
    if (!Known(model)) return UnknownModel(model);
    if (model == "broken") {
      return grpc::Status(grpc::StatusCode::INTERNAL, "model 'broken' failed: exploded");
    }
    if (request.inputs_size() != 1) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          absl::StrCat("expected 1 input, got ", request.inputs_size()));
    }
    const float factor = model == "double" ? 2.0f : 1.0f;
    const auto& in = request.inputs(0);
    if (model == "ids") return AnswerIds(request, response);
    response->set_model_name(model);
    response->set_model_version(request.model_version().empty() ? "2" : request.model_version());
    response->set_id(request.id());
    auto* out = response->add_outputs();
    out->set_name("output");
    out->set_datatype("FP32");
    *out->mutable_shape() = in.shape();
    if (request.raw_input_contents_size() > 0) {
      std::string bytes = request.raw_input_contents(0);
      for (size_t i = 0; i + sizeof(float) <= bytes.size(); i += sizeof(float)) {
        float v;
        std::memcpy(&v, bytes.data() + i, sizeof v);
        v *= factor;
        std::memcpy(bytes.data() + i, &v, sizeof v);
      }
      *response->add_raw_output_contents() = std::move(bytes);
    } else {
      for (float v : in.contents().fp32_contents()) {
        out->mutable_contents()->add_fp32_contents(v * factor);
      }
    }
    return grpc::Status::OK;
  }

 private:
  struct Parked {
    std::function<void()> answer;
  };

  // "ids": INT64 or INT32 ids, raw or typed, back as FP32 in the same form.
  static grpc::Status AnswerIds(const inference::ModelInferRequest& request,
                                inference::ModelInferResponse* response) {
    const auto& in = request.inputs(0);
    std::vector<float> values;
    const bool wide = in.datatype() == "INT64";
    if (!wide && in.datatype() != "INT32") {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          absl::StrCat("ids must be INT64 or INT32, got ", in.datatype()));
    }
    if (request.raw_input_contents_size() > 0) {
      const std::string& bytes = request.raw_input_contents(0);
      for (size_t i = 0; i < bytes.size(); i += wide ? 8 : 4) {
        int64_t id = 0;
        int32_t narrow = 0;
        if (wide) {
          std::memcpy(&id, bytes.data() + i, 8);
        } else {
          std::memcpy(&narrow, bytes.data() + i, 4);
          id = narrow;
        }
        values.push_back(static_cast<float>(id));
      }
    } else if (wide) {
      for (int64_t id : in.contents().int64_contents()) values.push_back(static_cast<float>(id));
    } else {
      for (int32_t id : in.contents().int_contents()) values.push_back(static_cast<float>(id));
    }
    response->set_model_name(request.model_name());
    response->set_model_version("1");
    response->set_id(request.id());
    auto* out = response->add_outputs();
    out->set_name("output");
    out->set_datatype("FP32");
    *out->mutable_shape() = in.shape();
    if (request.raw_input_contents_size() > 0) {
      response->add_raw_output_contents(
          std::string(reinterpret_cast<const char*>(values.data()), values.size() * 4));
    } else {
      out->mutable_contents()->mutable_fp32_contents()->Add(values.begin(), values.end());
    }
    return grpc::Status::OK;
  }

  // Answers one request before reading the next.
  class Stream final : public grpc::ServerBidiReactor<inference::ModelInferRequest,
                                                      inference::ModelStreamInferResponse> {
   public:
    explicit Stream(FakeInferenceService* service) : service_(service) { StartRead(&request_); }
    void OnReadDone(bool ok) override {
      if (!ok) {
        Finish(grpc::Status::OK);
        return;
      }
      response_.Clear();
      grpc::Status status = service_->Answer(request_, response_.mutable_infer_response());
      if (!status.ok()) {
        response_.Clear();
        response_.set_error_message(
            absl::StrCat(CodeName(status.error_code()), ": ", status.error_message()));
        response_.mutable_infer_response()->set_id(request_.id());
      } else if (request_.model_name() == "gate") {
        service_->Park([this] { StartWrite(&response_); });
        return;
      }
      StartWrite(&response_);
    }
    void OnWriteDone(bool ok) override {
      if (!ok) {
        Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "write failed"));
        return;
      }
      StartRead(&request_);
    }
    void OnDone() override { delete this; }

   private:
    static const char* CodeName(grpc::StatusCode code) {
      switch (code) {
        case grpc::StatusCode::NOT_FOUND: return "NOT_FOUND";
        case grpc::StatusCode::INTERNAL: return "INTERNAL";
        case grpc::StatusCode::INVALID_ARGUMENT: return "INVALID_ARGUMENT";
        default: return "UNKNOWN";
      }
    }

    FakeInferenceService* const service_;
    inference::ModelInferRequest request_;
    inference::ModelStreamInferResponse response_;
  };

  static bool Known(const std::string& model) {
    return model == "echo" || model == "double" || model == "gate" || model == "broken" ||
           model == "ids";
  }
  static grpc::Status UnknownModel(const std::string& model) {
    return grpc::Status(grpc::StatusCode::NOT_FOUND, absl::StrCat("unknown model '", model, "'"));
  }
  static grpc::ServerUnaryReactor* Finish(grpc::CallbackServerContext* context,
                                          const grpc::Status& status) {
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    reactor->Finish(status);
    return reactor;
  }

  std::atomic<int64_t> infer_count_{0};
  mutable absl::Mutex mu_;
  int gate_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<Parked> parked_ ABSL_GUARDED_BY(mu_);
  int max_parked_ ABSL_GUARDED_BY(mu_) = 0;
  inference::ModelInferRequest last_request_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> loaded_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> unloaded_ ABSL_GUARDED_BY(mu_);
};

// The fake on 127.0.0.1 at a free port; shuts down (releasing parked calls) on destruction.
class FakeServer {
 public:
  FakeServer() {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
  }
  ~FakeServer() {
    service_.ReleaseAll();
    // A bound, not a wait: calls still open then are cancelled.
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  }
  std::string address() const { return absl::StrCat("127.0.0.1:", port_); }
  FakeInferenceService& service() { return service_; }

 private:
  FakeInferenceService service_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
};

}  // namespace seqserve::testing
