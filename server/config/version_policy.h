// Which version directories of a model to serve: Triton's version_policy (latest N, all, or
// specific versions). The repository reads it from the parsed config before any Model
// exists, to know which versions to load; completion writes the effective policy back into
// the config so that the ModelConfig RPC shows it.
// Thread-safe: VersionPolicy is a plain value; the functions are pure.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "proto/model_config.pb.h"

namespace seqserve {

struct VersionPolicy {
  enum class Kind { kLatest, kAll, kSpecific };
  Kind kind = Kind::kLatest;
  // kLatest: serve the highest `num_versions` versions.
  int64_t num_versions = 1;
  // kSpecific: exactly these versions (ascending, distinct).
  std::vector<int64_t> versions;

  // The versions to serve out of `available` (the versions on disk, any order), ascending.
  // A specific version that is not on disk is simply not in the result; the caller decides
  // how to report it.
  std::vector<int64_t> Select(const std::vector<int64_t>& available) const;
};

// The version policy of a parsed config (latest{1} when unset), validated: INVALID_ARGUMENT
// ("config.pbtxt: version_policy ...") for latest without num_versions, specific without
// versions or with a version below 1.
absl::StatusOr<VersionPolicy> VersionPolicyFromConfig(const inference::ModelConfig& config);

// VersionPolicyFromConfig, and the effective policy written back into `config` (the default
// latest { num_versions: 1 } spelled out, specific versions sorted and deduplicated).
absl::StatusOr<VersionPolicy> CompleteVersionPolicy(inference::ModelConfig& config);

}  // namespace seqserve
