// The gRPC side of the access log (`--log-requests`, frontend/access_log.h): a server
// interceptor that gathers one entry per RPC and logs it when the RPC's status is sent —
// method, status code, duration and peer, plus model, version and request_id for
// ModelInfer, and the number of requests for a ModelStreamInfer stream (one line per
// stream). Switched at runtime (logging/log_settings.h): while off, it adds nothing to an RPC.
// Thread-safe: gRPC creates one interceptor per RPC and never calls it concurrently.
#pragma once

#include <memory>

#include "grpcpp/support/server_interceptor.h"

namespace seqserve {

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> MakeGrpcAccessLog();

}  // namespace seqserve
