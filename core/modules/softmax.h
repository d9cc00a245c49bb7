// torch.nn.Softmax, LogSoftmax and Softmin over one dimension, and Softmax2d (over the
// channels of a 3-D or 4-D input): vectorised kernels (softmax_kernels.h) with PyTorch's
// formula and NaN/Inf behaviour, on plain layout, or in place on a Conv's channel-blocked
// output when they normalise its channels. Thread-safe after construction.
#pragma once

#include <memory>
#include <string_view>

#include "absl/status/statusor.h"
#include "core/module.h"
#include "core/seq_ast.h"

namespace seqserve {

absl::StatusOr<std::unique_ptr<Module>> MakeSoftmax(const SeqCall& call, std::string_view file);
absl::StatusOr<std::unique_ptr<Module>> MakeLogSoftmax(const SeqCall& call, std::string_view file);
absl::StatusOr<std::unique_ptr<Module>> MakeSoftmin(const SeqCall& call, std::string_view file);
absl::StatusOr<std::unique_ptr<Module>> MakeSoftmax2d(const SeqCall& call, std::string_view file);

}  // namespace seqserve
