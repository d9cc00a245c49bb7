#include "server/config/version_policy.h"

#include <algorithm>
#include <iterator>
#include <utility>

#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "server/config/config_error.h"

namespace seqserve {

absl::StatusOr<VersionPolicy> VersionPolicyFromConfig(const inference::ModelConfig& config) {
  const inference::ModelVersionPolicy& proto = config.version_policy();
  switch (proto.policy_choice_case()) {
    case inference::ModelVersionPolicy::POLICY_CHOICE_NOT_SET:
      return VersionPolicy{VersionPolicy::Kind::kLatest, 1, {}};
    case inference::ModelVersionPolicy::kLatest:
      if (proto.latest().num_versions() == 0) {
        return ConfigError("version_policy latest needs num_versions >= 1");
      }
      return VersionPolicy{VersionPolicy::Kind::kLatest, proto.latest().num_versions(), {}};
    case inference::ModelVersionPolicy::kAll:
      return VersionPolicy{VersionPolicy::Kind::kAll, 0, {}};
    case inference::ModelVersionPolicy::kSpecific: {
      std::vector<int64_t> versions(proto.specific().versions().begin(),
                                    proto.specific().versions().end());
      if (versions.empty()) return ConfigError("version_policy specific lists no versions");
      for (int64_t v : versions) {
        if (v <= 0) {
          return ConfigError(absl::StrFormat(
              "version_policy specific version %d is not a version (versions are positive)", v));
        }
      }
      std::sort(versions.begin(), versions.end());
      versions.erase(std::unique(versions.begin(), versions.end()), versions.end());
      return VersionPolicy{VersionPolicy::Kind::kSpecific, 0, std::move(versions)};
    }
  }
  return ConfigError("version_policy has an unknown choice");
}

absl::StatusOr<VersionPolicy> CompleteVersionPolicy(inference::ModelConfig& config) {
  SEQ_ASSIGN_OR_RETURN(VersionPolicy policy, VersionPolicyFromConfig(config));
  inference::ModelVersionPolicy& proto = *config.mutable_version_policy();
  switch (policy.kind) {
    case VersionPolicy::Kind::kLatest:
      proto.mutable_latest()->set_num_versions(policy.num_versions);
      break;
    case VersionPolicy::Kind::kAll:
      proto.mutable_all();
      break;
    case VersionPolicy::Kind::kSpecific:
      proto.mutable_specific()->mutable_versions()->Assign(policy.versions.begin(),
                                                           policy.versions.end());
      break;
  }
  return policy;
}

std::vector<int64_t> VersionPolicy::Select(const std::vector<int64_t>& available) const {
  std::vector<int64_t> on_disk;
  for (int64_t v : available) {
    if (v > 0) on_disk.push_back(v);
  }
  std::sort(on_disk.begin(), on_disk.end());
  on_disk.erase(std::unique(on_disk.begin(), on_disk.end()), on_disk.end());
  switch (kind) {
    case Kind::kAll:
      return on_disk;
    case Kind::kLatest: {
      const size_t keep = static_cast<size_t>(std::max<int64_t>(0, num_versions));
      if (on_disk.size() > keep) on_disk.erase(on_disk.begin(), on_disk.end() - keep);
      return on_disk;
    }
    case Kind::kSpecific: {
      std::vector<int64_t> selected;
      std::set_intersection(on_disk.begin(), on_disk.end(), versions.begin(), versions.end(),
                            std::back_inserter(selected));
      return selected;
    }
  }
  return {};
}

}  // namespace seqserve
