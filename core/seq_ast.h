// Syntax tree of a model.seq file: one Python expression made of calls and literals.
// Produced by ParseModelSeq (seq_parser.h); consumed by the Sequential builder and by
// ModuleArgs. Plain immutable values; no synchronisation needed.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace seqserve {

// 1-based line and column of the first character of a node.
struct SourceLoc {
  int line = 0;
  int col = 0;
};

struct SeqCall;

struct SeqValue {
  enum class Kind { kNone, kBool, kInt, kFloat, kString, kTuple, kList, kCall, kName };

  Kind kind = Kind::kNone;
  SourceLoc loc;
  bool bool_value = false;
  int64_t int_value = 0;
  double float_value = 0;
  std::string string_value;         // kString; for kName the dotted name (torch.float32)
  std::vector<SeqValue> items;      // kTuple, kList
  std::shared_ptr<SeqCall> call;    // kCall

  // "int", "float", "tuple", "call to Conv2d", ... for error messages.
  std::string Describe() const;
};

struct SeqKeywordArg {
  std::string name;
  SourceLoc loc;  // of the keyword name
  SeqValue value;
};

// `name(args, kwargs)`, or `receiver.name(args, kwargs)` for a method call on the result
// of another call. Python's operators on a call are method calls too, as Python defines
// them: `a + b` is `a.__add__(b)`, `a[i]` is `a.__getitem__(i)` and `a[1:3]` is
// `a.__getitem__(slice(1, 3, None))`, the slice a plain call named "slice" of 3 arguments.
struct SeqCall {
  // For a plain call the dotted name as written, e.g. "nn.Conv2d", "torch.nn.ReLU",
  // "Sequential", "OrderedDict", "collections.OrderedDict". For a method call, the method
  // name alone ("append", "__getitem__").
  std::string name;
  SourceLoc loc;                        // of the first character of the callee
  std::shared_ptr<SeqValue> receiver;   // set only for method calls
  std::vector<SeqValue> args;
  std::vector<SeqKeywordArg> kwargs;
};

}  // namespace seqserve
