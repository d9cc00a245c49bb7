// seqserve's C++ client: a small API over the KServe v2 / Triton gRPC service
// (inference.GRPCInferenceService) for health, metadata, repository control and inference
// with common/tensor.h's tensors, synchronous, asynchronous and streaming. Inputs are a
// float32 Tensor or any TensorView (int64/int32 ids for a model that starts with Embedding
// travel as INT64/INT32); outputs come back as a float32 Tensor (seqserve's outputs), or as a
// TypedTensor from TypedTensorFromResponse for servers that answer in other types.
//
//   auto client = seqserve::client::Client::Create("localhost:8001");
//   if (!client.ok()) return client.status();
//   absl::StatusOr<seqserve::Tensor> out = (*client)->Infer("lenet", image);
//   absl::StatusOr<seqserve::Tensor> scores = (*client)->Infer("textclass", ids.view());
//
// Every call returns absl::Status / absl::StatusOr carrying the server's gRPC status code
// and message unchanged (ToAbslStatus), so callers can branch on absl::IsNotFound etc.
//
// Thread-safety: a Client is thread-safe and cheap to share; all calls may be made from
// any thread at once. Asynchronous callbacks run on gRPC's own threads: they must not
// block (issuing another asynchronous call from one is fine). An InferStream is
// thread-safe for Send; its callback is invoked serially, one response at a time.
// Destroying a Client while asynchronous calls are outstanding is safe: each call keeps
// the channel alive and its callback still runs.
#pragma once

#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/tensor.h"
#include "proto/grpc_service.grpc.pb.h"
#include "proto/grpc_service.pb.h"

namespace seqserve::client {

struct ClientOptions {
  // Deadline for calls whose own options give none; 0 = no deadline.
  int64_t timeout_ms = 0;
  // Largest message sent or received; seqserve's own default limit is 64 MiB.
  int max_message_bytes = 64 << 20;

  // TLS, for a server started with --grpc-use-ssl: the CA certificates to trust (PEM; empty:
  // the system's), and for --grpc-use-ssl-mutual this client's certificate chain and private
  // key (PEM).
  bool use_tls = false;
  std::string root_certs_pem;
  std::string client_cert_pem;
  std::string client_key_pem;
  // The name the server's certificate must carry, when it is not the url's host (e.g. a
  // certificate made for "localhost" reached as 127.0.0.1). Empty: the url's host.
  std::string tls_server_name;
  // Metadata sent with every call. For a server started with
  // --grpc-restricted-protocol=model-repository:admin-key=secret, load and unload need
  // {"triton-grpc-protocol-admin-key", "secret"} (RestrictedProtocolHeader).
  std::vector<std::pair<std::string, std::string>> headers;
};

// The metadata a restricted protocol's `key` (as the server's --grpc-restricted-protocol
// names it) travels in: Triton's "triton-grpc-protocol-<key>", in lower case as gRPC wants.
std::string RestrictedProtocolHeader(std::string_view key);

struct InferOptions {
  // Model version; 0 = the server's pick (the highest ready version).
  int64_t version = 0;
  // Deadline of this request; 0 = ClientOptions::timeout_ms.
  int64_t timeout_ms = 0;
  // true: the tensor travels as raw little-endian bytes in raw_input_contents (what
  // Triton's clients send, and cheaper to encode); false: in InferTensorContents'
  // fp32_contents (FP32), int64_contents (INT64) or int_contents (INT32). The server answers
  // in the same form.
  bool raw = true;
  // Request id, echoed by the server; how streaming callers match answers to requests.
  std::string id;
  // Input tensor name; seqserve's default unless config.pbtxt renames it.
  std::string input_name = "input";
  // Output to return; empty = the first output of the response.
  std::string output_name;
};

// The one place a gRPC status becomes an absl::Status: the canonical codes share their
// numbers, and the server's message is kept verbatim.
absl::Status ToAbslStatus(const grpc::Status& status);

// The ModelInferRequest that Infer sends for `input`, for callers that prepare requests
// once and send them many times (see StartModelInfer). The input's datatype is its dtype's:
// FP32, INT64 or INT32.
inference::ModelInferRequest MakeInferRequest(std::string_view model, const TensorView& input,
                                              const InferOptions& options);
inference::ModelInferRequest MakeInferRequest(std::string_view model, const Tensor& input,
                                              const InferOptions& options);

// The tensor named `output_name` (empty: the first) of a response, read from
// raw_output_contents or from fp32_contents, whichever the server used. INVALID_ARGUMENT
// if it is missing, not FP32, or its byte count does not match its shape.
absl::StatusOr<Tensor> TensorFromResponse(const inference::ModelInferResponse& response,
                                          std::string_view output_name = {});
// The same for an output of datatype FP32, INT64 or INT32 (raw, or in fp32_contents,
// int64_contents or int_contents).
absl::StatusOr<TypedTensor> TypedTensorFromResponse(const inference::ModelInferResponse& response,
                                                    std::string_view output_name = {});

// The outcome of one stream response: OK, or its error_message as a status. A stream error
// carries no gRPC code, so it is UNKNOWN with the server's message, unless the message
// starts with a canonical code name ("NOT_FOUND: ..."), which is then used.
absl::Status StreamResponseStatus(const inference::ModelStreamInferResponse& response);

// A bidirectional ModelStreamInfer stream: requests go out in Send order, responses
// arrive as the server produces them (not necessarily in order) and are matched by id.
// A per-request error arrives as a response with an error_message and does not end the
// stream. Destroying an unfinished stream cancels it and waits for gRPC to let go.
class InferStream {
 public:
  // Proto-level callback: one response (or per-request error), valid during the call.
  using RawCallback = std::function<void(const inference::ModelStreamInferResponse&)>;

  virtual ~InferStream() = default;

  // Queues `request` without copying it. It must stay alive and unchanged until its
  // response has arrived or Finish has returned. FAILED_PRECONDITION after Finish.
  virtual absl::Status Send(const inference::ModelInferRequest* request) = 0;
  // Copies a request made from `input`; options.id identifies the answer.
  // options.timeout_ms does not apply: a stream has no per-request deadline.
  virtual absl::Status Send(std::string_view model, const TensorView& input,
                            const InferOptions& options) = 0;
  absl::Status Send(std::string_view model, const Tensor& input, const InferOptions& options) {
    return Send(model, View(input), options);
  }
  // Closes the sending side, waits until the server has answered and closed the stream,
  // and returns the stream's final status (OK, or e.g. the reason it broke).
  virtual absl::Status Finish() = 0;
};

class Client {
 public:
  // Tensor-level callbacks; stream errors are reported as StreamResponseStatus says.
  using InferCallback = std::function<void(absl::StatusOr<Tensor>)>;
  using StreamCallback = std::function<void(std::string_view id, absl::StatusOr<Tensor>)>;

  // `url` is "host:port" (also "[::1]:port", "unix:/path", or any gRPC target). The
  // connection is made lazily, so Create succeeds even if no server is up yet.
  static absl::StatusOr<std::unique_ptr<Client>> Create(std::string_view url,
                                                        const ClientOptions& options = {});

  absl::StatusOr<bool> ServerLive() const;
  absl::StatusOr<bool> ServerReady() const;
  // version 0: the version the server would pick.
  absl::StatusOr<bool> ModelReady(std::string_view model, int64_t version = 0) const;
  absl::StatusOr<inference::ServerMetadataResponse> ServerMetadata() const;
  absl::StatusOr<inference::ModelMetadataResponse> ModelMetadata(std::string_view model,
                                                                 int64_t version = 0) const;
  absl::StatusOr<inference::ModelConfig> ModelConfig(std::string_view model,
                                                     int64_t version = 0) const;
  // Empty model: every model; version 0: every version.
  absl::StatusOr<inference::ModelStatisticsResponse> ModelStatistics(
      std::string_view model = {}, int64_t version = 0) const;
  // ready_only: list only models ready for inference.
  absl::StatusOr<inference::RepositoryIndexResponse> RepositoryIndex(
      bool ready_only = false) const;
  absl::Status Load(std::string_view model) const;
  absl::Status Unload(std::string_view model) const;

  // Triton's system shared memory extension (client/shared_memory.h makes the objects):
  // registers [offset, offset + byte_size) of the POSIX shared memory object `key` as region
  // `name`; unregisters one region or, with an empty name, all; lists one or all regions.
  absl::Status RegisterSystemSharedMemory(std::string_view name, std::string_view key,
                                          uint64_t offset, uint64_t byte_size) const;
  absl::Status UnregisterSystemSharedMemory(std::string_view name = {}) const;
  absl::StatusOr<inference::SystemSharedMemoryStatusResponse> SystemSharedMemoryStatus(
      std::string_view name = {}) const;

  // One blocking inference of one input tensor; returns the output tensor. A TensorView
  // input may hold int64 or int32 ids (e.g. a TypedTensor's view()).
  absl::StatusOr<Tensor> Infer(std::string_view model, const Tensor& input,
                               const InferOptions& options = {}) const;
  absl::StatusOr<Tensor> Infer(std::string_view model, const TensorView& input,
                               const InferOptions& options = {}) const;
  // The same without a thread waiting: `done` runs once, on a gRPC thread. Hundreds of
  // these may be outstanding at once.
  void AsyncInfer(std::string_view model, const Tensor& input, const InferOptions& options,
                  InferCallback done) const;
  void AsyncInfer(std::string_view model, const TensorView& input, const InferOptions& options,
                  InferCallback done) const;
  // AsyncInfer with a future instead of a callback.
  std::future<absl::StatusOr<Tensor>> InferFuture(std::string_view model, const Tensor& input,
                                                  const InferOptions& options = {}) const;
  std::future<absl::StatusOr<Tensor>> InferFuture(std::string_view model, const TensorView& input,
                                                  const InferOptions& options = {}) const;

  // Low level, for load generators: the caller owns the context, the request and the
  // response (all must outlive `done`), so it can reuse them across calls. A ClientContext
  // serves one call only: construct a fresh one per call (e.g. std::optional::emplace). The
  // client's headers are added to `context` here.
  void StartModelInfer(grpc::ClientContext* context, const inference::ModelInferRequest* request,
                       inference::ModelInferResponse* response,
                       std::function<void(grpc::Status)> done) const;
  // Sets the deadline `timeout_ms` (0: ClientOptions::timeout_ms; both 0: none).
  void SetDeadline(grpc::ClientContext* context, int64_t timeout_ms) const;

  // Opens a ModelStreamInfer stream. `on_result` gets each answer's id and tensor (or
  // error); `on_raw` the response message itself.
  std::unique_ptr<InferStream> OpenStream(StreamCallback on_result) const;
  std::unique_ptr<InferStream> OpenRawStream(InferStream::RawCallback on_raw) const;

  const std::string& url() const { return url_; }
  const ClientOptions& options() const { return options_; }

 private:
  Client(std::string url, const ClientOptions& options, std::shared_ptr<grpc::Channel> channel);
  // A fresh call's context: the deadline (SetDeadline) and the headers.
  void Prepare(grpc::ClientContext* context, int64_t timeout_ms) const;

  const std::string url_;
  const ClientOptions options_;
  const std::shared_ptr<grpc::Channel> channel_;
  const std::unique_ptr<inference::GRPCInferenceService::Stub> stub_;
};

}  // namespace seqserve::client
