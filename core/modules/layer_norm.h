// torch.nn.LayerNorm: normalises each input over its trailing `normalized_shape` dims, then
// applies the per-element weight and bias. A kernel on plain layout (statistics in double,
// see moments.h), parallel over the leading rows. Thread-safe after SetParams.
#pragma once

#include <memory>
#include <string_view>

#include "absl/status/statusor.h"
#include "core/module.h"
#include "core/seq_ast.h"

namespace seqserve {

absl::StatusOr<std::unique_ptr<Module>> MakeLayerNorm(const SeqCall& call, std::string_view file);

}  // namespace seqserve
