// torch.nn.PixelShuffle(upscale_factor), PixelUnshuffle(downscale_factor) and
// ChannelShuffle(groups): permutations of the input's elements with PyTorch's shape rules and
// messages. PixelShuffle takes (*, C r^2, H, W) to (*, C, H r, W r) and PixelUnshuffle back;
// ChannelShuffle reorders the channels (dim 1) of (N, C, *) as (N, g, C/g, *) transposed.
// Kernels on plain layout, parallel over output rows, with 4-lane interleaving for the common
// factor 2. Thread-safe after construction.
#pragma once

#include <memory>
#include <string_view>

#include "absl/status/statusor.h"
#include "core/module.h"
#include "core/seq_ast.h"

namespace seqserve {

absl::StatusOr<std::unique_ptr<Module>> MakePixelShuffle(const SeqCall& call,
                                                         std::string_view file);
absl::StatusOr<std::unique_ptr<Module>> MakePixelUnshuffle(const SeqCall& call,
                                                           std::string_view file);
absl::StatusOr<std::unique_ptr<Module>> MakeChannelShuffle(const SeqCall& call,
                                                           std::string_view file);

}  // namespace seqserve
