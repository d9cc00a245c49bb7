// One validation of an inference request for every front end, whatever its protocol. A
// front end's codec (grpc/grpc_codec.h for ModelInferRequest, http/rest_infer.h for the REST
// JSON body) describes its request as an InferRequestView — views into its own storage:
// names, a datatype, a shape and the tensor's bytes — and ValidateInferRequest checks it
// against the model's serving config; PrepareInferRequest adds the repository lookup, the
// deadline and the failure count, so the rules live here once.
//
// Datatypes: a view carries any KServe v2 datatype and its bytes; validation turns them into
// the model's input type (ServingConfig::input_dtype: FP32, or INT64/INT32 ids), converting
// another datatype when every value converts exactly (frontend/datatypes.h has the rules).
// For a model that takes ids, every id is checked against the embedding size here, so a bad
// id fails its own request before it is batched with others.
//
// Zero-copy: an input already in the model's type points straight into the request's
// storage (the typed contents RepeatedField, the raw bytes, the REST decoder's buffer),
// copying only raw bytes that are not aligned for their datatype in memory; a converted input
// lives in the validated input itself. The request must therefore outlive the validated input.
//
// Shared memory (frontend/shared_memory_registry.h): an input whose view names a region is
// read from the mapped region as raw bytes are from a request (zero copy when aligned), and
// the validated input holds the region until the request is answered. Ids read from shared
// memory are copied before they are checked, so a client writing the region meanwhile cannot
// slip an id past the check. An output in shared memory gets the region's block, checked to
// hold the output before the request is queued; the front end writes the output there.
//
// Every validation error is INVALID_ARGUMENT and names the tensor, the expected and the
// actual value; an output past the server's limit is RESOURCE_EXHAUSTED naming its size and
// the limit (SPEC §7), found before the request is queued. Thread-safe: the functions only
// read their arguments (PrepareInferRequest adds to the version's atomic statistics).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "common/tensor.h"
#include "core/model.h"
#include "server/config/model_config.h"
#include "server/frontend/datatypes.h"
#include "server/frontend/shared_memory_registry.h"
#include "server/repository/model_repository.h"

namespace seqserve {

// An inference request as a front end received it, before validation. Every view points
// into storage the front end keeps alive until the request is answered.
struct InferRequestView {
  struct Input {
    std::string_view name;
    std::string_view datatype;
    std::span<const int64_t> shape;
    // The data, in one of two forms: typed values (gRPC contents.*_contents, REST "data"),
    // as the bytes of `values_datatype` values in memory; or raw little-endian bytes (gRPC
    // raw_input_contents, REST binary data) of `datatype` values.
    std::span<const std::byte> values;
    std::optional<std::string_view> raw_bytes;
    // The datatype of the typed values in memory: empty for `datatype` itself, or a wider one
    // (gRPC's int_contents holds INT8 values as INT32).
    std::string_view values_datatype;
    // How error messages name where the typed values come from ("contents.fp32_contents").
    std::string_view values_field = "contents.fp32_contents";
    // Or Triton's shared memory parameters: the data is in a registered region (neither
    // values nor raw bytes then).
    std::optional<SharedMemoryParams> shared_memory;
    // What the front end found wrong with where the data is (no data, two forms, a form the
    // datatype cannot have, malformed shared memory parameters): reported once name, datatype
    // and shape have been checked.
    absl::Status data_error;
  };
  std::vector<Input> inputs;
  // The outputs the request names (none: the model's outputs).
  std::vector<std::string_view> outputs;
  // Triton's classification extension (frontend/classification.h): the class count a
  // requested output asks for, 0 = the output tensor itself; an error when the front end
  // found the parameter malformed.
  absl::StatusOr<int64_t> class_count = 0;
  // The requested output's shared memory parameters: nullopt = the reply carries the data; an
  // error when the front end found them malformed.
  absl::StatusOr<std::optional<SharedMemoryParams>> output_shared_memory = std::nullopt;
  // The request's "timeout" parameter in microseconds (Triton's meaning), 0 = none; an
  // error when the front end found it malformed.
  absl::StatusOr<int64_t> timeout_us = 0;
};

// A validated request's input, ready for the scheduler. Move-only in effect: `bytes` may point
// into `owned_bytes`, which a move keeps in place and a copy would not.
struct InferInput {
  // The request's shape, including the batch dim when the model batches.
  Shape shape;
  // The output's shape for it (the model's shape rule, checked against the limits).
  Shape output_shape;
  // The datatype the client sent ("FP32", "INT32", ...).
  std::string datatype;
  // The model's input type, which `bytes` hold.
  DType dtype = DType::kFloat32;
  // NumElements(shape) elements of `dtype`: inside the request, or in `owned_bytes` when
  // raw bytes were not aligned for the type in memory or the values were converted.
  std::span<const std::byte> bytes;
  // The client sent raw bytes, which is how `bytes` was decoded (replies are raw either way).
  bool raw = false;
  // The request's "timeout" parameter (microseconds, Triton's meaning); 0 = none.
  int64_t timeout_us = 0;
  // The top classes the reply carries instead of the output (classification.h); 0 = none.
  int64_t class_count = 0;
  std::vector<std::byte> owned_bytes;
  // Where the output goes when the request asked for it in shared memory: a block of at
  // least the output's bytes.
  std::optional<SharedMemoryBlock> output_block;

  InferInput() = default;
  InferInput(InferInput&&) = default;
  InferInput& operator=(InferInput&&) = default;

  // The elements of an FP32 input.
  const float* floats() const { return reinterpret_cast<const float*>(bytes.data()); }
  TensorView view() const { return TensorView{dtype, shape, bytes.data()}; }
};

// Bytes of a float32 tensor of `shape` (saturating at INT64_MAX).
int64_t OutputBytes(const Shape& shape);

// RESOURCE_EXHAUSTED when an output of `shape` takes more than `limit_bytes` (0: no limit):
// "output 'output' of shape [1, 64, 996, 996] would take 254.0 MB (FP32); the limit is
// 67.1 MB (--max-output-bytes=67108864)". `limit_name` names the setting.
absl::Status CheckOutputBytes(std::string_view output_name, const Shape& shape,
                              int64_t limit_bytes, std::string_view limit_name);

// Where a worker computes an output of `shape` that goes to shared memory `block`: `staged`
// (resized), which FinishSharedMemoryOutput then copies into the block. Never the block
// itself: the engine's writes cannot survive a client that shrinks its object meanwhile
// (shared_memory_copy.h), the copy can. nullptr when the block cannot hold the output.
float* SharedMemoryOutput(const SharedMemoryBlock& block, const Shape& shape,
                          std::vector<float>& staged);
// Copies the staged output into its block: INVALID_ARGUMENT naming the region when its object
// shrank under the copy.
absl::Status FinishSharedMemoryOutput(std::string_view output_name, const SharedMemoryBlock& block,
                                      const std::vector<float>& staged);

// A request's model_version: "" means the server's choice (0); otherwise a positive
// integer. INVALID_ARGUMENT otherwise.
absl::StatusOr<int64_t> ParseModelVersion(std::string_view version);

// Checks `request` against `config` (the model `model_name`) and `model`:
//  - exactly one input, named as configured; a datatype that converts to the configured
//    data_type (CheckConvertible);
//  - shape: rank = dims + 1 when batching, batch in [1, max_batch_size]; every other dim
//    equal to the configured one (-1: any positive size);
//  - the front end's data_error, if any; then as many typed values as elements, or exactly
//    elements × DatatypeBytes raw bytes, or a shared memory block of exactly that many bytes
//    in a region of `shared_memory` (null: the extension is not offered);
//  - requested outputs, if any, name the configured output, once;
//  - the output's bytes at most config.limits.max_output_bytes (RESOURCE_EXHAUSTED);
//  - an output in shared memory: a block that holds the output, and no class count;
//  - the engine accepts the shape (model.OutputShape, whose error names the module) when
//    the configured dims leave sizes free; fully fixed dims were checked when the model
//    loaded;
//  - the timeout, if any, is >= 0 (or the front end's error about it);
//  - every value converts exactly to the model's type (ConvertValues), and for a model that
//    takes ids every id lies in [0, model.NumInputIds()).
absl::StatusOr<InferInput> ValidateInferRequest(const InferRequestView& request,
                                                std::string_view model_name,
                                                const ServingConfig& config, const Model& model,
                                                const SharedMemoryRegistry* shared_memory = nullptr);

// A request ready for its version's scheduler.
struct PreparedRequest {
  // Held until the request is answered, so the version cannot be retired under it.
  std::shared_ptr<ServableModel> servable;
  InferInput input;
  // Absolute, on the steady clock; 0 = none.
  int64_t deadline_us = 0;
};

// What both front ends do before enqueueing: parses `version`, gets the servable from
// `repository` (NOT_FOUND / UNAVAILABLE as ModelRepository::Get), validates the request
// and turns the earlier of `client_deadline_us` (steady clock, 0 = none) and the request's
// timeout into the deadline. A request that fails validation is counted as a failure of
// the version it named (reason INVALID_ARGUMENT), like every failure after the lookup.
// `shared_memory`: the server's regions (null: the extension is not offered).
absl::StatusOr<PreparedRequest> PrepareInferRequest(
    const ModelRepository& repository, std::string_view model_name, std::string_view version,
    const InferRequestView& request, int64_t client_deadline_us,
    const SharedMemoryRegistry* shared_memory = nullptr);

}  // namespace seqserve
