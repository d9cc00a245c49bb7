// torch.nn.TransformerEncoderLayer and torch.nn.TransformerEncoder (PyTorch 2.1 signatures,
// state_dict names, eval-mode numerics; no masks, since a Sequential passes one tensor).
// Input (S, E) unbatched, or (S, N, E) / (N, S, E) by batch_first. Each layer is a handful
// of oneDNN primitives on the tokens as rows of a (N*S, E) matrix, in whichever order the
// input has them: the q/k/v projection as one matmul with fused bias (the 1/sqrt(head_dim)
// scale folded into the query weights), attention as two batched matmuls over (N, heads)
// that read q, k and v as strided views of the projection and write each head's output
// straight into its columns, softmax in place between them, the output projection and the
// second feed-forward matmul with the residual added as a binary post-op, the activation
// fused into the first, and oneDNN layer normalisation. Thread-safe after SetParams.
#pragma once

#include <memory>
#include <string_view>

#include "absl/status/statusor.h"
#include "core/module.h"
#include "core/seq_ast.h"

namespace seqserve {

absl::StatusOr<std::unique_ptr<Module>> MakeTransformerEncoderLayer(const SeqCall& call,
                                                                    std::string_view file);
absl::StatusOr<std::unique_ptr<Module>> MakeTransformerEncoder(const SeqCall& call,
                                                               std::string_view file);

}  // namespace seqserve
