// torch.nn.GroupNorm on (N, C, *): normalises each group of C / num_groups channels of a
// sample over those channels and all positions, then applies the per-channel weight and
// bias. oneDNN 2.6 has no group normalization, so this is a kernel on plain layout
// (statistics in double, see moments.h), parallel over (sample, group) blocks.
// Thread-safe after SetParams.
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>

#include "absl/status/statusor.h"
#include "core/module.h"
#include "core/seq_ast.h"

namespace seqserve {

absl::StatusOr<std::unique_ptr<Module>> MakeGroupNorm(const SeqCall& call, std::string_view file);

// The kernel, shared with InstanceNorm (one channel per group): normalises plain (N, C, S)
// input as `blocks` = N * groups blocks of `group_channels` x `positions` contiguous floats,
// then applies `weight` and `bias` (C floats each; both null or both set). y may equal x.
void GroupNormBlocks(const float* x, float* y, int64_t blocks, int64_t groups,
                     int64_t group_channels, int64_t positions, double eps, const float* weight,
                     const float* bias, int num_threads);

}  // namespace seqserve
