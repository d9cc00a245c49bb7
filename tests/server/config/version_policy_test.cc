// The version policy: which versions on disk it selects, what it reads from a config and how
// completion writes it back. Expectations follow Triton's version_policy semantics.
#include "server/config/version_policy.h"

#include <cstdint>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace seqserve {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

TEST(VersionPolicy, SelectsFromTheVersionsOnDisk) {
  const std::vector<int64_t> on_disk = {5, 1, 2};
  EXPECT_THAT((VersionPolicy{}.Select(on_disk)), ElementsAre(5));
  EXPECT_THAT((VersionPolicy{VersionPolicy::Kind::kLatest, 2, {}}.Select(on_disk)),
              ElementsAre(2, 5));
  EXPECT_THAT((VersionPolicy{VersionPolicy::Kind::kLatest, 9, {}}.Select(on_disk)),
              ElementsAre(1, 2, 5));
  EXPECT_THAT((VersionPolicy{VersionPolicy::Kind::kAll, 0, {}}.Select(on_disk)),
              ElementsAre(1, 2, 5));
  EXPECT_THAT((VersionPolicy{VersionPolicy::Kind::kSpecific, 0, {1, 3}}.Select(on_disk)),
              ElementsAre(1));
  EXPECT_THAT(VersionPolicy{}.Select({}), IsEmpty());
}

TEST(VersionPolicy, CompletionSpellsOutTheDefaultAndSortsSpecificVersions) {
  inference::ModelConfig unset;
  auto latest = CompleteVersionPolicy(unset);
  ASSERT_TRUE(latest.ok()) << latest.status();
  EXPECT_EQ(latest->kind, VersionPolicy::Kind::kLatest);
  EXPECT_EQ(latest->num_versions, 1);
  EXPECT_EQ(unset.version_policy().latest().num_versions(), 1u);

  inference::ModelConfig specific;
  specific.mutable_version_policy()->mutable_specific()->add_versions(3);
  specific.mutable_version_policy()->mutable_specific()->add_versions(1);
  specific.mutable_version_policy()->mutable_specific()->add_versions(3);
  auto policy = CompleteVersionPolicy(specific);
  ASSERT_TRUE(policy.ok()) << policy.status();
  EXPECT_THAT(policy->versions, ElementsAre(1, 3));
  EXPECT_THAT(specific.version_policy().specific().versions(), ElementsAre(1, 3));
}

TEST(VersionPolicy, RejectsPoliciesThatSelectNothing) {
  inference::ModelConfig latest_zero;
  latest_zero.mutable_version_policy()->mutable_latest();
  EXPECT_EQ(VersionPolicyFromConfig(latest_zero).status().message(),
            "config.pbtxt: version_policy latest needs num_versions >= 1");
  inference::ModelConfig negative;
  negative.mutable_version_policy()->mutable_specific()->add_versions(-2);
  EXPECT_EQ(VersionPolicyFromConfig(negative).status().message(),
            "config.pbtxt: version_policy specific version -2 is not a version (versions are "
            "positive)");
}

}  // namespace
}  // namespace seqserve
