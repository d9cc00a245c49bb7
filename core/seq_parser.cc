#include "core/seq_parser.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "core/seq_lexer.h"

namespace seqserve {
namespace {

// Deep enough for any real model, shallow enough that the recursive descent (about 3 KB
// of stack per level at -O2, so under 1 MB in all) and the recursive destruction of the
// tree cannot exhaust a thread's stack, whatever the input.
constexpr int kMaxNesting = 200;

using Kind = SeqToken::Kind;

bool IsConstantName(std::string_view name) {
  return name == "True" || name == "False" || name == "None";
}

std::string LocString(SourceLoc loc) { return absl::StrCat(loc.line, ":", loc.col); }

std::string Abbreviate(std::string_view s) {
  constexpr size_t kMax = 32;
  if (s.size() <= kMax) return std::string(s);
  return std::string(s.substr(0, kMax - 3)) + "...";
}

class Parser {
 public:
  Parser(std::vector<SeqToken> tokens, std::string_view file)
      : tokens_(std::move(tokens)), file_(file) {}

  absl::StatusOr<SeqValue> ParseFile() {
    if (Peek().kind == Kind::kEnd) {
      return Unexpected(Peek(), "expected an expression such as nn.Sequential(...)");
    }
    absl::StatusOr<SeqValue> value = ParseExpr(0);
    if (!value.ok()) return value.status();
    if (Peek().kind != Kind::kEnd) {
      return Unexpected(Peek(), "expected end of input after the expression");
    }
    return value;
  }

 private:
  struct Delimited {
    int count = 0;
    bool saw_comma = false;  // tells the tuple `(5,)` from the parenthesised `(5)`
  };

  const SeqToken& Peek(size_t ahead = 0) const {
    return tokens_[std::min(pos_ + ahead, tokens_.size() - 1)];
  }
  // Consumes the current token. The caller has checked it is not kEnd or kError, which
  // are always last, so pos_ stays in range.
  const SeqToken& Next() { return tokens_[pos_++]; }

  absl::Status ErrorAt(SourceLoc loc, absl::string_view message) const {
    return absl::InvalidArgumentError(
        absl::StrCat(file_, ":", loc.line, ":", loc.col, ": ", message));
  }
  // "syntax error: <expected>, got <tok>", or the lexer's own error when `tok` is one.
  absl::Status Unexpected(const SeqToken& tok, absl::string_view expected) const {
    if (tok.kind == Kind::kError) return ErrorAt(tok.loc, tok.text);
    return ErrorAt(tok.loc, absl::StrCat("syntax error: ", expected, ", got ", tok.Describe()));
  }
  absl::Status NestingError(SourceLoc loc) const {
    return ErrorAt(loc, absl::StrCat("nesting deeper than ", kMaxNesting, " levels"));
  }

  // Arithmetic on number literals, folded at parse time with Python's rules, so that
  // `nn.Linear(16 * 5 * 5, 120)` reads as users write it. Precedence, lowest first:
  //   + -   then   * / // %   then unary + -   then **.
  absl::StatusOr<SeqValue> ParseExpr(int depth) {
    if (depth > kMaxNesting) return NestingError(Peek().loc);
    absl::StatusOr<SeqValue> left = ParseTerm(depth);
    int chain = depth;  // `a + b + c` on calls nests a level per `+`, like a method chain
    while (left.ok() && (Peek().IsOperator("+") || Peek().IsOperator("-"))) {
      const SeqToken& op = Next();
      absl::StatusOr<SeqValue> right = ParseTerm(depth);
      if (!right.ok()) return right.status();
      if (op.text == "+" && (left->kind == SeqValue::Kind::kCall ||
                             right->kind == SeqValue::Kind::kCall)) {
        if (++chain > kMaxNesting) return NestingError(op.loc);
        SourceLoc start = left->loc;
        left = MethodCall("__add__", op.loc, *std::move(left), {*std::move(right)});
        left->loc = start;
        continue;
      }
      left = Arithmetic(op, *left, *right);
    }
    return left;
  }

  // `receiver.name(args)` as a value located at `loc`.
  static SeqValue MethodCall(std::string name, SourceLoc loc, SeqValue receiver,
                             std::vector<SeqValue> args) {
    auto call = std::make_shared<SeqCall>();
    call->name = std::move(name);
    call->loc = loc;
    call->receiver = std::make_shared<SeqValue>(std::move(receiver));
    call->args = std::move(args);
    SeqValue value;
    value.kind = SeqValue::Kind::kCall;
    value.loc = loc;
    value.call = std::move(call);
    return value;
  }

  absl::StatusOr<SeqValue> ParseTerm(int depth) {
    absl::StatusOr<SeqValue> left = ParseFactor(depth);
    while (left.ok() && (Peek().IsOperator("*") || Peek().IsOperator("/") ||
                         Peek().IsOperator("//") || Peek().IsOperator("%"))) {
      const SeqToken& op = Next();
      absl::StatusOr<SeqValue> right = ParseFactor(depth);
      if (!right.ok()) return right.status();
      left = Arithmetic(op, *left, *right);
    }
    return left;
  }

  absl::StatusOr<SeqValue> ParseFactor(int depth) {
    if (depth > kMaxNesting) return NestingError(Peek().loc);
    if (Peek().IsPunct('-') || Peek().IsPunct('+')) return ParseUnary(depth);
    return ParsePower(depth);
  }

  absl::StatusOr<SeqValue> ParsePower(int depth) {
    absl::StatusOr<SeqValue> base = ParsePrimary(depth);
    if (!base.ok() || !Peek().IsOperator("**")) return base;
    const SeqToken& op = Next();
    absl::StatusOr<SeqValue> exponent = ParseFactor(depth + 1);  // right-associative
    if (!exponent.ok()) return exponent.status();
    return Arithmetic(op, *base, *exponent);
  }

  // `left op right` on ints and floats as Python computes it; an int result that does not
  // fit in 64 bits, a division by zero or a non-number operand is an error at the operator.
  absl::StatusOr<SeqValue> Arithmetic(const SeqToken& op, const SeqValue& left,
                                      const SeqValue& right) const {
    using VK = SeqValue::Kind;
    auto is_number = [](const SeqValue& v) { return v.kind == VK::kInt || v.kind == VK::kFloat; };
    if (!is_number(left) || !is_number(right)) {
      return ErrorAt(op.loc, absl::StrCat("unsupported operand types for ", op.text, ": ",
                                          left.Describe(), " and ", right.Describe()));
    }
    SeqValue result;
    result.loc = left.loc;
    const bool ints = left.kind == VK::kInt && right.kind == VK::kInt;
    if (ints && op.text != "/" && !(op.text == "**" && right.int_value < 0)) {
      const int64_t a = left.int_value, b = right.int_value;
      int64_t r = 0;
      bool overflow = false;
      if (op.text == "+") {
        overflow = __builtin_add_overflow(a, b, &r);
      } else if (op.text == "-") {
        overflow = __builtin_sub_overflow(a, b, &r);
      } else if (op.text == "*") {
        overflow = __builtin_mul_overflow(a, b, &r);
      } else if (op.text == "**") {
        // |a| <= 1 never overflows, so only then can the exponent be large.
        if (a == 0 || a == 1) {
          r = (b == 0) ? 1 : a;
        } else if (a == -1) {
          r = (b % 2 == 0) ? 1 : -1;
        } else {
          r = 1;
          for (int64_t i = 0; i < b && !overflow; ++i) overflow = __builtin_mul_overflow(r, a, &r);
        }
      } else {  // // and %: floor division and its remainder, signs as in Python
        if (b == 0) return ErrorAt(op.loc, "ZeroDivisionError: integer division or modulo by zero");
        if (a == std::numeric_limits<int64_t>::min() && b == -1) {
          overflow = true;
        } else {
          int64_t q = a / b, m = a % b;
          if (m != 0 && ((m < 0) != (b < 0))) {
            q -= 1;
            m += b;
          }
          r = op.text == "//" ? q : m;
        }
      }
      if (overflow) {
        return ErrorAt(op.loc, absl::StrCat("the result of ", op.text,
                                            " does not fit in 64 bits"));
      }
      result.kind = VK::kInt;
      result.int_value = r;
      return result;
    }
    const double a = left.kind == VK::kInt ? static_cast<double>(left.int_value) : left.float_value;
    const double b =
        right.kind == VK::kInt ? static_cast<double>(right.int_value) : right.float_value;
    double r = 0;
    if (op.text == "+") {
      r = a + b;
    } else if (op.text == "-") {
      r = a - b;
    } else if (op.text == "*") {
      r = a * b;
    } else if (op.text == "**") {
      r = std::pow(a, b);
    } else {
      if (b == 0) return ErrorAt(op.loc, "ZeroDivisionError: float division by zero");
      if (op.text == "/") {
        r = a / b;
      } else {
        const double q = std::floor(a / b);
        r = op.text == "//" ? q : a - q * b;
      }
    }
    if (!std::isfinite(r)) {
      return ErrorAt(op.loc, absl::StrCat("the result of ", op.text, " is not a finite float"));
    }
    result.kind = VK::kFloat;
    result.float_value = r;
    return result;
  }

  absl::StatusOr<SeqValue> ParseUnary(int depth) {
    const SeqToken& sign = Next();
    bool negative = sign.IsPunct('-');
    // Folding the sign into the literal is what makes -9223372036854775808 representable.
    // (Not before **: Python reads -2 ** 2 as -(2 ** 2).)
    if (Peek().kind == Kind::kInt && !Peek(1).IsOperator("**")) {
      return IntLiteral(Next(), negative, sign.loc);
    }
    absl::StatusOr<SeqValue> operand = ParseFactor(depth + 1);
    if (!operand.ok()) return operand.status();
    SeqValue value = *std::move(operand);
    value.loc = sign.loc;
    if (value.kind == SeqValue::Kind::kInt) {
      if (negative && value.int_value == std::numeric_limits<int64_t>::min()) {
        return ErrorAt(sign.loc, "integer does not fit in 64 bits");
      }
      if (negative) value.int_value = -value.int_value;
    } else if (value.kind == SeqValue::Kind::kFloat) {
      if (negative) value.float_value = -value.float_value;
    } else {
      return ErrorAt(sign.loc, absl::StrCat("syntax error: bad operand for unary '", sign.text,
                                            "': ", value.Describe()));
    }
    return value;
  }

  absl::StatusOr<SeqValue> IntLiteral(const SeqToken& tok, bool negative, SourceLoc loc) const {
    uint64_t limit =
        static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) + (negative ? 1 : 0);
    if (tok.int_too_large || tok.int_magnitude > limit) {
      return ErrorAt(loc, absl::StrCat("integer literal ", negative ? "-" : "",
                                       Abbreviate(tok.source), " does not fit in 64 bits"));
    }
    SeqValue value;
    value.kind = SeqValue::Kind::kInt;
    value.loc = loc;
    // Modular conversion (well defined since C++20) maps 2^63 to INT64_MIN as intended.
    value.int_value = static_cast<int64_t>(negative ? 0 - tok.int_magnitude : tok.int_magnitude);
    return value;
  }

  absl::StatusOr<SeqValue> ParsePrimary(int depth) {
    const SeqToken& tok = Peek();
    SeqValue value;
    value.loc = tok.loc;
    switch (tok.kind) {
      case Kind::kInt: return IntLiteral(Next(), /*negative=*/false, tok.loc);
      case Kind::kFloat:
        Next();
        value.kind = SeqValue::Kind::kFloat;
        value.float_value = tok.float_value;
        return value;
      case Kind::kString:
        Next();
        value.kind = SeqValue::Kind::kString;
        value.string_value = tok.text;
        return value;
      case Kind::kName: return ParseName(depth);
      case Kind::kPunct:
        if (tok.IsPunct('(')) {
          absl::StatusOr<SeqValue> inner = ParseParenthesized(depth);
          // `(a + b).append(c)`, `(a + b)[1:]`: methods and subscripts of a call's result.
          if (!inner.ok() || inner->kind != SeqValue::Kind::kCall) return inner;
          return ParseMethodCalls(*std::move(inner), depth);
        }
        if (tok.IsPunct('[')) return ParseList(depth);
        break;
      default: break;
    }
    return Unexpected(tok, "expected an expression");
  }

  // True / False / None, a bare dotted name, or a call of a dotted name followed by any
  // `.method(...)` calls.
  absl::StatusOr<SeqValue> ParseName(int depth) {
    const SeqToken& first = Next();
    SeqValue value;
    value.loc = first.loc;
    if (first.text == "None") return value;
    if (first.text == "True" || first.text == "False") {
      value.kind = SeqValue::Kind::kBool;
      value.bool_value = first.text == "True";
      return value;
    }
    std::string name = first.text;
    while (Peek().IsPunct('.')) {
      Next();
      const SeqToken& part = Peek();
      if (part.kind != Kind::kName || IsConstantName(part.text)) {
        return Unexpected(part, absl::StrCat("expected a name after '", name, ".'"));
      }
      absl::StrAppend(&name, ".", Next().text);
    }
    if (!Peek().IsPunct('(')) {
      // A bare (dotted) name, such as dtype=torch.float32: its consumer decides.
      value.kind = SeqValue::Kind::kName;
      value.string_value = std::move(name);
      return value;
    }
    Next();
    auto call = std::make_shared<SeqCall>();
    call->name = std::move(name);
    call->loc = first.loc;
    if (absl::Status status = ParseArguments(*call, depth); !status.ok()) return status;
    value.kind = SeqValue::Kind::kCall;
    value.call = std::move(call);
    return ParseMethodCalls(std::move(value), depth);
  }

  // `receiver.append(x).append(y)[1:]`: each link nests the previous value one level deeper
  // in the tree, so the chain counts against the nesting limit.
  absl::StatusOr<SeqValue> ParseMethodCalls(SeqValue value, int depth) {
    while (Peek().IsPunct('.') || Peek().IsPunct('[')) {
      if (Peek().IsPunct('[')) {
        const SeqToken& open = Next();
        if (++depth > kMaxNesting) return NestingError(open.loc);
        absl::StatusOr<SeqValue> index = ParseSubscript(open.loc, depth);
        if (!index.ok()) return index.status();
        SourceLoc start = value.loc;
        value = MethodCall("__getitem__", open.loc, std::move(value), {*std::move(index)});
        value.loc = start;
        continue;
      }
      const SeqToken& dot = Next();
      if (++depth > kMaxNesting) return NestingError(dot.loc);
      const SeqToken& method = Peek();
      if (method.kind != Kind::kName || IsConstantName(method.text)) {
        return Unexpected(method, "expected a method name after '.'");
      }
      Next();
      if (!Peek().IsPunct('(')) {
        return Unexpected(Peek(),
                          absl::StrCat("expected '(' to call the method '", method.text, "'"));
      }
      Next();
      auto call = std::make_shared<SeqCall>();
      call->name = method.text;
      call->loc = method.loc;
      SourceLoc start = value.loc;
      call->receiver = std::make_shared<SeqValue>(std::move(value));
      if (absl::Status status = ParseArguments(*call, depth); !status.ok()) return status;
      value = SeqValue();
      value.kind = SeqValue::Kind::kCall;
      value.loc = start;
      value.call = std::move(call);
    }
    return value;
  }

  // After the '[' of a subscript: an expression, or a slice `start:stop:step` (each part
  // optional) as the call slice(start, stop, step); then ']'.
  absl::StatusOr<SeqValue> ParseSubscript(SourceLoc open, int depth) {
    auto close = [&]() -> absl::Status {
      if (Peek().IsPunct(']')) {
        Next();
        return absl::OkStatus();
      }
      return Unexpected(Peek(), absl::StrCat("expected ']' to close the '[' opened at ",
                                             LocString(open)));
    };
    // An omitted part is None, located where it would have been.
    auto part = [&](bool omitted) -> absl::StatusOr<SeqValue> {
      if (!omitted) return ParseExpr(depth + 1);
      SeqValue none;
      none.loc = Peek().loc;
      return none;
    };
    const bool no_start = Peek().IsPunct(':');
    if (!no_start && Peek().IsPunct(']')) {
      return Unexpected(Peek(), "expected an index or a slice inside '[]'");
    }
    absl::StatusOr<SeqValue> start = part(no_start);
    if (!start.ok()) return start.status();
    if (!Peek().IsPunct(':')) {
      if (absl::Status status = close(); !status.ok()) return status;
      return start;
    }
    auto slice = std::make_shared<SeqCall>();
    slice->name = "slice";
    slice->loc = start->loc;
    slice->args.push_back(*std::move(start));
    for (int i = 0; i < 2; ++i) {  // stop, then step
      if (i == 1 && !Peek().IsPunct(':')) {
        slice->args.push_back(*part(true));
        break;
      }
      Next();  // ':'
      absl::StatusOr<SeqValue> next = part(Peek().IsPunct(':') || Peek().IsPunct(']'));
      if (!next.ok()) return next.status();
      slice->args.push_back(*std::move(next));
    }
    if (absl::Status status = close(); !status.ok()) return status;
    SeqValue value;
    value.kind = SeqValue::Kind::kCall;
    value.loc = slice->loc;
    value.call = std::move(slice);
    return value;
  }

  // After the '(' of a call: positional arguments, then keyword arguments, then ')'.
  absl::Status ParseArguments(SeqCall& call, int depth) {
    std::string what =
        absl::StrCat("the call to '", call.name, "' opened at ", LocString(call.loc));
    return ParseDelimited(')', what, [&] { return ParseArgument(call, depth); }).status();
  }

  absl::Status ParseArgument(SeqCall& call, int depth) {
    const SeqToken& tok = Peek();
    if (tok.kind == Kind::kName && !IsConstantName(tok.text) && Peek(1).IsPunct('=')) {
      Next();
      Next();
      for (const SeqKeywordArg& kw : call.kwargs) {
        if (kw.name == tok.text) {
          return ErrorAt(tok.loc, absl::StrCat("syntax error: keyword argument '", tok.text,
                                               "' repeated in the call to '", call.name, "'"));
        }
      }
      absl::StatusOr<SeqValue> value = ParseExpr(depth + 1);
      if (!value.ok()) return value.status();
      call.kwargs.push_back({tok.text, tok.loc, *std::move(value)});
      return absl::OkStatus();
    }
    absl::StatusOr<SeqValue> value = ParseExpr(depth + 1);
    if (!value.ok()) return value.status();
    if (!call.kwargs.empty()) {
      return ErrorAt(value->loc, absl::StrCat("syntax error: positional argument follows keyword "
                                              "argument in the call to '",
                                              call.name, "'"));
    }
    call.args.push_back(*std::move(value));
    return absl::OkStatus();
  }

  // `(`: the empty tuple, a parenthesised expression, or a tuple.
  absl::StatusOr<SeqValue> ParseParenthesized(int depth) {
    SourceLoc open = Next().loc;
    std::vector<SeqValue> items;
    absl::StatusOr<Delimited> parsed =
        ParseDelimited(')', absl::StrCat("the '(' opened at ", LocString(open)),
                       [&] { return ParseItem(depth, items); });
    if (!parsed.ok()) return parsed.status();
    if (parsed->count == 1 && !parsed->saw_comma) return std::move(items[0]);
    SeqValue tuple;
    tuple.kind = SeqValue::Kind::kTuple;
    tuple.loc = open;
    tuple.items = std::move(items);
    return tuple;
  }

  absl::StatusOr<SeqValue> ParseList(int depth) {
    SourceLoc open = Next().loc;
    SeqValue list;
    list.kind = SeqValue::Kind::kList;
    list.loc = open;
    absl::StatusOr<Delimited> parsed =
        ParseDelimited(']', absl::StrCat("the '[' opened at ", LocString(open)),
                       [&] { return ParseItem(depth, list.items); });
    if (!parsed.ok()) return parsed.status();
    return list;
  }

  absl::Status ParseItem(int depth, std::vector<SeqValue>& items) {
    absl::StatusOr<SeqValue> value = ParseExpr(depth + 1);
    if (!value.ok()) return value.status();
    items.push_back(*std::move(value));
    return absl::OkStatus();
  }

  // Comma-separated items up to `closer`, trailing comma allowed; the opener is consumed.
  // `what` names the construct for errors ("the call to 'nn.Conv2d' opened at 2:11").
  absl::StatusOr<Delimited> ParseDelimited(char closer, absl::string_view what,
                                           absl::FunctionRef<absl::Status()> parse_item) {
    // A wrong bracket or the end of the file means the construct was never closed.
    auto unclosed = [&](const SeqToken& tok) {
      return tok.kind == Kind::kEnd || tok.IsPunct(')') || tok.IsPunct(']');
    };
    std::string close_message =
        absl::StrCat("expected '", std::string(1, closer), "' to close ", what);
    Delimited result;
    while (true) {
      if (Peek().IsPunct(closer)) {
        Next();
        return result;
      }
      if (unclosed(Peek())) return Unexpected(Peek(), close_message);
      if (absl::Status status = parse_item(); !status.ok()) return status;
      ++result.count;
      if (Peek().IsPunct(',')) {
        Next();
        result.saw_comma = true;
        continue;
      }
      if (Peek().IsPunct(closer)) {
        Next();
        return result;
      }
      if (unclosed(Peek())) return Unexpected(Peek(), close_message);
      // Any other token most likely means a missing comma.
      return Unexpected(Peek(),
                        absl::StrCat("expected ',' or '", std::string(1, closer), "' in ", what));
    }
  }

  std::vector<SeqToken> tokens_;  // ends with kEnd or kError
  size_t pos_ = 0;
  std::string file_;
};

}  // namespace

absl::StatusOr<SeqValue> ParseModelSeq(std::string_view text, std::string_view file) {
  return Parser(TokenizeModelSeq(text), file).ParseFile();
}

}  // namespace seqserve
