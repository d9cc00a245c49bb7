// The gRPC front end's codec: a ModelInferRequest as the protocol-neutral InferRequestView
// that frontend/infer_request.h validates, and the ModelInferResponse the reply is written
// into. Only the gRPC front end links it; REST has its own codec (http/rest_infer.h).
//
// Zero-copy both ways: the view points into the request's typed contents RepeatedField or raw
// bytes (the request must outlive it and the validated input); AddOutput hands out the
// response's own storage for the worker to write into, so the response must not be touched
// by anyone else meanwhile.
// Thread-safe: the functions only read their arguments (AddOutput and StartInferResponse
// write the response they are given).
#pragma once

#include <cstdint>
#include <string_view>

#include "absl/status/statusor.h"
#include "common/tensor.h"
#include "core/model.h"
#include "proto/grpc_service.pb.h"
#include "server/config/model_config.h"
#include "server/frontend/infer_request.h"

namespace seqserve {

// gRPC's view of `request`: each input's data in the contents field of its datatype
// (fp32_contents for FP32, int64_contents for INT64, int_contents for INT8/INT16/INT32, ...;
// FP16 and BF16 have none) or in raw_input_contents (one entry per input, in order), never
// both, no other contents field, or in shared memory (the parameters shared_memory_region as
// a string_param, shared_memory_byte_size and shared_memory_offset as int64_param or
// uint64_param; no contents then); the "timeout" parameter as int64_param or uint64_param; a
// requested output's shared memory parameters likewise.
InferRequestView ViewOf(const inference::ModelInferRequest& request);

// ValidateInferRequest(ViewOf(request), ...).
absl::StatusOr<InferInput> DecodeInferRequest(const inference::ModelInferRequest& request,
                                              std::string_view model_name,
                                              const ServingConfig& config, const Model& model);

// Fills the reply's header: the request's model_name and id, and the version that served it.
void StartInferResponse(const inference::ModelInferRequest& request, int64_t version,
                        inference::ModelInferResponse& response);

// Appends the output tensor of `shape` (configured name, "FP32", shape) to `response` and
// returns where its NumElements(shape) floats go: raw_output_contents, storage owned by the
// response. Always raw, whatever form the request used, as Triton replies (SPEC §6; Triton's
// client decodes only raw outputs). Throws std::bad_alloc when it cannot be allocated.
float* AddOutput(const Shape& shape, const ServingConfig& config,
                 inference::ModelInferResponse& response);

// Appends the output's metadata (configured name, "FP32", `shape`) with the shared memory
// parameters of `block` (region, offset, and the bytes written) and no data, as Triton replies
// for an output in shared memory; the output's bytes are in the block.
void AddSharedMemoryOutput(const Shape& shape, const ServingConfig& config,
                           const SharedMemoryBlock& block,
                           inference::ModelInferResponse& response);

// Appends the configured output as a BYTES tensor of `shape` whose raw contents are
// `bytes` (EncodeBytesElements's layout): the classification extension's reply.
void AddBytesOutput(const Shape& shape, const ServingConfig& config, std::string bytes,
                    inference::ModelInferResponse& response);

}  // namespace seqserve
