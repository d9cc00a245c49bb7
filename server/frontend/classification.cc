#include "server/frontend/classification.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>

#include "absl/strings/str_cat.h"

namespace seqserve {
namespace {

// C's %f, as std::to_string writes a float (and as Triton writes classification scores).
std::string Score(float value) {
  char text[64];
  const int n = std::snprintf(text, sizeof text, "%f", static_cast<double>(value));
  return std::string(text, n > 0 ? static_cast<size_t>(n) : 0);
}

}  // namespace

absl::StatusOr<Classification> Classify(std::string_view output_name, const Shape& output_shape,
                                        std::span<const float> values, bool batching,
                                        int64_t class_count,
                                        const std::vector<std::string>& labels) {
  const int64_t rows = batching && !output_shape.empty() ? output_shape[0] : 1;
  const int64_t classes = rows > 0 ? static_cast<int64_t>(values.size()) / rows : 0;
  const int64_t k = std::min(class_count, classes);
  Classification result;
  result.shape = batching ? Shape{rows, k} : Shape{k};
  result.items.reserve(static_cast<size_t>(rows * k));
  std::vector<int64_t> order(static_cast<size_t>(classes));
  for (int64_t row = 0; row < rows; ++row) {
    const float* scores = values.data() + row * classes;
    std::iota(order.begin(), order.end(), 0);
    // Higher first; NaN highest (torch.topk's order); ties by the lower index.
    std::partial_sort(order.begin(), order.begin() + k, order.end(), [scores](int64_t a, int64_t b) {
      const float x = scores[a], y = scores[b];
      if (std::isnan(x) != std::isnan(y)) return std::isnan(x);
      if (!std::isnan(x) && x != y) return x > y;
      return a < b;
    });
    for (int64_t i = 0; i < k; ++i) {
      const int64_t index = order[static_cast<size_t>(i)];
      std::string item = absl::StrCat(Score(scores[index]), ":", index);
      if (!labels.empty()) {
        if (index >= static_cast<int64_t>(labels.size())) {
          return absl::InvalidArgumentError(absl::StrCat(
              "output '", std::string(output_name), "': class ", index,
              " has no label: its label_filename has ", labels.size(), " lines"));
        }
        absl::StrAppend(&item, ":", labels[static_cast<size_t>(index)]);
      }
      result.items.push_back(std::move(item));
    }
  }
  return result;
}

std::string EncodeBytesElements(const std::vector<std::string>& items) {
  size_t total = 0;
  for (const std::string& item : items) total += 4 + item.size();
  std::string bytes;
  bytes.reserve(total);
  for (const std::string& item : items) {
    const uint32_t length = static_cast<uint32_t>(item.size());
    for (int shift = 0; shift < 32; shift += 8) {
      bytes.push_back(static_cast<char>((length >> shift) & 0xff));
    }
    bytes += item;
  }
  return bytes;
}

}  // namespace seqserve
