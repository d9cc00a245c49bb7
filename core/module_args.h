// Binds the arguments of one module call in model.seq to the module's PyTorch constructor
// signature (positional and keyword, with defaults), and reads them back with type checks.
// Every error names `file:line:col`, the module type and the argument, e.g.
//   model.seq:3:21: Conv2d: argument 'groups': in_channels (3) must be divisible by groups (2)
// Immutable after Bind; safe to read from several threads.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/seq_ast.h"

namespace seqserve {

// One parameter of a constructor signature: required, or with a default value.
struct ArgSpec {
  std::string name;
  std::optional<SeqValue> default_value;  // nullopt: the argument is required
};

// Builders for signatures: {Required("in_features"), Default("bias", true), ...}.
ArgSpec Required(std::string name);
ArgSpec Default(std::string name, SeqValue value);
// Shorthands so that signatures read like PyTorch's: Default("stride", 1),
// Default("bias", true), Default("eps", 1e-5), Default("padding_mode", "zeros").
ArgSpec Default(std::string name, bool value);
ArgSpec Default(std::string name, int value);
ArgSpec Default(std::string name, int64_t value);
ArgSpec Default(std::string name, double value);
ArgSpec Default(std::string name, const char* value);
SeqValue NoneValue();
SeqValue BoolValue(bool v);
SeqValue IntValue(int64_t v);
SeqValue FloatValue(double v);
SeqValue StringValue(std::string v);
SeqValue TupleValue(std::vector<SeqValue> items);

class ModuleArgs {
 public:
  // Matches call.args (positionally) and call.kwargs (by name) against `signature`.
  // Errors: too many positional arguments, unknown keyword, an argument given twice,
  // a required argument missing. `file` is the path shown in messages.
  static absl::StatusOr<ModuleArgs> Bind(const SeqCall& call, std::string_view module_type,
                                         const std::vector<ArgSpec>& signature,
                                         std::string_view file);

  // Typed reads of a bound argument; a wrong type is an error naming expected and actual.
  absl::StatusOr<int64_t> Int(std::string_view name) const;     // int only (bool rejected)
  absl::StatusOr<double> Float(std::string_view name) const;    // float or int
  absl::StatusOr<bool> Bool(std::string_view name) const;       // bool, or int as Python truthiness
  absl::StatusOr<std::string> String(std::string_view name) const;
  // An int (repeated n times) or a tuple/list of exactly n ints, as PyTorch's _pair/_single.
  absl::StatusOr<std::vector<int64_t>> IntTuple(std::string_view name, int n) const;
  // An int (one element) or a tuple/list of any number of ints.
  absl::StatusOr<std::vector<int64_t>> IntList(std::string_view name) const;
  bool IsNone(std::string_view name) const;
  bool IsString(std::string_view name) const;
  // The raw bound value (the default when the caller did not pass it).
  const SeqValue& Get(std::string_view name) const;
  // True when the caller passed the argument (positionally or by keyword).
  bool WasGiven(std::string_view name) const;

  // "file:line:col: Module: argument 'name': message", at the argument's location, or at
  // the call when the default was used.
  absl::Status Error(std::string_view name, std::string_view message) const;
  // "file:line:col: Module: message", at the call.
  absl::Status CallError(std::string_view message) const;

  std::string_view module_type() const { return module_type_; }
  std::string_view file() const { return file_; }
  SourceLoc loc() const { return loc_; }

 private:
  struct Bound {
    std::string name;
    SeqValue value;
    bool given = false;
    SourceLoc loc;
  };
  const Bound* Find(std::string_view name) const;

  std::string module_type_;
  std::string file_;
  SourceLoc loc_;
  std::vector<Bound> bound_;  // in signature order
};

}  // namespace seqserve
