// The KServe v2 / Triton gRPC front end: `inference.GRPCInferenceService` on gRPC's
// callback API, one override per RPC. No thread per request and no blocking in a reaction:
// an inference request is decoded (grpc_codec.h) and validated (frontend/infer_request.h) on
// the gRPC thread that received it, handed to its model version's Scheduler as a
// GrpcInferTask, and answered (reactor Finish, or a stream write: infer_stream.h) by the
// worker that ran it. A request the tracer samples (Triton's trace extension) carries its
// trace through these hops: REQUEST_START on arrival, QUEUE_START when enqueued, the
// worker's compute stamps, REQUEST_END and GRPC_SEND_START when answered, GRPC_SEND_END once
// gRPC is done with the call (a stream's: with that response's write; a stream's request
// also has GRPC_WAITREAD_START/END). Repository loads and unloads, which block for as
// long as a load takes, go through the ModelControl both protocols share, whose thread
// finishes the call. Readiness and shutdown are the server's one ServingState.
//
// Errors follow SPEC §7: NOT_FOUND for an unknown model or version, UNAVAILABLE (with the
// load error) for a model that is loading, unloading or failed, INVALID_ARGUMENT for a bad
// request, RESOURCE_EXHAUSTED for a full queue or an output past the limits,
// PERMISSION_DENIED for a restricted protocol without its header, DEADLINE_EXCEEDED and CANCELLED for requests
// dropped before compute, INTERNAL for anything unexpected (exceptions are caught at the
// boundary; the server keeps serving). ModelStreamInfer reports each request's error in its
// response's error_message and keeps the stream open.
//
// Thread-safe: gRPC calls the handlers from any number of threads; CloseStreams may be
// called from any thread.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "proto/grpc_service.grpc.pb.h"
#include "server/frontend/model_control.h"
#include "server/frontend/restricted_protocols.h"
#include "server/frontend/serving_state.h"
#include "server/frontend/shared_memory_registry.h"
#include "server/repository/model_repository.h"
#include "server/tracing/tracer.h"

namespace seqserve {

class GrpcInferTask;
class InferStream;

struct GrpcServiceOptions {
  // The server's largest message (--grpc-max-message-bytes): a request whose reply could not
  // be sent fails before it is queued, with RESOURCE_EXHAUSTED naming both sizes, instead of
  // running and then failing to send (and counting as a success).
  int64_t max_message_bytes = int64_t{64} << 20;
  // --grpc-restricted-protocol: the RPCs of a restricted protocol need metadata
  // "triton-grpc-protocol-<key>" with the value (PERMISSION_DENIED otherwise). The
  // protocols: health (ServerLive, ServerReady, ModelReady), metadata (ServerMetadata,
  // ModelMetadata), inference (ModelInfer, ModelStreamInfer), model-config (ModelConfig),
  // statistics (ModelStatistics), model-repository (RepositoryIndex, RepositoryModelLoad,
  // RepositoryModelUnload), shared-memory (SystemSharedMemoryStatus, ...Register,
  // ...Unregister), logging (LogSettings), trace (TraceSetting). grpc.health.v1 and
  // reflection are separate services and stay open.
  ProtocolRestrictions restrictions;
  // Triton's system shared memory regions (the Server's, shared with HTTP; outlives the
  // service); null: the extension is not offered.
  SharedMemoryRegistry* shared_memory = nullptr;
  // Triton's trace extension (the Server's, shared with HTTP; outlives the service): the
  // settings TraceSetting changes, and which inference requests are traced; null: the
  // extension is not offered.
  Tracer* tracer = nullptr;
};

class GrpcInferenceService final : public inference::GRPCInferenceService::CallbackService {
 public:
  // `repository`, `state` and `control` must outlive the service. ServerReady answers
  // state.ready(); once state.shutting_down(), ModelReady answers false and new inference
  // requests and streams fail with ShuttingDownError().
  GrpcInferenceService(ModelRepository& repository, const ServingState& state,
                       ModelControl& control, GrpcServiceOptions options = {});
  ~GrpcInferenceService() override;

  // Shutdown, once the repository has drained every request: ends each open stream as soon
  // as its answers are written (UNAVAILABLE "server is shutting down"), so that
  // grpc::Server::Shutdown does not wait for clients that keep idle streams open.
  void CloseStreams();

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
  // Triton's logging extension (logging/log_settings.h): changes the settings the request
  // names, then answers all of them.
  grpc::ServerUnaryReactor* LogSettings(grpc::CallbackServerContext* context,
                                        const inference::LogSettingsRequest* request,
                                        inference::LogSettingsResponse* response) override;
  // Triton's trace extension (tracing/tracer.h): changes the settings the request names,
  // global or of its model_name, then answers all of them.
  grpc::ServerUnaryReactor* TraceSetting(grpc::CallbackServerContext* context,
                                         const inference::TraceSettingRequest* request,
                                         inference::TraceSettingResponse* response) override;
  // Triton's system shared memory extension (frontend/shared_memory_registry.h).
  grpc::ServerUnaryReactor* SystemSharedMemoryStatus(
      grpc::CallbackServerContext* context,
      const inference::SystemSharedMemoryStatusRequest* request,
      inference::SystemSharedMemoryStatusResponse* response) override;
  grpc::ServerUnaryReactor* SystemSharedMemoryRegister(
      grpc::CallbackServerContext* context,
      const inference::SystemSharedMemoryRegisterRequest* request,
      inference::SystemSharedMemoryRegisterResponse* response) override;
  grpc::ServerUnaryReactor* SystemSharedMemoryUnregister(
      grpc::CallbackServerContext* context,
      const inference::SystemSharedMemoryUnregisterRequest* request,
      inference::SystemSharedMemoryUnregisterResponse* response) override;

 private:
  friend class InferStream;

  // Resolves the task's model version, validates its request and enqueues it; a task that
  // fails any of that is answered at once with the error.
  void Submit(std::unique_ptr<GrpcInferTask> task);
  absl::Status Prepare(GrpcInferTask& task);

  // Load and Unload share everything but the direction.
  grpc::ServerUnaryReactor* ChangeRepository(grpc::CallbackServerContext* context,
                                             const std::string& repository_name,
                                             const std::string& model_name, bool load,
                                             const RepositoryChangeParameters& parameters);

  // Streams register while open so that CloseStreams can end them; false once closed.
  bool RegisterStream(InferStream* stream);
  void UnregisterStream(InferStream* stream);

  bool shutting_down() const { return state_.shutting_down(); }
  // A trace for an inference request of `model_name` when tracing samples it; null almost
  // always (see tracing/tracer.h for its cost).
  std::unique_ptr<RequestTrace> SampleTrace(const std::string& model_name) const {
    return options_.tracer != nullptr ? options_.tracer->Sample(model_name) : nullptr;
  }
  // Whether the tracer may sample now (a stream then notes when each read starts).
  bool tracing() const { return options_.tracer != nullptr && options_.tracer->active(); }
  // UNIMPLEMENTED when the server has no shared memory registry.
  absl::Status SharedMemoryOffered() const;
  // PERMISSION_DENIED when `protocol` is restricted and the call lacks its header.
  absl::Status Authorize(const grpc::CallbackServerContext& context, Protocol protocol) const;

  const GrpcServiceOptions options_;
  ModelRepository& repository_;  // outlives the service (see the constructor)
  const ServingState& state_;    // likewise
  ModelControl& control_;        // likewise

  absl::Mutex streams_mu_;
  absl::flat_hash_set<InferStream*> streams_ ABSL_GUARDED_BY(streams_mu_);
  bool streams_closed_ ABSL_GUARDED_BY(streams_mu_) = false;
};

}  // namespace seqserve
