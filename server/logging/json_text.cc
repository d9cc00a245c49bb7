#include "server/logging/json_text.h"

#include <cstddef>
#include <cstdint>

namespace seqserve {
namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD in UTF-8

// The length of the well-formed UTF-8 sequence starting at text[i] (1 to 4), or, when it is
// ill-formed, minus the length of its maximal subpart (at least 1): Unicode's Table 3-7.
int Utf8Sequence(std::string_view text, size_t i) {
  const auto byte = [&](size_t k) { return static_cast<uint8_t>(text[k]); };
  const uint8_t lead = byte(i);
  if (lead < 0x80) return 1;
  int length = 0;
  uint8_t low = 0x80, high = 0xBF;  // the range of the second byte
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    if (lead == 0xE0) low = 0xA0;   // no overlong forms
    if (lead == 0xED) high = 0x9F;  // no surrogates
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    if (lead == 0xF0) low = 0x90;   // no overlong forms
    if (lead == 0xF4) high = 0x8F;  // nothing beyond U+10FFFF
  } else {
    return -1;  // a continuation byte, or a lead byte that never starts a sequence
  }
  for (int k = 1; k < length; ++k) {
    if (i + k >= text.size()) return -k;
    const uint8_t next = byte(i + k);
    const bool fits = k == 1 ? next >= low && next <= high : next >= 0x80 && next <= 0xBF;
    if (!fits) return -k;
  }
  return length;
}

}  // namespace

std::string JsonEscape(std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(text.size() + 8);
  size_t i = 0;
  while (i < text.size()) {
    const char c = text[i];
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default: {
        const auto byte = static_cast<unsigned char>(c);
        if (byte < 0x20) {
          out += "\\u00";
          out += kHex[byte >> 4];
          out += kHex[byte & 0xF];
        } else if (byte < 0x80) {
          out += c;
        } else {
          const int length = Utf8Sequence(text, i);
          if (length > 0) {
            out.append(text.substr(i, static_cast<size_t>(length)));
          } else {
            out.append(kReplacement);
          }
          i += static_cast<size_t>(length > 0 ? length : -length);
          continue;
        }
      }
    }
    ++i;
  }
  return out;
}

std::string JsonQuote(std::string_view text) {
  std::string out = "\"";
  out += JsonEscape(text);
  out += '"';
  return out;
}

}  // namespace seqserve
