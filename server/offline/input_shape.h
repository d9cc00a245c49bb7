// Input shapes for the offline subcommands: parsing a comma-separated size list from the
// command line, and finding a representative input for a model whose first module leaves
// some sizes free (as `check` and `bench` do when no shape is given).
// Thread-safe: free functions over values.
#pragma once

#include <optional>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/tensor.h"
#include "core/model.h"

namespace seqserve {

// "1,3,224,224" -> {1, 3, 224, 224}; nullopt unless every part is an integer >= 0 and
// there is at least one. Callers name their flag in the error.
std::optional<Shape> ParseSizeList(absl::string_view text);

// A batch-1 input for `model`: the first module's dims, each free (-1) dim set to the
// first common image size (28, 32, 64, 224, then 1..512) the whole model accepts. When the
// first module implies no dims at all, InvalidArgument ending with `hint` (which names
// the caller's flag).
absl::StatusOr<Shape> RepresentativeInput(const Model& model, absl::string_view hint);

}  // namespace seqserve
