#include "server/frontend/infer_request.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/byte_size.h"
#include "common/status_macros.h"
#include "server/frontend/shared_memory_copy.h"
#include "server/scheduling/clock.h"
#include "server/scheduling/heap_trimmer.h"

namespace seqserve {
namespace {

// "1x1x28x28", the way the byte-size messages spell a shape.
std::string ShapeProduct(const Shape& shape) { return absl::StrJoin(shape, "x"); }

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

// The bytes of a request's tensors as received.
int64_t RequestTensorBytes(const InferRequestView& request) {
  int64_t bytes = 0;
  for (const InferRequestView::Input& input : request.inputs) {
    bytes += static_cast<int64_t>(input.values.size());
    if (input.raw_bytes.has_value()) bytes += static_cast<int64_t>(input.raw_bytes->size());
  }
  return bytes;
}

}  // namespace

int64_t OutputBytes(const Shape& shape) {
  int64_t bytes = static_cast<int64_t>(sizeof(float));
  for (const int64_t dim : shape) {
    if (dim > 0 && bytes > std::numeric_limits<int64_t>::max() / dim) {
      return std::numeric_limits<int64_t>::max();
    }
    bytes *= dim;
  }
  return bytes;
}

absl::Status CheckOutputBytes(std::string_view output_name, const Shape& shape,
                              int64_t limit_bytes, std::string_view limit_name) {
  const int64_t bytes = OutputBytes(shape);
  if (limit_bytes <= 0 || bytes <= limit_bytes) return absl::OkStatus();
  return absl::ResourceExhaustedError(absl::StrCat(
      "output '", std::string(output_name), "' of shape ", ShapeToString(shape), " would take ",
      bytes == std::numeric_limits<int64_t>::max() ? std::string("more than 9 EB")
                                                   : FormatBytes(static_cast<uint64_t>(bytes)),
      " (FP32); ", LimitText(static_cast<uint64_t>(limit_bytes), limit_name)));
}

float* SharedMemoryOutput(const SharedMemoryBlock& block, const Shape& shape,
                          std::vector<float>& staged) {
  const int64_t bytes = OutputBytes(shape);
  if (bytes > static_cast<int64_t>(block.bytes.size())) return nullptr;
  staged.resize(static_cast<size_t>(bytes) / sizeof(float));
  return staged.data();
}

absl::Status FinishSharedMemoryOutput(std::string_view output_name, const SharedMemoryBlock& block,
                                      const std::vector<float>& staged) {
  const size_t bytes = staged.size() * sizeof(float);
  if (bytes > block.bytes.size()) {
    return absl::InternalError(absl::StrCat("output '", std::string(output_name), "': ", bytes,
                                            " bytes do not fit the ", block.bytes.size(),
                                            " of its shared memory block"));
  }
  if (!CopyToSharedMemory(block.bytes.data(), staged.data(), bytes)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "output '", std::string(output_name), "': the shared memory object of region '",
        block.region->name(), "' (key '", block.region->key(),
        "') shrank while the output was written into it; nothing else was touched"));
  }
  return absl::OkStatus();
}

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
                                                const ServingConfig& config, const Model& model,
                                                const SharedMemoryRegistry* shared_memory) {
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
  const DType dtype = config.input_dtype;
  if (absl::Status convertible = CheckConvertible(name, tensor.datatype, dtype);
      !convertible.ok()) {
    return convertible;
  }

  InferInput input;
  if (absl::Status shape = CheckShape(tensor, config, input.shape); !shape.ok()) return shape;
  // Guard the element count against overflow before it is turned into bytes (of the
  // request's datatype, or of a wider one when converted or stored wider).
  constexpr int64_t kMaxElementBytes = 8;
  int64_t elements = 1;
  for (const int64_t dim : input.shape) {
    if (elements > std::numeric_limits<int64_t>::max() / kMaxElementBytes / dim) {
      return absl::InvalidArgumentError(absl::StrCat(
          "input '", name, "': shape ", ShapeToString(input.shape), " has too many elements"));
    }
    elements *= dim;
  }

  if (!tensor.data_error.ok()) return tensor.data_error;
  input.datatype = std::string(tensor.datatype);
  input.dtype = dtype;
  input.raw = tensor.raw_bytes.has_value() || tensor.shared_memory.has_value();
  // Where the request's values are, as elements of `storage`.
  std::span<const std::byte> values;
  std::vector<std::byte> shared_memory_copy;  // the values, when they came in shared memory
  std::string_view storage = tensor.datatype;
  if (tensor.shared_memory.has_value()) {
    const std::string what = absl::StrCat("input '", name, "'");
    if (shared_memory == nullptr) {
      return SharedMemoryOffError(what);
    }
    SEQ_ASSIGN_OR_RETURN(SharedMemoryBlock block, shared_memory->Find(what, *tensor.shared_memory));
    const int64_t expected_bytes = elements * static_cast<int64_t>(DatatypeBytes(tensor.datatype));
    if (static_cast<int64_t>(block.bytes.size()) != expected_bytes) {
      return absl::InvalidArgumentError(absl::StrCat(
          what, ": shared_memory_byte_size is ", block.bytes.size(), " but the tensor (",
          ShapeProduct(input.shape), " ", input.datatype, ") takes ", expected_bytes,
          " bytes (region '", block.region->name(), "')"));
    }
    // Copied out first: the client may change or shrink its object at any time, and every
    // check below must see the bytes the engine will.
    shared_memory_copy.resize(block.bytes.size());
    if (!CopyFromSharedMemory(shared_memory_copy.data(), block.bytes.data(), block.bytes.size())) {
      return absl::InvalidArgumentError(absl::StrCat(
          what, ": the shared memory object of region '", block.region->name(), "' (key '",
          block.region->key(), "') shrank while it was read"));
    }
    values = shared_memory_copy;
  } else if (input.raw) {
    const std::string_view bytes = *tensor.raw_bytes;
    const int64_t expected_bytes = elements * static_cast<int64_t>(DatatypeBytes(tensor.datatype));
    if (static_cast<int64_t>(bytes.size()) != expected_bytes) {
      return absl::InvalidArgumentError(absl::StrCat(
          "input '", name, "': expected ", expected_bytes, " bytes (", ShapeProduct(input.shape),
          " ", input.datatype, "), got ", bytes.size()));
    }
    values = std::as_bytes(std::span<const char>(bytes.data(), bytes.size()));
  } else {
    if (!tensor.values_datatype.empty()) storage = tensor.values_datatype;
    const size_t count = tensor.values.size() / DatatypeBytes(storage);
    if (static_cast<int64_t>(count) != elements) {
      return absl::InvalidArgumentError(absl::StrCat(
          "input '", name, "': expected ", elements, " values in ",
          std::string(tensor.values_field), " (", ShapeProduct(input.shape), "), got ", count));
    }
    values = tensor.values;
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
  Shape output_shape;
  if (std::find(config.input_dims.begin(), config.input_dims.end(), -1) !=
      config.input_dims.end()) {
    absl::StatusOr<Shape> shape = model.OutputShape(input.shape);
    if (!shape.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("input '", name, "' of shape ",
                                                     ShapeToString(input.shape), ": ",
                                                     shape.status().message()));
    }
    output_shape = *std::move(shape);
  } else {
    if (config.max_batch_size > 0) output_shape.push_back(input.shape[0]);
    output_shape.insert(output_shape.end(), config.output_dims.begin(), config.output_dims.end());
  }
  SEQ_RETURN_IF_ERROR(CheckOutputBytes(config.output_name, output_shape,
                                       config.limits.max_output_bytes, "--max-output-bytes"));

  if (!request.timeout_us.ok()) return request.timeout_us.status();
  if (*request.timeout_us < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("parameter 'timeout': expected microseconds >= 0, got ", *request.timeout_us));
  }
  input.timeout_us = *request.timeout_us;
  if (!request.class_count.ok()) return request.class_count.status();
  if (*request.class_count < 0) {
    return absl::InvalidArgumentError(absl::StrCat("output '", config.output_name,
                                                   "': parameter 'classification' must be >= 0, got ",
                                                   *request.class_count));
  }
  input.class_count = *request.class_count;
  if (input.class_count > 0 && !config.output_labels.empty()) {
    // A free-dim output's classes depend on the input: refuse here, before compute, an input
    // that gives the output classes its label file does not name (the load checked fixed dims).
    int64_t classes = 1;
    for (size_t d = config.max_batch_size > 0 ? 1 : 0; d < output_shape.size(); ++d) {
      classes *= output_shape[d];
    }
    if (classes > static_cast<int64_t>(config.output_labels.size())) {
      return absl::InvalidArgumentError(absl::StrCat(
          "output '", config.output_name, "' has ", classes, " classes for input '", name,
          "' of shape ", ShapeToString(input.shape), ", but its label file names only ",
          config.output_labels.size(), "; ask for the tensor (no 'classification') or send "
          "an input whose output has at most that many"));
    }
  }
  if (!request.output_shared_memory.ok()) return request.output_shared_memory.status();
  if (const std::optional<SharedMemoryParams>& params = *request.output_shared_memory) {
    const std::string what = absl::StrCat("output '", config.output_name, "'");
    if (shared_memory == nullptr) {
      return SharedMemoryOffError(what);
    }
    if (input.class_count > 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, ": a classification reply cannot go to shared memory; ask for "
                             "the classes or for the tensor in shared memory"));
    }
    SEQ_ASSIGN_OR_RETURN(SharedMemoryBlock block, shared_memory->Find(what, *params));
    const int64_t output_bytes = OutputBytes(output_shape);
    if (static_cast<int64_t>(block.bytes.size()) < output_bytes) {
      return absl::InvalidArgumentError(absl::StrCat(
          what, ": shared_memory_byte_size ", block.bytes.size(), " in region '",
          block.region->name(), "' cannot hold the output of shape ",
          ShapeToString(output_shape), " (", output_bytes, " bytes, FP32)"));
    }
    input.output_block = std::move(block);
  }

  // The values as the model's type: where they are when they already have it, else converted.
  const std::optional<int64_t> num_ids = model.NumInputIds();
  const size_t dtype_bytes = DTypeSize(dtype);
  if (tensor.datatype == DatatypeName(dtype) && storage == tensor.datatype) {
    input.bytes = values;
    if (!shared_memory_copy.empty()) {
      input.owned_bytes = std::move(shared_memory_copy);  // a move keeps the bytes in place
      input.bytes = input.owned_bytes;
    } else if (reinterpret_cast<uintptr_t>(values.data()) % dtype_bytes != 0) {
      // gRPC keeps string data aligned, so this is for REST's binary data that follows a JSON
      // header of any length (or a shared memory offset of any size); copying keeps the
      // engine's reads aligned.
      input.owned_bytes.assign(values.begin(), values.end());
      input.bytes = input.owned_bytes;
    }
    if (num_ids) {
      SEQ_RETURN_IF_ERROR(CheckIds(name, dtype, input.bytes.data(), input.shape, *num_ids));
    }
  } else {
    input.owned_bytes.resize(static_cast<size_t>(elements) * dtype_bytes);
    const RequestValues request_values{tensor.datatype, storage, tensor.values_field, values.data(),
                                       input.shape};
    SEQ_RETURN_IF_ERROR(
        ConvertValues(name, request_values, dtype, num_ids, input.owned_bytes.data()));
    input.bytes = input.owned_bytes;
  }
  input.output_shape = std::move(output_shape);
  return input;
}

absl::StatusOr<PreparedRequest> PrepareInferRequest(
    const ModelRepository& repository, std::string_view model_name, std::string_view version,
    const InferRequestView& request, int64_t client_deadline_us,
    const SharedMemoryRegistry* shared_memory) {
  // A large request leaves freed blocks in the heaps of the threads that handled it, whatever
  // its outcome: ask for them to go back once it is over.
  if (RequestTensorBytes(request) >= kLargeRequestBytes) RequestHeapTrim();
  absl::StatusOr<int64_t> version_number = ParseModelVersion(version);
  if (!version_number.ok()) return version_number.status();
  absl::StatusOr<std::shared_ptr<ServableModel>> servable =
      repository.Get(model_name, *version_number);
  if (!servable.ok()) return servable.status();
  ServableModel& model = **servable;
  absl::StatusOr<InferInput> input =
      ValidateInferRequest(request, model_name, model.config, *model.model, shared_memory);
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

}  // namespace seqserve
