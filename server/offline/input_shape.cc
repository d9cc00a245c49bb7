#include "server/offline/input_shape.h"

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace seqserve {

std::optional<Shape> ParseSizeList(absl::string_view text) {
  Shape shape;
  for (absl::string_view part : absl::StrSplit(text, ',', absl::SkipWhitespace())) {
    int64_t d = 0;
    if (!absl::SimpleAtoi(part, &d) || d < 0) return std::nullopt;
    shape.push_back(d);
  }
  if (shape.empty()) return std::nullopt;
  return shape;
}

absl::StatusOr<Shape> RepresentativeInput(const Model& model, absl::string_view hint) {
  std::optional<Shape> dims = model.InputDims();
  if (!dims) {
    return absl::InvalidArgumentError(
        absl::StrCat("the first module does not imply an input shape; ", hint));
  }
  std::vector<int64_t> candidates = {28, 32, 64, 224};
  for (int64_t s = 1; s <= 512; ++s) candidates.push_back(s);
  absl::Status last = absl::OkStatus();
  for (int64_t size : candidates) {
    Shape shape = {1};
    bool free = false;
    for (int64_t d : *dims) {
      shape.push_back(d < 0 ? size : d);
      free = free || d < 0;
    }
    absl::Status status = model.OutputShape(shape).status();
    if (status.ok()) return shape;
    if (!free) return status;
    if (last.ok()) last = status;
  }
  return last;
}

}  // namespace seqserve
