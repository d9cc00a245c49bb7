// torch.nn.MaxPool1d/2d/3d and AvgPool1d/2d/3d: PyTorch's constructor checks, output-size
// rule (ceil_mode: the last window must start inside the input or its left padding) and
// semantics (count_include_pad, divisor_override, dilation; max propagates NaN). Average
// pooling runs on oneDNN where oneDNN's answer is PyTorch's, max pooling and the rest on the
// window kernels of pool_kernels.h. return_indices=True is refused: a Sequential passes one
// tensor on. Modules are immutable after construction; thread-safe.
#pragma once

#include <memory>
#include <string_view>

#include "absl/status/statusor.h"
#include "core/module.h"
#include "core/seq_ast.h"

namespace seqserve {

absl::StatusOr<std::unique_ptr<Module>> MakeMaxPool1d(const SeqCall& call, std::string_view file);
absl::StatusOr<std::unique_ptr<Module>> MakeMaxPool2d(const SeqCall& call, std::string_view file);
absl::StatusOr<std::unique_ptr<Module>> MakeMaxPool3d(const SeqCall& call, std::string_view file);
absl::StatusOr<std::unique_ptr<Module>> MakeAvgPool1d(const SeqCall& call, std::string_view file);
absl::StatusOr<std::unique_ptr<Module>> MakeAvgPool2d(const SeqCall& call, std::string_view file);
absl::StatusOr<std::unique_ptr<Module>> MakeAvgPool3d(const SeqCall& call, std::string_view file);

}  // namespace seqserve
