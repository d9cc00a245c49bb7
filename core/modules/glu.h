// torch.nn.GLU(dim=-1): the input split in halves a, b along `dim`, out = a * sigmoid(b).
// A vectorised kernel on plain layout (sigmoid from exp(-|b|), so it never overflows; NaN
// and Inf as PyTorch's a * (1 / (1 + exp(-b)))). Thread-safe after construction.
#pragma once

#include <memory>
#include <string_view>

#include "absl/status/statusor.h"
#include "core/module.h"
#include "core/seq_ast.h"

namespace seqserve {

absl::StatusOr<std::unique_ptr<Module>> MakeGLU(const SeqCall& call, std::string_view file);

}  // namespace seqserve
