// torch.nn.Upsample(size=None, scale_factor=None, mode='nearest', align_corners=None,
// recompute_scale_factor=None) with every mode (nearest, nearest-exact, linear, bilinear,
// bicubic, trilinear, area), and its fixed-mode subclasses UpsamplingNearest2d and
// UpsamplingBilinear2d (align_corners=True): F.interpolate's argument rules and errors, its
// output sizes (a scale factor used directly in the index computation unless
// recompute_scale_factor), and its CPU kernels' coordinate rules (upsample_kernels.h), on
// plain layout. oneDNN 2.6's resampling is not used: its nearest rounds half-pixel centres
// (PyTorch's 'nearest' floors o * scale) and it has no align_corners and no bicubic.
// Thread-safe after construction.
#pragma once

#include <memory>
#include <string_view>

#include "absl/status/statusor.h"
#include "core/module.h"
#include "core/seq_ast.h"

namespace seqserve {

absl::StatusOr<std::unique_ptr<Module>> MakeUpsample(const SeqCall& call, std::string_view file);
absl::StatusOr<std::unique_ptr<Module>> MakeUpsamplingNearest2d(const SeqCall& call,
                                                                std::string_view file);
absl::StatusOr<std::unique_ptr<Module>> MakeUpsamplingBilinear2d(const SeqCall& call,
                                                                 std::string_view file);

}  // namespace seqserve
