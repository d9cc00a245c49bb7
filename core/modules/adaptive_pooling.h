// torch.nn.AdaptiveAvgPool1d/2d/3d and AdaptiveMaxPool1d/2d/3d. PyTorch's bins are
// [floor(i * in / out), ceil((i + 1) * in / out)). An average whose bins are one fixed
// window (`out` divides `in`: kernel = stride = in / out) runs as oneDNN pooling on
// whatever layout arrives; every other one, and every max (oneDNN's max drops NaN), on the
// window kernels of pool_kernels.h, on a convolution's channel-blocked layout or plain.
// return_indices=True is refused: a Sequential passes one tensor on. Modules are immutable
// after construction; thread-safe.
#pragma once

#include <memory>
#include <string_view>

#include "absl/status/statusor.h"
#include "core/module.h"
#include "core/seq_ast.h"

namespace seqserve {

absl::StatusOr<std::unique_ptr<Module>> MakeAdaptiveAvgPool1d(const SeqCall& call,
                                                              std::string_view file);
absl::StatusOr<std::unique_ptr<Module>> MakeAdaptiveAvgPool2d(const SeqCall& call,
                                                              std::string_view file);
absl::StatusOr<std::unique_ptr<Module>> MakeAdaptiveAvgPool3d(const SeqCall& call,
                                                              std::string_view file);
absl::StatusOr<std::unique_ptr<Module>> MakeAdaptiveMaxPool1d(const SeqCall& call,
                                                              std::string_view file);
absl::StatusOr<std::unique_ptr<Module>> MakeAdaptiveMaxPool2d(const SeqCall& call,
                                                              std::string_view file);
absl::StatusOr<std::unique_ptr<Module>> MakeAdaptiveMaxPool3d(const SeqCall& call,
                                                              std::string_view file);

}  // namespace seqserve
