#include "core/state_dict.h"

#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace seqserve {
namespace {

// A wrong file for a model can differ in hundreds of keys; the first few tell the user
// what went wrong without flooding the log.
constexpr size_t kMaxReportedProblems = 20;

}  // namespace

absl::Status CheckStateDict(const std::vector<ExpectedParam>& expected, const TensorMap& loaded,
                            std::string_view file_name) {
  std::map<std::string, Shape> shapes;
  for (const auto& [key, tensor] : loaded) shapes.emplace(key, tensor.shape);
  return CheckStateDictShapes(expected, shapes, file_name);
}

absl::Status CheckStateDictShapes(const std::vector<ExpectedParam>& expected,
                                  const std::map<std::string, Shape>& loaded,
                                  std::string_view file_name) {
  // Debian's abseil has its own string_view type, distinct from std::string_view.
  const absl::string_view file(file_name.data(), file_name.size());
  // All problems are gathered, one per line, in a deterministic order: expected keys in
  // model order (missing or wrong shape), then unexpected keys sorted (TensorMap is ordered).
  std::vector<std::string> problems;
  std::set<std::string_view> expected_keys;
  for (const ExpectedParam& param : expected) {
    expected_keys.insert(param.key);
    auto it = loaded.find(param.key);
    if (it == loaded.end()) {
      problems.push_back(absl::StrCat(file, ": missing key '", param.key, "' (expected shape ",
                                      ShapeToString(param.shape), ")"));
    } else if (it->second != param.shape) {
      problems.push_back(absl::StrCat(file, ": key '", param.key, "': expected shape ",
                                      ShapeToString(param.shape), ", got ",
                                      ShapeToString(it->second)));
    }
  }
  for (const auto& [key, shape] : loaded) {
    if (!expected_keys.contains(key)) {
      problems.push_back(absl::StrCat(file, ": unexpected key '", key, "' (shape ",
                                      ShapeToString(shape), ")"));
    }
  }
  if (problems.empty()) return absl::OkStatus();
  const size_t total = problems.size();
  if (total > kMaxReportedProblems) {
    problems.resize(kMaxReportedProblems);
    problems.push_back(
        absl::StrCat(file, ": ... and ", total - kMaxReportedProblems, " more problems"));
  }
  return absl::InvalidArgumentError(absl::StrJoin(problems, "\n"));
}

}  // namespace seqserve
