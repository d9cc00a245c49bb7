#include "server/http/json_cursor.h"

#include <bit>
#include <cstring>

namespace seqserve {
namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Eight ASCII characters at once (SWAR): whether all are digits, and their value. Numbers in
// tensors are mostly runs of digits, and this is most of the cost of reading them.
uint64_t Load8(const char* p) {
  uint64_t chunk;
  std::memcpy(&chunk, p, sizeof(chunk));
  return chunk;  // p[0] is the lowest byte
}
static_assert(std::endian::native == std::endian::little, "Load8 reads text little-endian");
bool EightDigits(uint64_t chunk) {
  // Each byte is 0x30..0x39 iff its high nibble is 3 and adding 6 does not carry into it.
  const uint64_t high = chunk & 0xf0f0f0f0f0f0f0f0;
  const uint64_t high_plus_6 = (chunk + 0x0606060606060606) & 0xf0f0f0f0f0f0f0f0;
  return (high | (high_plus_6 >> 4)) == 0x3333333333333333;
}
uint64_t EightDigitsValue(uint64_t chunk) {
  // Pairs, then quads, then the eight: each step multiplies the higher-placed part into place.
  chunk = (chunk & 0x0f0f0f0f0f0f0f0f) * 2561 >> 8;            // 10 * 256 + 1
  chunk = (chunk & 0x00ff00ff00ff00ff) * 6553601 >> 16;        // 100 * 65536 + 1
  return (chunk & 0x0000ffff0000ffff) * 42949672960001 >> 32;  // 10000 * 2^32 + 1
}

// Appends code point `cp` (at most U+10FFFF, not a surrogate) as UTF-8.
void AppendUtf8(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xc0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xe0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  } else {
    out->push_back(static_cast<char>(0xf0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3f)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  }
}

}  // namespace

bool JsonCursor::Fail(std::string_view expected) {
  if (!failed_) {
    failed_ = true;
    error_offset_ = pos_;
    error_ = pos_ < text_.size()
                 ? std::string("expected ").append(expected)
                 : std::string("unexpected end of input; expected ").append(expected);
  }
  return false;
}

bool JsonCursor::Expect(char c, std::string_view expected) {
  if (pos_ < text_.size() && text_[pos_] == c) {
    ++pos_;
    return true;
  }
  return Fail(expected);
}

size_t JsonCursor::offset() {
  SkipWhitespace();
  return pos_;
}

JsonCursor::Type JsonCursor::Peek() {
  SkipWhitespace();
  if (failed_ || pos_ >= text_.size()) return Type::kInvalid;
  switch (text_[pos_]) {
    case '{':
      return Type::kObject;
    case '[':
      return Type::kArray;
    case '"':
      return Type::kString;
    case 't':
    case 'f':
      return Type::kBool;
    case 'n':
      return Type::kNull;
    case '-':
      return Type::kNumber;
    default:
      return IsDigit(text_[pos_]) ? Type::kNumber : Type::kInvalid;
  }
}

const char* JsonCursor::TypeName(Type type) {
  switch (type) {
    case Type::kObject:
      return "an object";
    case Type::kArray:
      return "an array";
    case Type::kString:
      return "a string";
    case Type::kNumber:
      return "a number";
    case Type::kBool:
      return "a boolean";
    case Type::kNull:
      return "null";
    case Type::kInvalid:
      break;
  }
  return "nothing";
}

bool JsonCursor::EnterObject() {
  if (failed_) return false;
  SkipWhitespace();
  if (!Expect('{', "'{'")) return false;
  if (++depth_ > kMaxDepth) return Fail("at most 512 levels of nesting");
  first_ = true;
  return true;
}

bool JsonCursor::NextMember(std::string* key) {
  if (failed_) return false;
  SkipWhitespace();
  if (pos_ < text_.size() && text_[pos_] == '}') {
    ++pos_;
    --depth_;
    first_ = false;
    return false;
  }
  if (!first_) {
    if (!Expect(',', "',' or '}'")) return false;
    SkipWhitespace();
  }
  first_ = false;
  if (pos_ >= text_.size() || text_[pos_] != '"') return Fail("a string (an object key)");
  if (!ReadString(key)) return false;
  SkipWhitespace();
  return Expect(':', "':'");
}

bool JsonCursor::EnterArray() {
  if (failed_) return false;
  SkipWhitespace();
  if (!Expect('[', "'['")) return false;
  if (++depth_ > kMaxDepth) return Fail("at most 512 levels of nesting");
  first_ = true;
  return true;
}

bool JsonCursor::NextElement() {
  if (failed_) return false;
  SkipWhitespace();
  if (pos_ < text_.size() && text_[pos_] == ']') {
    ++pos_;
    --depth_;
    first_ = false;
    return false;
  }
  if (!first_) {
    if (!Expect(',', "',' or ']'")) return false;
    SkipWhitespace();
  }
  first_ = false;
  return true;
}

bool JsonCursor::ReadHex4(uint32_t* unit) {
  if (text_.size() - pos_ < 4) {
    pos_ = text_.size();
    return Fail("four hex digits");
  }
  uint32_t value = 0;
  for (int i = 0; i < 4; ++i) {
    const char c = text_[pos_];
    uint32_t digit;
    if (c >= '0' && c <= '9') {
      digit = static_cast<uint32_t>(c - '0');
    } else if (c >= 'a' && c <= 'f') {
      digit = static_cast<uint32_t>(c - 'a' + 10);
    } else if (c >= 'A' && c <= 'F') {
      digit = static_cast<uint32_t>(c - 'A' + 10);
    } else {
      return Fail("a hex digit");
    }
    value = value * 16 + digit;
    ++pos_;
  }
  *unit = value;
  return true;
}

bool JsonCursor::ReadUtf8(std::string* out) {
  const auto byte = [&](size_t i) { return static_cast<unsigned char>(text_[pos_ + i]); };
  const unsigned char lead = byte(0);
  size_t length = 0;
  unsigned char low = 0x80, high = 0xbf;  // the range of the second byte
  if (lead >= 0xc2 && lead <= 0xdf) {
    length = 2;
  } else if (lead >= 0xe0 && lead <= 0xef) {
    length = 3;
    if (lead == 0xe0) low = 0xa0;   // no overlong forms
    if (lead == 0xed) high = 0x9f;  // no surrogates
  } else if (lead >= 0xf0 && lead <= 0xf4) {
    length = 4;
    if (lead == 0xf0) low = 0x90;   // no overlong forms
    if (lead == 0xf4) high = 0x8f;  // nothing beyond U+10FFFF
  } else {
    return Fail("valid UTF-8");
  }
  if (text_.size() - pos_ < length) return Fail("valid UTF-8");
  for (size_t i = 1; i < length; ++i) {
    const unsigned char b = byte(i);
    if (i == 1 ? (b < low || b > high) : (b < 0x80 || b > 0xbf)) return Fail("valid UTF-8");
  }
  if (out != nullptr) out->append(text_.data() + pos_, length);
  pos_ += length;
  return true;
}

bool JsonCursor::ReadString(std::string* out) {
  if (failed_) return false;
  SkipWhitespace();
  if (!Expect('"', "a string")) return false;
  if (out != nullptr) out->clear();
  while (true) {
    // The plain run up to the next quote, escape, control character or non-ASCII byte.
    const size_t start = pos_;
    while (pos_ < text_.size()) {
      const unsigned char c = static_cast<unsigned char>(text_[pos_]);
      if (c == '"' || c == '\\' || c < 0x20 || c >= 0x80) break;
      ++pos_;
    }
    if (out != nullptr) out->append(text_.data() + start, pos_ - start);
    if (pos_ >= text_.size()) return Fail("'\"' to close the string");
    const unsigned char c = static_cast<unsigned char>(text_[pos_]);
    if (c == '"') {
      ++pos_;
      return true;
    }
    if (c < 0x20) return Fail("a character of the string (control characters must be escaped)");
    if (c >= 0x80) {
      if (!ReadUtf8(out)) return false;
      continue;
    }
    // An escape.
    ++pos_;
    if (pos_ >= text_.size()) return Fail("an escape");
    const char e = text_[pos_++];
    char plain = 0;
    switch (e) {
      case '"':
      case '\\':
      case '/':
        plain = e;
        break;
      case 'b':
        plain = '\b';
        break;
      case 'f':
        plain = '\f';
        break;
      case 'n':
        plain = '\n';
        break;
      case 'r':
        plain = '\r';
        break;
      case 't':
        plain = '\t';
        break;
      case 'u': {
        uint32_t unit = 0;
        if (!ReadHex4(&unit)) return false;
        if (unit >= 0xdc00 && unit <= 0xdfff) return Fail("no lone low surrogate");
        if (unit >= 0xd800 && unit <= 0xdbff) {
          uint32_t second = 0;
          if (text_.size() - pos_ < 2 || text_[pos_] != '\\' || text_[pos_ + 1] != 'u') {
            return Fail("'\\u' and a low surrogate after a high surrogate");
          }
          pos_ += 2;
          if (!ReadHex4(&second)) return false;
          if (second < 0xdc00 || second > 0xdfff) return Fail("a low surrogate");
          unit = 0x10000 + ((unit - 0xd800) << 10) + (second - 0xdc00);
        }
        if (out != nullptr) AppendUtf8(unit, out);
        continue;
      }
      default:
        --pos_;
        return Fail("an escape: one of \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u");
    }
    if (out != nullptr) out->push_back(plain);
  }
}

bool JsonCursor::ReadNumber(Number* number) {
  if (failed_) return false;
  SkipWhitespace();
  // Locals, not members, in the loops: they stay in registers.
  const char* const begin = text_.data() + pos_;
  const char* const end = text_.data() + text_.size();
  const char* p = begin;
  const auto fail = [&](std::string_view expected) {
    pos_ = static_cast<size_t>(p - text_.data());
    return Fail(expected);
  };
  uint64_t significand = 0;
  int digits = 0;  // digits of the significand (a lone leading 0 aside)
  int64_t exponent = 0;
  // The digits from p on into the significand, eight at a time while they fit in 19.
  const auto digits_run = [&](bool fraction) {
    while (end - p >= 8 && digits <= 11) {
      const uint64_t chunk = Load8(p);
      if (!EightDigits(chunk)) break;
      significand = significand * 100000000 + EightDigitsValue(chunk);
      digits += 8;
      if (fraction) exponent -= 8;
      p += 8;
    }
    for (; p < end && IsDigit(*p); ++p) {
      if (digits < 19) {
        significand = significand * 10 + static_cast<uint64_t>(*p - '0');
        if (fraction) --exponent;
      }
      ++digits;  // past 19 the value is not `exact` and is read by the caller's fallback
    }
  };
  const bool negative = p < end && *p == '-';
  if (negative) ++p;
  if (p < end && *p == '0') {
    ++p;
  } else if (p < end && IsDigit(*p)) {
    digits_run(false);
  } else {
    return fail(p == begin ? "a value" : "a digit");
  }
  bool integer = true;
  if (p < end && *p == '.') {
    ++p;
    if (p == end || !IsDigit(*p)) return fail("a digit after the decimal point");
    digits_run(true);
    integer = false;
  }
  if (p < end && (*p == 'e' || *p == 'E')) {
    ++p;
    bool minus = false;
    if (p < end && (*p == '+' || *p == '-')) minus = *p++ == '-';
    if (p == end || !IsDigit(*p)) return fail("a digit in the exponent");
    int64_t e = 0;
    for (; p < end && IsDigit(*p); ++p) {
      if (e < 100000) e = e * 10 + (*p - '0');  // beyond any double's range either way
    }
    exponent += minus ? -e : e;
    integer = false;
  }
  pos_ = static_cast<size_t>(p - text_.data());
  number->text = std::string_view(begin, static_cast<size_t>(p - begin));
  number->integer = integer;
  number->negative = negative;
  number->significand = significand;
  number->exponent = exponent;
  number->exact = digits <= 19;
  return true;
}

JsonCursor::Next JsonCursor::NextNumber(Number* number) {
  if (!NextElement()) return failed_ ? Next::kFailed : Next::kEnd;
  if (pos_ < text_.size() && (text_[pos_] == '-' || IsDigit(text_[pos_]))) {
    return ReadNumber(number) ? Next::kNumber : Next::kFailed;
  }
  return Next::kOther;
}

bool JsonCursor::ReadLiteral(std::string_view literal) {
  if (text_.substr(pos_, literal.size()) != literal) return Fail("a value");
  pos_ += literal.size();
  return true;
}

bool JsonCursor::ReadBool(bool* value) {
  if (failed_) return false;
  SkipWhitespace();
  if (pos_ < text_.size() && text_[pos_] == 't') {
    *value = true;
    return ReadLiteral("true");
  }
  *value = false;
  return ReadLiteral("false");
}

bool JsonCursor::ReadNull() {
  if (failed_) return false;
  SkipWhitespace();
  return ReadLiteral("null");
}

bool JsonCursor::Skip() {
  switch (Peek()) {
    case Type::kObject:
      if (!EnterObject()) return false;
      while (NextMember(nullptr)) {
        if (!Skip()) return false;
      }
      return !failed_;
    case Type::kArray:
      if (!EnterArray()) return false;
      while (NextElement()) {
        if (!Skip()) return false;
      }
      return !failed_;
    case Type::kString:
      return ReadString(nullptr);
    case Type::kNumber: {
      Number number;
      return ReadNumber(&number);
    }
    case Type::kBool: {
      bool value = false;
      return ReadBool(&value);
    }
    case Type::kNull:
      return ReadNull();
    case Type::kInvalid:
      break;
  }
  return Fail("a value");
}

bool JsonCursor::AtEnd() {
  if (failed_) return false;
  SkipWhitespace();
  if (pos_ == text_.size()) return true;
  return Fail("the end of the input after the JSON value");
}

}  // namespace seqserve
