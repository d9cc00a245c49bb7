// Finds the version directory of a model on disk: a directory holding model.seq is a
// version itself; otherwise it is a model directory whose numeric subdirectories are
// versions. Thread-safe (reads the filesystem only).
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"

namespace seqserve {

// The versions (positive integers) under a model directory, ascending.
std::vector<int64_t> ListVersions(const std::filesystem::path& model_dir);

// `dir` itself when it holds model.seq (and `version` is unset); else `dir`/<version>,
// or the highest version when `version` is unset. Errors name the directory.
absl::StatusOr<std::filesystem::path> ResolveVersionDir(const std::filesystem::path& dir,
                                                        std::optional<int64_t> version);

}  // namespace seqserve
