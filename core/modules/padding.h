// The padding modules of torch.nn (2.1): ZeroPad1d/2d/3d, ConstantPad1d/2d/3d,
// ReflectionPad1d/2d/3d, ReplicationPad1d/2d/3d and CircularPad1d/2d/3d. Each is F.pad with
// the module's padding tuple (an int repeated for both sides of every padded dim, or the
// tuple as given: (left, right, top, bottom, front, back)), so negative padding crops and
// the input ranks are F.pad's: constant padding takes any rank with enough dims, the other
// modes (N, C, *dims) or unbatched (C, *dims). Computed by spatial_pad.h's kernel.
// Modules are immutable after construction; thread-safe.
#pragma once

#include <memory>
#include <string_view>

#include "absl/status/statusor.h"
#include "core/module.h"
#include "core/seq_ast.h"

namespace seqserve {

absl::StatusOr<std::unique_ptr<Module>> MakeZeroPad1d(const SeqCall& call, std::string_view file);
absl::StatusOr<std::unique_ptr<Module>> MakeZeroPad2d(const SeqCall& call, std::string_view file);
absl::StatusOr<std::unique_ptr<Module>> MakeZeroPad3d(const SeqCall& call, std::string_view file);
absl::StatusOr<std::unique_ptr<Module>> MakeConstantPad1d(const SeqCall& call,
                                                          std::string_view file);
absl::StatusOr<std::unique_ptr<Module>> MakeConstantPad2d(const SeqCall& call,
                                                          std::string_view file);
absl::StatusOr<std::unique_ptr<Module>> MakeConstantPad3d(const SeqCall& call,
                                                          std::string_view file);
absl::StatusOr<std::unique_ptr<Module>> MakeReflectionPad1d(const SeqCall& call,
                                                            std::string_view file);
absl::StatusOr<std::unique_ptr<Module>> MakeReflectionPad2d(const SeqCall& call,
                                                            std::string_view file);
absl::StatusOr<std::unique_ptr<Module>> MakeReflectionPad3d(const SeqCall& call,
                                                            std::string_view file);
absl::StatusOr<std::unique_ptr<Module>> MakeReplicationPad1d(const SeqCall& call,
                                                             std::string_view file);
absl::StatusOr<std::unique_ptr<Module>> MakeReplicationPad2d(const SeqCall& call,
                                                             std::string_view file);
absl::StatusOr<std::unique_ptr<Module>> MakeReplicationPad3d(const SeqCall& call,
                                                             std::string_view file);
absl::StatusOr<std::unique_ptr<Module>> MakeCircularPad1d(const SeqCall& call,
                                                          std::string_view file);
absl::StatusOr<std::unique_ptr<Module>> MakeCircularPad2d(const SeqCall& call,
                                                          std::string_view file);
absl::StatusOr<std::unique_ptr<Module>> MakeCircularPad3d(const SeqCall& call,
                                                          std::string_view file);

}  // namespace seqserve
