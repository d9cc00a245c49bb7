// Tokenizer for model.seq (the subset of Python that ParseModelSeq accepts). Internal to
// the parser; exposed in a header only so that it can be tested. Pure function; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/seq_ast.h"

namespace seqserve {

struct SeqToken {
  enum class Kind {
    kName,    // identifier, including True / False / None
    kInt,     // int_magnitude holds the value; the sign is a separate '-' token
    kFloat,   // float_value
    kString,  // text holds the decoded contents
    kPunct,   // one of ( ) [ ] , . = + - * / % ** // :; text holds it
    kEnd,     // end of input
    kError,   // lexical error: text holds the message (without the location prefix)
  };

  Kind kind = Kind::kEnd;
  SourceLoc loc;
  std::string text;         // names, punctuation, decoded strings, error messages
  std::string_view source;  // the token exactly as written (a view into the input)
  uint64_t int_magnitude = 0;
  bool int_too_large = false;  // the literal does not even fit in 64 unsigned bits
  double float_value = 0;

  bool IsPunct(char c) const { return kind == Kind::kPunct && text.size() == 1 && text[0] == c; }
  bool IsOperator(std::string_view op) const { return kind == Kind::kPunct && text == op; }
  // "')'", "name 'foo'", "int 5", "string 'abc'", "end of input": for "got ..." messages.
  std::string Describe() const;
};

// Splits `text` into tokens, skipping whitespace and `#` comments. The result always ends
// with a kEnd token, or with a kError token at the first lexical error (bad or non-ASCII
// character, unterminated string, malformed number). Columns count characters, not bytes.
std::vector<SeqToken> TokenizeModelSeq(std::string_view text);

}  // namespace seqserve
