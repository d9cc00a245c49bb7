// The KServe v2 REST inference body, both ways, with Triton's binary tensor extension:
// DecodeRestInferRequest turns a request body into an InferRequestView for the shared
// validation (server/frontend/infer_request.h), EncodeRestInferResponse writes the reply.
//
// Request: {"id", "parameters": {"timeout", "binary_data_output"}, "inputs": [{"name",
// "shape", "datatype", "parameters": {"binary_data_size"} or Triton's shared memory
// {"shared_memory_region", "shared_memory_byte_size", "shared_memory_offset"}, "data"}],
// "outputs": [{"name", "parameters": {"binary_data", "classification", shared memory}}]}. "data" is flat or nested (row-major, flattened here) and
// holds values of the input's datatype: numbers for FP32 and FP64, integers in range for
// INT8...UINT64, true/false for BOOL (FP16 and BF16 only as binary data). With the
// Inference-Header-Content-Length header the JSON is that many bytes and the inputs with
// binary_data_size follow it as raw little-endian bytes, in input order. Other parameters
// are accepted and ignored, as the gRPC front end does.
//
// Memory: the JSON is read by a pull parser (http/json_cursor.h) in one pass, numbers going
// straight into a buffer of the datatype's elements sized from the shape; no tree of the
// document is built, so decoding needs the body plus the tensor (for FP32 at most 2x the
// JSON, since a number takes at least 2 bytes with its comma). Numbers are read with
// std::from_chars (correctly rounded); floats are written with std::to_chars (shortest text
// that reads back to the same float). A body that is not well-formed JSON, or that fails
// decoding before its end was read, is scanned again by nlohmann::json's SAX parser (no tree
// either) so that a syntax error anywhere is reported first, with its line and column.
//
// Errors are INVALID_ARGUMENT and name the JSON path ("inputs[0].shape: ...") or the line,
// column and byte. Thread-safe: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "common/tensor.h"
#include "server/frontend/infer_request.h"

namespace seqserve {

// A decoded request: `view` points into the other members and into the body it was decoded
// from, so both must outlive the view's use. Not movable, hence handed out by unique_ptr.
struct RestInferRequest {
  RestInferRequest() = default;
  RestInferRequest(const RestInferRequest&) = delete;
  RestInferRequest& operator=(const RestInferRequest&) = delete;

  std::string id;
  InferRequestView view;
  // The reply's outputs as binary data: per requested output ("binary_data"), else the
  // request's "binary_data_output", else JSON.
  bool binary_output = false;

  // Storage the view points into (deques: elements never move). `values` holds each
  // input's "data" as elements of its datatype (aligned for any of them).
  std::deque<std::string> strings;
  std::deque<std::vector<int64_t>> shapes;
  std::deque<std::unique_ptr<std::byte[]>> values;
};

// `body` is the whole HTTP body; `json_length` is the Inference-Header-Content-Length
// header's value when the request has one.
absl::StatusOr<std::unique_ptr<RestInferRequest>> DecodeRestInferRequest(
    std::string_view body, std::optional<size_t> json_length);

struct RestInferResponse {
  std::string body;
  // The JSON's length when binary data follows it (Inference-Header-Content-Length).
  std::optional<size_t> json_length;
};

// The reply to `request` from model `model_name` version `version`: one output named
// `output_name` of `shape` with `data` (NumElements(shape) floats), as JSON "data" or as
// binary data after the JSON. A NaN or infinity is written as NaN / Infinity / -Infinity
// (what Python's json module reads and writes; strict JSON has no such numbers).
RestInferResponse EncodeRestInferResponse(std::string_view model_name, int64_t version,
                                          const RestInferRequest& request,
                                          std::string_view output_name, const Shape& shape,
                                          std::span<const float> data);

// The reply to a request whose output went to shared memory `block`: the output's metadata
// (`output_name`, "FP32", `shape`) and its shared memory parameters (region, offset, the
// bytes written), no data — as Triton replies. Always JSON.
RestInferResponse EncodeRestSharedMemoryResponse(std::string_view model_name, int64_t version,
                                                 const RestInferRequest& request,
                                                 std::string_view output_name, const Shape& shape,
                                                 const SharedMemoryBlock& block);

// The reply to a classification request (frontend/classification.h): the output as a BYTES
// tensor of `shape` holding `items`, as JSON strings in "data" or, as binary data, each a
// 4-byte little-endian length then its bytes (Triton's layout).
RestInferResponse EncodeRestBytesResponse(std::string_view model_name, int64_t version,
                                          const RestInferRequest& request,
                                          std::string_view output_name, const Shape& shape,
                                          const std::vector<std::string>& items);

}  // namespace seqserve
