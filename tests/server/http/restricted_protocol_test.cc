// The --http-restricted-protocol parser and check (Triton's
// `<protocol>[,<protocol>...]:<header>=<value>`); the HTTP side of the check is exercised in
// http_transport_test.
#include "server/http/restricted_protocol.h"

#include <map>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace seqserve {
namespace {

using ::testing::HasSubstr;

// A header lookup over `headers` (exact names: the HTTP side lower-cases nothing itself).
auto Lookup(const std::map<std::string, std::string>& headers) {
  return [&headers](std::string_view name) -> const std::string* {
    const auto it = headers.find(std::string(name));
    return it == headers.end() ? nullptr : &it->second;
  };
}

TEST(RestrictedProtocols, NothingRestrictedAllowsEverything) {
  const absl::StatusOr<RestrictedProtocols> none = RestrictedProtocols::Parse({});
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  const std::map<std::string, std::string> headers;
  for (const std::string& protocol : RestrictedProtocols::Known()) {
    EXPECT_TRUE(none->Check(protocol, Lookup(headers)).ok()) << protocol;
  }
}

TEST(RestrictedProtocols, EachRuleGuardsItsProtocolsWithItsHeader) {
  const absl::StatusOr<RestrictedProtocols> parsed = RestrictedProtocols::Parse(
      {"model-repository,shared-memory:admin-key=secret", "statistics:ops=a=b"});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  const std::map<std::string, std::string> none;
  const std::map<std::string, std::string> admin = {{"admin-key", "secret"}};
  const std::map<std::string, std::string> wrong = {{"admin-key", "Secret"}};
  const std::map<std::string, std::string> ops = {{"ops", "a=b"}};  // the value keeps its '='
  for (const char* protocol : {"model-repository", "shared-memory"}) {
    const absl::Status denied = parsed->Check(protocol, Lookup(none));
    EXPECT_EQ(denied.code(), absl::StatusCode::kPermissionDenied);
    EXPECT_THAT(std::string(denied.message()), HasSubstr("'admin-key' header"));
    EXPECT_THAT(std::string(denied.message()), ::testing::Not(HasSubstr("secret")));
    EXPECT_EQ(parsed->Check(protocol, Lookup(wrong)).code(), absl::StatusCode::kPermissionDenied);
    EXPECT_TRUE(parsed->Check(protocol, Lookup(admin)).ok());
    EXPECT_FALSE(parsed->Check(protocol, Lookup(ops)).ok());
  }
  EXPECT_TRUE(parsed->Check("statistics", Lookup(ops)).ok());
  EXPECT_FALSE(parsed->Check("statistics", Lookup(admin)).ok());
  EXPECT_TRUE(parsed->Check("inference", Lookup(none)).ok());
  EXPECT_TRUE(parsed->Check("health", Lookup(none)).ok());
}

TEST(RestrictedProtocols, MalformedValuesSayWhatIsWrong) {
  const std::map<std::string, std::string> cases = {
      {"model-repository", "no ':' before the header"},
      {"model-repository:admin-key", "no '=' between header and value"},
      {"model-repository:=secret", "the header name is empty"},
      {"models:admin-key=secret", "unknown protocol 'models'"},
      {"health,health:k=v", "protocol 'health' is listed twice"},
      {":k=v", "unknown protocol ''"},
  };
  for (const auto& [spec, why] : cases) {
    const absl::StatusOr<RestrictedProtocols> parsed = RestrictedProtocols::Parse({spec});
    ASSERT_FALSE(parsed.ok()) << spec;
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(parsed.status().message()), HasSubstr(why)) << spec;
    EXPECT_THAT(std::string(parsed.status().message()), HasSubstr(spec)) << spec;
  }
  const absl::StatusOr<RestrictedProtocols> twice =
      RestrictedProtocols::Parse({"inference:a=1", "inference:b=2"});
  ASSERT_FALSE(twice.ok());
  EXPECT_THAT(std::string(twice.status().message()),
              HasSubstr("protocol 'inference' is already restricted"));
}

}  // namespace
}  // namespace seqserve
