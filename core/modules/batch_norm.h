// torch.nn.BatchNorm1d and BatchNorm2d at inference: y = (x - running_mean) /
// sqrt(running_var + eps) * weight + bias per channel (dim 1). The module offers that
// transform as a ChannelAffine, which the compiler folds into a preceding Conv/Linear.
// Standalone it runs as a oneDNN batch normalization on a blocked layout (as a Conv leaves
// it), and as a per-channel affine kernel on plain data.
// track_running_stats=False is rejected at load (SPEC §3). Thread-safe after SetParams.
#pragma once

#include <memory>
#include <string_view>

#include "absl/status/statusor.h"
#include "core/module.h"
#include "core/seq_ast.h"

namespace seqserve {

absl::StatusOr<std::unique_ptr<Module>> MakeBatchNorm1d(const SeqCall& call, std::string_view file);
absl::StatusOr<std::unique_ptr<Module>> MakeBatchNorm2d(const SeqCall& call, std::string_view file);

}  // namespace seqserve
