// torch.nn.BatchNorm1d, BatchNorm2d and BatchNorm3d at inference: y = (x - running_mean) /
// sqrt(running_var + eps) * weight + bias per channel (dim 1). The module offers that
// transform as a ChannelAffine, which the compiler folds into a preceding Conv/Linear.
// Standalone it runs as a oneDNN batch normalization on a blocked layout (as a Conv leaves
// it), and as a per-channel affine kernel on plain data.
// track_running_stats=False is rejected at load (SPEC §3). Thread-safe after SetParams.
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>

#include "absl/status/statusor.h"
#include "core/module.h"
#include "core/seq_ast.h"

namespace seqserve {

absl::StatusOr<std::unique_ptr<Module>> MakeBatchNorm1d(const SeqCall& call, std::string_view file);
absl::StatusOr<std::unique_ptr<Module>> MakeBatchNorm2d(const SeqCall& call, std::string_view file);
absl::StatusOr<std::unique_ptr<Module>> MakeBatchNorm3d(const SeqCall& call, std::string_view file);

// y = x * scale[c] + shift[c] on plain (N, C, S) data, parallel; y may equal x. Shared with
// InstanceNorm, which with tracked running statistics is this transform too.
void ChannelAffineKernel(const float* x, float* y, int64_t batch, int64_t channels,
                         int64_t positions, const float* scale, const float* shift,
                         int num_threads);

}  // namespace seqserve
