// torch.nn.InstanceNorm1d/2d/3d at inference, on (N, C, *spatial) or unbatched (C, *spatial)
// input with 1, 2 or 3 spatial dims. By default (track_running_stats=False) each channel of
// each sample is normalised over its positions with its own statistics, as GroupNorm with one
// channel per group (the same kernel); with track_running_stats=True PyTorch's eval mode uses
// the running statistics instead, a per-channel affine transform as BatchNorm's. Affine or
// not; state_dict names weight, bias (affine), running_mean, running_var (tracked).
// Thread-safe after SetParams.
#pragma once

#include <memory>
#include <string_view>

#include "absl/status/statusor.h"
#include "core/module.h"
#include "core/seq_ast.h"

namespace seqserve {

absl::StatusOr<std::unique_ptr<Module>> MakeInstanceNorm1d(const SeqCall& call,
                                                           std::string_view file);
absl::StatusOr<std::unique_ptr<Module>> MakeInstanceNorm2d(const SeqCall& call,
                                                           std::string_view file);
absl::StatusOr<std::unique_ptr<Module>> MakeInstanceNorm3d(const SeqCall& call,
                                                           std::string_view file);

}  // namespace seqserve
