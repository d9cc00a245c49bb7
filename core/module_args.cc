#include "core/module_args.h"

#include <cassert>
#include <charconv>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace seqserve {
namespace {

using Kind = SeqValue::Kind;

// Debian's abseil has its own string_view type, distinct from std::string_view.
absl::string_view Absl(std::string_view s) { return absl::string_view(s.data(), s.size()); }

std::string FloatRepr(double v) {
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);  // shortest round trip
  std::string out(buf, ec == std::errc() ? end : buf);
  // Python writes 5.0, not 5: keep the float-ness visible in messages.
  if (out.find_first_of(".en") == std::string::npos) out += ".0";
  return out;
}

// Python's repr() of a value, for messages.
std::string Repr(const SeqValue& v) {
  switch (v.kind) {
    case Kind::kNone: return "None";
    case Kind::kBool: return v.bool_value ? "True" : "False";
    case Kind::kInt: return absl::StrCat(v.int_value);
    case Kind::kFloat: return FloatRepr(v.float_value);
    case Kind::kString: return absl::StrCat("'", absl::CHexEscape(v.string_value), "'");
    case Kind::kTuple:
    case Kind::kList: {
      bool tuple = v.kind == Kind::kTuple;
      std::string out = tuple ? "(" : "[";
      for (size_t i = 0; i < v.items.size(); ++i) {
        absl::StrAppend(&out, i > 0 ? ", " : "", Repr(v.items[i]));
      }
      if (tuple && v.items.size() == 1) out += ",";
      out += tuple ? ")" : "]";
      return out;
    }
    case Kind::kCall: return absl::StrCat(v.call ? v.call->name : "", "(...)");
    case Kind::kName: return v.string_value;
  }
  return "?";
}

// "float (5.0)", "tuple (1, 2)", "None", "call to ReLU": the type, plus the value when it
// is short enough to help rather than flood the message.
std::string DescribeWithValue(const SeqValue& v) {
  if (v.kind == Kind::kNone || v.kind == Kind::kCall) return v.Describe();
  if (v.kind == Kind::kName) return absl::StrCat(v.Describe(), " (strings need quotes)");
  constexpr size_t kMaxReprChars = 40;
  std::string repr = Repr(v);
  if (repr.size() > kMaxReprChars) return v.Describe();
  if (v.kind == Kind::kTuple || v.kind == Kind::kList) return absl::StrCat(v.Describe(), " ", repr);
  return absl::StrCat(v.Describe(), " (", repr, ")");
}

std::string Expected(absl::string_view what, const SeqValue& actual) {
  return absl::StrCat("expected ", what, ", got ", DescribeWithValue(actual));
}

absl::Status ErrorAt(absl::string_view file, SourceLoc loc, absl::string_view module_type,
                     absl::string_view message) {
  return absl::InvalidArgumentError(
      absl::StrCat(file, ":", loc.line, ":", loc.col, ": ", module_type, ": ", message));
}

std::string Plural(size_t n, absl::string_view noun) {
  return absl::StrCat(n, " ", noun, n == 1 ? "" : "s");
}

}  // namespace

ArgSpec Required(std::string name) { return ArgSpec{std::move(name), std::nullopt}; }
ArgSpec Default(std::string name, SeqValue value) {
  return ArgSpec{std::move(name), std::move(value)};
}
ArgSpec Default(std::string name, bool value) { return Default(std::move(name), BoolValue(value)); }
ArgSpec Default(std::string name, int value) { return Default(std::move(name), IntValue(value)); }
ArgSpec Default(std::string name, int64_t value) {
  return Default(std::move(name), IntValue(value));
}
ArgSpec Default(std::string name, double value) {
  return Default(std::move(name), FloatValue(value));
}
ArgSpec Default(std::string name, const char* value) {
  return Default(std::move(name), StringValue(value));
}

SeqValue NoneValue() { return SeqValue(); }
SeqValue BoolValue(bool v) {
  SeqValue value;
  value.kind = Kind::kBool;
  value.bool_value = v;
  return value;
}
SeqValue IntValue(int64_t v) {
  SeqValue value;
  value.kind = Kind::kInt;
  value.int_value = v;
  return value;
}
SeqValue FloatValue(double v) {
  SeqValue value;
  value.kind = Kind::kFloat;
  value.float_value = v;
  return value;
}
SeqValue StringValue(std::string v) {
  SeqValue value;
  value.kind = Kind::kString;
  value.string_value = std::move(v);
  return value;
}
SeqValue TupleValue(std::vector<SeqValue> items) {
  SeqValue value;
  value.kind = Kind::kTuple;
  value.items = std::move(items);
  return value;
}

absl::StatusOr<ModuleArgs> ModuleArgs::Bind(const SeqCall& call, std::string_view module_type,
                                            const std::vector<ArgSpec>& signature,
                                            std::string_view file) {
  ModuleArgs result;
  result.module_type_ = std::string(module_type);
  result.file_ = std::string(file);
  result.loc_ = call.loc;
  result.bound_.reserve(signature.size());
  for (const ArgSpec& spec : signature) {
    result.bound_.push_back({spec.name, spec.default_value.value_or(NoneValue()), false, call.loc});
  }

  if (call.args.size() > signature.size()) {
    std::string message =
        signature.empty()
            ? absl::StrCat("takes no positional arguments (", call.args.size(), " given)")
            : absl::StrCat("takes at most ", Plural(signature.size(), "positional argument"), " (",
                           call.args.size(), " given)");
    // Point at the first argument that does not fit.
    return ErrorAt(result.file_, call.args[signature.size()].loc, result.module_type_, message);
  }
  for (size_t i = 0; i < call.args.size(); ++i) {
    Bound& bound = result.bound_[i];
    bound.value = call.args[i];
    bound.given = true;
    bound.loc = call.args[i].loc;
  }

  for (const SeqKeywordArg& kw : call.kwargs) {
    Bound* bound = nullptr;
    for (Bound& candidate : result.bound_) {
      if (candidate.name == kw.name) bound = &candidate;
    }
    if (bound == nullptr) {
      return ErrorAt(result.file_, kw.loc, result.module_type_,
                     absl::StrCat("unexpected keyword argument '", kw.name, "'"));
    }
    if (bound->given) {
      return ErrorAt(result.file_, kw.loc, result.module_type_,
                     absl::StrCat("got multiple values for argument '", kw.name, "'"));
    }
    bound->value = kw.value;
    bound->given = true;
    bound->loc = kw.loc;
  }

  for (size_t i = 0; i < signature.size(); ++i) {
    if (!result.bound_[i].given && !signature[i].default_value.has_value()) {
      return ErrorAt(result.file_, call.loc, result.module_type_,
                     absl::StrCat("missing required argument '", signature[i].name, "'"));
    }
  }
  return result;
}

const ModuleArgs::Bound* ModuleArgs::Find(std::string_view name) const {
  for (const Bound& bound : bound_) {
    if (bound.name == name) return &bound;
  }
  return nullptr;
}

const SeqValue& ModuleArgs::Get(std::string_view name) const {
  if (const Bound* bound = Find(name)) return bound->value;
  assert(false && "argument not in the module's signature");
  // Release builds read None, so the typed getters report a clean error. Never destroyed,
  // so there is no exit-time destructor to race with other threads.
  static const SeqValue* const kNone = new SeqValue();
  return *kNone;
}

bool ModuleArgs::WasGiven(std::string_view name) const {
  const Bound* bound = Find(name);
  return bound != nullptr && bound->given;
}

bool ModuleArgs::IsNone(std::string_view name) const { return Get(name).kind == Kind::kNone; }
bool ModuleArgs::IsString(std::string_view name) const { return Get(name).kind == Kind::kString; }

absl::StatusOr<int64_t> ModuleArgs::Int(std::string_view name) const {
  const SeqValue& v = Get(name);
  if (v.kind == Kind::kInt) return v.int_value;
  return Error(name, Expected("int", v));
}

absl::StatusOr<double> ModuleArgs::Float(std::string_view name) const {
  const SeqValue& v = Get(name);
  if (v.kind == Kind::kFloat) return v.float_value;
  if (v.kind == Kind::kInt) return static_cast<double>(v.int_value);
  return Error(name, Expected("float", v));
}

absl::StatusOr<bool> ModuleArgs::Bool(std::string_view name) const {
  const SeqValue& v = Get(name);
  if (v.kind == Kind::kBool) return v.bool_value;
  if (v.kind == Kind::kInt) return v.int_value != 0;
  return Error(name, Expected("bool", v));
}

absl::StatusOr<std::string> ModuleArgs::String(std::string_view name) const {
  const SeqValue& v = Get(name);
  if (v.kind == Kind::kString) return v.string_value;
  return Error(name, Expected("str", v));
}

absl::StatusOr<std::vector<int64_t>> ModuleArgs::IntTuple(std::string_view name, int n) const {
  const SeqValue& v = Get(name);
  std::string expected = absl::StrCat("an int or a tuple of ", Plural(n, "int"));
  if (v.kind == Kind::kInt) return std::vector<int64_t>(n, v.int_value);
  if (v.kind != Kind::kTuple && v.kind != Kind::kList) return Error(name, Expected(expected, v));
  if (v.items.size() != static_cast<size_t>(n)) {
    return Error(name, absl::StrCat("expected ", expected, ", got a ", v.Describe(), " of ",
                                    v.items.size()));
  }
  std::vector<int64_t> out;
  for (const SeqValue& item : v.items) {
    if (item.kind != Kind::kInt) return Error(name, Expected(expected, v));
    out.push_back(item.int_value);
  }
  return out;
}

absl::StatusOr<std::vector<int64_t>> ModuleArgs::IntList(std::string_view name) const {
  const SeqValue& v = Get(name);
  constexpr absl::string_view kExpected = "an int or a tuple of ints";
  if (v.kind == Kind::kInt) return std::vector<int64_t>{v.int_value};
  if (v.kind != Kind::kTuple && v.kind != Kind::kList) return Error(name, Expected(kExpected, v));
  std::vector<int64_t> out;
  for (const SeqValue& item : v.items) {
    if (item.kind != Kind::kInt) return Error(name, Expected(kExpected, v));
    out.push_back(item.int_value);
  }
  return out;
}

absl::Status ModuleArgs::Error(std::string_view name, std::string_view message) const {
  const Bound* bound = Find(name);
  return ErrorAt(file_, bound != nullptr ? bound->loc : loc_, module_type_,
                 absl::StrCat("argument '", Absl(name), "': ", Absl(message)));
}

absl::Status ModuleArgs::CallError(std::string_view message) const {
  return ErrorAt(file_, loc_, module_type_, Absl(message));
}

}  // namespace seqserve
