// The one place an absl::Status becomes a grpc::Status. Both use the canonical status codes
// with the same numbers, so the code is carried over unchanged and the message is kept.
// Thread-safe: a pure function.
#pragma once

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace seqserve {

grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace seqserve
