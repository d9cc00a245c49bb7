#include "server/http/rest_infer.h"

#include <bit>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "server/frontend/classification.h"
#include "server/http/json_cursor.h"
#include "server/logging/json_text.h"

namespace seqserve {
namespace {

using Type = JsonCursor::Type;

absl::Status Invalid(std::string_view path, std::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat(std::string(path), ": ", std::string(problem)));
}

absl::Status Expected(std::string_view path, std::string_view what, Type got) {
  return Invalid(path,
                 absl::StrCat("expected ", std::string(what), ", got ", JsonCursor::TypeName(got)));
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

// The syntax error of `json`, told by nlohmann::json's parser (line, column and what it
// expected: the better message), or else by the cursor's; nullopt if `json` is well-formed.
// nlohmann's SAX parser builds no tree, so this costs time, not memory.
std::optional<absl::Status> SyntaxError(std::string_view json, const JsonCursor& cursor) {
  ErrorLocator locator;
  nlohmann::json::sax_parse(json.begin(), json.end(), &locator);
  if (!locator.message.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("malformed JSON: ", locator.message));
  }
  if (!cursor.failed()) return std::nullopt;
  return absl::InvalidArgumentError(
      absl::StrCat("malformed JSON: ", cursor.error(), " (byte ", cursor.error_offset(), ")"));
}

// What a syntax error returns while decoding: DecodeRestInferRequest replaces it with the
// located message.
absl::Status Malformed() { return absl::InvalidArgumentError("malformed JSON"); }

// At a position where no value starts: fails the cursor there (for the message).
absl::Status SyntaxHere(JsonCursor& cursor) {
  cursor.Skip();
  return Malformed();
}

absl::StatusOr<std::string> ReadString(JsonCursor& cursor, std::string_view path) {
  const Type type = cursor.Peek();
  if (type != Type::kString) {
    if (type == Type::kInvalid) return SyntaxHere(cursor);
    return Expected(path, "a string", type);
  }
  std::string value;
  if (!cursor.ReadString(&value)) return Malformed();
  return value;
}

absl::StatusOr<int64_t> ReadInteger(JsonCursor& cursor, std::string_view path) {
  const Type type = cursor.Peek();
  if (type != Type::kNumber) {
    if (type == Type::kInvalid) return SyntaxHere(cursor);
    return Expected(path, "an integer", type);
  }
  JsonCursor::Number number;
  if (!cursor.ReadNumber(&number)) return Malformed();
  const std::string_view text = number.text;
  int64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (!number.integer || error != std::errc() || end != text.data() + text.size()) {
    return Invalid(path, "expected an integer, got a fraction or a number out of range");
  }
  return value;
}

absl::StatusOr<bool> ReadBool(JsonCursor& cursor, std::string_view path) {
  const Type type = cursor.Peek();
  if (type != Type::kBool) {
    if (type == Type::kInvalid) return SyntaxHere(cursor);
    return Expected(path, "a boolean", type);
  }
  bool value = false;
  if (!cursor.ReadBool(&value)) return Malformed();
  return value;
}

// Enters the object at the cursor; an error when the value there is something else.
absl::Status EnterObject(JsonCursor& cursor, std::string_view path) {
  const Type type = cursor.Peek();
  if (type == Type::kObject) return cursor.EnterObject() ? absl::OkStatus() : Malformed();
  if (type == Type::kInvalid) return SyntaxHere(cursor);
  return Expected(path, "an object", type);
}

absl::Status EnterArray(JsonCursor& cursor, std::string_view path) {
  const Type type = cursor.Peek();
  if (type == Type::kArray) return cursor.EnterArray() ? absl::OkStatus() : Malformed();
  if (type == Type::kInvalid) return SyntaxHere(cursor);
  return Expected(path, "an array", type);
}

// Bytes for one input's values, grown without zero-filling (the values overwrite them).
class ValueBuffer {
 public:
  void Reserve(size_t bytes) {
    if (bytes > capacity_) Grow(bytes);
  }
  template <typename T>
  void Push(T value) {
    if (size_ + sizeof(T) > capacity_) Grow(std::max(2 * capacity_, size_ + 64 * sizeof(T)));
    std::memcpy(data_.get() + size_, &value, sizeof(T));
    size_ += sizeof(T);
  }
  size_t size() const { return size_; }
  std::unique_ptr<std::byte[]> Take() { return std::move(data_); }

 private:
  void Grow(size_t capacity) {
    // Aligned for any element type (operator new[] aligns to alignof(std::max_align_t)).
    std::unique_ptr<std::byte[]> grown(new std::byte[capacity]);
    if (size_ > 0) std::memcpy(grown.get(), data_.get(), size_);
    data_ = std::move(grown);
    capacity_ = capacity;
  }

  std::unique_ptr<std::byte[]> data_;
  size_t size_ = 0;
  size_t capacity_ = 0;
};

// How one datatype's "data" elements are read: what a JSON element must be, and how its text
// becomes a value (or a problem).
enum class ElementKind { kFloat, kInteger, kBool };

template <typename T>
constexpr ElementKind KindOf() {
  if constexpr (std::is_same_v<T, bool>) return ElementKind::kBool;
  if constexpr (std::is_floating_point_v<T>) return ElementKind::kFloat;
  return ElementKind::kInteger;
}

// Clinger's fast path: a JSON number as the nearest double, when its digits make an integer
// of at most 2^53 and its decimal exponent lies in [-22, 22]: both factors are then exact
// doubles and one multiply or divide rounds once, correctly. False otherwise (the caller
// falls back to std::from_chars, correct everywhere but several times slower).
bool FastDouble(const JsonCursor::Number& number, double* out) {
  static constexpr double kPowers[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                       1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                       1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
  if (!number.exact || number.significand > (uint64_t{1} << 53)) return false;
  double value = static_cast<double>(number.significand);
  if (number.significand != 0) {
    if (number.exponent < -22 || number.exponent > 22) return false;
    value =
        number.exponent < 0 ? value / kPowers[-number.exponent] : value * kPowers[number.exponent];
  }
  *out = number.negative ? -value : value;
  return true;
}

// FastDouble's result rounded to float, when that is the correctly rounded float: unless
// the double is exactly halfway between two floats (the decimal may have been just below or
// above it), rounding the correctly rounded double gives the correctly rounded float, since
// float midpoints are doubles. (The fast path's results are far from float's subnormals
// and its overflow.)
bool FastFloat(const JsonCursor::Number& number, float* out) {
  double value = 0;
  if (!FastDouble(number, &value)) return false;
  // 53 - 24 = 29 bits of the double's significand lie below a float's; halfway is 1 << 28.
  const uint64_t low_bits = std::bit_cast<uint64_t>(value) & ((uint64_t{1} << 29) - 1);
  if (low_bits == uint64_t{1} << 28) return false;
  *out = static_cast<float>(value);
  return true;
}

// A JSON number as a T: nullopt plus `problem` when it is not one.
template <typename T>
std::optional<T> ParseNumber(const JsonCursor::Number& number, std::string_view datatype,
                             std::string* problem) {
  const std::string_view text = number.text;
  const char* begin = text.data();
  const char* end = text.data() + text.size();
  if constexpr (std::is_floating_point_v<T>) {
    T value = 0;
    if constexpr (std::is_same_v<T, float>) {
      if (FastFloat(number, &value)) return value;
    } else {
      if (FastDouble(number, &value)) return value;
    }
    const std::from_chars_result result = std::from_chars(begin, end, value);
    if (result.ec == std::errc() && result.ptr == end) return value;
    // Out of range: too small rounds to zero (as any decimal rounds), too large is an error.
    const size_t exponent = text.find_first_of("eE");
    const bool tiny = exponent != std::string_view::npos && exponent + 1 < text.size() &&
                      text[exponent + 1] == '-';
    if (tiny) return text.front() == '-' ? -T(0) : T(0);
    *problem = absl::StrCat(std::string(text), " is beyond the range of ", std::string(datatype));
    return std::nullopt;
  } else {
    using Wide = std::conditional_t<std::is_signed_v<T>, int64_t, uint64_t>;
    Wide value = 0;
    const std::from_chars_result result = std::from_chars(begin, end, value);
    if (!number.integer) {
      *problem = absl::StrCat("expected an integer (", std::string(datatype), "), got ",
                              std::string(text));
      return std::nullopt;
    }
    if (result.ec != std::errc() || result.ptr != end ||
        value < static_cast<Wide>(std::numeric_limits<T>::min()) ||
        value > static_cast<Wide>(std::numeric_limits<T>::max())) {
      *problem = absl::StrCat(std::string(text), " is out of range of ", std::string(datatype));
      return std::nullopt;
    }
    return static_cast<T>(value);
  }
}

// Reads a "data" array of T elements, nested arrays flattened in row-major order, into
// `out`. A syntax error fails the cursor; an element that is not a T sets `error`.
template <typename T>
class DataReader {
 public:
  DataReader(JsonCursor& cursor, ValueBuffer& out, std::string_view datatype, std::string path)
      : cursor_(cursor), out_(out), datatype_(datatype), path_(std::move(path)) {}

  // False when the cursor failed or an element was wrong (see error()).
  bool ReadArray() {
    if (!cursor_.EnterArray()) return false;
    for (size_t i = 0;; ++i) {
      Type type;
      if constexpr (KindOf<T>() == ElementKind::kBool) {
        if (!cursor_.NextElement()) return !cursor_.failed();
        type = cursor_.Peek();
        if (type == Type::kBool) {
          bool value = false;
          if (!cursor_.ReadBool(&value)) return false;
          out_.Push<uint8_t>(value ? 1 : 0);
          continue;
        }
      } else {
        // The hot loop: one call per number.
        JsonCursor::Number number;
        switch (cursor_.NextNumber(&number)) {
          case JsonCursor::Next::kNumber: {
            const std::optional<T> value = ParseNumber<T>(number, datatype_, &problem_);
            if (!value) {
              error_ = Invalid(Path(i), problem_);
              return false;
            }
            out_.Push<T>(*value);
            continue;
          }
          case JsonCursor::Next::kEnd:
            return true;
          case JsonCursor::Next::kFailed:
            return false;
          case JsonCursor::Next::kOther:
            break;
        }
        type = cursor_.Peek();
      }
      if (type != Type::kArray) {
        return WrongType(type, i,
                         KindOf<T>() == ElementKind::kBool    ? "true, false or an array"
                         : KindOf<T>() == ElementKind::kFloat ? "a number or an array"
                                                              : "an integer or an array");
      }
      parents_.push_back(i);
      if (!ReadArray()) return false;
      parents_.pop_back();
    }
  }

  const absl::Status& error() const { return error_; }

 private:
  // The JSON path of element `i` of the array being read.
  std::string Path(size_t i) const {
    std::string path = path_;
    for (const size_t parent : parents_) absl::StrAppend(&path, "[", parent, "]");
    absl::StrAppend(&path, "[", i, "]");
    return path;
  }

  bool WrongType(Type type, size_t i, std::string_view expected) {
    if (type == Type::kInvalid) return cursor_.Skip();  // fails the cursor: a syntax error
    error_ = Expected(Path(i), expected, type);
    return false;
  }

  JsonCursor& cursor_;
  ValueBuffer& out_;
  std::string_view datatype_;
  std::string path_;
  std::vector<size_t> parents_;  // the indices of the enclosing arrays' elements
  std::string problem_;          // what ParseNumber found wrong
  absl::Status error_;
};

// Reads the "data" value at the cursor as elements of `datatype` into a new buffer of
// `request.values`, pointed to by `input.values`; what is wrong with it goes to
// input.data_error (the cursor then stands after the value). `elements`: how many the shape
// promises, when known and plausible (to allocate once).
template <typename T>
bool ReadData(JsonCursor& cursor, const std::string& path, std::string_view datatype,
              int64_t elements, RestInferRequest& request, InferRequestView::Input& input) {
  ValueBuffer buffer;
  buffer.Reserve(static_cast<size_t>(elements) * sizeof(T));
  DataReader<T> reader(cursor, buffer, datatype, path);
  const size_t start = cursor.offset();
  const int depth = cursor.depth();
  if (!reader.ReadArray()) {
    if (cursor.failed()) return false;
    input.data_error = reader.error();
    // Past the rest of the value, still checking its syntax.
    cursor.Seek(start, depth);
    return cursor.Skip();
  }
  const size_t size = buffer.size();
  input.values = std::span<const std::byte>(request.values.emplace_back(buffer.Take()).get(), size);
  return true;
}

// Dispatches ReadData by datatype; a datatype without JSON numbers sets input.data_error.
bool ReadTypedData(JsonCursor& cursor, const std::string& path, int64_t elements,
                   RestInferRequest& request, InferRequestView::Input& input) {
  const Type type = cursor.Peek();
  if (type != Type::kArray) {
    if (type == Type::kInvalid) return cursor.Skip();
    input.data_error = Expected(path, "an array", type);
    return cursor.Skip();
  }
  const std::string_view datatype = input.datatype;
  if (datatype == "FP32") return ReadData<float>(cursor, path, datatype, elements, request, input);
  if (datatype == "FP64") return ReadData<double>(cursor, path, datatype, elements, request, input);
  if (datatype == "INT8") return ReadData<int8_t>(cursor, path, datatype, elements, request, input);
  if (datatype == "INT16") {
    return ReadData<int16_t>(cursor, path, datatype, elements, request, input);
  }
  if (datatype == "INT32") {
    return ReadData<int32_t>(cursor, path, datatype, elements, request, input);
  }
  if (datatype == "INT64") {
    return ReadData<int64_t>(cursor, path, datatype, elements, request, input);
  }
  if (datatype == "UINT8") {
    return ReadData<uint8_t>(cursor, path, datatype, elements, request, input);
  }
  if (datatype == "UINT16") {
    return ReadData<uint16_t>(cursor, path, datatype, elements, request, input);
  }
  if (datatype == "UINT32") {
    return ReadData<uint32_t>(cursor, path, datatype, elements, request, input);
  }
  if (datatype == "UINT64") {
    return ReadData<uint64_t>(cursor, path, datatype, elements, request, input);
  }
  if (datatype == "BOOL") return ReadData<bool>(cursor, path, datatype, elements, request, input);
  if (datatype == "FP16" || datatype == "BF16") {
    input.data_error = absl::InvalidArgumentError(
        absl::StrCat("input '", std::string(input.name), "': ", std::string(datatype),
                     " data cannot travel as JSON numbers; send it as binary data "
                     "(parameters.binary_data_size)"));
  }
  // Other datatypes (BYTES, unknown names) fail validation before their data matters.
  return cursor.Skip();
}

// The shared memory parameters of one tensor's "parameters" object, as they are read.
struct SharedMemoryJson {
  std::optional<std::string_view> region;
  std::optional<int64_t> offset;
  std::optional<int64_t> byte_size;

  // Reads `parameter`'s value when it is one of the extension's (true), else false and the
  // cursor has not moved. The region's name is kept in `request.strings`.
  absl::StatusOr<bool> Read(JsonCursor& cursor, const std::string& parameter,
                            const std::string& parameters_path, RestInferRequest& request) {
    const std::string path = absl::StrCat(parameters_path, ".", parameter);
    if (parameter == "shared_memory_region") {
      absl::StatusOr<std::string> name = ReadString(cursor, path);
      if (!name.ok()) return name.status();
      region = request.strings.emplace_back(*std::move(name));
      return true;
    }
    std::optional<int64_t>* number = parameter == "shared_memory_offset"      ? &offset
                                     : parameter == "shared_memory_byte_size" ? &byte_size
                                                                              : nullptr;
    if (number == nullptr) return false;
    absl::StatusOr<int64_t> value = ReadInteger(cursor, path);
    if (!value.ok()) return value.status();
    *number = *value;
    return true;
  }

  absl::StatusOr<std::optional<SharedMemoryParams>> Params(const std::string& tensor) const {
    return MakeSharedMemoryParams(tensor, region, offset, byte_size);
  }
};

// What one input's JSON said about its binary data.
struct BinaryInput {
  size_t input = 0;
  int64_t size_bytes = 0;
};

// The element count `shape` promises, or 0 when it is nonsense or more than `json_size`
// bytes of JSON could hold (a value takes at least 2 bytes with its comma).
int64_t PlausibleElements(std::span<const int64_t> shape, size_t json_size) {
  int64_t elements = 1;
  for (const int64_t dim : shape) {
    if (dim < 1 || elements > static_cast<int64_t>(json_size / 2 + 1) / dim) return 0;
    elements *= dim;
  }
  return elements;
}

absl::Status DecodeInput(JsonCursor& cursor, size_t index, RestInferRequest& request,
                         std::vector<BinaryInput>& binary, size_t json_size) {
  const std::string path = absl::StrCat("inputs[", index, "]");
  if (absl::Status object = EnterObject(cursor, path); !object.ok()) return object;
  InferRequestView::Input& input = request.view.inputs.emplace_back();
  input.values_field = "\"data\"";
  std::optional<std::pair<size_t, int>> data;  // where "data" is, when read after the object
  bool data_read = false;
  std::optional<int64_t> binary_size;
  SharedMemoryJson shared;
  bool has_name = false, has_shape = false, has_datatype = false;
  std::string key;
  while (cursor.NextMember(&key)) {
    const std::string field_path = absl::StrCat(path, ".", key);
    if (key == "name") {
      absl::StatusOr<std::string> name = ReadString(cursor, field_path);
      if (!name.ok()) return name.status();
      input.name = request.strings.emplace_back(*std::move(name));
      has_name = true;
    } else if (key == "datatype") {
      absl::StatusOr<std::string> datatype = ReadString(cursor, field_path);
      if (!datatype.ok()) return datatype.status();
      input.datatype = request.strings.emplace_back(*std::move(datatype));
      has_datatype = true;
    } else if (key == "shape") {
      if (absl::Status array = EnterArray(cursor, field_path); !array.ok()) return array;
      std::vector<int64_t>& shape = request.shapes.emplace_back();
      size_t i = 0;
      while (cursor.NextElement()) {
        absl::StatusOr<int64_t> value =
            ReadInteger(cursor, absl::StrCat(field_path, "[", i++, "]"));
        if (!value.ok()) return value.status();
        shape.push_back(*value);
      }
      if (cursor.failed()) return Malformed();
      input.shape = shape;
      has_shape = true;
    } else if (key == "parameters") {
      if (absl::Status object = EnterObject(cursor, field_path); !object.ok()) return object;
      std::string parameter;
      while (cursor.NextMember(&parameter)) {
        absl::StatusOr<bool> shared_read = shared.Read(cursor, parameter, field_path, request);
        if (!shared_read.ok()) return shared_read.status();
        if (*shared_read) continue;
        if (parameter != "binary_data_size") {
          if (!cursor.Skip()) return Malformed();
          continue;
        }
        const std::string size_path = absl::StrCat(field_path, ".binary_data_size");
        absl::StatusOr<int64_t> value = ReadInteger(cursor, size_path);
        if (!value.ok()) return value.status();
        if (*value < 0)
          return Invalid(size_path, absl::StrCat("expected bytes >= 0, got ", *value));
        binary_size = *value;
      }
      if (cursor.failed()) return Malformed();
    } else if (key == "data") {
      if (has_datatype) {
        // Straight into its buffer; sized by the shape when the shape came first.
        const int64_t elements = has_shape ? PlausibleElements(input.shape, json_size) : 0;
        if (!ReadTypedData(cursor, absl::StrCat(path, ".data"), elements, request, input)) {
          return Malformed();
        }
        data_read = true;
        data.reset();
      } else {
        // Read once the datatype is known, after the object.
        data.emplace(cursor.offset(), cursor.depth());
        data_read = false;
        if (!cursor.Skip()) return Malformed();
      }
    } else if (!cursor.Skip()) {
      return Malformed();
    }
  }
  if (cursor.failed()) return Malformed();
  for (const auto& [present, name] :
       {std::pair{has_name, "name"}, {has_shape, "shape"}, {has_datatype, "datatype"}}) {
    if (!present) return Invalid(path, absl::StrCat("missing \"", name, "\""));
  }
  if (data.has_value()) {
    const size_t after = cursor.offset();
    const int depth = cursor.depth();
    cursor.Seek(data->first, data->second);
    if (!ReadTypedData(cursor, absl::StrCat(path, ".data"),
                       PlausibleElements(input.shape, json_size), request, input)) {
      return Malformed();
    }
    cursor.Seek(after, depth);
    data_read = true;
  }

  const std::string name(input.name);
  absl::StatusOr<std::optional<SharedMemoryParams>> shared_params =
      shared.Params(absl::StrCat("input '", name, "'"));
  if (!shared_params.ok()) {
    input.data_error = shared_params.status();
  } else if (shared_params->has_value()) {
    input.shared_memory = **shared_params;
    if (data_read || binary_size.has_value()) {
      input.data_error = absl::InvalidArgumentError(absl::StrCat(
          "input '", name, "': data both in shared memory (region '",
          std::string(input.shared_memory->region), "') and in ",
          data_read ? "\"data\"" : "binary data", "; send one"));
    }
  } else if (data_read && binary_size.has_value()) {
    input.data_error = absl::InvalidArgumentError(absl::StrCat(
        "input '", name, "': both \"data\" and parameters.binary_data_size; send one of them"));
  } else if (binary_size.has_value()) {
    // Its bytes are found once every input's size is known.
    binary.push_back({request.view.inputs.size() - 1, *binary_size});
  } else if (!data_read) {
    input.data_error = absl::InvalidArgumentError(absl::StrCat(
        "input '", name,
        "': no data; send it in \"data\" or as binary data (parameters.binary_data_size)"));
  }
  return absl::OkStatus();
}

absl::Status DecodeOutputs(JsonCursor& cursor, RestInferRequest& request,
                           std::optional<bool>& binary) {
  if (absl::Status array = EnterArray(cursor, "outputs"); !array.ok()) return array;
  size_t index = 0;
  while (cursor.NextElement()) {
    const std::string path = absl::StrCat("outputs[", index++, "]");
    if (absl::Status object = EnterObject(cursor, path); !object.ok()) return object;
    bool has_name = false;
    std::string_view output_name;
    SharedMemoryJson shared;
    std::string key;
    while (cursor.NextMember(&key)) {
      if (key == "name") {
        absl::StatusOr<std::string> name = ReadString(cursor, absl::StrCat(path, ".name"));
        if (!name.ok()) return name.status();
        output_name = request.strings.emplace_back(*std::move(name));
        request.view.outputs.push_back(output_name);
        has_name = true;
      } else if (key == "parameters") {
        const std::string parameters_path = absl::StrCat(path, ".parameters");
        if (absl::Status object = EnterObject(cursor, parameters_path); !object.ok()) {
          return object;
        }
        std::string parameter;
        while (cursor.NextMember(&parameter)) {
          absl::StatusOr<bool> shared_read = shared.Read(cursor, parameter, parameters_path, request);
          if (!shared_read.ok()) return shared_read.status();
          if (*shared_read) continue;
          if (parameter == "classification") {
            absl::StatusOr<int64_t> count =
                ReadInteger(cursor, absl::StrCat(parameters_path, ".classification"));
            if (!count.ok()) return count.status();
            request.view.class_count = *count;
            continue;
          }
          if (parameter != "binary_data") {
            if (!cursor.Skip()) return Malformed();
            continue;
          }
          absl::StatusOr<bool> value =
              ReadBool(cursor, absl::StrCat(parameters_path, ".binary_data"));
          if (!value.ok()) return value.status();
          binary = *value;
        }
        if (cursor.failed()) return Malformed();
      } else if (!cursor.Skip()) {
        return Malformed();
      }
    }
    if (cursor.failed()) return Malformed();
    if (!has_name) return Invalid(path, "missing \"name\"");
    absl::StatusOr<std::optional<SharedMemoryParams>> shared_params =
        shared.Params(absl::StrCat("output '", std::string(output_name), "'"));
    if (!shared_params.ok() || shared_params->has_value()) {
      request.view.output_shared_memory = std::move(shared_params);
    }
  }
  return cursor.failed() ? Malformed() : absl::OkStatus();
}

absl::Status DecodeRequestParameters(JsonCursor& cursor, RestInferRequest& request,
                                     bool& binary_output) {
  if (absl::Status object = EnterObject(cursor, "parameters"); !object.ok()) return object;
  std::string key;
  while (cursor.NextMember(&key)) {
    if (key == "timeout") {
      // The error, if any, is reported by validation (after the model and input checks).
      absl::StatusOr<int64_t> timeout_us = absl::InvalidArgumentError(
          "parameter 'timeout': expected an integer number of microseconds");
      if (cursor.Peek() == Type::kNumber) {
        if (absl::StatusOr<int64_t> value = ReadInteger(cursor, "parameters.timeout"); value.ok()) {
          timeout_us = *value;
        } else if (cursor.failed()) {
          return Malformed();
        }
      } else if (!cursor.Skip()) {
        return Malformed();
      }
      request.view.timeout_us = std::move(timeout_us);
    } else if (key == "binary_data_output") {
      absl::StatusOr<bool> value = ReadBool(cursor, "parameters.binary_data_output");
      if (!value.ok()) return value.status();
      binary_output = *value;
    } else if (!cursor.Skip()) {
      return Malformed();
    }
  }
  return cursor.failed() ? Malformed() : absl::OkStatus();
}

absl::Status DecodeDocument(JsonCursor& cursor, std::string_view body, size_t json_size,
                            RestInferRequest& request) {
  if (absl::Status object = EnterObject(cursor, "the request body"); !object.ok()) return object;
  std::vector<BinaryInput> binary;
  bool binary_output_default = false;
  std::optional<bool> binary_output_requested;
  bool has_inputs = false;
  std::string key;
  while (cursor.NextMember(&key)) {
    if (key == "id") {
      absl::StatusOr<std::string> id = ReadString(cursor, "id");
      if (!id.ok()) return id.status();
      request.id = *std::move(id);
    } else if (key == "parameters") {
      if (absl::Status parameters = DecodeRequestParameters(cursor, request, binary_output_default);
          !parameters.ok()) {
        return parameters;
      }
    } else if (key == "inputs") {
      if (absl::Status array = EnterArray(cursor, "inputs"); !array.ok()) return array;
      size_t index = 0;
      while (cursor.NextElement()) {
        if (absl::Status decoded = DecodeInput(cursor, index++, request, binary, json_size);
            !decoded.ok()) {
          return decoded;
        }
      }
      if (cursor.failed()) return Malformed();
      has_inputs = true;
    } else if (key == "outputs") {
      if (absl::Status outputs = DecodeOutputs(cursor, request, binary_output_requested);
          !outputs.ok()) {
        return outputs;
      }
    } else if (!cursor.Skip()) {
      return Malformed();
    }
  }
  if (!cursor.AtEnd()) return Malformed();
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
  JsonCursor cursor(json);
  const absl::Status status = DecodeDocument(cursor, body, json_size, *request);
  if (status.ok()) return request;
  // A syntax error, or a decoding error that stopped before the rest of the JSON was read:
  // a syntax error anywhere in the JSON is reported first, as a whole-document parser would.
  if (std::optional<absl::Status> syntax = SyntaxError(json, cursor)) return *syntax;
  return status;
}

namespace {

// The reply's JSON up to its one output's shape, left open: `{"model_name":...,"outputs":
// [{"name":...,"datatype":...,"shape":[d0,d1` (the caller closes the shape and adds the data).
std::string ReplyHead(std::string_view model_name, int64_t version,
                      const RestInferRequest& request, std::string_view output_name,
                      std::string_view datatype, const Shape& shape) {
  std::string head = absl::StrCat("{\"model_name\":", JsonQuote(model_name),
                                  ",\"model_version\":\"", version, "\"");
  if (!request.id.empty()) absl::StrAppend(&head, ",\"id\":", JsonQuote(request.id));
  absl::StrAppend(&head, ",\"outputs\":[{\"name\":", JsonQuote(output_name));
  absl::StrAppend(&head, ",\"datatype\":\"", std::string(datatype), "\",\"shape\":[");
  for (size_t i = 0; i < shape.size(); ++i) {
    absl::StrAppend(&head, i > 0 ? "," : "", shape[i]);
  }
  return head;
}

}  // namespace

RestInferResponse EncodeRestInferResponse(std::string_view model_name, int64_t version,
                                          const RestInferRequest& request,
                                          std::string_view output_name, const Shape& shape,
                                          std::span<const float> data) {
  std::string head = ReplyHead(model_name, version, request, output_name, "FP32", shape);
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

RestInferResponse EncodeRestSharedMemoryResponse(std::string_view model_name, int64_t version,
                                                 const RestInferRequest& request,
                                                 std::string_view output_name, const Shape& shape,
                                                 const SharedMemoryBlock& block) {
  std::string head = ReplyHead(model_name, version, request, output_name, "FP32", shape);
  absl::StrAppend(&head, "],\"parameters\":{\"shared_memory_region\":",
                  JsonQuote(block.region->name()), ",\"shared_memory_offset\":", block.offset,
                  ",\"shared_memory_byte_size\":", OutputBytes(shape), "}}]}");
  RestInferResponse response;
  response.body = std::move(head);
  return response;
}

RestInferResponse EncodeRestBytesResponse(std::string_view model_name, int64_t version,
                                          const RestInferRequest& request,
                                          std::string_view output_name, const Shape& shape,
                                          const std::vector<std::string>& items) {
  std::string head = ReplyHead(model_name, version, request, output_name, "BYTES", shape);
  RestInferResponse response;
  if (request.binary_output) {
    const std::string data = EncodeBytesElements(items);
    absl::StrAppend(&head, "],\"parameters\":{\"binary_data_size\":", data.size(), "}}]}");
    response.json_length = head.size();
    response.body = std::move(head) + data;
    return response;
  }
  absl::StrAppend(&head, "],\"data\":[");
  for (size_t i = 0; i < items.size(); ++i) {
    absl::StrAppend(&head, i > 0 ? "," : "", JsonQuote(items[i]));
  }
  response.body = std::move(head) + "]}]}";
  return response;
}

}  // namespace seqserve
