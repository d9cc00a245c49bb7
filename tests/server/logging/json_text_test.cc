// The JSON string escaper: the escapes JSON defines, valid UTF-8 untouched, and ill-formed
// UTF-8 replaced by U+FFFD per maximal subpart — expectations from RFC 8259 and from the
// Unicode Standard's own example of that practice (chapter 3, Table 3-8). Every output is
// also read back with nlohmann::json to show it is valid JSON holding the expected text.
#include "server/logging/json_text.h"

#include <string>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace seqserve {
namespace {

constexpr char kFffd[] = "\xEF\xBF\xBD";

// What a JSON parser reads back from JsonQuote(text).
std::string RoundTrip(const std::string& text) {
  return nlohmann::json::parse(JsonQuote(text)).get<std::string>();
}

TEST(JsonText, EscapesQuotesBackslashesAndControlCharacters) {
  EXPECT_EQ(JsonEscape("say \"hi\" \\ bye"), "say \\\"hi\\\" \\\\ bye");
  EXPECT_EQ(JsonEscape(std::string("\b\f\n\r\t\x01\x1f", 7)), "\\b\\f\\n\\r\\t\\u0001\\u001f");
  EXPECT_EQ(JsonEscape(std::string("a\0b", 3)), "a\\u0000b");
  EXPECT_EQ(JsonQuote("x"), "\"x\"");
  EXPECT_EQ(RoundTrip("tab\there \"quoted\"\n"), "tab\there \"quoted\"\n");
}

TEST(JsonText, ValidUtf8PassesThrough) {
  const std::string text = "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80 \x7F";  // é € 😀 DEL
  EXPECT_EQ(JsonEscape(text), text);
  EXPECT_EQ(RoundTrip(text), text);
}

TEST(JsonText, IllFormedUtf8BecomesOneReplacementPerMaximalSubpart) {
  // The Unicode Standard's example: 61 F1 80 80 E1 80 C2 62 80 63 80 BF 64.
  const std::string text = "\x61\xF1\x80\x80\xE1\x80\xC2\x62\x80\x63\x80\xBF\x64";
  const std::string expected = std::string("a") + kFffd + kFffd + kFffd + "b" + kFffd + "c" +
                               kFffd + kFffd + "d";
  EXPECT_EQ(JsonEscape(text), expected);
  EXPECT_EQ(RoundTrip(text), expected);
  // Overlong forms, surrogates and code points beyond U+10FFFF are ill-formed byte by byte.
  EXPECT_EQ(JsonEscape("\xC0\xAF"), std::string(kFffd) + kFffd);
  EXPECT_EQ(JsonEscape("\xED\xA0\x80"), std::string(kFffd) + kFffd + kFffd);
  EXPECT_EQ(JsonEscape("\xF4\x90\x80\x80"), std::string(kFffd) + kFffd + kFffd + kFffd);
  // A sequence cut short by the end of the text is one maximal subpart.
  EXPECT_EQ(JsonEscape("ok\xF0\x9F\x98"), std::string("ok") + kFffd);
  EXPECT_EQ(JsonEscape("\xFF"), kFffd);
}

}  // namespace
}  // namespace seqserve
