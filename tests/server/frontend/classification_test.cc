// Triton's classification extension (server/frontend/classification.h) on hand-made scores:
// every expectation is worked out by hand from the scores below (top-k by value, NaN first,
// ties by index; C's %f for the score; Triton's 4-byte little-endian length prefix).
#include "server/frontend/classification.h"

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace seqserve {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(ClassifyTest, TopClassesOfEachRowHighestFirst) {
  const std::vector<float> scores = {0.1f, 0.7f, 0.2f,    // row 0: 1, 2, 0
                                     -1.0f, -3.0f, 2.5f};  // row 1: 2, 0, 1
  absl::StatusOr<Classification> top = Classify("out", {2, 3}, scores, true, 2, {});
  ASSERT_TRUE(top.ok()) << top.status();
  EXPECT_EQ(top->shape, (Shape{2, 2}));
  EXPECT_THAT(top->items,
              ElementsAre("0.700000:1", "0.200000:2", "2.500000:2", "-1.000000:0"));
}

TEST(ClassifyTest, LabelsNameTheClass) {
  const std::vector<float> scores = {0.25f, 0.5f, 0.125f};
  absl::StatusOr<Classification> top =
      Classify("out", {1, 3}, scores, true, 3, {"cat", "dog", "bird"});
  ASSERT_TRUE(top.ok()) << top.status();
  EXPECT_THAT(top->items,
              ElementsAre("0.500000:1:dog", "0.250000:0:cat", "0.125000:2:bird"));
}

TEST(ClassifyTest, AModelWithoutBatchingGetsOneRowOfShapeK) {
  // Not batching: the whole output is one sample, whatever its shape.
  const std::vector<float> scores = {1.0f, 4.0f, 3.0f, 2.0f};
  absl::StatusOr<Classification> top = Classify("out", {2, 2}, scores, false, 2, {});
  ASSERT_TRUE(top.ok()) << top.status();
  EXPECT_EQ(top->shape, (Shape{2}));
  EXPECT_THAT(top->items, ElementsAre("4.000000:1", "3.000000:2"));
}

TEST(ClassifyTest, CountIsCappedAtTheClassesASampleHas) {
  const std::vector<float> scores = {0.0f, 1.0f};
  absl::StatusOr<Classification> top = Classify("out", {1, 2}, scores, true, 5, {});
  ASSERT_TRUE(top.ok()) << top.status();
  EXPECT_EQ(top->shape, (Shape{1, 2}));
  EXPECT_THAT(top->items, ElementsAre("1.000000:1", "0.000000:0"));
}

TEST(ClassifyTest, NanRanksFirstAndTiesKeepTheLowerIndex) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const std::vector<float> scores = {2.0f, nan, 2.0f, 5.0f};
  absl::StatusOr<Classification> top = Classify("out", {1, 4}, scores, true, 4, {});
  ASSERT_TRUE(top.ok()) << top.status();
  ASSERT_EQ(top->items.size(), 4u);
  EXPECT_THAT(top->items[0], ::testing::EndsWith(":1"));  // NaN, printed "nan" or "-nan"
  EXPECT_THAT(top->items[0], HasSubstr("nan"));
  EXPECT_EQ(top->items[1], "5.000000:3");
  EXPECT_EQ(top->items[2], "2.000000:0");
  EXPECT_EQ(top->items[3], "2.000000:2");
}

TEST(ClassifyTest, AClassWithoutALabelIsAnErrorNamingTheOutput) {
  const std::vector<float> scores = {0.0f, 1.0f, 2.0f};
  absl::StatusOr<Classification> top = Classify("probs", {1, 3}, scores, true, 1, {"a", "b"});
  ASSERT_FALSE(top.ok());
  EXPECT_EQ(top.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(top.status().message(), HasSubstr("output 'probs'"));
  EXPECT_THAT(top.status().message(), HasSubstr("class 2 has no label"));
}

TEST(EncodeBytesElementsTest, EachElementIsItsLittleEndianLengthThenItsBytes) {
  const std::string bytes = EncodeBytesElements({"ab", "", std::string(300, 'x')});
  ASSERT_EQ(bytes.size(), 4u + 2u + 4u + 4u + 300u);
  EXPECT_EQ(bytes.substr(0, 6), std::string("\x02\x00\x00\x00" "ab", 6));
  EXPECT_EQ(bytes.substr(6, 4), std::string("\x00\x00\x00\x00", 4));
  EXPECT_EQ(bytes.substr(10, 4), std::string("\x2c\x01\x00\x00", 4));  // 300 = 0x12c
  EXPECT_EQ(bytes.substr(14), std::string(300, 'x'));
}

}  // namespace
}  // namespace seqserve
