// libFuzzer target: the KServe v2 REST request body (server/http/rest_infer.h
// DecodeRestInferRequest), JSON alone and JSON followed by binary tensor data. The first
// byte chooses the form: odd → the next two bytes (little-endian) are the
// Inference-Header-Content-Length and the rest is the body; even → the rest is a JSON body.
// A decoded request's views must lie inside what the decoder owns or the body (ASan checks
// every read below), and its reply must encode.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "server/http/rest_infer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace seqserve;
  if (size < 1) return 0;
  std::optional<size_t> json_length;
  size_t skip = 1;
  if (data[0] & 1) {
    if (size < 3) return 0;
    json_length = static_cast<size_t>(data[1]) | static_cast<size_t>(data[2]) << 8;
    skip = 3;
  }
  // A copy of exactly the body, so that reading past it is caught.
  const std::string body(reinterpret_cast<const char*>(data) + skip, size - skip);
  auto request = DecodeRestInferRequest(body, json_length);
  if (!request.ok()) return 0;
  // Touch everything the view points to.
  size_t sum = 0;
  for (const auto& input : (*request)->view.inputs) {
    sum += input.name.size() + input.datatype.size() + input.values_datatype.size();
    for (int64_t d : input.shape) sum += static_cast<size_t>(d);
    for (std::byte b : input.values) sum += static_cast<size_t>(b);
    if (input.raw_bytes) {
      for (char c : *input.raw_bytes) sum += static_cast<unsigned char>(c);
    }
  }
  for (std::string_view output : (*request)->view.outputs) sum += output.size();
  const float value = static_cast<float>(sum % 7) - 3.0f;
  const RestInferResponse reply =
      EncodeRestInferResponse("model", 1, **request, "output", Shape{1}, {&value, 1});
  if (reply.body.empty()) __builtin_trap();
  return 0;
}
