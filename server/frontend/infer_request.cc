#include "server/frontend/infer_request.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <new>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "server/scheduling/clock.h"

namespace seqserve {
namespace {

// "1x1x28x28", the way the byte-size messages spell a shape.
std::string ShapeProduct(const Shape& shape) { return absl::StrJoin(shape, "x"); }

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

absl::Status CheckShape(const InferRequestView::Input& input, const ServingConfig& config,
                        Shape& shape) {
  const std::string name(input.name);
  const bool batching = config.max_batch_size > 0;
  // The full request shape the model takes, with -1 for the batch dim.
  Shape expected;
  expected.reserve(config.input_dims.size() + 1);
  if (batching) expected.push_back(-1);
  for (const int64_t dim : config.input_dims) expected.push_back(dim);

  shape.assign(input.shape.begin(), input.shape.end());
  if (shape.size() != expected.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "input '", name, "': expected ", expected.size(), " dims ", ShapeToString(expected),
        batching ? " (the batch dim, then the model's dims)" : "", ", got ", shape.size(), " dims ",
        ShapeToString(shape)));
  }
  size_t first = 0;
  if (batching) {
    first = 1;
    if (shape[0] < 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("input '", name, "': batch size must be at least 1, got ", shape[0]));
    }
    if (shape[0] > config.max_batch_size) {
      return absl::InvalidArgumentError(absl::StrCat("input '", name, "': batch size ", shape[0],
                                                     " exceeds max_batch_size ",
                                                     config.max_batch_size));
    }
  }
  for (size_t i = first; i < shape.size(); ++i) {
    if (expected[i] >= 0 && shape[i] != expected[i]) {
      return absl::InvalidArgumentError(absl::StrCat(
          "input '", name, "': dim ", i, " must be ", expected[i], ", got ", shape[i],
          " (expected shape ", ShapeToString(expected), ", got ", ShapeToString(shape), ")"));
    }
    if (shape[i] < 1) {
      return absl::InvalidArgumentError(absl::StrCat("input '", name, "': dim ", i,
                                                     " must be at least 1, got ", shape[i],
                                                     " (shape ", ShapeToString(shape), ")"));
    }
  }
  return absl::OkStatus();
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

absl::StatusOr<int64_t> ParseModelVersion(std::string_view version) {
  if (version.empty()) return 0;
  int64_t value = 0;
  bool valid = version.size() <= 18;  // no overflow below 10^18
  for (const char c : version) {
    if (c < '0' || c > '9') valid = false;
    if (valid) value = value * 10 + (c - '0');
  }
  if (!valid || value < 1) {
    return absl::InvalidArgumentError(absl::StrCat("model_version '", std::string(version),
                                                   "': expected a positive integer or empty"));
  }
  return value;
}

absl::StatusOr<InferInput> ValidateInferRequest(const InferRequestView& request,
                                                std::string_view model_name,
                                                const ServingConfig& config, const Model& model) {
  const std::string model_str(model_name);
  if (request.inputs.size() != 1) {
    return absl::InvalidArgumentError(absl::StrCat("model '", model_str, "' has one input, '",
                                                   config.input_name, "'; the request has ",
                                                   request.inputs.size(), " inputs"));
  }
  const InferRequestView::Input& tensor = request.inputs[0];
  const std::string name(tensor.name);
  if (name != config.input_name) {
    return absl::InvalidArgumentError(absl::StrCat("unknown input '", name, "': model '", model_str,
                                                   "' has one input, '", config.input_name, "'"));
  }
  if (tensor.datatype != "FP32") {
    return absl::InvalidArgumentError(absl::StrCat(
        "input '", name, "': expected datatype FP32, got '", std::string(tensor.datatype), "'"));
  }

  InferInput input;
  if (absl::Status shape = CheckShape(tensor, config, input.shape); !shape.ok()) return shape;
  // Guard the element count against overflow before it is turned into bytes.
  int64_t elements = 1;
  for (const int64_t dim : input.shape) {
    if (elements > std::numeric_limits<int64_t>::max() / 4 / dim) {
      return absl::InvalidArgumentError(absl::StrCat(
          "input '", name, "': shape ", ShapeToString(input.shape), " has too many elements"));
    }
    elements *= dim;
  }

  if (!tensor.data_error.ok()) return tensor.data_error;
  input.raw = tensor.raw_bytes.has_value();
  if (input.raw) {
    const std::string_view bytes = *tensor.raw_bytes;
    const int64_t expected_bytes = elements * static_cast<int64_t>(sizeof(float));
    if (static_cast<int64_t>(bytes.size()) != expected_bytes) {
      return absl::InvalidArgumentError(
          absl::StrCat("input '", name, "': expected ", expected_bytes, " bytes (",
                       ShapeProduct(input.shape), " FP32), got ", bytes.size()));
    }
    if (reinterpret_cast<uintptr_t>(bytes.data()) % alignof(float) == 0) {
      input.data = reinterpret_cast<const float*>(bytes.data());
    } else {
      // gRPC keeps string data aligned, so this is for REST's binary data that follows a JSON
      // header of any length; copying keeps the engine's reads aligned.
      input.aligned_copy.resize(static_cast<size_t>(elements));
      std::memcpy(input.aligned_copy.data(), bytes.data(), bytes.size());
      input.data = input.aligned_copy.data();
    }
  } else {
    if (static_cast<int64_t>(tensor.values.size()) != elements) {
      return absl::InvalidArgumentError(
          absl::StrCat("input '", name, "': expected ", elements, " values in ",
                       std::string(request.values_field), " (", ShapeProduct(input.shape),
                       "), got ", tensor.values.size()));
    }
    input.data = tensor.values.data();
  }

  for (const std::string_view output : request.outputs) {
    if (output != config.output_name) {
      return absl::InvalidArgumentError(absl::StrCat("unknown output '", std::string(output),
                                                     "': model '", model_str, "' has one output, '",
                                                     config.output_name, "'"));
    }
  }
  if (request.outputs.size() > 1) {
    return absl::InvalidArgumentError(absl::StrCat("output '", config.output_name, "' requested ",
                                                   request.outputs.size(),
                                                   " times; request it once"));
  }

  // With every dim fixed, the load already proved the model takes this shape; with free
  // dims (e.g. a CNN's image size) only the engine's shape rule can tell.
  if (std::find(config.input_dims.begin(), config.input_dims.end(), -1) !=
      config.input_dims.end()) {
    absl::StatusOr<Shape> output_shape = model.OutputShape(input.shape);
    if (!output_shape.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("input '", name, "' of shape ",
                                                     ShapeToString(input.shape), ": ",
                                                     output_shape.status().message()));
    }
  }

  if (!request.timeout_us.ok()) return request.timeout_us.status();
  if (*request.timeout_us < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("parameter 'timeout': expected microseconds >= 0, got ", *request.timeout_us));
  }
  input.timeout_us = *request.timeout_us;
  return input;
}

absl::StatusOr<PreparedRequest> PrepareInferRequest(const ModelRepository& repository,
                                                    std::string_view model_name,
                                                    std::string_view version,
                                                    const InferRequestView& request,
                                                    int64_t client_deadline_us) {
  absl::StatusOr<int64_t> version_number = ParseModelVersion(version);
  if (!version_number.ok()) return version_number.status();
  absl::StatusOr<std::shared_ptr<ServableModel>> servable =
      repository.Get(model_name, *version_number);
  if (!servable.ok()) return servable.status();
  ServableModel& model = **servable;
  absl::StatusOr<InferInput> input =
      ValidateInferRequest(request, model_name, model.config, *model.model);
  if (!input.ok()) {
    model.stats.AddFailure(input.status().code(), 0);
    return input.status();
  }

  PreparedRequest prepared;
  prepared.deadline_us = client_deadline_us;
  if (input->timeout_us > 0) {
    const int64_t timeout_deadline_us = SteadyClock::Get()->NowMicros() + input->timeout_us;
    if (prepared.deadline_us == 0 || timeout_deadline_us < prepared.deadline_us) {
      prepared.deadline_us = timeout_deadline_us;
    }
  }
  prepared.input = std::move(*input);
  prepared.servable = std::move(*servable);
  return prepared;
}

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
    input.values = std::span<const float>(tensor.contents().fp32_contents().data(),
                                          tensor.contents().fp32_contents_size());
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
