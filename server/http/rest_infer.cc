#include "server/http/rest_infer.h"

#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "server/logging/json_text.h"
#include "simdjson.h"

namespace seqserve {
namespace {

namespace dom = simdjson::dom;

absl::Status Invalid(std::string_view path, std::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat(std::string(path), ": ", std::string(problem)));
}

const char* TypeName(dom::element_type type) {
  switch (type) {
    case dom::element_type::ARRAY:
      return "an array";
    case dom::element_type::OBJECT:
      return "an object";
    case dom::element_type::INT64:
    case dom::element_type::UINT64:
    case dom::element_type::DOUBLE:
      return "a number";
    case dom::element_type::STRING:
      return "a string";
    case dom::element_type::BOOL:
      return "a boolean";
    case dom::element_type::NULL_VALUE:
      return "null";
  }
  return "a value";
}

// nlohmann::json's SAX interface, accepting every value: only its parse_error matters.
class ErrorLocator final : public nlohmann::json_sax<nlohmann::json> {
 public:
  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t) override { return true; }
  bool number_unsigned(number_unsigned_t) override { return true; }
  bool number_float(number_float_t, const string_t&) override { return true; }
  bool string(string_t&) override { return true; }
  bool binary(binary_t&) override { return true; }
  bool start_object(std::size_t) override { return true; }
  bool key(string_t&) override { return true; }
  bool end_object() override { return true; }
  bool start_array(std::size_t) override { return true; }
  bool end_array() override { return true; }
  bool parse_error(std::size_t position, const std::string&,
                   const nlohmann::detail::exception& error) override {
    // "[json.exception.parse_error.101] parse error at line 1, column 9: syntax error ..."
    std::string_view what = error.what();
    if (const size_t end = what.find("] "); end != std::string_view::npos) {
      what.remove_prefix(end + 2);
    }
    // The "last read" part quotes the input, which may be long.
    constexpr size_t kMaxMessage = 300;
    message = absl::StrCat(std::string(what.substr(0, kMaxMessage)),
                           what.size() > kMaxMessage ? "..." : "", " (byte ", position, ")");
    return false;
  }

  std::string message;
};

absl::Status MalformedJson(std::string_view json, simdjson::error_code error) {
  ErrorLocator locator;
  nlohmann::json::sax_parse(json.begin(), json.end(), &locator);
  return absl::InvalidArgumentError(absl::StrCat(
      "malformed JSON: ",
      locator.message.empty() ? std::string(simdjson::error_message(error)) : locator.message));
}

// Appends the numbers of `array`, nested arrays flattened in row-major order, to `out`.
absl::Status AppendNumbers(dom::array array, std::vector<float>& out, const std::string& path) {
  size_t index = 0;
  for (dom::element element : array) {
    double value = 0;
    if (element.get_double().get(value) == simdjson::SUCCESS) {
      out.push_back(static_cast<float>(value));
    } else if (dom::array inner; element.get_array().get(inner) == simdjson::SUCCESS) {
      if (absl::Status nested = AppendNumbers(inner, out, absl::StrCat(path, "[", index, "]"));
          !nested.ok()) {
        return nested;
      }
    } else {
      return Invalid(absl::StrCat(path, "[", index, "]"),
                     absl::StrCat("expected a number or an array, got ", TypeName(element.type())));
    }
    ++index;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string_view> GetString(dom::element element, std::string_view path) {
  std::string_view value;
  if (element.get_string().get(value) != simdjson::SUCCESS) {
    return Invalid(path, absl::StrCat("expected a string, got ", TypeName(element.type())));
  }
  return value;
}

absl::StatusOr<int64_t> GetInteger(dom::element element, std::string_view path) {
  int64_t value = 0;
  if (element.get_int64().get(value) != simdjson::SUCCESS) {
    return Invalid(path, absl::StrCat("expected an integer, got ",
                                      element.is_number() ? "a fraction or a number out of range"
                                                          : TypeName(element.type())));
  }
  return value;
}

absl::StatusOr<dom::object> GetObject(dom::element element, std::string_view path) {
  dom::object value;
  if (element.get_object().get(value) != simdjson::SUCCESS) {
    return Invalid(path, absl::StrCat("expected an object, got ", TypeName(element.type())));
  }
  return value;
}

absl::StatusOr<dom::array> GetArray(dom::element element, std::string_view path) {
  dom::array value;
  if (element.get_array().get(value) != simdjson::SUCCESS) {
    return Invalid(path, absl::StrCat("expected an array, got ", TypeName(element.type())));
  }
  return value;
}

// What one input's JSON said about its binary data.
struct BinaryInput {
  size_t input = 0;
  int64_t size_bytes = 0;
};

absl::Status DecodeInput(dom::element element, size_t index, RestInferRequest& request,
                         std::vector<BinaryInput>& binary, size_t json_size) {
  const std::string path = absl::StrCat("inputs[", index, "]");
  absl::StatusOr<dom::object> object = GetObject(element, path);
  if (!object.ok()) return object.status();
  InferRequestView::Input& input = request.view.inputs.emplace_back();
  std::optional<dom::element> data;
  std::optional<int64_t> binary_size;
  bool has_name = false, has_shape = false, has_datatype = false;
  for (dom::key_value_pair field : *object) {
    const std::string field_path = absl::StrCat(path, ".", std::string(field.key));
    if (field.key == "name") {
      absl::StatusOr<std::string_view> name = GetString(field.value, field_path);
      if (!name.ok()) return name.status();
      input.name = request.strings.emplace_back(*name);
      has_name = true;
    } else if (field.key == "datatype") {
      absl::StatusOr<std::string_view> datatype = GetString(field.value, field_path);
      if (!datatype.ok()) return datatype.status();
      input.datatype = request.strings.emplace_back(*datatype);
      has_datatype = true;
    } else if (field.key == "shape") {
      absl::StatusOr<dom::array> dims = GetArray(field.value, field_path);
      if (!dims.ok()) return dims.status();
      std::vector<int64_t>& shape = request.shapes.emplace_back();
      size_t i = 0;
      for (dom::element dim : *dims) {
        absl::StatusOr<int64_t> value = GetInteger(dim, absl::StrCat(field_path, "[", i++, "]"));
        if (!value.ok()) return value.status();
        shape.push_back(*value);
      }
      input.shape = shape;
      has_shape = true;
    } else if (field.key == "parameters") {
      absl::StatusOr<dom::object> parameters = GetObject(field.value, field_path);
      if (!parameters.ok()) return parameters.status();
      dom::element size;
      if ((*parameters)["binary_data_size"].get(size) == simdjson::SUCCESS) {
        absl::StatusOr<int64_t> value =
            GetInteger(size, absl::StrCat(field_path, ".binary_data_size"));
        if (!value.ok()) return value.status();
        if (*value < 0) {
          return Invalid(absl::StrCat(field_path, ".binary_data_size"),
                         absl::StrCat("expected bytes >= 0, got ", *value));
        }
        binary_size = *value;
      }
    } else if (field.key == "data") {
      data = field.value;
    }
  }
  for (const auto& [present, key] :
       {std::pair{has_name, "name"}, {has_shape, "shape"}, {has_datatype, "datatype"}}) {
    if (!present) return Invalid(path, absl::StrCat("missing \"", key, "\""));
  }

  const std::string name(input.name);
  if (data.has_value() && binary_size.has_value()) {
    input.data_error = absl::InvalidArgumentError(absl::StrCat(
        "input '", name, "': both \"data\" and parameters.binary_data_size; send one of them"));
  } else if (binary_size.has_value()) {
    // Its bytes are found once every input's size is known.
    binary.push_back({request.view.inputs.size() - 1, *binary_size});
  } else if (!data.has_value()) {
    input.data_error = absl::InvalidArgumentError(absl::StrCat(
        "input '", name,
        "': no data; send it in \"data\" or as binary data (parameters.binary_data_size)"));
  } else if (input.datatype == "FP32") {
    // Any other datatype fails validation before its data matters.
    absl::StatusOr<dom::array> array = GetArray(*data, absl::StrCat(path, ".data"));
    if (!array.ok()) {
      input.data_error = array.status();
    } else {
      std::vector<float>& values = request.values.emplace_back();
      // The shape's element count, unless the shape is nonsense (a number is >= 2 bytes).
      int64_t elements = 1;
      for (const int64_t dim : input.shape) {
        if (dim < 1 || elements > static_cast<int64_t>(json_size) / dim) {
          elements = 0;
          break;
        }
        elements *= dim;
      }
      values.reserve(static_cast<size_t>(elements));
      input.data_error = AppendNumbers(*array, values, absl::StrCat(path, ".data"));
      input.values = std::as_bytes(std::span<const float>(values));
    }
  }
  return absl::OkStatus();
}

absl::Status DecodeOutputs(dom::element element, RestInferRequest& request,
                           std::optional<bool>& binary) {
  absl::StatusOr<dom::array> outputs = GetArray(element, "outputs");
  if (!outputs.ok()) return outputs.status();
  size_t index = 0;
  for (dom::element output : *outputs) {
    const std::string path = absl::StrCat("outputs[", index++, "]");
    absl::StatusOr<dom::object> object = GetObject(output, path);
    if (!object.ok()) return object.status();
    dom::element name_element;
    if ((*object)["name"].get(name_element) != simdjson::SUCCESS) {
      return Invalid(path, "missing \"name\"");
    }
    absl::StatusOr<std::string_view> name = GetString(name_element, absl::StrCat(path, ".name"));
    if (!name.ok()) return name.status();
    request.view.outputs.push_back(request.strings.emplace_back(*name));
    dom::element parameters_element;
    if ((*object)["parameters"].get(parameters_element) == simdjson::SUCCESS) {
      absl::StatusOr<dom::object> parameters =
          GetObject(parameters_element, absl::StrCat(path, ".parameters"));
      if (!parameters.ok()) return parameters.status();
      dom::element flag;
      if ((*parameters)["binary_data"].get(flag) == simdjson::SUCCESS) {
        bool value = false;
        if (flag.get_bool().get(value) != simdjson::SUCCESS) {
          return Invalid(absl::StrCat(path, ".parameters.binary_data"),
                         absl::StrCat("expected a boolean, got ", TypeName(flag.type())));
        }
        binary = value;
      }
    }
  }
  return absl::OkStatus();
}

absl::Status DecodeRequestParameters(dom::element element, RestInferRequest& request,
                                     bool& binary_output) {
  absl::StatusOr<dom::object> parameters = GetObject(element, "parameters");
  if (!parameters.ok()) return parameters.status();
  dom::element value;
  if ((*parameters)["timeout"].get(value) == simdjson::SUCCESS) {
    int64_t timeout_us = 0;
    if (value.get_int64().get(timeout_us) == simdjson::SUCCESS) {
      request.view.timeout_us = timeout_us;
    } else {
      request.view.timeout_us = absl::InvalidArgumentError(
          "parameter 'timeout': expected an integer number of microseconds");
    }
  }
  if ((*parameters)["binary_data_output"].get(value) == simdjson::SUCCESS) {
    if (value.get_bool().get(binary_output) != simdjson::SUCCESS) {
      return Invalid("parameters.binary_data_output",
                     absl::StrCat("expected a boolean, got ", TypeName(value.type())));
    }
  }
  return absl::OkStatus();
}

absl::Status DecodeDocument(dom::element root, std::string_view body, size_t json_size,
                            RestInferRequest& request) {
  absl::StatusOr<dom::object> object = GetObject(root, "the request body");
  if (!object.ok()) return object.status();
  std::vector<BinaryInput> binary;
  bool binary_output_default = false;
  std::optional<bool> binary_output_requested;
  bool has_inputs = false;
  for (dom::key_value_pair field : *object) {
    if (field.key == "id") {
      absl::StatusOr<std::string_view> id = GetString(field.value, "id");
      if (!id.ok()) return id.status();
      request.id = std::string(*id);
    } else if (field.key == "parameters") {
      if (absl::Status parameters =
              DecodeRequestParameters(field.value, request, binary_output_default);
          !parameters.ok()) {
        return parameters;
      }
    } else if (field.key == "inputs") {
      absl::StatusOr<dom::array> inputs = GetArray(field.value, "inputs");
      if (!inputs.ok()) return inputs.status();
      size_t index = 0;
      for (dom::element input : *inputs) {
        if (absl::Status decoded = DecodeInput(input, index++, request, binary, json_size);
            !decoded.ok()) {
          return decoded;
        }
      }
      has_inputs = true;
    } else if (field.key == "outputs") {
      if (absl::Status outputs = DecodeOutputs(field.value, request, binary_output_requested);
          !outputs.ok()) {
        return outputs;
      }
    }
  }
  if (!has_inputs) return Invalid("the request body", "missing \"inputs\"");
  request.binary_output = binary_output_requested.value_or(binary_output_default);

  // The binary data: each input's bytes in input order, exactly filling the body after the
  // JSON.
  const size_t available = body.size() - json_size;
  uint64_t wanted = 0;
  for (const BinaryInput& input : binary) wanted += static_cast<uint64_t>(input.size_bytes);
  if (wanted != available) {
    if (json_size == body.size() && !binary.empty()) {
      return absl::InvalidArgumentError(
          "binary data (parameters.binary_data_size) needs the Inference-Header-Content-Length "
          "header: the length of the JSON before the binary data");
    }
    return absl::InvalidArgumentError(
        absl::StrCat("binary data: the inputs' binary_data_size add up to ", wanted, " bytes, but ",
                     available, " bytes follow the JSON header"));
  }
  size_t offset = json_size;
  for (const BinaryInput& input : binary) {
    request.view.inputs[input.input].raw_bytes =
        body.substr(offset, static_cast<size_t>(input.size_bytes));
    offset += static_cast<size_t>(input.size_bytes);
  }
  return absl::OkStatus();
}

// Writes `value` at `out` (at least kMaxFloatChars free) and returns the end.
constexpr size_t kMaxFloatChars = 24;
char* WriteFloat(char* out, float value) {
  // "-0" would read back as the integer 0 in most JSON libraries (Python's too).
  if (value == 0.0f && std::signbit(value)) {
    std::memcpy(out, "-0.0", 4);
    return out + 4;
  }
  if (std::isfinite(value)) return std::to_chars(out, out + kMaxFloatChars, value).ptr;
  const std::string_view text = std::isnan(value) ? "NaN" : value > 0 ? "Infinity" : "-Infinity";
  std::memcpy(out, text.data(), text.size());
  return out + text.size();
}

}  // namespace

absl::StatusOr<std::unique_ptr<RestInferRequest>> DecodeRestInferRequest(
    std::string_view body, std::optional<size_t> json_length) {
  const size_t json_size = json_length.value_or(body.size());
  if (json_size > body.size()) {
    return absl::InvalidArgumentError(absl::StrCat("Inference-Header-Content-Length is ", json_size,
                                                   " but the body has only ", body.size(),
                                                   " bytes"));
  }
  const std::string_view json = body.substr(0, json_size);
  auto request = std::make_unique<RestInferRequest>();
  request->view.values_field = "\"data\"";

  // One parser per thread keeps its buffers from request to request, unless one huge
  // request grew them (they are as large as the JSON, and a few times that for the tape).
  thread_local dom::parser parser;
  constexpr size_t kKeepCapacityBytes = size_t{16} << 20;
  absl::Status status;
  dom::element root;
  if (const simdjson::error_code error = parser.parse(json.data(), json.size()).get(root);
      error != simdjson::SUCCESS) {
    status = MalformedJson(json, error);
  } else {
    status = DecodeDocument(root, body, json_size, *request);
  }
  if (parser.capacity() > kKeepCapacityBytes) parser = dom::parser();
  if (!status.ok()) return status;
  return request;
}

RestInferResponse EncodeRestInferResponse(std::string_view model_name, int64_t version,
                                          const RestInferRequest& request,
                                          std::string_view output_name, const Shape& shape,
                                          std::span<const float> data) {
  std::string head = absl::StrCat("{\"model_name\":", JsonQuote(model_name),
                                  ",\"model_version\":\"", version, "\"");
  if (!request.id.empty()) absl::StrAppend(&head, ",\"id\":", JsonQuote(request.id));
  absl::StrAppend(&head, ",\"outputs\":[{\"name\":", JsonQuote(output_name),
                  ",\"datatype\":\"FP32\",\"shape\":[");
  for (size_t i = 0; i < shape.size(); ++i) {
    absl::StrAppend(&head, i > 0 ? "," : "", shape[i]);
  }
  const size_t data_bytes = data.size() * sizeof(float);

  RestInferResponse response;
  if (request.binary_output) {
    absl::StrAppend(&head, "],\"parameters\":{\"binary_data_size\":", data_bytes, "}}]}");
    response.json_length = head.size();
    response.body = std::move(head);
    response.body.resize(response.body.size() + data_bytes);
    if (data_bytes > 0) {
      std::memcpy(response.body.data() + *response.json_length, data.data(), data_bytes);
    }
    return response;
  }
  absl::StrAppend(&head, "],\"data\":[");
  std::string& body = response.body;
  body = std::move(head);
  const size_t start = body.size();
  // Room for every value and its comma; trimmed to what was written.
  body.resize(start + data.size() * (kMaxFloatChars + 1) + 8);
  char* out = body.data() + start;
  for (size_t i = 0; i < data.size(); ++i) {
    if (i > 0) *out++ = ',';
    out = WriteFloat(out, data[i]);
  }
  body.resize(static_cast<size_t>(out - body.data()));
  body += "]}]}";
  return response;
}

}  // namespace seqserve
