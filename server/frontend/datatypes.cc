#include "server/frontend/datatypes.h"

#include <algorithm>
#include <bit>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>
#include <utility>

#include "absl/strings/str_cat.h"

namespace seqserve {
namespace {

// Raw tensor bytes are little-endian on the wire; reading them as native values relies on it.
static_assert(std::endian::native == std::endian::little, "raw tensors assume little-endian");

// Integers up to this magnitude are all float32 values (its 24-bit significand).
constexpr int64_t kMaxExactFloatInteger = int64_t{1} << 24;

template <typename T>
T Load(const std::byte* p) {
  T value;
  std::memcpy(&value, p, sizeof(T));
  return value;
}

// IEEE 754 binary16 to float32: always exact.
float HalfToFloat(uint16_t half) {
  const uint32_t sign = static_cast<uint32_t>(half & 0x8000u) << 16;
  const uint32_t exponent = (half >> 10) & 0x1fu;
  uint32_t mantissa = half & 0x3ffu;
  uint32_t bits;
  if (exponent == 0x1f) {  // infinity or NaN (payload kept)
    bits = sign | 0x7f800000u | (mantissa << 13);
  } else if (exponent != 0) {  // normal
    bits = sign | ((exponent + 127 - 15) << 23) | (mantissa << 13);
  } else if (mantissa == 0) {  // zero
    bits = sign;
  } else {  // subnormal: normalise
    int shift = 0;
    while ((mantissa & 0x400u) == 0) {
      mantissa <<= 1;
      ++shift;
    }
    bits = sign | (static_cast<uint32_t>(127 - 15 + 1 - shift) << 23) | ((mantissa & 0x3ffu) << 13);
  }
  return std::bit_cast<float>(bits);
}

// bfloat16 is the upper half of a float32.
float BFloat16ToFloat(uint16_t value) {
  return std::bit_cast<float>(static_cast<uint32_t>(value) << 16);
}

// The shortest text that reads back as `value`.
std::string DoubleText(double value) {
  char text[32];
  const auto result = std::to_chars(text, text + sizeof(text), value);
  return std::string(text, result.ptr);
}

// The range of an integer datatype, as int64 (UINT64's top is clipped: only range checks of
// narrower datatypes use it).
struct IntegerRange {
  int64_t min;
  int64_t max;
};
std::optional<IntegerRange> RangeOf(std::string_view datatype) {
  if (datatype == "INT8") return IntegerRange{INT8_MIN, INT8_MAX};
  if (datatype == "INT16") return IntegerRange{INT16_MIN, INT16_MAX};
  if (datatype == "INT32") return IntegerRange{INT32_MIN, INT32_MAX};
  if (datatype == "UINT8") return IntegerRange{0, UINT8_MAX};
  if (datatype == "UINT16") return IntegerRange{0, UINT16_MAX};
  if (datatype == "UINT32") return IntegerRange{0, UINT32_MAX};
  return std::nullopt;
}

bool IsInteger(std::string_view datatype) {
  return RangeOf(datatype).has_value() || datatype == "INT64" || datatype == "UINT64";
}

// min <= value <= max, for a signed (int64_t) or unsigned (uint64_t) value.
template <typename Int>
bool Within(Int value, int64_t min, int64_t max) {
  if (max < min) return false;
  if constexpr (std::is_signed_v<Int>) {
    return value >= min && value <= max;
  } else {
    return max >= 0 && value <= static_cast<uint64_t>(max) &&
           (min <= 0 || value >= static_cast<uint64_t>(min));
  }
}

// What ConvertValues does with one value: the checks and the store, by target type.
struct Converter {
  std::string_view tensor;
  const RequestValues& values;
  DType to;
  std::optional<int64_t> num_ids;
  // The range of values.datatype when its values are stored wider (int_contents for INT8).
  std::optional<IntegerRange> declared;

  std::string Where(int64_t index) const {
    return absl::StrCat(" at ", ElementIndex(index, values.shape));
  }

  absl::Status NotExact(const std::string& value, int64_t index, std::string_view why) const {
    return absl::InvalidArgumentError(absl::StrCat(
        "input '", std::string(tensor), "': ", std::string(values.datatype), " value ", value,
        Where(index), " does not convert exactly to ", std::string(DatatypeName(to)),
        ", the model's input type (", std::string(why), ")"));
  }

  absl::Status IdOutOfRange(const std::string& value, int64_t index) const {
    const int64_t num = *num_ids;
    return absl::InvalidArgumentError(
        absl::StrCat("input '", std::string(tensor), "': id ", value, Where(index),
                     " is out of range: num_embeddings is ", num,
                     num > 0 ? absl::StrCat(", so ids must be in [0, ", num - 1, "]")
                             : std::string(", so no id is valid")));
  }

  // A signed or unsigned integer value (Int is int64_t or uint64_t).
  template <typename Int>
  absl::Status Integer(Int value, int64_t index, void* out) const {
    if (declared && !Within(value, declared->min, declared->max)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "input '", std::string(tensor), "': value ", value, Where(index), " in ",
          std::string(values.field), " is outside the range of ", std::string(values.datatype)));
    }
    if (to == DType::kFloat32) {
      if (!Within(value, -kMaxExactFloatInteger, kMaxExactFloatInteger)) {
        return NotExact(absl::StrCat(value), index, "integers convert when |v| <= 16777216");
      }
      static_cast<float*>(out)[index] = static_cast<float>(value);
      return absl::OkStatus();
    }
    // Ids: in the embedding's range first (the more useful message), then in the type's.
    if (num_ids && !Within(value, 0, *num_ids - 1)) {
      return IdOutOfRange(absl::StrCat(value), index);
    }
    if (to == DType::kInt64) {
      if (!Within(value, std::numeric_limits<int64_t>::min(),
                  std::numeric_limits<int64_t>::max())) {
        return NotExact(absl::StrCat(value), index, "beyond the largest INT64");
      }
      static_cast<int64_t*>(out)[index] = static_cast<int64_t>(value);
      return absl::OkStatus();
    }
    if (!Within(value, INT32_MIN, INT32_MAX)) {
      return NotExact(absl::StrCat(value), index, "outside the range of INT32");
    }
    static_cast<int32_t*>(out)[index] = static_cast<int32_t>(value);
    return absl::OkStatus();
  }

  // A floating-point value; only float32 targets get here (CheckConvertible).
  absl::Status Floating(double value, int64_t index, void* out) const {
    float f;
    if (std::isnan(value)) {
      f = std::numeric_limits<float>::quiet_NaN();
      if (std::signbit(value)) f = -f;
    } else if (std::isinf(value) || std::fabs(value) <= std::numeric_limits<float>::max()) {
      f = static_cast<float>(value);
      if (static_cast<double>(f) != value) {
        return NotExact(DoubleText(value), index, "it has no float32 equal");
      }
    } else {
      return NotExact(DoubleText(value), index, "beyond the largest float32");
    }
    static_cast<float*>(out)[index] = f;
    return absl::OkStatus();
  }

  absl::Status Bool(uint8_t value, int64_t index, void* out) const {
    if (value > 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("input '", std::string(tensor), "': BOOL byte ", static_cast<int>(value),
                       Where(index), " is neither 0 (false) nor 1 (true)"));
    }
    static_cast<float*>(out)[index] = value;
    return absl::OkStatus();
  }
};

// Runs `convert(element pointer, index)` over every element of `T`-sized storage.
template <typename T, typename Fn>
absl::Status ForEach(const RequestValues& values, Fn convert) {
  const int64_t count = NumElements(Shape(values.shape.begin(), values.shape.end()));
  const std::byte* p = values.data;
  for (int64_t i = 0; i < count; ++i, p += sizeof(T)) {
    if (absl::Status status = convert(Load<T>(p), i); !status.ok()) return status;
  }
  return absl::OkStatus();
}

// The first id of `ids` outside [0, num), or `count` when all are in range.
template <typename Id>
int64_t FirstBadId(const Id* ids, int64_t count, int64_t num) {
  for (int64_t i = 0; i < count; ++i) {
    // Negative ids wrap to huge unsigned values.
    if (static_cast<uint64_t>(static_cast<int64_t>(ids[i])) >= static_cast<uint64_t>(num)) {
      return i;
    }
  }
  return count;
}

}  // namespace

size_t DatatypeBytes(std::string_view datatype) {
  static constexpr std::pair<std::string_view, size_t> kDatatypes[] = {
      {"BOOL", 1}, {"UINT8", 1}, {"UINT16", 2}, {"UINT32", 4}, {"UINT64", 8},
      {"INT8", 1}, {"INT16", 2}, {"INT32", 4},  {"INT64", 8},  {"FP16", 2},
      {"FP32", 4}, {"FP64", 8},  {"BF16", 2},
  };
  for (const auto& [name, bytes] : kDatatypes) {
    if (name == datatype) return bytes;
  }
  return 0;
}

std::string_view DatatypeName(DType dtype) {
  switch (dtype) {
    case DType::kFloat32:
      return "FP32";
    case DType::kInt64:
      return "INT64";
    case DType::kInt32:
      return "INT32";
  }
  return "?";
}

std::string ElementIndex(int64_t index, std::span<const int64_t> shape) {
  Shape position(shape.size());
  for (size_t d = shape.size(); d-- > 0;) {
    if (shape[d] <= 0) break;
    position[d] = index % shape[d];
    index /= shape[d];
  }
  return ShapeToString(position);
}

absl::Status CheckConvertible(std::string_view tensor, std::string_view datatype, DType to) {
  const std::string name(tensor);
  const std::string type(datatype);
  const std::string model_type(DatatypeName(to));
  if (datatype == "BYTES") {
    return absl::InvalidArgumentError(absl::StrCat(
        "input '", name, "': datatype BYTES is not supported: the model's input type is ",
        model_type, " (numeric datatypes are converted to it when every value converts exactly)"));
  }
  if (DatatypeBytes(datatype) == 0) {
    return absl::InvalidArgumentError(absl::StrCat("input '", name, "': unknown datatype '", type,
                                                   "'; the model's input type is ", model_type));
  }
  if (to != DType::kFloat32 && !IsInteger(datatype)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "input '", name, "': datatype ", type, " cannot carry ids: the model takes ", model_type,
        " ids (any integer datatype is converted to it when its values fit)"));
  }
  return absl::OkStatus();
}

absl::Status ConvertValues(std::string_view tensor, const RequestValues& values, DType to,
                           std::optional<int64_t> num_ids, void* out) {
  Converter converter{tensor, values, to, num_ids, std::nullopt};
  if (values.storage != values.datatype) {
    converter.declared = RangeOf(values.datatype);
    if (!converter.declared || !IsInteger(values.storage)) {
      return absl::InternalError(absl::StrCat("datatype ", std::string(values.datatype),
                                              " stored as ", std::string(values.storage)));
    }
  }
  const auto integer = [&](auto value, int64_t i) {
    using T = decltype(value);
    if constexpr (std::is_signed_v<T>) {
      return converter.Integer(static_cast<int64_t>(value), i, out);
    } else {
      return converter.Integer(static_cast<uint64_t>(value), i, out);
    }
  };
  const std::string_view storage = values.storage;
  if (storage == "INT8") return ForEach<int8_t>(values, integer);
  if (storage == "INT16") return ForEach<int16_t>(values, integer);
  if (storage == "INT32") return ForEach<int32_t>(values, integer);
  if (storage == "INT64") return ForEach<int64_t>(values, integer);
  if (storage == "UINT8") return ForEach<uint8_t>(values, integer);
  if (storage == "UINT16") return ForEach<uint16_t>(values, integer);
  if (storage == "UINT32") return ForEach<uint32_t>(values, integer);
  if (storage == "UINT64") return ForEach<uint64_t>(values, integer);
  if (to == DType::kFloat32) {
    const auto floating = [&](auto value, int64_t i) {
      return converter.Floating(static_cast<double>(value), i, out);
    };
    if (storage == "FP32") return ForEach<float>(values, floating);
    if (storage == "FP64") return ForEach<double>(values, floating);
    if (storage == "FP16") {
      return ForEach<uint16_t>(values,
                               [&](uint16_t v, int64_t i) { return floating(HalfToFloat(v), i); });
    }
    if (storage == "BF16") {
      return ForEach<uint16_t>(
          values, [&](uint16_t v, int64_t i) { return floating(BFloat16ToFloat(v), i); });
    }
    if (storage == "BOOL") {
      return ForEach<uint8_t>(values,
                              [&](uint8_t v, int64_t i) { return converter.Bool(v, i, out); });
    }
  }
  return absl::InternalError(absl::StrCat("no conversion of ", std::string(storage), " to ",
                                          std::string(DatatypeName(to))));
}

absl::Status CheckIds(std::string_view tensor, DType dtype, const void* ids,
                      std::span<const int64_t> shape, int64_t num_ids) {
  const int64_t count = NumElements(Shape(shape.begin(), shape.end()));
  int64_t bad = count;
  int64_t value = 0;
  if (dtype == DType::kInt64) {
    bad = FirstBadId(static_cast<const int64_t*>(ids), count, num_ids);
    if (bad < count) value = static_cast<const int64_t*>(ids)[bad];
  } else if (dtype == DType::kInt32) {
    bad = FirstBadId(static_cast<const int32_t*>(ids), count, num_ids);
    if (bad < count) value = static_cast<const int32_t*>(ids)[bad];
  }
  if (bad == count) return absl::OkStatus();
  const RequestValues values{DatatypeName(dtype), DatatypeName(dtype), "", nullptr, shape};
  return Converter{tensor, values, dtype, num_ids, std::nullopt}.IdOutOfRange(absl::StrCat(value),
                                                                              bad);
}

}  // namespace seqserve
