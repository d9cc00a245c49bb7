// torch.nn.Conv1d, Conv2d and Conv3d (one N-d implementation) on (N, C, *spatial) or unbatched
// (C, *spatial) input: a oneDNN direct convolution with layouts chosen by oneDNN (blocked
// activations stay blocked from one convolution to the next), weights reordered once into
// the layout it prefers, a following BatchNorm folded into weights and bias, and
// activations fused as post-ops. padding='same'/'valid' and every padding_mode, as PyTorch.
// Thread-safe after SetParams.
#pragma once

#include <memory>
#include <string_view>

#include "absl/status/statusor.h"
#include "core/module.h"
#include "core/seq_ast.h"

namespace seqserve {

absl::StatusOr<std::unique_ptr<Module>> MakeConv1d(const SeqCall& call, std::string_view file);
absl::StatusOr<std::unique_ptr<Module>> MakeConv2d(const SeqCall& call, std::string_view file);
absl::StatusOr<std::unique_ptr<Module>> MakeConv3d(const SeqCall& call, std::string_view file);

}  // namespace seqserve
