// torch.nn.LPPool1d and LPPool2d: F.lp_pool's formula exactly, (sign(a) * relu(|a|) *
// kernel_size) ^ (1 / p) with a = avg_pool(x ^ p) (no padding; in ceil_mode PyTorch's
// average divides an edge window by its clipped size, and the formula multiplies by the
// whole kernel, so an edge window is not the plain p-norm; we do the same). x ^ p, the
// average and the root are three parallel kernels on plain layout; powers use PyTorch's
// fast paths (square, cube, square root) where PyTorch does. Modules are immutable after
// construction; thread-safe.
#pragma once

#include <memory>
#include <string_view>

#include "absl/status/statusor.h"
#include "core/module.h"
#include "core/seq_ast.h"

namespace seqserve {

absl::StatusOr<std::unique_ptr<Module>> MakeLPPool1d(const SeqCall& call, std::string_view file);
absl::StatusOr<std::unique_ptr<Module>> MakeLPPool2d(const SeqCall& call, std::string_view file);

}  // namespace seqserve
