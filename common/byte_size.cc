#include "common/byte_size.h"

#include <cstdio>
#include <iterator>

#include "absl/strings/str_cat.h"

namespace seqserve {

std::string FormatBytes(uint64_t bytes) {
  if (bytes < 1000) return absl::StrCat(bytes, bytes == 1 ? " byte" : " bytes");
  static constexpr const char* kUnits[] = {"kB", "MB", "GB", "TB", "PB", "EB"};
  double value = static_cast<double>(bytes) / 1000.0;
  int unit = 0;
  while (value >= 999.95 && unit + 1 < static_cast<int>(std::size(kUnits))) {
    value /= 1000.0;
    ++unit;
  }
  char text[32];
  std::snprintf(text, sizeof(text), "%.1f %s", value, kUnits[unit]);
  return text;
}

std::string LimitText(uint64_t limit_bytes, std::string_view limit_name) {
  if (limit_name.empty()) return absl::StrCat("the limit is ", FormatBytes(limit_bytes));
  return absl::StrCat("the limit is ", FormatBytes(limit_bytes), " (",
                      absl::string_view(limit_name.data(), limit_name.size()), "=", limit_bytes,
                      ")");
}

}  // namespace seqserve
