#include "common/npy.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bit>
#include <cerrno>
#include <cstring>
#include <limits>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace seqserve {
namespace {

constexpr std::string_view kMagic = "\x93NUMPY";
constexpr size_t kPreambleV1Bytes = 10;  // magic, 2 version bytes, u16 header length
constexpr size_t kPreambleV2Bytes = 12;  // magic, 2 version bytes, u32 header length
// NumPy aligns the start of the data to 64 bytes so that it can be memory-mapped.
constexpr size_t kArrayAlignBytes = 64;
// np.save leaves room after the first dimension so a file can grow in place; matching it
// makes our files byte-identical to NumPy's.
constexpr size_t kGrowthAxisMaxDigits = 21;

// Debian's abseil has its own string_view type, distinct from std::string_view.
absl::string_view AbslView(std::string_view s) { return absl::string_view(s.data(), s.size()); }

absl::Status Invalid(std::string_view name, std::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat(AbslView(name), ": ", AbslView(message)));
}

// A Python literal from the header dict. Only what ast.literal_eval yields for a .npy header
// (and the unsupported dtypes we want to name in errors) is modelled.
struct PyEntry;
struct PyValue {
  enum class Kind { kString, kBool, kNone, kInt, kTuple, kList, kDict };
  Kind kind = Kind::kNone;
  std::string text;  // source text, for error messages; the string itself for kString
  bool boolean = false;
  uint64_t integer = 0;
  bool negative = false;
  // kDict. (A vector of std::pair<PyValue, PyValue> would need PyValue complete here;
  // clang with libstdc++ rejects it.)
  std::vector<PyEntry> entries;
  std::vector<PyValue> items;  // kTuple, kList
};
struct PyEntry {
  PyValue key;
  PyValue value;
};

// Recursive-descent parser for the Python dict literal of a .npy header.
class HeaderParser {
 public:
  explicit HeaderParser(std::string_view text) : text_(text) {}

  // Parses the whole header as one value; trailing whitespace (NumPy's padding) is allowed.
  std::optional<PyValue> ParseAll() {
    std::optional<PyValue> v = ParseValue(0);
    if (!v) return std::nullopt;
    SkipSpace();
    if (pos_ != text_.size()) return Fail("unexpected text after the dictionary");
    return v;
  }
  const std::string& error() const { return error_; }

 private:
  // Deeper nesting than this is not a dtype description, just a way to blow the stack.
  static constexpr int kMaxDepth = 16;

  std::nullopt_t Fail(absl::string_view what) {
    if (error_.empty()) error_ = absl::StrCat(what, " at offset ", pos_);
    return std::nullopt;
  }
  void SkipSpace() {
    while (pos_ < text_.size() && absl::ascii_isspace(static_cast<unsigned char>(text_[pos_]))) {
      ++pos_;
    }
  }
  bool Consume(std::string_view token) {
    SkipSpace();
    if (text_.substr(pos_, token.size()) != token) return false;
    pos_ += token.size();
    return true;
  }

  std::optional<PyValue> ParseValue(int depth) {
    if (depth > kMaxDepth) return Fail("nesting too deep");
    SkipSpace();
    if (pos_ >= text_.size()) return Fail("unexpected end of header");
    const size_t start = pos_;
    std::optional<PyValue> v;
    const char c = text_[pos_];
    if (c == '\'' || c == '"') {
      v = ParseString();
    } else if (c == '(' || c == '[') {
      v = ParseSequence(depth);
    } else if (c == '{') {
      v = ParseDict(depth);
    } else if (c == '-' || absl::ascii_isdigit(static_cast<unsigned char>(c))) {
      v = ParseInt();
    } else if (Consume("True")) {
      v = PyValue{.kind = PyValue::Kind::kBool, .boolean = true};
    } else if (Consume("False")) {
      v = PyValue{.kind = PyValue::Kind::kBool, .boolean = false};
    } else if (Consume("None")) {
      v = PyValue{.kind = PyValue::Kind::kNone};
    } else {
      return Fail("unexpected character");
    }
    if (v && v->kind != PyValue::Kind::kString) v->text = text_.substr(start, pos_ - start);
    return v;
  }

  std::optional<PyValue> ParseString() {
    const char quote = text_[pos_++];
    const size_t begin = pos_;
    while (pos_ < text_.size() && text_[pos_] != quote) {
      // Escapes never occur in a dtype or key NumPy writes; refusing them keeps this small.
      if (text_[pos_] == '\\') return Fail("escape sequence in string");
      ++pos_;
    }
    if (pos_ >= text_.size()) return Fail("unterminated string");
    PyValue v{.kind = PyValue::Kind::kString};
    v.text = text_.substr(begin, pos_ - begin);
    ++pos_;
    return v;
  }

  std::optional<PyValue> ParseInt() {
    PyValue v{.kind = PyValue::Kind::kInt};
    if (text_[pos_] == '-') {
      v.negative = true;
      ++pos_;
    }
    if (pos_ >= text_.size() || !absl::ascii_isdigit(static_cast<unsigned char>(text_[pos_]))) {
      return Fail("expected a digit");
    }
    while (pos_ < text_.size() && absl::ascii_isdigit(static_cast<unsigned char>(text_[pos_]))) {
      const uint64_t digit = static_cast<uint64_t>(text_[pos_] - '0');
      if (__builtin_mul_overflow(v.integer, 10, &v.integer) ||
          __builtin_add_overflow(v.integer, digit, &v.integer)) {
        return Fail("integer too large");
      }
      ++pos_;
    }
    // Python 2 wrote long integers with an 'L' suffix ("(3L, 4L)"); NumPy still reads them.
    if (pos_ < text_.size() && text_[pos_] == 'L') ++pos_;
    return v;
  }

  // A tuple "(a, b)" / "(a,)" / "()" or a list "[a, b]". "(a)" is just a, as in Python.
  std::optional<PyValue> ParseSequence(int depth) {
    const bool tuple = text_[pos_] == '(';
    const char close = tuple ? ')' : ']';
    ++pos_;
    PyValue v{.kind = tuple ? PyValue::Kind::kTuple : PyValue::Kind::kList};
    bool trailing_comma = false;
    while (!Consume(std::string_view(&close, 1))) {
      std::optional<PyValue> item = ParseValue(depth + 1);
      if (!item) return std::nullopt;
      v.items.push_back(*std::move(item));
      trailing_comma = Consume(",");
      if (!trailing_comma) {
        if (!Consume(std::string_view(&close, 1))) return Fail("expected ',' or closing bracket");
        break;
      }
    }
    if (tuple && v.items.size() == 1 && !trailing_comma) return std::move(v.items[0]);
    return v;
  }

  std::optional<PyValue> ParseDict(int depth) {
    ++pos_;
    PyValue v{.kind = PyValue::Kind::kDict};
    while (!Consume("}")) {
      std::optional<PyValue> key = ParseValue(depth + 1);
      if (!key) return std::nullopt;
      if (!Consume(":")) return Fail("expected ':'");
      std::optional<PyValue> value = ParseValue(depth + 1);
      if (!value) return std::nullopt;
      v.entries.push_back(PyEntry{*std::move(key), *std::move(value)});
      if (!Consume(",")) {
        if (!Consume("}")) return Fail("expected ',' or '}'");
        break;
      }
    }
    return v;
  }

  std::string_view text_;
  size_t pos_ = 0;
  std::string error_;
};

// Element type of the data as the descr names it.
struct NpyDType {
  char kind;           // 'f' (IEEE float) or 'i' (signed integer)
  size_t size_bytes;   // 4 or 8
  bool little_endian;  // byte order of the file's data
};

std::optional<NpyDType> ParseDescr(std::string_view descr) {
  if (descr.size() != 3) return std::nullopt;
  bool little;
  switch (descr[0]) {
    case '<':
      little = true;
      break;
    case '>':
      little = false;
      break;
    case '=':
      little = std::endian::native == std::endian::little;
      break;
    default:
      return std::nullopt;
  }
  const std::string_view type = descr.substr(1);
  if (type == "f4" || type == "i4") return NpyDType{type[0], 4, little};
  if (type == "f8" || type == "i8") return NpyDType{type[0], 8, little};
  return std::nullopt;
}

template <typename T>
T Load(const uint8_t* p, bool little_endian) {
  T v = 0;
  for (size_t i = 0; i < sizeof(T); ++i) {
    const size_t shift = 8 * (little_endian ? i : sizeof(T) - 1 - i);
    v |= static_cast<T>(p[i]) << shift;
  }
  return v;
}

std::string ShapeRepr(const Shape& shape) {
  if (shape.size() == 1) return absl::StrCat("(", shape[0], ",)");
  return absl::StrCat("(", absl::StrJoin(shape, ", "), ")");
}

// Reads a whole file; the error names the path.
absl::StatusOr<std::vector<uint8_t>> ReadFile(const std::filesystem::path& path) {
  const std::string name = path.string();
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return absl::ErrnoToStatus(errno, absl::StrCat("cannot open ", name));
  std::vector<uint8_t> bytes;
  struct stat st;
  if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) bytes.reserve(static_cast<size_t>(st.st_size));
  uint8_t buffer[1 << 16];
  while (true) {
    const ssize_t n = ::read(fd, buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int error = errno;
      ::close(fd);
      return absl::ErrnoToStatus(error, absl::StrCat("cannot read ", name));
    }
    if (n == 0) break;
    bytes.insert(bytes.end(), buffer, buffer + n);
  }
  ::close(fd);
  return bytes;
}

// A parsed .npy file: its element type, shape and data (pointing into the file's bytes).
struct NpyArray {
  NpyDType dtype;
  std::string descr;
  Shape shape;
  size_t numel = 0;
  const uint8_t* data = nullptr;
};

// The header and the location of the data; `supported` names the accepted dtypes in errors.
absl::StatusOr<NpyArray> ParseNpyArray(std::span<const uint8_t> bytes, std::string_view name,
                                       bool allow_ints) {
  if (bytes.size() < kPreambleV1Bytes ||
      std::memcmp(bytes.data(), kMagic.data(), kMagic.size()) != 0) {
    return Invalid(name, "not a NumPy .npy file (no \\x93NUMPY magic)");
  }
  const uint8_t major = bytes[6];
  const uint8_t minor = bytes[7];
  if ((major != 1 && major != 2 && major != 3) || minor != 0) {
    return Invalid(name, absl::StrCat(".npy format version ", major, ".", minor,
                                      " is not supported; expected 1.0, 2.0 or 3.0"));
  }
  size_t preamble = kPreambleV1Bytes;
  uint64_t header_bytes = Load<uint16_t>(bytes.data() + 8, true);
  if (major >= 2) {
    preamble = kPreambleV2Bytes;
    if (bytes.size() < preamble) return Invalid(name, "file ends inside the .npy preamble");
    header_bytes = Load<uint32_t>(bytes.data() + 8, true);
  }
  if (header_bytes > bytes.size() - preamble) {
    return Invalid(name, absl::StrCat("header length ", header_bytes, " is past the end of the ",
                                      bytes.size(), "-byte file"));
  }
  const std::string_view header_text(reinterpret_cast<const char*>(bytes.data() + preamble),
                                     header_bytes);
  HeaderParser parser(header_text);
  std::optional<PyValue> header = parser.ParseAll();
  if (!header) {
    return Invalid(name,
                   absl::StrCat("header is not a valid Python dict literal: ", parser.error()));
  }
  if (header->kind != PyValue::Kind::kDict) {
    return Invalid(name, absl::StrCat("header ", header->text, " is not a dictionary"));
  }
  const PyValue* descr = nullptr;
  const PyValue* fortran_order = nullptr;
  const PyValue* shape_value = nullptr;
  for (const auto& [key, value] : header->entries) {
    const PyValue** slot = nullptr;
    if (key.kind == PyValue::Kind::kString) {
      if (key.text == "descr") slot = &descr;
      if (key.text == "fortran_order") slot = &fortran_order;
      if (key.text == "shape") slot = &shape_value;
    }
    if (slot == nullptr || *slot != nullptr) {
      return Invalid(name, absl::StrCat("header key '", key.text, "' is unexpected or repeated; ",
                                        "expected exactly 'descr', 'fortran_order' and 'shape'"));
    }
    *slot = &value;
  }
  if (descr == nullptr || fortran_order == nullptr || shape_value == nullptr) {
    return Invalid(name, "header must have the keys 'descr', 'fortran_order' and 'shape'");
  }

  std::optional<NpyDType> dtype;
  if (descr->kind == PyValue::Kind::kString) dtype = ParseDescr(descr->text);
  if (!dtype || (dtype->kind == 'i' && !allow_ints)) {
    return Invalid(name, absl::StrCat("dtype '", descr->text, "' is not supported; expected ",
                                      allow_ints ? "float32 (or float64, which is converted), "
                                                   "int64 or int32"
                                                 : "float32 (or float64, which is converted)"));
  }
  if (fortran_order->kind != PyValue::Kind::kBool) {
    return Invalid(name, absl::StrCat("fortran_order ", fortran_order->text, " is not a bool"));
  }
  if (fortran_order->boolean) {
    return Invalid(name,
                   "fortran_order=True is not supported; save a C-order array "
                   "(np.ascontiguousarray)");
  }

  if (shape_value->kind != PyValue::Kind::kTuple) {
    return Invalid(name, absl::StrCat("shape ", shape_value->text, " is not a tuple"));
  }
  Shape shape;
  uint64_t numel = 1;
  bool overflow = false;
  for (const PyValue& dim : shape_value->items) {
    if (dim.kind != PyValue::Kind::kInt || dim.negative ||
        dim.integer > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return Invalid(name,
                     absl::StrCat("shape ", shape_value->text, " must hold non-negative integers"));
    }
    shape.push_back(static_cast<int64_t>(dim.integer));
    overflow = overflow || __builtin_mul_overflow(numel, dim.integer, &numel);
  }
  uint64_t expected_bytes = 0;
  overflow = overflow || __builtin_mul_overflow(numel, dtype->size_bytes, &expected_bytes);
  const uint64_t actual_bytes = bytes.size() - preamble - header_bytes;
  if (overflow || expected_bytes > actual_bytes) {
    return Invalid(
        name, absl::StrCat("data is truncated: shape ", ShapeToString(shape), " of '", descr->text,
                           "' needs ",
                           overflow ? std::string("more than 2^64") : absl::StrCat(expected_bytes),
                           " bytes, the file has ", actual_bytes));
  }
  // NumPy ignores trailing bytes, but they mean the file is not what its header says
  // (e.g. two arrays np.save'd into one stream); reading only the first would be silent.
  if (expected_bytes < actual_bytes) {
    return Invalid(name, absl::StrCat("shape ", ShapeToString(shape), " of '", descr->text,
                                      "' needs ", expected_bytes, " bytes, the file has ",
                                      actual_bytes, " (trailing data)"));
  }

  return NpyArray{*dtype, descr->text, std::move(shape), static_cast<size_t>(numel),
                  bytes.data() + preamble + header_bytes};
}

// The values of a float32 or float64 array as float32.
std::vector<float> DecodeFloats(const NpyArray& array) {
  std::vector<float> values(array.numel);
  const uint8_t* data = array.data;
  const bool little = array.dtype.little_endian;
  if (array.dtype.size_bytes == 4) {
    if (little && std::endian::native == std::endian::little) {
      // An empty vector's data() may be null, which memcpy must not see even for 0 bytes.
      if (!values.empty()) std::memcpy(values.data(), data, values.size() * sizeof(float));
    } else {
      for (size_t i = 0; i < values.size(); ++i) {
        values[i] = std::bit_cast<float>(Load<uint32_t>(data + 4 * i, little));
      }
    }
  } else {
    for (size_t i = 0; i < values.size(); ++i) {
      values[i] = static_cast<float>(std::bit_cast<double>(Load<uint64_t>(data + 8 * i, little)));
    }
  }
  return values;
}

// The NumPy header of an array of `shape` with element type `descr` ('<f4'), as np.save
// writes it: magic, version, header length, the dict, padding to 64 bytes.
std::string EncodeHeader(std::string_view descr, const Shape& shape) {
  // Exactly what np.save writes: keys sorted, repr() of each value, growth padding, then
  // spaces and '\n' up to the next 64-byte boundary.
  std::string dict = absl::StrCat("{'descr': '", AbslView(descr),
                                  "', 'fortran_order': False, 'shape': ", ShapeRepr(shape), ", }");
  if (!shape.empty()) {
    const size_t digits = absl::StrCat(shape[0]).size();
    if (digits < kGrowthAxisMaxDigits) dict.append(kGrowthAxisMaxDigits - digits, ' ');
  }
  // Version 1.0 has a 16-bit header length; NumPy falls back to 2.0 for longer headers
  // (only a shape of thousands of dimensions gets there).
  auto padding_for = [&](size_t preamble_bytes) {
    return kArrayAlignBytes - (preamble_bytes + dict.size() + 1) % kArrayAlignBytes;
  };
  size_t preamble = kPreambleV1Bytes;
  if (dict.size() + padding_for(preamble) + 1 > std::numeric_limits<uint16_t>::max()) {
    preamble = kPreambleV2Bytes;
  }
  const size_t padding = padding_for(preamble);
  const size_t header_bytes = dict.size() + padding + 1;

  std::string out(kMagic);
  out.push_back(static_cast<char>(preamble == kPreambleV1Bytes ? 1 : 2));
  out.push_back(0);
  const size_t length_bytes = preamble - kMagic.size() - 2;
  for (size_t i = 0; i < length_bytes; ++i) {
    out.push_back(static_cast<char>((header_bytes >> (8 * i)) & 0xFF));
  }
  out += dict;
  out.append(padding, ' ');
  out.push_back('\n');
  return out;
}

// Appends `count` values of `size` bytes each, from native to little-endian byte order.
void AppendLittleEndian(std::string& out, const uint8_t* data, size_t count, size_t size) {
  const size_t start = out.size();
  out.resize(start + count * size);
  if (std::endian::native == std::endian::little) {
    if (count > 0) std::memcpy(out.data() + start, data, count * size);
    return;
  }
  for (size_t i = 0; i < count; ++i) {
    for (size_t b = 0; b < size; ++b) out[start + i * size + b] = static_cast<char>(data[i * size + size - 1 - b]);
  }
}

absl::Status WriteBytes(const std::filesystem::path& path, const std::string& bytes) {
  const std::string name = path.string();
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return absl::ErrnoToStatus(errno, absl::StrCat("cannot create ", name));
  size_t written = 0;
  while (written < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + written, bytes.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int error = errno;
      ::close(fd);
      return absl::ErrnoToStatus(error, absl::StrCat("cannot write ", name));
    }
    written += static_cast<size_t>(n);
  }
  // close() is where NFS and full disks report deferred write errors.
  if (::close(fd) != 0) return absl::ErrnoToStatus(errno, absl::StrCat("cannot write ", name));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Tensor> ParseNpy(std::span<const uint8_t> bytes, std::string_view name) {
  absl::StatusOr<NpyArray> array = ParseNpyArray(bytes, name, /*allow_ints=*/false);
  if (!array.ok()) return array.status();
  std::vector<float> values = DecodeFloats(*array);
  return Tensor(std::move(array->shape), std::move(values));
}

absl::StatusOr<TypedTensor> ParseTypedNpy(std::span<const uint8_t> bytes, std::string_view name) {
  absl::StatusOr<NpyArray> array = ParseNpyArray(bytes, name, /*allow_ints=*/true);
  if (!array.ok()) return array.status();
  TypedTensor out;
  out.shape = std::move(array->shape);
  if (array->dtype.kind == 'f') {
    out.dtype = DType::kFloat32;
    const std::vector<float> values = DecodeFloats(*array);
    out.bytes.resize(values.size() * sizeof(float));
    if (!values.empty()) std::memcpy(out.bytes.data(), values.data(), out.bytes.size());
    return out;
  }
  const size_t size = array->dtype.size_bytes;
  out.dtype = size == 8 ? DType::kInt64 : DType::kInt32;
  out.bytes.resize(array->numel * size);
  if (array->dtype.little_endian == (std::endian::native == std::endian::little)) {
    if (!out.bytes.empty()) std::memcpy(out.bytes.data(), array->data, out.bytes.size());
  } else {
    for (size_t i = 0; i < array->numel; ++i) {
      for (size_t b = 0; b < size; ++b) out.bytes[i * size + b] = array->data[i * size + size - 1 - b];
    }
  }
  return out;
}

absl::StatusOr<Tensor> ReadNpy(const std::filesystem::path& path) {
  absl::StatusOr<std::vector<uint8_t>> bytes = ReadFile(path);
  if (!bytes.ok()) return bytes.status();
  return ParseNpy(*bytes, path.string());
}

absl::StatusOr<TypedTensor> ReadTypedNpy(const std::filesystem::path& path) {
  absl::StatusOr<std::vector<uint8_t>> bytes = ReadFile(path);
  if (!bytes.ok()) return bytes.status();
  return ParseTypedNpy(*bytes, path.string());
}

std::string EncodeNpy(const Tensor& tensor) {
  std::string out = EncodeHeader("<f4", tensor.shape);
  AppendLittleEndian(out, reinterpret_cast<const uint8_t*>(tensor.data.data()), tensor.data.size(),
                     sizeof(float));
  return out;
}

std::string EncodeNpy(const TypedTensor& tensor) {
  const std::string_view descr = tensor.dtype == DType::kInt64   ? "<i8"
                                 : tensor.dtype == DType::kInt32 ? "<i4"
                                                                 : "<f4";
  std::string out = EncodeHeader(descr, tensor.shape);
  AppendLittleEndian(out, tensor.bytes.data(), tensor.bytes.size() / DTypeSize(tensor.dtype),
                     DTypeSize(tensor.dtype));
  return out;
}

absl::Status WriteNpy(const std::filesystem::path& path, const Tensor& tensor) {
  return WriteBytes(path, EncodeNpy(tensor));
}

absl::Status WriteNpy(const std::filesystem::path& path, const TypedTensor& tensor) {
  return WriteBytes(path, EncodeNpy(tensor));
}

}  // namespace seqserve
