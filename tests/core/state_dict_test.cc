#include "core/state_dict.h"

#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace seqserve {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// The seed example: Conv2d(1,20,5), ReLU(), Conv2d(20,64,5), ReLU().
std::vector<ExpectedParam> SeedParams() {
  return {{"0.weight", {20, 1, 5, 5}},
          {"0.bias", {20}},
          {"2.weight", {64, 20, 5, 5}},
          {"2.bias", {64}}};
}

TensorMap SeedTensors() {
  TensorMap map;
  for (const ExpectedParam& p : SeedParams()) map.emplace(p.key, Tensor(p.shape));
  return map;
}

std::vector<std::string> ErrorLines(const absl::Status& status) {
  EXPECT_FALSE(status.ok());
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  return absl::StrSplit(status.message(), '\n');
}

TEST(StateDict, AcceptsExactMatch) {
  EXPECT_TRUE(CheckStateDict(SeedParams(), SeedTensors(), "model.safetensors").ok());
}

TEST(StateDict, AcceptsEmptyModelWithNoWeights) {
  EXPECT_TRUE(CheckStateDict({}, {}, "model.safetensors").ok());
}

TEST(StateDict, ReportsMissingKeyWithExpectedShape) {
  TensorMap loaded = SeedTensors();
  loaded.erase("0.weight");
  EXPECT_THAT(ErrorLines(CheckStateDict(SeedParams(), loaded, "model.safetensors")),
              ElementsAre("model.safetensors: missing key '0.weight' (expected shape "
                          "[20, 1, 5, 5])"));
}

TEST(StateDict, ReportsUnexpectedKeyWithShape) {
  TensorMap loaded = SeedTensors();
  loaded.emplace("foo.bias", Tensor({3}));
  EXPECT_THAT(ErrorLines(CheckStateDict(SeedParams(), loaded, "model.safetensors")),
              ElementsAre("model.safetensors: unexpected key 'foo.bias' (shape [3])"));
}

TEST(StateDict, ReportsShapeMismatchWithBothShapes) {
  TensorMap loaded = SeedTensors();
  loaded.at("0.weight") = Tensor({20, 1, 3, 3});
  EXPECT_THAT(ErrorLines(CheckStateDict(SeedParams(), loaded, "model.safetensors")),
              ElementsAre("model.safetensors: key '0.weight': expected shape [20, 1, 5, 5], got "
                          "[20, 1, 3, 3]"));
}

TEST(StateDict, ScalarShapeMismatch) {
  TensorMap loaded;
  loaded.emplace("p", Tensor(Shape{1}));
  EXPECT_THAT(ErrorLines(CheckStateDict({{"p", {}}}, loaded, "w.safetensors")),
              ElementsAre("w.safetensors: key 'p': expected shape [], got [1]"));
}

TEST(StateDict, ReportsEveryProblemInDeterministicOrder) {
  TensorMap loaded = SeedTensors();
  loaded.erase("2.bias");
  loaded.erase("0.bias");
  loaded.at("2.weight") = Tensor({64, 20, 3, 3});
  loaded.emplace("z.extra", Tensor({1}));
  loaded.emplace("a.extra", Tensor({2, 2}));
  // Expected keys in model order (missing or wrong shape), then unexpected keys sorted.
  EXPECT_THAT(ErrorLines(CheckStateDict(SeedParams(), loaded, "m.safetensors")),
              ElementsAre("m.safetensors: missing key '0.bias' (expected shape [20])",
                          "m.safetensors: key '2.weight': expected shape [64, 20, 5, 5], got "
                          "[64, 20, 3, 3]",
                          "m.safetensors: missing key '2.bias' (expected shape [64])",
                          "m.safetensors: unexpected key 'a.extra' (shape [2, 2])",
                          "m.safetensors: unexpected key 'z.extra' (shape [1])"));
}

TEST(StateDict, CapsTheNumberOfReportedProblems) {
  std::vector<ExpectedParam> expected;
  for (int i = 0; i < 50; ++i) expected.push_back({std::to_string(i) + ".weight", {1}});
  std::vector<std::string> lines = ErrorLines(CheckStateDict(expected, {}, "m.safetensors"));
  ASSERT_EQ(lines.size(), 21u);
  EXPECT_THAT(lines.front(), HasSubstr("missing key '0.weight'"));
  EXPECT_EQ(lines.back(), "m.safetensors: ... and 30 more problems");
}

}  // namespace
}  // namespace seqserve
