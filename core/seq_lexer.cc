#include "core/seq_lexer.h"

#include <charconv>
#include <limits>
#include <system_error>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace seqserve {
namespace {

constexpr std::string_view kUtf8Bom = "\xEF\xBB\xBF";
constexpr std::string_view kPunctuation = "()[],.=+-*/%:";

bool IsIdentStart(char c) { return absl::ascii_isalpha(c) || c == '_'; }
bool IsIdentChar(char c) { return absl::ascii_isalnum(c) || c == '_'; }
bool IsUtf8Continuation(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

// Keeps messages readable when someone writes a 10 kB literal.
std::string Abbreviate(std::string_view s) {
  constexpr size_t kMax = 32;
  if (s.size() <= kMax) return std::string(s);
  return std::string(s.substr(0, kMax - 3)) + "...";
}

// Accumulates `digits` in `base` into tok.int_magnitude; false on a digit invalid in base.
bool AccumulateDigits(std::string_view digits, int base, SeqToken& tok) {
  constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();
  for (char c : digits) {
    int d = absl::ascii_isdigit(c)   ? c - '0'
            : absl::ascii_isalpha(c) ? absl::ascii_tolower(c) - 'a' + 10
                                     : base;
    if (d >= base) return false;
    if (tok.int_magnitude > (kMax - static_cast<uint64_t>(d)) / static_cast<uint64_t>(base)) {
      tok.int_too_large = true;
    } else {
      tok.int_magnitude = tok.int_magnitude * static_cast<uint64_t>(base) + d;
    }
  }
  return true;
}

class Lexer {
 public:
  explicit Lexer(std::string_view text) : text_(text) {
    // Editors on Windows like to prepend a byte-order mark; Python ignores it too.
    if (text_.starts_with(kUtf8Bom)) pos_ = kUtf8Bom.size();
  }

  std::vector<SeqToken> Run() {
    std::vector<SeqToken> tokens;
    while (true) {
      tokens.push_back(Next());
      SeqToken::Kind kind = tokens.back().kind;
      if (kind == SeqToken::Kind::kEnd || kind == SeqToken::Kind::kError) return tokens;
    }
  }

 private:
  bool AtEnd() const { return pos_ >= text_.size(); }
  char Peek(size_t ahead = 0) const {
    return pos_ + ahead < text_.size() ? text_[pos_ + ahead] : '\0';
  }

  void Advance() {
    char c = text_[pos_++];
    if (c == '\n') {
      ++line_;
      col_ = 1;
    } else if (AtEnd() || !IsUtf8Continuation(text_[pos_])) {
      ++col_;  // a multi-byte character occupies one column
    }
  }

  void SkipSpaceAndComments() {
    while (!AtEnd()) {
      char c = Peek();
      if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v') {
        Advance();
      } else if (c == '\\' && Peek(1) == '\n') {  // explicit line continuation
        Advance();
        Advance();
      } else if (c == '#') {
        while (!AtEnd() && Peek() != '\n') Advance();
      } else {
        return;
      }
    }
  }

  static void SetError(SeqToken& tok, std::string message) {
    tok.kind = SeqToken::Kind::kError;
    tok.text = std::move(message);
  }

  SeqToken Next() {
    SkipSpaceAndComments();
    SeqToken tok;
    tok.loc = {line_, col_};
    size_t start = pos_;
    if (AtEnd()) {
      tok.kind = SeqToken::Kind::kEnd;
      return tok;
    }
    char c = Peek();
    if (IsIdentStart(c)) {
      while (IsIdentChar(Peek())) Advance();
      tok.kind = SeqToken::Kind::kName;
      tok.text = std::string(text_.substr(start, pos_ - start));
    } else if (absl::ascii_isdigit(c) || (c == '.' && absl::ascii_isdigit(Peek(1)))) {
      LexNumber(tok);
    } else if (c == '\'' || c == '"') {
      LexString(tok);
    } else if (c != '\0' && kPunctuation.find(c) != std::string_view::npos) {
      Advance();
      tok.kind = SeqToken::Kind::kPunct;
      tok.text = std::string(1, c);
      // The two-character operators ** and //.
      if ((c == '*' || c == '/') && Peek() == c) {
        Advance();
        tok.text += c;
      }
    } else if (static_cast<unsigned char>(c) >= 0x80) {
      SetError(tok, absl::StrCat("syntax error: non-ASCII character ", DecodeCodePoint(),
                                 " outside a string"));
    } else {
      SetError(tok, absl::StrCat("syntax error: unexpected character '",
                                 absl::CHexEscape(std::string(1, c)), "'"));
    }
    tok.source = text_.substr(start, pos_ - start);
    return tok;
  }

  // "U+201C" for the UTF-8 sequence at pos_ (smart quotes pasted from a web page are the
  // usual culprit), or "byte 0xE2" when it is not valid UTF-8.
  std::string DecodeCodePoint() const {
    auto byte = [&](size_t i) { return static_cast<unsigned char>(Peek(i)); };
    unsigned char lead = byte(0);
    int extra = lead >= 0xF0 && lead < 0xF8 ? 3 : lead >= 0xE0 ? 2 : lead >= 0xC0 ? 1 : -1;
    if (extra < 0 || lead >= 0xF8) return absl::StrFormat("byte 0x%02X", lead);
    uint32_t cp = lead & (0x3F >> extra);
    for (int i = 1; i <= extra; ++i) {
      if ((byte(i) & 0xC0) != 0x80) return absl::StrFormat("byte 0x%02X", lead);
      cp = (cp << 6) | (byte(i) & 0x3F);
    }
    return absl::StrFormat("U+%04X", cp);
  }

  void LexNumber(SeqToken& tok) {
    size_t start = pos_;
    char prefix = absl::ascii_tolower(Peek(1));
    if (Peek() == '0' && (prefix == 'x' || prefix == 'o' || prefix == 'b')) {
      int base = prefix == 'x' ? 16 : prefix == 'o' ? 8 : 2;
      Advance();
      Advance();
      size_t digits_start = pos_;
      while (IsIdentChar(Peek())) Advance();
      std::string_view digits = text_.substr(digits_start, pos_ - digits_start);
      if (digits.empty() || !AccumulateDigits(digits, base, tok)) {
        const char* name = base == 16 ? "hexadecimal" : base == 8 ? "octal" : "binary";
        return SetError(tok, absl::StrCat("syntax error: invalid ", name, " literal '",
                                          Abbreviate(text_.substr(start, pos_ - start)), "'"));
      }
      tok.kind = SeqToken::Kind::kInt;
      return;
    }

    bool is_float = false;
    bool malformed = false;
    while (absl::ascii_isdigit(Peek())) Advance();
    if (Peek() == '.') {
      is_float = true;
      Advance();
      while (absl::ascii_isdigit(Peek())) Advance();
    }
    if (Peek() == 'e' || Peek() == 'E') {
      is_float = true;
      Advance();
      if (Peek() == '+' || Peek() == '-') Advance();
      malformed = !absl::ascii_isdigit(Peek());
      while (absl::ascii_isdigit(Peek())) Advance();
    }
    // `5abc`, `1e`, `3j`: Python rejects these as one malformed token, and so do we.
    if (IsIdentChar(Peek())) malformed = true;
    while (IsIdentChar(Peek())) Advance();
    std::string_view literal = text_.substr(start, pos_ - start);
    if (malformed) {
      return SetError(
          tok, absl::StrCat("syntax error: invalid number literal '", Abbreviate(literal), "'"));
    }

    if (is_float) {
      auto [ptr, ec] =
          std::from_chars(literal.data(), literal.data() + literal.size(), tok.float_value);
      if (ec == std::errc::result_out_of_range) {
        return SetError(tok, absl::StrCat("float literal '", Abbreviate(literal),
                                          "' is out of the range of a 64-bit float"));
      }
      if (ec != std::errc() || ptr != literal.data() + literal.size()) {
        return SetError(
            tok, absl::StrCat("syntax error: invalid number literal '", Abbreviate(literal), "'"));
      }
      tok.kind = SeqToken::Kind::kFloat;
      return;
    }
    // As in Python 3: `007` is an error (it was octal in Python 2), `000` is fine.
    if (literal.size() > 1 && literal[0] == '0' &&
        literal.find_first_not_of('0') != std::string_view::npos) {
      return SetError(tok, absl::StrCat("syntax error: leading zeros in an integer literal ('",
                                        Abbreviate(literal), "') are not permitted"));
    }
    AccumulateDigits(literal, 10, tok);
    tok.kind = SeqToken::Kind::kInt;
  }

  void LexString(SeqToken& tok) {
    char quote = Peek();
    Advance();
    std::string value;
    while (true) {
      if (AtEnd() || Peek() == '\n') {
        return SetError(tok, "syntax error: unterminated string literal");
      }
      char c = Peek();
      Advance();
      if (c == quote) break;
      if (c != '\\') {
        value += c;
        continue;
      }
      if (AtEnd()) return SetError(tok, "syntax error: unterminated string literal");
      char e = Peek();
      Advance();
      switch (e) {
        case '\n': break;  // backslash-newline continues the string on the next line
        case 'n': value += '\n'; break;
        case 't': value += '\t'; break;
        case 'r': value += '\r'; break;
        case '\\': value += '\\'; break;
        case '\'': value += '\''; break;
        case '"': value += '"'; break;
        case 'x': {
          if (!absl::ascii_isxdigit(Peek()) || !absl::ascii_isxdigit(Peek(1))) {
            return SetError(tok,
                            "syntax error: invalid \\x escape in a string (expected 2 "
                            "hexadecimal digits)");
          }
          SeqToken hex;
          AccumulateDigits(text_.substr(pos_, 2), 16, hex);
          Advance();
          Advance();
          value += static_cast<char>(hex.int_magnitude);
          break;
        }
        default:  // Python keeps unknown escapes such as `\d` verbatim
          value += '\\';
          value += e;
      }
    }
    tok.kind = SeqToken::Kind::kString;
    tok.text = std::move(value);
  }

  std::string_view text_;
  size_t pos_ = 0;
  int line_ = 1;
  int col_ = 1;
};

}  // namespace

std::string SeqToken::Describe() const {
  switch (kind) {
    case Kind::kName: return absl::StrCat("name '", Abbreviate(source), "'");
    case Kind::kInt: return absl::StrCat("int ", Abbreviate(source));
    case Kind::kFloat: return absl::StrCat("float ", Abbreviate(source));
    case Kind::kString: return absl::StrCat("string ", Abbreviate(source));
    case Kind::kPunct: return absl::StrCat("'", text, "'");
    case Kind::kEnd: return "end of input";
    case Kind::kError: return text;
  }
  return "?";
}

std::vector<SeqToken> TokenizeModelSeq(std::string_view text) { return Lexer(text).Run(); }

}  // namespace seqserve
