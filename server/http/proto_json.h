// Protobuf messages as the JSON the REST front end sends: the proto3 JSON mapping with the
// .proto's field names (Triton's snake_case: "max_batch_size"), every field that has no
// presence printed even when it is zero or empty (Triton's statistics always show their
// zero counters), enums by name, maps as objects — except that 64-bit integers are JSON
// numbers, not strings, as Triton's REST API sends them (dims: [1, 28, 28]).
// Thread-safe: a pure function.
#pragma once

#include "google/protobuf/message.h"
#include "nlohmann/json.hpp"

namespace seqserve {

nlohmann::json ProtoToJson(const google::protobuf::Message& message);

}  // namespace seqserve
