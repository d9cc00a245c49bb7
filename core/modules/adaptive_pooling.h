// torch.nn.AdaptiveAvgPool1d, AdaptiveAvgPool2d and AdaptiveMaxPool2d. PyTorch's bins are
// [floor(i * in / out), ceil((i + 1) * in / out)); when `out` divides `in` they are one
// fixed window (kernel = stride = in / out) and run as oneDNN pooling on whatever layout
// arrives, otherwise (overlapping or upsampling bins) as the separable plain-layout kernels
// of pooling.h. Modules are immutable after construction; thread-safe.
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
absl::StatusOr<std::unique_ptr<Module>> MakeAdaptiveMaxPool2d(const SeqCall& call,
                                                              std::string_view file);

}  // namespace seqserve
