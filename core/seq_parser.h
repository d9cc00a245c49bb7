// Parser for model.seq: one Python expression (calls, dotted names, keyword arguments,
// int/float/bool/None/string literals, tuples, lists, `#` comments, trailing commas,
// method calls such as `.append(...)`). Pure function; thread-safe.
#pragma once

#include <string_view>

#include "absl/status/statusor.h"
#include "core/seq_ast.h"

namespace seqserve {

// Parses `text`; `file` is the name shown in errors ("model.seq:4:12: expected ')' ...").
absl::StatusOr<SeqValue> ParseModelSeq(std::string_view text, std::string_view file);

}  // namespace seqserve
