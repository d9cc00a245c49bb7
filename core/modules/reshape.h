// torch.nn.Flatten and torch.nn.Unflatten: views that change the logical shape only. On a
// plain activation they cost nothing; a blocked one (after a Conv) is reordered to plain
// first. Also PyTorch's dimension wrapping with its error messages, which every module
// taking a `dim` argument shares. Thread-safe after construction.
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>

#include "absl/status/statusor.h"
#include "core/module.h"
#include "core/seq_ast.h"

namespace seqserve {

absl::StatusOr<std::unique_ptr<Module>> MakeFlatten(const SeqCall& call, std::string_view file);
absl::StatusOr<std::unique_ptr<Module>> MakeUnflatten(const SeqCall& call, std::string_view file);

// PyTorch's maybe_wrap_dim: `dim` (negative counts from the end) as an index into a shape
// of rank `rank`. With `wrap_scalar` a rank-0 shape takes dims -1 and 0, as flatten and
// softmax allow. Errors carry PyTorch's message, e.g. "Dimension out of range (expected to
// be in range of [-2, 1], but got 3)".
absl::StatusOr<int> WrapDimOrError(int64_t dim, int rank, bool wrap_scalar);

}  // namespace seqserve
