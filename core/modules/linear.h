// torch.nn.Linear on (*, in_features), as a oneDNN matmul with the weights reordered once
// into the layout matmul prefers, bias and fused activations as post-ops, and a following
// BatchNorm1d folded in when it normalises the output features. Thread-safe after
// SetParams.
#pragma once

#include <memory>
#include <string_view>

#include "absl/status/statusor.h"
#include "core/module.h"
#include "core/seq_ast.h"

namespace seqserve {

absl::StatusOr<std::unique_ptr<Module>> MakeLinear(const SeqCall& call, std::string_view file);

}  // namespace seqserve
