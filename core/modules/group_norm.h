// torch.nn.GroupNorm on (N, C, *): normalises each group of C / num_groups channels of a
// sample over those channels and all positions, then applies the per-channel weight and
// bias. oneDNN 2.6 has no group normalization, so this is a kernel on plain layout
// (statistics in double, see moments.h), parallel over (sample, group) blocks.
// Thread-safe after SetParams.
#pragma once

#include <memory>
#include <string_view>

#include "absl/status/statusor.h"
#include "core/module.h"
#include "core/seq_ast.h"

namespace seqserve {

absl::StatusOr<std::unique_ptr<Module>> MakeGroupNorm(const SeqCall& call, std::string_view file);

}  // namespace seqserve
