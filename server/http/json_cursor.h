// A pull parser over one JSON text (RFC 8259), for decoding REST request bodies straight into
// their final storage: the caller walks objects and arrays in document order and reads each
// scalar where it is, so a tensor's numbers go into the tensor's buffer and no tree of the
// document is ever built (memory: the text, plus what the caller keeps).
//
// Strict JSON: strings must be valid UTF-8 with valid escapes (no lone surrogates, no raw
// control characters), numbers follow the JSON grammar (no NaN, Infinity, hex, leading '+'
// or '.'), nesting is limited to kMaxDepth, and nothing but whitespace may follow the value.
// A syntax error makes the cursor fail (failed() true, every later call returns false); it
// keeps the byte offset and what was expected, for the message. The caller decides what is
// semantically wrong.
//
// Not thread-safe: one cursor per text and thread. The text must outlive the cursor.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace seqserve {

class JsonCursor {
 public:
  // Deeper nesting is a syntax error (it would only serve to exhaust the stack).
  static constexpr int kMaxDepth = 512;

  enum class Type { kObject, kArray, kString, kNumber, kBool, kNull, kInvalid };

  explicit JsonCursor(std::string_view text) : text_(text) {}

  // The type of the next value, from its first character (after whitespace); kInvalid when
  // no value starts there (the caller then reads it anyway, which fails with a position).
  Type Peek();
  // "an object", "an array", "a string", "a number", "a boolean", "null", "nothing".
  static const char* TypeName(Type type);

  // Objects: EnterObject consumes '{'; then NextMember gives each member's key (unescaped)
  // and leaves the cursor at its value, which the caller must read or Skip; false at '}'
  // (consumed) or on a syntax error.
  bool EnterObject();
  bool NextMember(std::string* key);
  // Arrays likewise: EnterArray consumes '['; NextElement is true while another element
  // follows (the cursor is at it), false at ']' (consumed) or on a syntax error.
  bool EnterArray();
  bool NextElement();

  // Scalars. Each fails (syntax error) when the next value is not of its type.
  bool ReadString(std::string* out);  // unescaped; out may be nullptr to only check it
  // A number, grammar-checked: its text, and its decimal parts as read on the way.
  struct Number {
    std::string_view text;
    bool integer = false;  // no fraction and no exponent
    bool negative = false;
    // The value is significand * 10^exponent when `exact`: the digits (leading zeros aside)
    // numbered at most 19, so the significand holds them all.
    uint64_t significand = 0;
    int64_t exponent = 0;
    bool exact = false;
  };
  bool ReadNumber(Number* number);
  // Inside an array, for arrays of numbers: NextElement, then ReadNumber when a number comes
  // next. kNumber: one was read into `number`; kEnd: the array ended (']' consumed); kOther:
  // another value is next (at the cursor, unread); kFailed: a syntax error.
  enum class Next { kNumber, kEnd, kOther, kFailed };
  Next NextNumber(Number* number);
  bool ReadBool(bool* value);
  bool ReadNull();
  // Any value, checked and skipped.
  bool Skip();
  // After the top-level value: only whitespace may remain.
  bool AtEnd();

  bool failed() const { return failed_; }
  // Where the first syntax error was found, and what was expected there.
  size_t error_offset() const { return error_offset_; }
  const std::string& error() const { return error_; }
  // The byte offset of the next value (after whitespace), e.g. to come back to it with Seek.
  size_t offset();
  // Moves to `offset`, which must be where a value starts (from offset()), at `depth`.
  void Seek(size_t offset, int depth) {
    pos_ = offset;
    depth_ = depth;
  }
  int depth() const { return depth_; }

 private:
  void SkipWhitespace() {
    const char* p = text_.data() + pos_;
    const char* const end = text_.data() + text_.size();
    while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')) ++p;
    pos_ = static_cast<size_t>(p - text_.data());
  }
  bool Fail(std::string_view expected);
  bool Expect(char c, std::string_view expected);
  bool ReadLiteral(std::string_view literal);
  // \uXXXX after the "\u": the code unit.
  bool ReadHex4(uint32_t* unit);
  // One UTF-8 sequence starting at pos_ (a byte >= 0x80), validated and appended to `out`.
  bool ReadUtf8(std::string* out);

  std::string_view text_;
  size_t pos_ = 0;
  int depth_ = 0;
  // Whether the object or array just entered is still before its first member or element.
  bool first_ = false;
  bool failed_ = false;
  size_t error_offset_ = 0;
  std::string error_;
};

}  // namespace seqserve
