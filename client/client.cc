#include "client/client.h"

#include <algorithm>
#include <bit>
#include <chrono>
#include <cstring>
#include <deque>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"

namespace seqserve::client {
namespace {

// Raw tensor bytes are little-endian on the wire; copying floats verbatim relies on it.
static_assert(std::endian::native == std::endian::little, "raw tensors assume little-endian");

std::string VersionString(int64_t version) {
  return version > 0 ? std::to_string(version) : std::string();
}

absl::Status MalformedResponse(std::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("malformed inference response: ",
                                                 std::string(what)));
}

// A stream's error_message has no status code of its own; a leading canonical code name
// ("NOT_FOUND: no model 'x'") is honoured so callers can still tell error kinds apart.
absl::Status StreamError(const std::string& message) {
  static constexpr std::pair<std::string_view, absl::StatusCode> kCodes[] = {
      {"CANCELLED", absl::StatusCode::kCancelled},
      {"UNKNOWN", absl::StatusCode::kUnknown},
      {"INVALID_ARGUMENT", absl::StatusCode::kInvalidArgument},
      {"DEADLINE_EXCEEDED", absl::StatusCode::kDeadlineExceeded},
      {"NOT_FOUND", absl::StatusCode::kNotFound},
      {"ALREADY_EXISTS", absl::StatusCode::kAlreadyExists},
      {"PERMISSION_DENIED", absl::StatusCode::kPermissionDenied},
      {"RESOURCE_EXHAUSTED", absl::StatusCode::kResourceExhausted},
      {"FAILED_PRECONDITION", absl::StatusCode::kFailedPrecondition},
      {"ABORTED", absl::StatusCode::kAborted},
      {"OUT_OF_RANGE", absl::StatusCode::kOutOfRange},
      {"UNIMPLEMENTED", absl::StatusCode::kUnimplemented},
      {"INTERNAL", absl::StatusCode::kInternal},
      {"UNAVAILABLE", absl::StatusCode::kUnavailable},
      {"DATA_LOSS", absl::StatusCode::kDataLoss},
      {"UNAUTHENTICATED", absl::StatusCode::kUnauthenticated},
  };
  std::string_view text = message;
  for (const auto& [name, code] : kCodes) {
    if (text.size() > name.size() + 1 && text.substr(0, name.size()) == name &&
        text[name.size()] == ':') {
      std::string_view rest = text.substr(name.size() + 1);
      while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
      return absl::Status(code, std::string(rest));
    }
  }
  return absl::UnknownError(message);
}

absl::StatusOr<Tensor> TensorFromStreamResponse(
    const inference::ModelStreamInferResponse& response, std::string_view output_name) {
  absl::Status status = StreamResponseStatus(response);
  if (!status.ok()) return status;
  return TensorFromResponse(response.infer_response(), output_name);
}

// KServe's datatype of a tensor's element type.
const char* DatatypeOf(DType dtype) {
  switch (dtype) {
    case DType::kFloat32:
      return "FP32";
    case DType::kInt64:
      return "INT64";
    case DType::kInt32:
      return "INT32";
  }
  return "FP32";
}

// An output of a response: its index, its shape and its element count.
struct OutputData {
  int index = 0;
  Shape shape;
  int64_t count = 0;
};

absl::StatusOr<OutputData> FindOutput(const inference::ModelInferResponse& response,
                                      std::string_view output_name) {
  if (response.outputs_size() == 0) return MalformedResponse("no outputs");
  OutputData output;
  if (!output_name.empty()) {
    output.index = -1;
    for (int i = 0; i < response.outputs_size(); ++i) {
      if (response.outputs(i).name() == output_name) output.index = i;
    }
    if (output.index < 0) {
      return MalformedResponse(absl::StrCat("no output named '", std::string(output_name), "'"));
    }
  }
  const auto& out = response.outputs(output.index);
  output.shape.assign(out.shape().begin(), out.shape().end());
  for (int64_t d : output.shape) {
    if (d < 0) return MalformedResponse(absl::StrCat("negative dimension in output shape"));
  }
  output.count = NumElements(output.shape);
  return output;
}

// Copies `output`'s count values into `out`: from raw_output_contents when the response has
// them, else from the output's typed contents `typed`.
template <typename T>
absl::Status CopyOutput(const inference::ModelInferResponse& response, const OutputData& output,
                        const google::protobuf::RepeatedField<T>& typed, T* out) {
  const std::string& name = response.outputs(output.index).name();
  if (response.raw_output_contents_size() > 0) {
    if (output.index >= response.raw_output_contents_size()) {
      return MalformedResponse(absl::StrCat("no raw contents for output '", name, "'"));
    }
    const std::string& bytes = response.raw_output_contents(output.index);
    if (bytes.size() != static_cast<size_t>(output.count) * sizeof(T)) {
      return MalformedResponse(absl::StrCat("output '", name, "' of shape ",
                                            ShapeToString(output.shape), " has ", bytes.size(),
                                            " bytes, expected ", output.count * sizeof(T)));
    }
    if (!bytes.empty()) std::memcpy(out, bytes.data(), bytes.size());
    return absl::OkStatus();
  }
  if (typed.size() != output.count) {
    return MalformedResponse(absl::StrCat("output '", name, "' of shape ",
                                          ShapeToString(output.shape), " has ", typed.size(),
                                          " values, expected ", output.count));
  }
  std::copy(typed.begin(), typed.end(), out);
  return absl::OkStatus();
}

void AddHeaders(const ClientOptions& options, grpc::ClientContext* context) {
  for (const auto& [name, value] : options.headers) context->AddMetadata(name, value);
}

// One asynchronous Tensor-level call: owns everything gRPC needs until completion.
struct AsyncCall {
  grpc::ClientContext context;
  inference::ModelInferRequest request;
  inference::ModelInferResponse response;
  std::string output_name;
  Client::InferCallback done;
};

// The ModelStreamInfer reactor. Writes are queued because gRPC allows one outstanding
// write per stream; one read is always outstanding so answers are never held up.
class StreamReactor final
    : public InferStream,
      public grpc::ClientBidiReactor<inference::ModelInferRequest,
                                     inference::ModelStreamInferResponse> {
 public:
  StreamReactor(inference::GRPCInferenceService::Stub& stub, RawCallback on_raw,
                const Client& client)
      : on_raw_(std::move(on_raw)) {
    // Streams are long-lived: only an explicit client-wide timeout bounds them.
    client.SetDeadline(&context_, 0);
    AddHeaders(client.options(), &context_);
    stub.async()->ModelStreamInfer(&context_, this);
    StartRead(&response_);
    StartCall();
  }

  ~StreamReactor() override {
    {
      absl::MutexLock lock(&mu_);
      if (done_) return;
    }
    context_.TryCancel();
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(&done_));
  }

  absl::Status Send(const inference::ModelInferRequest* request) override {
    return Enqueue(request, nullptr);
  }

  using InferStream::Send;
  absl::Status Send(std::string_view model, const TensorView& input,
                    const InferOptions& options) override {
    auto owned = std::make_unique<inference::ModelInferRequest>(
        MakeInferRequest(model, input, options));
    const inference::ModelInferRequest* request = owned.get();
    return Enqueue(request, std::move(owned));
  }

  absl::Status Finish() override {
    bool close_now = false;
    {
      absl::MutexLock lock(&mu_);
      if (!finish_requested_) {
        finish_requested_ = true;
        close_now = !writing_ && !done_;
        if (close_now) writes_done_started_ = true;
      }
    }
    if (close_now) StartWritesDone();
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(&done_));
    return final_status_;
  }

  void OnWriteDone(bool ok) override {
    const inference::ModelInferRequest* next = nullptr;
    bool close_now = false;
    {
      absl::MutexLock lock(&mu_);
      queue_.pop_front();  // frees an owned request: gRPC is done with it
      if (!ok) {
        // The stream is broken; OnDone will report why. Drop what cannot be sent.
        queue_.clear();
        writing_ = false;
        return;
      }
      if (!queue_.empty()) {
        next = queue_.front().request;
      } else {
        writing_ = false;
        if (finish_requested_ && !writes_done_started_) close_now = writes_done_started_ = true;
      }
    }
    if (next != nullptr) StartWrite(next);
    if (close_now) StartWritesDone();
  }

  void OnReadDone(bool ok) override {
    if (!ok) return;  // the server closed its side; OnDone follows
    on_raw_(response_);
    StartRead(&response_);
  }

  void OnDone(const grpc::Status& status) override {
    absl::MutexLock lock(&mu_);
    final_status_ = ToAbslStatus(status);
    queue_.clear();
    done_ = true;
  }

 private:
  struct Pending {
    const inference::ModelInferRequest* request;
    std::unique_ptr<inference::ModelInferRequest> owned;  // null when the caller owns it
  };

  absl::Status Enqueue(const inference::ModelInferRequest* request,
                       std::unique_ptr<inference::ModelInferRequest> owned) {
    {
      absl::MutexLock lock(&mu_);
      if (finish_requested_) return absl::FailedPreconditionError("stream already finished");
      if (done_) return absl::FailedPreconditionError(absl::StrCat(
          "stream closed: ", final_status_.ToString()));
      queue_.push_back(Pending{request, std::move(owned)});
      if (writing_) return absl::OkStatus();
      writing_ = true;
    }
    // Outside the lock: gRPC may run OnWriteDone on another thread at once.
    StartWrite(request);
    return absl::OkStatus();
  }

  const RawCallback on_raw_;
  grpc::ClientContext context_;
  // Only touched by gRPC's serial read reactions.
  inference::ModelStreamInferResponse response_;

  absl::Mutex mu_;
  std::deque<Pending> queue_ ABSL_GUARDED_BY(mu_);  // front: the write in flight
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool finish_requested_ ABSL_GUARDED_BY(mu_) = false;
  bool writes_done_started_ ABSL_GUARDED_BY(mu_) = false;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status final_status_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

absl::Status StreamResponseStatus(const inference::ModelStreamInferResponse& response) {
  if (response.error_message().empty()) return absl::OkStatus();
  return StreamError(response.error_message());
}

absl::Status ToAbslStatus(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                      status.error_message());
}

inference::ModelInferRequest MakeInferRequest(std::string_view model, const TensorView& input,
                                              const InferOptions& options) {
  inference::ModelInferRequest request;
  request.set_model_name(std::string(model));
  request.set_model_version(VersionString(options.version));
  request.set_id(options.id);
  auto* tensor = request.add_inputs();
  tensor->set_name(options.input_name);
  tensor->set_datatype(DatatypeOf(input.dtype));
  for (int64_t d : input.shape) tensor->add_shape(d);
  const size_t count = static_cast<size_t>(NumElements(Shape(input.shape.begin(), input.shape.end())));
  if (options.raw) {
    request.add_raw_input_contents()->assign(static_cast<const char*>(input.data),
                                             count * DTypeSize(input.dtype));
  } else if (input.dtype == DType::kInt64) {
    const auto* values = static_cast<const int64_t*>(input.data);
    tensor->mutable_contents()->mutable_int64_contents()->Add(values, values + count);
  } else if (input.dtype == DType::kInt32) {
    const auto* values = static_cast<const int32_t*>(input.data);
    tensor->mutable_contents()->mutable_int_contents()->Add(values, values + count);
  } else {
    const auto* values = static_cast<const float*>(input.data);
    tensor->mutable_contents()->mutable_fp32_contents()->Add(values, values + count);
  }
  if (!options.output_name.empty()) request.add_outputs()->set_name(options.output_name);
  return request;
}

inference::ModelInferRequest MakeInferRequest(std::string_view model, const Tensor& input,
                                              const InferOptions& options) {
  return MakeInferRequest(model, View(input), options);
}

absl::StatusOr<Tensor> TensorFromResponse(const inference::ModelInferResponse& response,
                                          std::string_view output_name) {
  absl::StatusOr<OutputData> output = FindOutput(response, output_name);
  if (!output.ok()) return output.status();
  const auto& out = response.outputs(output->index);
  if (out.datatype() != "FP32") {
    return MalformedResponse(
        absl::StrCat("output '", out.name(), "' has datatype ", out.datatype(), ", not FP32"));
  }
  Tensor tensor(std::move(output->shape), {});
  tensor.data.resize(static_cast<size_t>(output->count));
  if (absl::Status copied = CopyOutput(response, *output, out.contents().fp32_contents(),
                                       tensor.data.data());
      !copied.ok()) {
    return copied;
  }
  return tensor;
}

absl::StatusOr<TypedTensor> TypedTensorFromResponse(const inference::ModelInferResponse& response,
                                                    std::string_view output_name) {
  absl::StatusOr<OutputData> output = FindOutput(response, output_name);
  if (!output.ok()) return output.status();
  const auto& out = response.outputs(output->index);
  TypedTensor tensor;
  if (out.datatype() == "FP32") {
    tensor.dtype = DType::kFloat32;
  } else if (out.datatype() == "INT64") {
    tensor.dtype = DType::kInt64;
  } else if (out.datatype() == "INT32") {
    tensor.dtype = DType::kInt32;
  } else {
    return MalformedResponse(absl::StrCat("output '", out.name(), "' has datatype ",
                                          out.datatype(), ", not FP32, INT64 or INT32"));
  }
  tensor.shape = std::move(output->shape);
  tensor.bytes.resize(static_cast<size_t>(output->count) * DTypeSize(tensor.dtype));
  absl::Status copied;
  switch (tensor.dtype) {
    case DType::kFloat32:
      copied = CopyOutput(response, *output, out.contents().fp32_contents(),
                          reinterpret_cast<float*>(tensor.bytes.data()));
      break;
    case DType::kInt64:
      copied = CopyOutput(response, *output, out.contents().int64_contents(),
                          reinterpret_cast<int64_t*>(tensor.bytes.data()));
      break;
    case DType::kInt32:
      copied = CopyOutput(response, *output, out.contents().int_contents(),
                          reinterpret_cast<int32_t*>(tensor.bytes.data()));
      break;
  }
  if (!copied.ok()) return copied;
  return tensor;
}

Client::Client(std::string url, const ClientOptions& options,
               std::shared_ptr<grpc::Channel> channel)
    : url_(std::move(url)),
      options_(options),
      channel_(std::move(channel)),
      stub_(inference::GRPCInferenceService::NewStub(channel_)) {}

absl::StatusOr<std::unique_ptr<Client>> Client::Create(std::string_view url,
                                                        const ClientOptions& options) {
  if (url.empty()) return absl::InvalidArgumentError("empty server url");
  if (options.timeout_ms < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("timeout_ms must be >= 0, got ", options.timeout_ms));
  }
  if (options.max_message_bytes <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_message_bytes must be > 0, got ", options.max_message_bytes));
  }
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(options.max_message_bytes);
  args.SetMaxSendMessageSize(options.max_message_bytes);
  std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::InsecureChannelCredentials();
  if (options.use_tls) {
    if (options.client_cert_pem.empty() != options.client_key_pem.empty()) {
      return absl::InvalidArgumentError(
          "a client certificate needs its private key, and a key its certificate");
    }
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = options.root_certs_pem;
    ssl.pem_cert_chain = options.client_cert_pem;
    ssl.pem_private_key = options.client_key_pem;
    credentials = grpc::SslCredentials(ssl);
    if (!options.tls_server_name.empty()) {
      args.SetSslTargetNameOverride(options.tls_server_name);
    }
  }
  auto channel = grpc::CreateCustomChannel(std::string(url), credentials, args);
  if (channel == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("cannot make a channel to '", std::string(url),
                                                   "'"));
  }
  return std::unique_ptr<Client>(new Client(std::string(url), options, std::move(channel)));
}

std::string RestrictedProtocolHeader(std::string_view key) {
  return absl::AsciiStrToLower(absl::StrCat("triton-grpc-protocol-", std::string(key)));
}

void Client::Prepare(grpc::ClientContext* context, int64_t timeout_ms) const {
  SetDeadline(context, timeout_ms);
  AddHeaders(options_, context);
}

void Client::SetDeadline(grpc::ClientContext* context, int64_t timeout_ms) const {
  const int64_t ms = timeout_ms > 0 ? timeout_ms : options_.timeout_ms;
  if (ms > 0) {
    context->set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(ms));
  }
}

absl::StatusOr<bool> Client::ServerLive() const {
  grpc::ClientContext context;
  Prepare(&context, 0);
  inference::ServerLiveResponse response;
  grpc::Status status = stub_->ServerLive(&context, {}, &response);
  if (!status.ok()) return ToAbslStatus(status);
  return response.live();
}

absl::StatusOr<bool> Client::ServerReady() const {
  grpc::ClientContext context;
  Prepare(&context, 0);
  inference::ServerReadyResponse response;
  grpc::Status status = stub_->ServerReady(&context, {}, &response);
  if (!status.ok()) return ToAbslStatus(status);
  return response.ready();
}

absl::StatusOr<bool> Client::ModelReady(std::string_view model, int64_t version) const {
  grpc::ClientContext context;
  Prepare(&context, 0);
  inference::ModelReadyRequest request;
  request.set_name(std::string(model));
  request.set_version(VersionString(version));
  inference::ModelReadyResponse response;
  grpc::Status status = stub_->ModelReady(&context, request, &response);
  if (!status.ok()) return ToAbslStatus(status);
  return response.ready();
}

absl::StatusOr<inference::ServerMetadataResponse> Client::ServerMetadata() const {
  grpc::ClientContext context;
  Prepare(&context, 0);
  inference::ServerMetadataResponse response;
  grpc::Status status = stub_->ServerMetadata(&context, {}, &response);
  if (!status.ok()) return ToAbslStatus(status);
  return response;
}

absl::StatusOr<inference::ModelMetadataResponse> Client::ModelMetadata(std::string_view model,
                                                                       int64_t version) const {
  grpc::ClientContext context;
  Prepare(&context, 0);
  inference::ModelMetadataRequest request;
  request.set_name(std::string(model));
  request.set_version(VersionString(version));
  inference::ModelMetadataResponse response;
  grpc::Status status = stub_->ModelMetadata(&context, request, &response);
  if (!status.ok()) return ToAbslStatus(status);
  return response;
}

absl::StatusOr<inference::ModelConfig> Client::ModelConfig(std::string_view model,
                                                           int64_t version) const {
  grpc::ClientContext context;
  Prepare(&context, 0);
  inference::ModelConfigRequest request;
  request.set_name(std::string(model));
  request.set_version(VersionString(version));
  inference::ModelConfigResponse response;
  grpc::Status status = stub_->ModelConfig(&context, request, &response);
  if (!status.ok()) return ToAbslStatus(status);
  return std::move(*response.mutable_config());
}

absl::StatusOr<inference::ModelStatisticsResponse> Client::ModelStatistics(
    std::string_view model, int64_t version) const {
  grpc::ClientContext context;
  Prepare(&context, 0);
  inference::ModelStatisticsRequest request;
  request.set_name(std::string(model));
  request.set_version(VersionString(version));
  inference::ModelStatisticsResponse response;
  grpc::Status status = stub_->ModelStatistics(&context, request, &response);
  if (!status.ok()) return ToAbslStatus(status);
  return response;
}

absl::StatusOr<inference::RepositoryIndexResponse> Client::RepositoryIndex(
    bool ready_only) const {
  grpc::ClientContext context;
  Prepare(&context, 0);
  inference::RepositoryIndexRequest request;
  request.set_ready(ready_only);
  inference::RepositoryIndexResponse response;
  grpc::Status status = stub_->RepositoryIndex(&context, request, &response);
  if (!status.ok()) return ToAbslStatus(status);
  return response;
}

absl::Status Client::Load(std::string_view model) const {
  grpc::ClientContext context;
  Prepare(&context, 0);
  inference::RepositoryModelLoadRequest request;
  request.set_model_name(std::string(model));
  inference::RepositoryModelLoadResponse response;
  return ToAbslStatus(stub_->RepositoryModelLoad(&context, request, &response));
}

absl::Status Client::Unload(std::string_view model) const {
  grpc::ClientContext context;
  Prepare(&context, 0);
  inference::RepositoryModelUnloadRequest request;
  request.set_model_name(std::string(model));
  inference::RepositoryModelUnloadResponse response;
  return ToAbslStatus(stub_->RepositoryModelUnload(&context, request, &response));
}

absl::Status Client::RegisterSystemSharedMemory(std::string_view name, std::string_view key,
                                                uint64_t offset, uint64_t byte_size) const {
  grpc::ClientContext context;
  Prepare(&context, 0);
  inference::SystemSharedMemoryRegisterRequest request;
  request.set_name(std::string(name));
  request.set_key(std::string(key));
  request.set_offset(offset);
  request.set_byte_size(byte_size);
  inference::SystemSharedMemoryRegisterResponse response;
  return ToAbslStatus(stub_->SystemSharedMemoryRegister(&context, request, &response));
}

absl::Status Client::UnregisterSystemSharedMemory(std::string_view name) const {
  grpc::ClientContext context;
  Prepare(&context, 0);
  inference::SystemSharedMemoryUnregisterRequest request;
  request.set_name(std::string(name));
  inference::SystemSharedMemoryUnregisterResponse response;
  return ToAbslStatus(stub_->SystemSharedMemoryUnregister(&context, request, &response));
}

absl::StatusOr<inference::SystemSharedMemoryStatusResponse> Client::SystemSharedMemoryStatus(
    std::string_view name) const {
  grpc::ClientContext context;
  Prepare(&context, 0);
  inference::SystemSharedMemoryStatusRequest request;
  request.set_name(std::string(name));
  inference::SystemSharedMemoryStatusResponse response;
  grpc::Status status = stub_->SystemSharedMemoryStatus(&context, request, &response);
  if (!status.ok()) return ToAbslStatus(status);
  return response;
}

absl::StatusOr<Tensor> Client::Infer(std::string_view model, const Tensor& input,
                                     const InferOptions& options) const {
  return Infer(model, View(input), options);
}

absl::StatusOr<Tensor> Client::Infer(std::string_view model, const TensorView& input,
                                     const InferOptions& options) const {
  grpc::ClientContext context;
  Prepare(&context, options.timeout_ms);
  const inference::ModelInferRequest request = MakeInferRequest(model, input, options);
  inference::ModelInferResponse response;
  grpc::Status status = stub_->ModelInfer(&context, request, &response);
  if (!status.ok()) return ToAbslStatus(status);
  return TensorFromResponse(response, options.output_name);
}

void Client::AsyncInfer(std::string_view model, const Tensor& input, const InferOptions& options,
                        InferCallback done) const {
  AsyncInfer(model, View(input), options, std::move(done));
}

void Client::AsyncInfer(std::string_view model, const TensorView& input,
                        const InferOptions& options, InferCallback done) const {
  auto* call = new AsyncCall;
  call->request = MakeInferRequest(model, input, options);
  call->output_name = options.output_name;
  call->done = std::move(done);
  Prepare(&call->context, options.timeout_ms);
  stub_->async()->ModelInfer(&call->context, &call->request, &call->response,
                             [call](grpc::Status status) {
                               std::unique_ptr<AsyncCall> owned(call);
                               if (!status.ok()) {
                                 owned->done(ToAbslStatus(status));
                               } else {
                                 owned->done(TensorFromResponse(owned->response,
                                                                owned->output_name));
                               }
                             });
}

std::future<absl::StatusOr<Tensor>> Client::InferFuture(std::string_view model,
                                                        const Tensor& input,
                                                        const InferOptions& options) const {
  return InferFuture(model, View(input), options);
}

std::future<absl::StatusOr<Tensor>> Client::InferFuture(std::string_view model,
                                                        const TensorView& input,
                                                        const InferOptions& options) const {
  auto promise = std::make_shared<std::promise<absl::StatusOr<Tensor>>>();
  std::future<absl::StatusOr<Tensor>> future = promise->get_future();
  AsyncInfer(model, input, options,
             [promise](absl::StatusOr<Tensor> result) { promise->set_value(std::move(result)); });
  return future;
}

void Client::StartModelInfer(grpc::ClientContext* context,
                             const inference::ModelInferRequest* request,
                             inference::ModelInferResponse* response,
                             std::function<void(grpc::Status)> done) const {
  AddHeaders(options_, context);
  stub_->async()->ModelInfer(context, request, response, std::move(done));
}

std::unique_ptr<InferStream> Client::OpenRawStream(
    InferStream::RawCallback on_raw) const {
  return std::make_unique<StreamReactor>(*stub_, std::move(on_raw), *this);
}

std::unique_ptr<InferStream> Client::OpenStream(StreamCallback on_result) const {
  return OpenRawStream(
      [on_result = std::move(on_result)](const inference::ModelStreamInferResponse& response) {
        on_result(response.infer_response().id(), TensorFromStreamResponse(response, {}));
      });
}

}  // namespace seqserve::client
