#include "core/safetensors.h"

#include <sys/mman.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <limits>
#include <optional>
#include <set>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/byte_size.h"
#include "nlohmann/json.hpp"

namespace seqserve {
namespace {

using json = nlohmann::json;

// The reference implementation refuses headers above 100 MB; a real header for thousands
// of tensors is a few hundred kB, so anything larger is a corrupt or hostile file.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;
constexpr absl::string_view kSkippedSuffix = "num_batches_tracked";

enum class DType { kF32, kF16, kBF16, kF64 };

struct DTypeInfo {
  std::string_view name;
  uint64_t size_bytes;
  std::optional<DType> convertible;  // empty: a valid safetensors dtype we do not load
};

// Every dtype of the safetensors spec we know the element size of. Only floating types
// become float32: silently turning integers into floats would hide a wrong weights file.
constexpr DTypeInfo kDTypes[] = {
    {"F32", 4, DType::kF32},  {"F16", 2, DType::kF16},      {"BF16", 2, DType::kBF16},
    {"F64", 8, DType::kF64},  {"BOOL", 1, std::nullopt},    {"U8", 1, std::nullopt},
    {"I8", 1, std::nullopt},  {"F8_E4M3", 1, std::nullopt}, {"F8_E5M2", 1, std::nullopt},
    {"I16", 2, std::nullopt}, {"U16", 2, std::nullopt},     {"I32", 4, std::nullopt},
    {"U32", 4, std::nullopt}, {"I64", 8, std::nullopt},     {"U64", 8, std::nullopt},
    {"C64", 8, std::nullopt},
};

const DTypeInfo* FindDType(std::string_view name) {
  for (const DTypeInfo& info : kDTypes) {
    if (info.name == name) return &info;
  }
  return nullptr;
}

// One validated header entry; nothing has been read from the data area yet.
struct Entry {
  std::string key;
  DType dtype;
  Shape shape;
  uint64_t begin;  // offsets into the data area (after the header)
  uint64_t end;
};

// Debian's abseil has its own string_view type, distinct from std::string_view.
absl::string_view AbslView(std::string_view s) { return absl::string_view(s.data(), s.size()); }

absl::Status Invalid(std::string_view name, std::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat(AbslView(name), ": ", AbslView(message)));
}

// A JSON value as a non-negative integer, or nullopt (float, negative, string, ...).
std::optional<uint64_t> AsUnsigned(const json& value) {
  if (value.is_number_unsigned()) return value.get<uint64_t>();
  if (value.is_number_integer() && value.get<int64_t>() >= 0) {
    return static_cast<uint64_t>(value.get<int64_t>());
  }
  return std::nullopt;
}

absl::StatusOr<Entry> ParseEntry(std::string_view name, const std::string& key, const json& value,
                                 uint64_t data_size) {
  const std::string where = absl::StrCat("tensor '", key, "'");
  if (!value.is_object()) {
    return Invalid(name, absl::StrCat(where, ": header entry is not a JSON object"));
  }
  auto dtype_it = value.find("dtype");
  if (dtype_it == value.end() || !dtype_it->is_string()) {
    return Invalid(name, absl::StrCat(where, ": missing or non-string field 'dtype'"));
  }
  const std::string dtype_name = dtype_it->get<std::string>();
  const DTypeInfo* dtype = FindDType(dtype_name);
  if (dtype == nullptr) {
    return Invalid(name, absl::StrCat(where, ": unknown dtype '", dtype_name, "'"));
  }
  if (!dtype->convertible) {
    return Invalid(name, absl::StrCat(where, ": dtype ", dtype_name,
                                      " is not supported; expected F32, F16, BF16 or F64"));
  }

  auto shape_it = value.find("shape");
  if (shape_it == value.end() || !shape_it->is_array()) {
    return Invalid(name, absl::StrCat(where, ": missing or non-array field 'shape'"));
  }
  Entry entry{key, *dtype->convertible, {}, 0, 0};
  // Both the element count and the byte size are checked for overflow: the header is
  // untrusted and a shape like [2^40, 2^40] must be rejected, never allocated.
  uint64_t numel = 1;
  bool overflow = false;
  for (const json& dim : *shape_it) {
    std::optional<uint64_t> d = AsUnsigned(dim);
    if (!d || *d > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return Invalid(name, absl::StrCat(where, ": shape ", shape_it->dump(),
                                        " must hold non-negative integers"));
    }
    entry.shape.push_back(static_cast<int64_t>(*d));
    overflow = overflow || __builtin_mul_overflow(numel, *d, &numel);
  }
  uint64_t size_bytes = 0;
  overflow = overflow || __builtin_mul_overflow(numel, dtype->size_bytes, &size_bytes);

  auto offsets_it = value.find("data_offsets");
  if (offsets_it == value.end() || !offsets_it->is_array() || offsets_it->size() != 2 ||
      !AsUnsigned((*offsets_it)[0]) || !AsUnsigned((*offsets_it)[1])) {
    return Invalid(name, absl::StrCat(where, ": field 'data_offsets' must be an array of two ",
                                      "non-negative integers [begin, end]"));
  }
  entry.begin = *AsUnsigned((*offsets_it)[0]);
  entry.end = *AsUnsigned((*offsets_it)[1]);
  if (entry.begin > entry.end) {
    return Invalid(name, absl::StrCat(where, ": data_offsets [", entry.begin, ", ", entry.end,
                                      "] has begin > end"));
  }
  if (entry.end > data_size) {
    return Invalid(name, absl::StrCat(where, ": data_offsets [", entry.begin, ", ", entry.end,
                                      "] end past the data area of ", data_size, " bytes"));
  }
  if (overflow || size_bytes != entry.end - entry.begin) {
    const std::string expected =
        overflow ? std::string("more than 2^64") : absl::StrCat(size_bytes);
    return Invalid(name,
                   absl::StrCat(where, ": shape ", ShapeToString(entry.shape), " of ", dtype_name,
                                " needs ", expected, " bytes but data_offsets [", entry.begin, ", ",
                                entry.end, "] span ", entry.end - entry.begin));
  }
  return entry;
}

absl::Status CheckMetadata(std::string_view name, const json& value) {
  if (!value.is_object()) return Invalid(name, "'__metadata__' is not a JSON object");
  for (const auto& [k, v] : value.items()) {
    if (!v.is_string()) {
      return Invalid(name, absl::StrCat("'__metadata__' value for '", k, "' is not a string"));
    }
  }
  return absl::OkStatus();
}

// Sorted by begin, two non-empty ranges overlap when one starts before the furthest end
// seen so far. Empty tensors occupy no bytes and cannot overlap anything.
absl::Status CheckOverlaps(std::string_view name, const std::vector<Entry>& entries) {
  std::vector<const Entry*> sorted;
  for (const Entry& e : entries) {
    if (e.begin != e.end) sorted.push_back(&e);
  }
  std::sort(sorted.begin(), sorted.end(), [](const Entry* a, const Entry* b) {
    return std::tie(a->begin, a->end, a->key) < std::tie(b->begin, b->end, b->key);
  });
  const Entry* furthest = nullptr;
  for (const Entry* e : sorted) {
    if (furthest != nullptr && e->begin < furthest->end) {
      return Invalid(name, absl::StrCat("tensors '", furthest->key, "' [", furthest->begin, ", ",
                                        furthest->end, ") and '", e->key, "' [", e->begin, ", ",
                                        e->end, ") overlap"));
    }
    if (furthest == nullptr || e->end > furthest->end) furthest = e;
  }
  return absl::OkStatus();
}

// Little-endian loads byte by byte: tensor data has no alignment guarantee, and this is
// correct on any host (compilers turn it into one load on little-endian machines).
template <typename T>
T LoadLE(const uint8_t* p) {
  T v = 0;
  for (size_t i = 0; i < sizeof(T); ++i) v |= static_cast<T>(p[i]) << (8 * i);
  return v;
}

float HalfToFloat(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exponent = (h >> 10) & 0x1Fu;
  const uint32_t mantissa = h & 0x3FFu;
  if (exponent == 0) {
    // Zero or subnormal: mantissa * 2^-24, exactly representable in float32.
    const float magnitude = std::ldexp(static_cast<float>(mantissa), -24);
    return sign ? -magnitude : magnitude;
  }
  if (exponent == 0x1F) {
    // Inf or NaN; the NaN payload is kept in the high mantissa bits.
    return std::bit_cast<float>(sign | 0x7F800000u | (mantissa << 13));
  }
  return std::bit_cast<float>(sign | ((exponent - 15 + 127) << 23) | (mantissa << 13));
}

void Convert(DType dtype, const uint8_t* src, size_t count, float* dst) {
  if (count == 0) return;  // dst may be null, which memcpy must not see even for 0 bytes
  switch (dtype) {
    case DType::kF32:
      if constexpr (std::endian::native == std::endian::little) {
        std::memcpy(dst, src, count * sizeof(float));
      } else {
        for (size_t i = 0; i < count; ++i) {
          dst[i] = std::bit_cast<float>(LoadLE<uint32_t>(src + 4 * i));
        }
      }
      return;
    case DType::kF16:
      for (size_t i = 0; i < count; ++i) dst[i] = HalfToFloat(LoadLE<uint16_t>(src + 2 * i));
      return;
    case DType::kBF16:
      // bfloat16 is the top half of a float32.
      for (size_t i = 0; i < count; ++i) {
        dst[i] = std::bit_cast<float>(static_cast<uint32_t>(LoadLE<uint16_t>(src + 2 * i)) << 16);
      }
      return;
    case DType::kF64:
      for (size_t i = 0; i < count; ++i) {
        dst[i] = static_cast<float>(std::bit_cast<double>(LoadLE<uint64_t>(src + 8 * i)));
      }
      return;
  }
}

// Owns a read-only mapping of a whole file.
class Mapping {
 public:
  Mapping(void* addr, size_t size_bytes) : addr_(addr), size_bytes_(size_bytes) {}
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
  ~Mapping() { ::munmap(addr_, size_bytes_); }
  std::span<const uint8_t> bytes() const {
    return {static_cast<const uint8_t*>(addr_), size_bytes_};
  }

 private:
  void* addr_;
  size_t size_bytes_;
};

}  // namespace

absl::StatusOr<TensorMap> ParseSafetensors(std::span<const uint8_t> bytes, std::string_view name,
                                           const TensorBudget& budget) {
  if (bytes.size() < 8) {
    return Invalid(name, absl::StrCat("file is ", bytes.size(),
                                      " bytes, shorter than the 8-byte header length"));
  }
  const uint64_t header_bytes = LoadLE<uint64_t>(bytes.data());
  const uint64_t after_length = bytes.size() - 8;
  if (header_bytes > kMaxHeaderBytes) {
    return Invalid(name, absl::StrCat("header length ", header_bytes, " exceeds the limit of ",
                                      kMaxHeaderBytes, " bytes"));
  }
  if (header_bytes > after_length) {
    return Invalid(name, absl::StrCat("header length ", header_bytes, " is past the end of the ",
                                      bytes.size(), "-byte file"));
  }
  const uint8_t* header_begin = bytes.data() + 8;
  const uint8_t* data = header_begin + header_bytes;
  const uint64_t data_size = after_length - header_bytes;

  // nlohmann keeps the last of duplicate keys; a duplicated tensor name is ambiguous, so
  // the top-level keys are collected while parsing and duplicates rejected.
  std::set<std::string> top_level_keys;
  std::string duplicate;
  json header;
  try {
    header =
        json::parse(header_begin, data, [&](int depth, json::parse_event_t event, json& parsed) {
          if (depth == 1 && event == json::parse_event_t::key &&
              !top_level_keys.insert(parsed.get<std::string>()).second && duplicate.empty()) {
            duplicate = parsed.get<std::string>();
          }
          return true;
        });
  } catch (const json::exception& e) {
    // what() is "[json.exception.parse_error.101] parse error at line 1, column 23: ...";
    // the bracketed id means nothing to a user.
    absl::string_view what = e.what();
    const size_t id_end = what.find("] ");
    if (absl::StartsWith(what, "[") && id_end != what.npos) what.remove_prefix(id_end + 2);
    // "...; last read: '<bytes of the file>'" would quote the file: keep only the position
    // and the reason.
    const size_t last_read = what.find("; last read:");
    if (last_read != what.npos) what = what.substr(0, last_read);
    return Invalid(name, absl::StrCat("header is not valid JSON: ", what));
  }
  if (!header.is_object()) {
    return Invalid(name,
                   absl::StrCat("header is a JSON ", header.type_name(), ", expected an object"));
  }
  if (!duplicate.empty()) {
    return Invalid(name, absl::StrCat("header lists tensor '", duplicate, "' twice"));
  }

  std::vector<Entry> entries;
  for (const auto& [key, value] : header.items()) {
    if (key == "__metadata__") {
      if (absl::Status s = CheckMetadata(name, value); !s.ok()) return s;
      continue;
    }
    // PyTorch's BatchNorm counter is an int64 training statistic with no role in inference.
    if (absl::EndsWith(key, kSkippedSuffix)) continue;
    absl::StatusOr<Entry> entry = ParseEntry(name, key, value, data_size);
    if (!entry.ok()) return entry.status();
    entries.push_back(*std::move(entry));
  }
  if (absl::Status s = CheckOverlaps(name, entries); !s.ok()) return s;
  if (budget.check_shapes) {
    std::map<std::string, Shape> shapes;
    for (const Entry& e : entries) shapes.emplace(e.key, e.shape);
    if (absl::Status s = budget.check_shapes(shapes); !s.ok()) return s;
  }
  uint64_t float32_bytes = 0;
  for (const Entry& e : entries) {
    // Cannot overflow: each tensor's elements fit in the file, at most 8 bytes per element
    // become 4, and the file's bytes fit in a uint64_t.
    float32_bytes += static_cast<uint64_t>(NumElements(e.shape)) * sizeof(float);
  }
  if (float32_bytes > budget.max_float32_bytes) {
    return Invalid(name, absl::StrCat("its tensors take ", FormatBytes(float32_bytes),
                                      " as float32, more than ",
                                      budget.what.empty() ? FormatBytes(budget.max_float32_bytes)
                                                          : budget.what));
  }

  // Only now is tensor data touched. Output is at most twice the data area (F16 -> F32),
  // because sizes match offsets that lie inside the file and do not overlap.
  TensorMap tensors;
  for (Entry& e : entries) {
    const size_t count = static_cast<size_t>(NumElements(e.shape));
    std::vector<float> values(count);
    Convert(e.dtype, data + e.begin, count, values.data());
    tensors.emplace(std::move(e.key), Tensor(std::move(e.shape), std::move(values)));
  }
  return tensors;
}

absl::StatusOr<TensorMap> LoadSafetensors(const std::filesystem::path& path,
                                          const FilePolicy& file_policy,
                                          const TensorBudget& budget) {
  absl::StatusOr<OpenedFile> file = OpenRegularFile(path, file_policy);
  if (!file.ok()) return file.status();
  return LoadSafetensors(*file, path.string(), budget);
}

absl::StatusOr<TensorMap> LoadSafetensors(const OpenedFile& file, std::string_view name,
                                          const TensorBudget& budget) {
  const size_t size_bytes = static_cast<size_t>(file.size_bytes());
  // mmap rejects a zero length; the parser gives the proper "too short" error instead.
  if (size_bytes == 0) return ParseSafetensors({}, name, budget);
  void* addr = ::mmap(nullptr, size_bytes, PROT_READ, MAP_PRIVATE, file.fd(), 0);
  if (addr == MAP_FAILED) {
    return absl::ErrnoToStatus(errno, absl::StrCat("cannot mmap ", AbslView(name)));
  }
  const Mapping mapping(addr, size_bytes);
  // Tensors are copied out front to back once; tell the kernel to read ahead.
  ::madvise(addr, size_bytes, MADV_SEQUENTIAL);
  return ParseSafetensors(mapping.bytes(), name, budget);
}

}  // namespace seqserve
