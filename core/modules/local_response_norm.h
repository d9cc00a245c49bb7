// torch.nn.LocalResponseNorm(size, alpha=1e-4, beta=0.75, k=1.0) on (N, C, *) input, rank 3
// or more: y = x / (k + alpha / size * sum of x^2 over channels [c - size/2, c + (size-1)/2])
// ^ beta, the window zero-padded at the channel edges and always divided by size, exactly as
// F.local_response_norm (avg_pool over the padded squares). A vectorised kernel on plain
// layout: oneDNN 2.6's lrn_across_channels centres even windows differently and has only its
// reference code for most layouts and betas. Thread-safe after construction.
#pragma once

#include <memory>
#include <string_view>

#include "absl/status/statusor.h"
#include "core/module.h"
#include "core/seq_ast.h"

namespace seqserve {

absl::StatusOr<std::unique_ptr<Module>> MakeLocalResponseNorm(const SeqCall& call,
                                                              std::string_view file);

}  // namespace seqserve
