// KServe v2 inference requests built from the bundled goldens, and their replies read back
// and compared with PyTorch's rows: for every test that speaks to a server over gRPC.
#pragma once

#include <cstring>
#include <string>
#include <vector>

#include "common/tensor.h"
#include "proto/grpc_service.pb.h"
#include "tests/util/bundled_models.h"

namespace seqserve::testing {

// Rows `rows` of `input` as a request for `model`, raw or typed.
inline inference::ModelInferRequest MakeRequest(const std::string& model, const Tensor& input,
                                                const std::vector<int>& rows, bool raw,
                                                const std::string& id = "") {
  inference::ModelInferRequest request;
  request.set_model_name(model);
  request.set_id(id);
  inference::ModelInferRequest::InferInputTensor* tensor = request.add_inputs();
  tensor->set_name("input");
  tensor->set_datatype("FP32");
  tensor->add_shape(static_cast<int64_t>(rows.size()));
  for (size_t i = 1; i < input.shape.size(); ++i) tensor->add_shape(input.shape[i]);
  const std::vector<float> values = RowValues(input, rows);
  if (raw) {
    request.add_raw_input_contents(
        std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float)));
  } else {
    tensor->mutable_contents()->mutable_fp32_contents()->Add(values.begin(), values.end());
  }
  return request;
}

// Rows `rows` of int64 ids as a request for `model` in `datatype` ("INT64" or "INT32"), raw
// or typed (int64_contents, int_contents).
inline inference::ModelInferRequest MakeIdsRequest(const std::string& model,
                                                   const TypedTensor& ids,
                                                   const std::vector<int>& rows,
                                                   const std::string& datatype, bool raw,
                                                   const std::string& id = "") {
  inference::ModelInferRequest request;
  request.set_model_name(model);
  request.set_id(id);
  inference::ModelInferRequest::InferInputTensor* tensor = request.add_inputs();
  tensor->set_name("input");
  tensor->set_datatype(datatype);
  tensor->add_shape(static_cast<int64_t>(rows.size()));
  for (size_t i = 1; i < ids.shape.size(); ++i) tensor->add_shape(ids.shape[i]);
  const std::vector<int64_t> values = IdRows(ids, rows);
  if (datatype == "INT64") {
    if (raw) {
      request.add_raw_input_contents(std::string(reinterpret_cast<const char*>(values.data()),
                                                 values.size() * sizeof(int64_t)));
    } else {
      tensor->mutable_contents()->mutable_int64_contents()->Add(values.begin(), values.end());
    }
  } else {
    const std::vector<int32_t> narrow(values.begin(), values.end());
    if (raw) {
      request.add_raw_input_contents(std::string(reinterpret_cast<const char*>(narrow.data()),
                                                 narrow.size() * sizeof(int32_t)));
    } else {
      tensor->mutable_contents()->mutable_int_contents()->Add(narrow.begin(), narrow.end());
    }
  }
  return request;
}

// The floats of a reply's first output, raw or typed.
inline std::vector<float> OutputValues(const inference::ModelInferResponse& response) {
  if (response.raw_output_contents_size() > 0) {
    const std::string& bytes = response.raw_output_contents(0);
    std::vector<float> values(bytes.size() / sizeof(float));
    std::memcpy(values.data(), bytes.data(), values.size() * sizeof(float));
    return values;
  }
  if (response.outputs_size() == 0) return {};
  const auto& typed = response.outputs(0).contents().fp32_contents();
  return std::vector<float>(typed.begin(), typed.end());
}

// `got` must be rows `rows` of `expected`, within PyTorch's tolerance (ExpectClose).
inline void ExpectRows(const std::vector<float>& got, const Tensor& expected,
                       const std::vector<int>& rows) {
  ExpectClose(got, RowValues(expected, rows));
}

}  // namespace seqserve::testing
