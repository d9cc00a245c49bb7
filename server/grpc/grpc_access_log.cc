#include "server/grpc/grpc_access_log.h"

#include <chrono>
#include <string>

#include "absl/status/status.h"
#include "grpcpp/server_context.h"
#include "proto/grpc_service.pb.h"
#include "server/frontend/access_log.h"
#include "server/logging/log_settings.h"

namespace seqserve {
namespace {

using grpc::experimental::InterceptionHookPoints;

constexpr std::string_view kModelInfer = "/inference.GRPCInferenceService/ModelInfer";

class AccessLogInterceptor final : public grpc::experimental::Interceptor {
 public:
  explicit AccessLogInterceptor(grpc::experimental::ServerRpcInfo* info)
      : info_(info), start_(std::chrono::steady_clock::now()) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_MESSAGE)) {
      ++messages_;
      void* message = methods->GetRecvMessage();
      if (message != nullptr && info_->method() == kModelInfer) {
        const auto& request = *static_cast<const inference::ModelInferRequest*>(message);
        model_ = request.model_name();
        version_ = request.model_version();
        request_id_ = request.id();
      }
    }
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      const grpc::Status status = methods->GetSendStatus();
      const double duration_ms =
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start_)
              .count();
      const std::string code =
          absl::StatusCodeToString(static_cast<absl::StatusCode>(status.error_code()));
      const bool stream = info_->type() == grpc::experimental::ServerRpcInfo::Type::BIDI_STREAMING;
      const std::string peer = info_->server_context()->peer();
      AccessEntry entry;
      entry.protocol = "grpc";
      entry.request = info_->method();
      entry.status = std::string_view(code);
      entry.server_error = status.error_code() == grpc::StatusCode::INTERNAL ||
                           status.error_code() == grpc::StatusCode::UNKNOWN;
      entry.duration_ms = duration_ms;
      entry.model = model_;
      entry.version = version_;
      entry.request_id = request_id_;
      entry.requests = stream ? messages_ : int64_t{1};
      entry.peer = peer;
      LogAccess(entry);
    }
    methods->Proceed();
  }

 private:
  grpc::experimental::ServerRpcInfo* info_;  // gRPC's, valid for the RPC's lifetime
  const std::chrono::steady_clock::time_point start_;
  int64_t messages_ = 0;
  std::string model_;
  std::string version_;
  std::string request_id_;
};

class AccessLogFactory final : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    // Switched at runtime (log_requests); an RPC without an interceptor costs nothing more.
    return RequestLoggingEnabled() ? new AccessLogInterceptor(info) : nullptr;
  }
};

}  // namespace

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> MakeGrpcAccessLog() {
  return std::make_unique<AccessLogFactory>();
}

}  // namespace seqserve
