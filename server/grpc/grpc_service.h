// The KServe v2 / Triton gRPC front end: `inference.GRPCInferenceService` on gRPC's
// callback API. No thread per request and no blocking in a reaction: an inference request is
// decoded and validated on the gRPC thread that received it (server/frontend/infer_request.h), handed
// to its model version's Scheduler as an InferTask, and answered (reactor Finish, or a
// stream write) by the worker that ran it. Repository loads and unloads, which block for as
// long as a load takes, run on one admin thread owned by the service.
//
// Errors follow SPEC §7: NOT_FOUND for an unknown model or version, UNAVAILABLE (with the
// load error) for a model that is loading, unloading or failed, INVALID_ARGUMENT for a bad
// request, RESOURCE_EXHAUSTED for a full queue, DEADLINE_EXCEEDED and CANCELLED for requests
// dropped before compute, INTERNAL for anything unexpected (exceptions are caught at the
// boundary; the server keeps serving). ModelStreamInfer reports each request's error in its
// response's error_message and keeps the stream open.
//
// Thread-safe: gRPC calls the handlers from any number of threads; the control methods
// (SetReady, BeginShutdown, CloseStreams) may be called from any thread.
#pragma once

#include <atomic>
#include <deque>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "proto/grpc_service.grpc.pb.h"
#include "server/repository/model_repository.h"

namespace seqserve {

class InferStream;
class InferTaskBase;

class GrpcInferenceService final : public inference::GRPCInferenceService::CallbackService {
 public:
  // `repository` must outlive the service.
  explicit GrpcInferenceService(ModelRepository& repository);
  ~GrpcInferenceService() override;  // StopAdmin()s

  // ServerReady's answer. The server sets it once the initial loads are done (the
  // repository is created) and clears it in BeginShutdown.
  void SetReady(bool ready) { ready_.store(ready, std::memory_order_relaxed); }
  bool ready() const { return ready_.load(std::memory_order_relaxed); }

  // Shutdown, step 1 (SPEC §9): ServerReady and ModelReady answer false, and new inference
  // requests and streams fail with UNAVAILABLE "server is shutting down". Requests already
  // accepted are not touched. Returns at once.
  void BeginShutdown();
  // Step 2: answers queued loads and unloads with UNAVAILABLE, waits for the running one and
  // stops the admin thread. Idempotent.
  void StopAdmin();
  // Step 3, once the repository has drained every request: ends each open stream as soon as
  // its answers are written (UNAVAILABLE "server is shutting down"), so that
  // grpc::Server::Shutdown does not wait for clients that keep idle streams open.
  void CloseStreams();

  bool shutting_down() const { return shutting_down_.load(std::memory_order_acquire); }

  // KServe v2.
  grpc::ServerUnaryReactor* ServerLive(grpc::CallbackServerContext* context,
                                       const inference::ServerLiveRequest* request,
                                       inference::ServerLiveResponse* response) override;
  grpc::ServerUnaryReactor* ServerReady(grpc::CallbackServerContext* context,
                                        const inference::ServerReadyRequest* request,
                                        inference::ServerReadyResponse* response) override;
  grpc::ServerUnaryReactor* ModelReady(grpc::CallbackServerContext* context,
                                       const inference::ModelReadyRequest* request,
                                       inference::ModelReadyResponse* response) override;
  grpc::ServerUnaryReactor* ServerMetadata(grpc::CallbackServerContext* context,
                                           const inference::ServerMetadataRequest* request,
                                           inference::ServerMetadataResponse* response) override;
  grpc::ServerUnaryReactor* ModelMetadata(grpc::CallbackServerContext* context,
                                          const inference::ModelMetadataRequest* request,
                                          inference::ModelMetadataResponse* response) override;
  grpc::ServerUnaryReactor* ModelInfer(grpc::CallbackServerContext* context,
                                       const inference::ModelInferRequest* request,
                                       inference::ModelInferResponse* response) override;
  // Triton extensions.
  grpc::ServerBidiReactor<inference::ModelInferRequest, inference::ModelStreamInferResponse>*
  ModelStreamInfer(grpc::CallbackServerContext* context) override;
  grpc::ServerUnaryReactor* ModelConfig(grpc::CallbackServerContext* context,
                                        const inference::ModelConfigRequest* request,
                                        inference::ModelConfigResponse* response) override;
  grpc::ServerUnaryReactor* ModelStatistics(grpc::CallbackServerContext* context,
                                            const inference::ModelStatisticsRequest* request,
                                            inference::ModelStatisticsResponse* response) override;
  grpc::ServerUnaryReactor* RepositoryIndex(grpc::CallbackServerContext* context,
                                            const inference::RepositoryIndexRequest* request,
                                            inference::RepositoryIndexResponse* response) override;
  grpc::ServerUnaryReactor* RepositoryModelLoad(
      grpc::CallbackServerContext* context, const inference::RepositoryModelLoadRequest* request,
      inference::RepositoryModelLoadResponse* response) override;
  grpc::ServerUnaryReactor* RepositoryModelUnload(
      grpc::CallbackServerContext* context, const inference::RepositoryModelUnloadRequest* request,
      inference::RepositoryModelUnloadResponse* response) override;

 private:
  friend class InferStream;

  // Resolves the task's model version, validates its request and enqueues it; a task that
  // fails any of that is answered at once with the error.
  void Submit(std::unique_ptr<InferTaskBase> task);
  absl::Status Prepare(InferTaskBase& task);

  // Runs `job` on the admin thread, or returns false when shutting down.
  bool RunOnAdminThread(std::function<void()> job);
  void AdminLoop();
  // Load and Unload share everything but the repository call.
  grpc::ServerUnaryReactor* ChangeRepository(grpc::CallbackServerContext* context,
                                             const std::string& repository_name,
                                             const std::string& model_name, bool load,
                                             const std::vector<std::string>& parameters);

  // Streams register while open so that CloseStreams can end them; false once closed.
  bool RegisterStream(InferStream* stream);
  void UnregisterStream(InferStream* stream);

  ModelRepository& repository_;
  std::atomic<bool> ready_{false};
  std::atomic<bool> shutting_down_{false};

  absl::Mutex admin_mu_;
  std::deque<std::function<void()>> admin_jobs_ ABSL_GUARDED_BY(admin_mu_);
  bool admin_stopping_ ABSL_GUARDED_BY(admin_mu_) = false;
  // Jobs answer with UNAVAILABLE instead of running once stopping (see StopAdmin).
  std::thread admin_thread_;
  absl::Mutex admin_join_mu_;  // serialises StopAdmin's join

  absl::Mutex streams_mu_;
  absl::flat_hash_set<InferStream*> streams_ ABSL_GUARDED_BY(streams_mu_);
  bool streams_closed_ ABSL_GUARDED_BY(streams_mu_) = false;
};

}  // namespace seqserve
