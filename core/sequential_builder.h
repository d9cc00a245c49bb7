// Builds the module tree of a model from the parsed model.seq expression: nn.Sequential
// with positional children or an OrderedDict, nesting, Sequential's own API (.append,
// .extend, .insert, indexing, slicing, +) with PyTorch's child names, and every leaf through
// the module registry. Thread-safe (pure function).
#pragma once

#include <memory>
#include <string_view>

#include "absl/status/statusor.h"
#include "core/seq_ast.h"
#include "core/sequential.h"

namespace seqserve {

// `root` must evaluate to an nn.Sequential (possibly after method calls, slicing or +).
// `file` names errors.
absl::StatusOr<std::unique_ptr<Sequential>> BuildSequential(const SeqValue& root,
                                                            std::string_view file);

// "Conv2d" for "Conv2d", "nn.Conv2d" or "torch.nn.Conv2d"; empty for any other prefix.
std::string_view StripNnPrefix(std::string_view name);

}  // namespace seqserve
