// torch.nn.Embedding and torch.nn.EmbeddingBag: lookups of rows of a weight table by
// integer ids (int64 or int32), so a model that starts with one takes ids as its input.
// Embedding takes ids of any shape and appends embedding_dim; EmbeddingBag takes 2-D input
// (B, N), B bags of N ids, and reduces each bag (sum, mean or max, padding_idx left out).
// Every id is range-checked inside the gather loop (one compare per row): an id out of
// range is INVALID_ARGUMENT naming its value, its position and num_embeddings, never a read
// out of bounds. Thread-safe after SetParams.
#pragma once

#include <memory>
#include <string_view>

#include "absl/status/statusor.h"
#include "core/module.h"
#include "core/seq_ast.h"

namespace seqserve {

absl::StatusOr<std::unique_ptr<Module>> MakeEmbedding(const SeqCall& call, std::string_view file);
absl::StatusOr<std::unique_ptr<Module>> MakeEmbeddingBag(const SeqCall& call,
                                                         std::string_view file);

}  // namespace seqserve
