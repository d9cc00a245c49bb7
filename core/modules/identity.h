// Modules that compute nothing at inference: Identity (which, as in PyTorch, accepts and
// ignores any arguments) and the dropouts, which are the identity in eval mode but still
// validate `p` and, for Dropout1d, the input rank. Thread-safe after construction.
#pragma once

#include <memory>
#include <string_view>

#include "absl/status/statusor.h"
#include "core/module.h"
#include "core/seq_ast.h"

namespace seqserve {

absl::StatusOr<std::unique_ptr<Module>> MakeIdentity(const SeqCall& call, std::string_view file);
absl::StatusOr<std::unique_ptr<Module>> MakeDropout(const SeqCall& call, std::string_view file);
absl::StatusOr<std::unique_ptr<Module>> MakeDropout1d(const SeqCall& call, std::string_view file);
absl::StatusOr<std::unique_ptr<Module>> MakeDropout2d(const SeqCall& call, std::string_view file);
absl::StatusOr<std::unique_ptr<Module>> MakeAlphaDropout(const SeqCall& call,
                                                         std::string_view file);
absl::StatusOr<std::unique_ptr<Module>> MakeDropout3d(const SeqCall& call, std::string_view file);
absl::StatusOr<std::unique_ptr<Module>> MakeFeatureAlphaDropout(const SeqCall& call,
                                                                std::string_view file);

}  // namespace seqserve
