// torch.nn.Unfold (im2col: every kernel-sized block of a (N, C, H, W) image becomes a
// column of (N, C * kh * kw, L)) and torch.nn.Fold (col2im: the inverse layout, summing
// where blocks overlap), batched or unbatched, with PyTorch's checks and messages. oneDNN
// has no such primitive; both are our own parallel kernels on plain layout, vectorised
// along each block row. Modules are immutable after construction; thread-safe.
#pragma once

#include <memory>
#include <string_view>

#include "absl/status/statusor.h"
#include "core/module.h"
#include "core/seq_ast.h"

namespace seqserve {

absl::StatusOr<std::unique_ptr<Module>> MakeUnfold(const SeqCall& call, std::string_view file);
absl::StatusOr<std::unique_ptr<Module>> MakeFold(const SeqCall& call, std::string_view file);

}  // namespace seqserve
