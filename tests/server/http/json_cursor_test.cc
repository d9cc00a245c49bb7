// The REST body's pull parser (server/http/json_cursor.h) on its own: RFC 8259 strictness
// (strings, escapes, UTF-8, numbers, literals, commas, nesting, trailing input), with the byte
// offset of the first syntax error. Expectations are from the RFC's grammar; nlohmann::json
// (a strict parser) agrees on every document here, which the test also checks.
#include "server/http/json_cursor.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace seqserve {
namespace {

using Type = JsonCursor::Type;

// Whether the whole text is one well-formed JSON value, by the cursor's Skip.
bool WellFormed(const std::string& text) {
  JsonCursor cursor(text);
  const bool ok = cursor.Skip() && cursor.AtEnd();
  // The cursor and nlohmann::json must agree.
  EXPECT_EQ(ok, nlohmann::json::accept(text)) << text;
  return ok;
}

TEST(JsonCursor, WalksObjectsAndArraysInOrder) {
  JsonCursor cursor(R"( {"a": [1, -2.5e3, true, null], "b\u00e9": {"c": "d\n"}, "e": []} )");
  ASSERT_EQ(cursor.Peek(), Type::kObject);
  ASSERT_TRUE(cursor.EnterObject());
  std::string key;
  ASSERT_TRUE(cursor.NextMember(&key));
  EXPECT_EQ(key, "a");
  ASSERT_TRUE(cursor.EnterArray());
  std::vector<std::string> numbers;
  std::vector<bool> integers;
  while (cursor.NextElement()) {
    const Type type = cursor.Peek();
    if (type == Type::kNumber) {
      JsonCursor::Number number;
      ASSERT_TRUE(cursor.ReadNumber(&number));
      numbers.emplace_back(number.text);
      integers.push_back(number.integer);
    } else if (type == Type::kBool) {
      bool value = false;
      ASSERT_TRUE(cursor.ReadBool(&value));
      EXPECT_TRUE(value);
    } else {
      EXPECT_EQ(type, Type::kNull);
      ASSERT_TRUE(cursor.ReadNull());
    }
  }
  EXPECT_THAT(numbers, ::testing::ElementsAre("1", "-2.5e3"));
  EXPECT_THAT(integers, ::testing::ElementsAre(true, false));
  ASSERT_TRUE(cursor.NextMember(&key));
  EXPECT_EQ(key, "b\xc3\xa9");  // \u00e9 is U+00E9, two bytes of UTF-8
  const size_t value_at = cursor.offset();
  const int depth = cursor.depth();
  ASSERT_TRUE(cursor.Skip());
  ASSERT_TRUE(cursor.NextMember(&key));
  EXPECT_EQ(key, "e");
  ASSERT_TRUE(cursor.EnterArray());
  EXPECT_FALSE(cursor.NextElement());
  EXPECT_FALSE(cursor.NextMember(&key));
  EXPECT_TRUE(cursor.AtEnd());
  EXPECT_FALSE(cursor.failed());
  // Back to a value seen before.
  cursor.Seek(value_at, depth);
  ASSERT_TRUE(cursor.EnterObject());
  ASSERT_TRUE(cursor.NextMember(&key));
  EXPECT_EQ(key, "c");
  std::string value;
  ASSERT_TRUE(cursor.ReadString(&value));
  EXPECT_EQ(value, "d\n");
}

TEST(JsonCursor, StringsDecodeEveryEscapeAndSurrogatePairs) {
  JsonCursor cursor(R"("\"\\\/\b\f\n\r\t\u0041\ud83d\ude00é")");
  std::string value;
  ASSERT_TRUE(cursor.ReadString(&value));
  // U+1F600 from its surrogate pair is F0 9F 98 80 in UTF-8; é passes through as is.
  EXPECT_EQ(value, "\"\\/\b\f\n\r\tA\xf0\x9f\x98\x80\xc3\xa9");
}

TEST(JsonCursor, RejectsWhatRfc8259Rejects) {
  for (const std::string bad : {
           "", "{", "[1,]", "[,1]", "[1 2]", "{\"a\":1,}", "{\"a\" 1}", "{a:1}",
           "{\"a\":1 \"b\":2}", "01", "1.", ".5", "+1", "1e", "-", "NaN", "Infinity", "tru", "nul", "\"abc",
           "\"a\\x\"", "\"\\u12g4\"", "\"\\ud800\"", "\"\\udc00\"", "\"\\ud800\\u0041\"",
           "\"tab\there\"", "\"\xff\"", "\"\xc0\xaf\"", "\"\xed\xa0\x80\"", "\"\xf4\x90\x80\x80\"",
           "\"\xe2\x82\"", "1 2", "{} x", "[1]]", "{\"a\":[}"}) {
    EXPECT_FALSE(WellFormed(bad)) << bad;
  }
  for (const std::string good : {"0", "-0", "1e5", "-1.25E-3", "1E+2", "\"\"", "[]", "{}",
                                  " [ 1 , { } , [ ] ] ", "\"\xe2\x82\xac\"", "\"\xf0\x9f\x98\x80\"",
                                  "{\"a\":{\"b\":[null,false]}}"}) {
    EXPECT_TRUE(WellFormed(good)) << good;
  }
}

TEST(JsonCursor, SaysWhereAndWhatForTheFirstError) {
  JsonCursor cursor("[1, 2 3]");
  EXPECT_FALSE(cursor.Skip());
  EXPECT_TRUE(cursor.failed());
  EXPECT_EQ(cursor.error_offset(), 6u);
  EXPECT_EQ(cursor.error(), "expected ',' or ']'");
  // A failed cursor stays failed.
  EXPECT_FALSE(cursor.EnterArray());
  EXPECT_EQ(cursor.error_offset(), 6u);

  JsonCursor truncated("{\"a\": \"b");
  EXPECT_FALSE(truncated.Skip());
  EXPECT_EQ(truncated.error(), "unexpected end of input; expected '\"' to close the string");
}

TEST(JsonCursor, NestingIsLimited) {
  const std::string deep = std::string(JsonCursor::kMaxDepth, '[') +
                           std::string(JsonCursor::kMaxDepth, ']');
  JsonCursor ok(deep);
  EXPECT_TRUE(ok.Skip() && ok.AtEnd());
  const std::string deeper = "[" + deep + "]";
  JsonCursor too_deep(deeper);
  EXPECT_FALSE(too_deep.Skip());
  EXPECT_EQ(too_deep.error(), "expected at most 512 levels of nesting");
}

TEST(JsonCursor, PeekNamesTheNextValuesType) {
  EXPECT_STREQ(JsonCursor::TypeName(JsonCursor(" \"x\"").Peek()), "a string");
  EXPECT_STREQ(JsonCursor::TypeName(JsonCursor("-1").Peek()), "a number");
  EXPECT_STREQ(JsonCursor::TypeName(JsonCursor("false").Peek()), "a boolean");
  EXPECT_STREQ(JsonCursor::TypeName(JsonCursor("{").Peek()), "an object");
  EXPECT_STREQ(JsonCursor::TypeName(JsonCursor("]").Peek()), "nothing");
}

}  // namespace
}  // namespace seqserve
