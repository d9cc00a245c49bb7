#include "server/grpc/grpc_codec.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <new>
#include <span>
#include <string>

#include "absl/strings/str_cat.h"

namespace seqserve {
namespace {

// The contents field other than fp32_contents that holds data, or nullptr.
const char* OtherContentsField(const inference::InferTensorContents& contents) {
  if (contents.bool_contents_size() > 0) return "bool_contents";
  if (contents.int_contents_size() > 0) return "int_contents";
  if (contents.int64_contents_size() > 0) return "int64_contents";
  if (contents.uint_contents_size() > 0) return "uint_contents";
  if (contents.uint64_contents_size() > 0) return "uint64_contents";
  if (contents.fp64_contents_size() > 0) return "fp64_contents";
  if (contents.bytes_contents_size() > 0) return "bytes_contents";
  return nullptr;
}

absl::StatusOr<int64_t> ParseTimeout(const inference::ModelInferRequest& request) {
  const auto it = request.parameters().find("timeout");
  if (it == request.parameters().end()) return 0;
  const inference::InferParameter& parameter = it->second;
  switch (parameter.parameter_choice_case()) {
    case inference::InferParameter::kInt64Param:
      return parameter.int64_param();
    case inference::InferParameter::kUint64Param:
      return static_cast<int64_t>(std::min<uint64_t>(
          parameter.uint64_param(), static_cast<uint64_t>(std::numeric_limits<int64_t>::max())));
    default:
      return absl::InvalidArgumentError(
          "parameter 'timeout': expected an integer number of microseconds (int64_param)");
  }
}

}  // namespace

InferRequestView ViewOf(const inference::ModelInferRequest& request) {
  InferRequestView view;
  view.values_field = "contents.fp32_contents";
  const int raw_count = request.raw_input_contents_size();
  view.inputs.reserve(static_cast<size_t>(request.inputs_size()));
  for (int i = 0; i < request.inputs_size(); ++i) {
    const inference::ModelInferRequest::InferInputTensor& tensor = request.inputs(i);
    InferRequestView::Input& input = view.inputs.emplace_back();
    input.name = tensor.name();
    input.datatype = tensor.datatype();
    input.shape = std::span<const int64_t>(tensor.shape().data(), tensor.shape_size());
    input.values = std::as_bytes(std::span<const float>(tensor.contents().fp32_contents().data(),
                                                        tensor.contents().fp32_contents_size()));
    if (i < raw_count) input.raw_bytes = request.raw_input_contents(i);

    const std::string name = tensor.name();
    if (const char* other = OtherContentsField(tensor.contents())) {
      input.data_error = absl::InvalidArgumentError(
          absl::StrCat("input '", name, "': data in contents.", other,
                       "; FP32 data goes in contents.fp32_contents or raw_input_contents"));
    } else if (i == 0 && raw_count > request.inputs_size()) {
      input.data_error = absl::InvalidArgumentError(
          absl::StrCat("raw_input_contents has ", raw_count, " entries; the request has ",
                       request.inputs_size(), request.inputs_size() == 1 ? " input" : " inputs"));
    } else if (input.raw_bytes.has_value() && !input.values.empty()) {
      input.data_error = absl::InvalidArgumentError(absl::StrCat(
          "input '", name,
          "': data in both raw_input_contents and contents.fp32_contents; send one of them"));
    } else if (!input.raw_bytes.has_value() && input.values.empty()) {
      input.data_error = absl::InvalidArgumentError(absl::StrCat(
          "input '", name, "': no data; send it in contents.fp32_contents or raw_input_contents"));
    }
  }
  view.outputs.reserve(static_cast<size_t>(request.outputs_size()));
  for (const inference::ModelInferRequest::InferRequestedOutputTensor& output : request.outputs()) {
    view.outputs.push_back(output.name());
  }
  view.timeout_us = ParseTimeout(request);
  return view;
}

absl::StatusOr<InferInput> DecodeInferRequest(const inference::ModelInferRequest& request,
                                              std::string_view model_name,
                                              const ServingConfig& config, const Model& model) {
  return ValidateInferRequest(ViewOf(request), model_name, config, model);
}

void StartInferResponse(const inference::ModelInferRequest& request, int64_t version,
                        inference::ModelInferResponse& response) {
  response.set_model_name(request.model_name());
  response.set_model_version(std::to_string(version));
  if (!request.id().empty()) response.set_id(request.id());
}

float* AddOutput(const Shape& shape, const ServingConfig& config, bool raw,
                 inference::ModelInferResponse& response) {
  inference::ModelInferResponse::InferOutputTensor* output = response.add_outputs();
  output->set_name(config.output_name);
  output->set_datatype("FP32");
  output->mutable_shape()->Add(shape.begin(), shape.end());
  const int64_t elements = NumElements(shape);
  // A protobuf repeated field holds at most INT_MAX values (and a message at most 2 GiB).
  if (elements > std::numeric_limits<int>::max() / static_cast<int64_t>(sizeof(float))) {
    throw std::bad_alloc();
  }
  if (raw) {
    std::string* bytes = response.add_raw_output_contents();
    bytes->resize(static_cast<size_t>(elements) * sizeof(float));
    return reinterpret_cast<float*>(bytes->data());
  }
  google::protobuf::RepeatedField<float>* values =
      output->mutable_contents()->mutable_fp32_contents();
  values->Resize(static_cast<int>(elements), 0.0f);
  return values->mutable_data();
}

}  // namespace seqserve
