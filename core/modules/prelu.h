// torch.nn.PReLU: max(0, x) + weight[c] * min(0, x), with one weight shared by all channels or
// one per channel of dim 1. A single weight is a leaky ReLU, so it runs as an eltwise op and
// fuses into a preceding Conv/Linear as a post-op; per-channel weights run as oneDNN's
// prelu_forward on the incoming layout (blocked layouts included), weights reordered once.
// Thread-safe after SetParams.
#pragma once

#include <memory>
#include <string_view>

#include "absl/status/statusor.h"
#include "core/module.h"
#include "core/seq_ast.h"

namespace seqserve {

absl::StatusOr<std::unique_ptr<Module>> MakePReLU(const SeqCall& call, std::string_view file);

}  // namespace seqserve
