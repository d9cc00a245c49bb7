// torch.nn.ConvTranspose1d, ConvTranspose2d and ConvTranspose3d on (N, C, *spatial) or unbatched
// (C, *spatial) input: a oneDNN deconvolution with layouts chosen by oneDNN, PyTorch's
// (in, out/groups, *kernel) weights transposed once by the reorder into oneDNN's layout, a
// following BatchNorm folded in and activations fused as post-ops. stride, padding,
// output_padding, dilation and groups as PyTorch. Thread-safe after SetParams.
#pragma once

#include <memory>
#include <string_view>

#include "absl/status/statusor.h"
#include "core/module.h"
#include "core/seq_ast.h"

namespace seqserve {

absl::StatusOr<std::unique_ptr<Module>> MakeConvTranspose1d(const SeqCall& call,
                                                            std::string_view file);
absl::StatusOr<std::unique_ptr<Module>> MakeConvTranspose2d(const SeqCall& call,
                                                            std::string_view file);
absl::StatusOr<std::unique_ptr<Module>> MakeConvTranspose3d(const SeqCall& call,
                                                            std::string_view file);

}  // namespace seqserve
