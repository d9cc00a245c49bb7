#include "server/grpc/grpc_codec.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <new>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "absl/strings/str_cat.h"

namespace seqserve {
namespace {

// Where a datatype's typed values go in InferTensorContents (KServe v2): the field's path,
// its values as bytes, and the datatype of its elements (int_contents holds INT8 and INT16
// as INT32). FP16 and BF16 have no field: they travel as raw bytes only.
struct TypedContents {
  const char* field = nullptr;
  std::span<const std::byte> values;
  std::string_view storage;
};

template <typename T>
std::span<const std::byte> Bytes(const google::protobuf::RepeatedField<T>& field) {
  return std::as_bytes(std::span<const T>(field.data(), static_cast<size_t>(field.size())));
}

TypedContents ContentsFor(std::string_view datatype,
                          const inference::InferTensorContents& contents) {
  if (datatype == "FP32")
    return {"contents.fp32_contents", Bytes(contents.fp32_contents()), "FP32"};
  if (datatype == "FP64")
    return {"contents.fp64_contents", Bytes(contents.fp64_contents()), "FP64"};
  if (datatype == "INT8" || datatype == "INT16" || datatype == "INT32") {
    return {"contents.int_contents", Bytes(contents.int_contents()), "INT32"};
  }
  if (datatype == "INT64")
    return {"contents.int64_contents", Bytes(contents.int64_contents()), "INT64"};
  if (datatype == "UINT8" || datatype == "UINT16" || datatype == "UINT32") {
    return {"contents.uint_contents", Bytes(contents.uint_contents()), "UINT32"};
  }
  if (datatype == "UINT64") {
    return {"contents.uint64_contents", Bytes(contents.uint64_contents()), "UINT64"};
  }
  static_assert(sizeof(bool) == 1, "bool_contents is read as one byte per value");
  if (datatype == "BOOL")
    return {"contents.bool_contents", Bytes(contents.bool_contents()), "BOOL"};
  return {};
}

// A contents field holding data, other than `field` (the datatype's own), or nullptr.
const char* OtherContentsField(const inference::InferTensorContents& contents, const char* field) {
  const std::pair<const char*, int> fields[] = {
      {"contents.fp32_contents", contents.fp32_contents_size()},
      {"contents.fp64_contents", contents.fp64_contents_size()},
      {"contents.int_contents", contents.int_contents_size()},
      {"contents.int64_contents", contents.int64_contents_size()},
      {"contents.uint_contents", contents.uint_contents_size()},
      {"contents.uint64_contents", contents.uint64_contents_size()},
      {"contents.bool_contents", contents.bool_contents_size()},
      {"contents.bytes_contents", contents.bytes_contents_size()},
  };
  for (const auto& [name, size] : fields) {
    if (size > 0 && (field == nullptr || std::string_view(name) != field)) return name;
  }
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

using Parameters = google::protobuf::Map<std::string, inference::InferParameter>;

// An integer parameter of the shared memory extension (int64_param, or uint64_param as Triton's
// clients may send): nullopt when absent.
absl::StatusOr<std::optional<int64_t>> IntegerParameter(const std::string& tensor,
                                                        const Parameters& parameters,
                                                        const std::string& key) {
  const auto it = parameters.find(key);
  if (it == parameters.end()) return std::nullopt;
  switch (it->second.parameter_choice_case()) {
    case inference::InferParameter::kInt64Param:
      return it->second.int64_param();
    case inference::InferParameter::kUint64Param:
      return static_cast<int64_t>(std::min<uint64_t>(
          it->second.uint64_param(), static_cast<uint64_t>(std::numeric_limits<int64_t>::max())));
    default:
      return absl::InvalidArgumentError(
          absl::StrCat(tensor, ": parameter '", key, "' must be an int64_param"));
  }
}

// The tensor's shared memory parameters (frontend/shared_memory_registry.h).
absl::StatusOr<std::optional<SharedMemoryParams>> SharedMemoryOf(const std::string& tensor,
                                                                 const Parameters& parameters) {
  std::optional<std::string_view> region;
  if (const auto it = parameters.find("shared_memory_region"); it != parameters.end()) {
    if (it->second.parameter_choice_case() != inference::InferParameter::kStringParam) {
      return absl::InvalidArgumentError(
          absl::StrCat(tensor, ": parameter 'shared_memory_region' must be a string_param"));
    }
    region = it->second.string_param();
  }
  absl::StatusOr<std::optional<int64_t>> offset =
      IntegerParameter(tensor, parameters, "shared_memory_offset");
  if (!offset.ok()) return offset.status();
  absl::StatusOr<std::optional<int64_t>> byte_size =
      IntegerParameter(tensor, parameters, "shared_memory_byte_size");
  if (!byte_size.ok()) return byte_size.status();
  return MakeSharedMemoryParams(tensor, region, *offset, *byte_size);
}

}  // namespace

InferRequestView ViewOf(const inference::ModelInferRequest& request) {
  InferRequestView view;
  const int raw_count = request.raw_input_contents_size();
  view.inputs.reserve(static_cast<size_t>(request.inputs_size()));
  for (int i = 0; i < request.inputs_size(); ++i) {
    const inference::ModelInferRequest::InferInputTensor& tensor = request.inputs(i);
    InferRequestView::Input& input = view.inputs.emplace_back();
    input.name = tensor.name();
    input.datatype = tensor.datatype();
    input.shape = std::span<const int64_t>(tensor.shape().data(), tensor.shape_size());
    const TypedContents typed = ContentsFor(tensor.datatype(), tensor.contents());
    if (typed.field != nullptr) {
      input.values = typed.values;
      input.values_datatype = typed.storage;
      input.values_field = typed.field;
    }
    if (i < raw_count) input.raw_bytes = request.raw_input_contents(i);

    const std::string name = tensor.name();
    // Where this datatype's data may go, for the messages.
    const std::string places = typed.field != nullptr
                                   ? absl::StrCat(typed.field, " or raw_input_contents")
                                   : std::string("raw_input_contents");
    absl::StatusOr<std::optional<SharedMemoryParams>> shared =
        SharedMemoryOf(absl::StrCat("input '", name, "'"), tensor.parameters());
    if (!shared.ok()) {
      input.data_error = shared.status();
    } else if (shared->has_value()) {
      input.shared_memory = **shared;
      if (input.raw_bytes.has_value() || !input.values.empty() ||
          OtherContentsField(tensor.contents(), nullptr) != nullptr) {
        input.data_error = absl::InvalidArgumentError(absl::StrCat(
            "input '", name, "': data both in shared memory (region '",
            std::string(input.shared_memory->region), "') and in ",
            input.raw_bytes.has_value() ? "raw_input_contents" : "contents", "; send one"));
      }
    } else if (const char* other = OtherContentsField(tensor.contents(), typed.field)) {
      input.data_error =
          absl::InvalidArgumentError(absl::StrCat("input '", name, "': data in ", other, "; ",
                                                  tensor.datatype(), " data goes in ", places));
    } else if (i == 0 && raw_count > request.inputs_size()) {
      input.data_error = absl::InvalidArgumentError(
          absl::StrCat("raw_input_contents has ", raw_count, " entries; the request has ",
                       request.inputs_size(), request.inputs_size() == 1 ? " input" : " inputs"));
    } else if (input.raw_bytes.has_value() && !input.values.empty()) {
      input.data_error = absl::InvalidArgumentError(
          absl::StrCat("input '", name, "': data in both raw_input_contents and ", typed.field,
                       "; send one of them"));
    } else if (!input.raw_bytes.has_value() && input.values.empty()) {
      input.data_error = absl::InvalidArgumentError(
          absl::StrCat("input '", name, "': no data; send it in ", places));
    }
  }
  view.outputs.reserve(static_cast<size_t>(request.outputs_size()));
  for (const inference::ModelInferRequest::InferRequestedOutputTensor& output : request.outputs()) {
    view.outputs.push_back(output.name());
    absl::StatusOr<std::optional<SharedMemoryParams>> shared =
        SharedMemoryOf(absl::StrCat("output '", output.name(), "'"), output.parameters());
    if (!shared.ok() || shared->has_value()) view.output_shared_memory = std::move(shared);
    const auto classification = output.parameters().find("classification");
    if (classification != output.parameters().end()) {
      if (classification->second.parameter_choice_case() ==
          inference::InferParameter::kInt64Param) {
        view.class_count = classification->second.int64_param();
      } else {
        view.class_count = absl::InvalidArgumentError(absl::StrCat(
            "output '", output.name(), "': parameter 'classification' must be an int64_param"));
      }
    }
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

float* AddOutput(const Shape& shape, const ServingConfig& config,
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
  std::string* bytes = response.add_raw_output_contents();
  bytes->resize(static_cast<size_t>(elements) * sizeof(float));
  return reinterpret_cast<float*>(bytes->data());
}

void AddSharedMemoryOutput(const Shape& shape, const ServingConfig& config,
                           const SharedMemoryBlock& block,
                           inference::ModelInferResponse& response) {
  inference::ModelInferResponse::InferOutputTensor* output = response.add_outputs();
  output->set_name(config.output_name);
  output->set_datatype("FP32");
  output->mutable_shape()->Add(shape.begin(), shape.end());
  auto& parameters = *output->mutable_parameters();
  parameters["shared_memory_region"].set_string_param(block.region->name());
  parameters["shared_memory_offset"].set_int64_param(static_cast<int64_t>(block.offset));
  parameters["shared_memory_byte_size"].set_int64_param(OutputBytes(shape));
}

void AddBytesOutput(const Shape& shape, const ServingConfig& config, std::string bytes,
                    inference::ModelInferResponse& response) {
  inference::ModelInferResponse::InferOutputTensor* output = response.add_outputs();
  output->set_name(config.output_name);
  output->set_datatype("BYTES");
  output->mutable_shape()->Add(shape.begin(), shape.end());
  *response.add_raw_output_contents() = std::move(bytes);
}

}  // namespace seqserve
