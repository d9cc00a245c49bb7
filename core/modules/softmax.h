// torch.nn.Softmax and torch.nn.LogSoftmax over one dimension. Softmax is oneDNN's
// softmax_v2 (softmax_accurate: max-subtracted, so large logits do not overflow) on the
// incoming layout where oneDNN has an optimised kernel for it (the axis innermost, or a Conv's
// blocked channels); otherwise the activation is first reordered so that the axis is
// innermost. LogSoftmax is a vectorised kernel on plain layout, because oneDNN's softmax_log
// is off by up to ~1.5e-6 absolute (see softmax.cc). Thread-safe after construction.
#pragma once

#include <memory>
#include <string_view>

#include "absl/status/statusor.h"
#include "core/module.h"
#include "core/seq_ast.h"

namespace seqserve {

absl::StatusOr<std::unique_ptr<Module>> MakeSoftmax(const SeqCall& call, std::string_view file);
absl::StatusOr<std::unique_ptr<Module>> MakeLogSoftmax(const SeqCall& call, std::string_view file);

}  // namespace seqserve
