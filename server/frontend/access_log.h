// The per-request access log of both front ends (`--log-requests`): one line per request on
// the "access" logger — what was asked, its status, how long it took, the model, version and
// request id it named, and the peer — written the same way for gRPC (grpc/grpc_access_log.h
// gathers a call's entry) and HTTP (http/http_service.cc), so the two protocols' lines read
// alike and are parsed alike. Server errors are logged at warn, the rest at info.
// Thread-safe: LogAccess may be called from any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <variant>

namespace seqserve {

struct AccessEntry {
  std::string_view protocol;  // "grpc" or "http"
  // What was asked: the gRPC method ("/inference.GRPCInferenceService/ModelInfer"), or the
  // HTTP method and path ("POST /v2/models/lenet/infer").
  std::string_view request;
  // The outcome: the gRPC status code's name ("OK"), or the HTTP status (200).
  std::variant<std::string_view, int64_t> status;
  // An error of the server (gRPC INTERNAL or UNKNOWN, HTTP 5xx): logged at warn.
  bool server_error = false;
  double duration_ms = 0;
  // As the request named them; empty when it named none (left out of the line).
  std::string_view model;
  std::string_view version;
  std::string_view request_id;
  // gRPC: the requests the call carried (1 for a unary call, the messages of a stream).
  std::optional<int64_t> requests;
  // HTTP: the request's Content-Length and the response body's size.
  std::optional<int64_t> bytes_in;
  std::optional<int64_t> bytes_out;
  std::string_view peer;
};

void LogAccess(const AccessEntry& entry);

}  // namespace seqserve
