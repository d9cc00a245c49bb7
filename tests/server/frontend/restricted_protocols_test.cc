// Triton's restricted-protocol option, parsed and checked as both front ends use it: the
// groups, the one-group-per-protocol rule, every protocol name, and PERMISSION_DENIED for a
// missing or wrong header, whose message never carries the value.
#include "server/frontend/restricted_protocols.h"

#include <map>
#include <optional>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace seqserve {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

ProtocolRestrictions ParseOrDie(const std::vector<std::string>& values) {
  absl::StatusOr<ProtocolRestrictions> parsed =
      ProtocolRestrictions::Parse(values, "--grpc-restricted-protocol");
  EXPECT_TRUE(parsed.ok()) << parsed.status();
  return parsed.ok() ? *std::move(parsed) : ProtocolRestrictions();
}

std::string ParseError(const std::vector<std::string>& values) {
  absl::StatusOr<ProtocolRestrictions> parsed =
      ProtocolRestrictions::Parse(values, "--grpc-restricted-protocol");
  EXPECT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(parsed.status().message());
}

// A request's headers.
ProtocolRestrictions::HeaderLookup Headers(std::map<std::string, std::string> headers) {
  return [headers = std::move(headers)](std::string_view name) -> std::optional<std::string> {
    auto it = headers.find(std::string(name));
    if (it == headers.end()) return std::nullopt;
    return it->second;
  };
}

TEST(ProtocolRestrictions, ParsesGroupsOfTritonsProtocolNames) {
  ProtocolRestrictions restrictions = ParseOrDie(
      {"model-repository,shared-memory,model-config,statistics,trace,logging:admin-key=s3cret",
       "inference,health,metadata:infer-key=other"});
  EXPECT_FALSE(restrictions.empty());
  for (Protocol p : {Protocol::kModelRepository, Protocol::kSharedMemory, Protocol::kModelConfig,
                     Protocol::kStatistics, Protocol::kTrace, Protocol::kLogging}) {
    ASSERT_NE(restrictions.Find(p), nullptr) << ProtocolName(p);
    EXPECT_EQ(restrictions.Find(p)->key, "admin-key");
    EXPECT_EQ(restrictions.Find(p)->value, "s3cret");
  }
  for (Protocol p : {Protocol::kInference, Protocol::kHealth, Protocol::kMetadata}) {
    ASSERT_NE(restrictions.Find(p), nullptr) << ProtocolName(p);
    EXPECT_EQ(restrictions.Find(p)->key, "infer-key");
  }
  // A value may hold ':' and '=' itself: only the first ':' and the '=' after it split.
  ProtocolRestrictions odd = ParseOrDie({"model-repository:k=a=b:c"});
  EXPECT_EQ(odd.Find(Protocol::kModelRepository)->value, "a=b:c");
  EXPECT_TRUE(ParseOrDie({}).empty());
}

TEST(ProtocolRestrictions, RefusesWhatTritonRefuses) {
  EXPECT_EQ(ParseError({"model-repository,health:k1=v1", "metadata,health:k2=v2"}),
            "--grpc-restricted-protocol: protocol 'health' is in more than one group; each "
            "protocol may be restricted once");
  EXPECT_THAT(ParseError({"model-reposit,health:k1=v1"}),
              HasSubstr("unknown protocol 'model-reposit' (known: health, metadata, inference, "
                        "shared-memory, model-config, model-repository, statistics, trace, "
                        "logging)"));
  EXPECT_EQ(ParseError({"model-repository=secret"}),
            "a value of --grpc-restricted-protocol is not "
            "<protocol>[,<protocol>...]:<key>=<value>");
  EXPECT_THAT(ParseError({"model-repository:bad key=v"}), HasSubstr("is not a header name"));
  EXPECT_THAT(ParseError({"model-repository:k="}), HasSubstr("has an empty value"));
  EXPECT_THAT(ParseError({"model-repository:=v"}), HasSubstr("is not a header name"));
}

TEST(ProtocolRestrictions, ChecksTheHeaderOfRestrictedProtocolsOnly) {
  ProtocolRestrictions restrictions = ParseOrDie({"model-repository:admin-key=s3cret"});
  const std::string header = "triton-grpc-protocol-admin-key";
  EXPECT_TRUE(restrictions
                  .Check(Protocol::kModelRepository, "triton-grpc-protocol-",
                         Headers({{header, "s3cret"}}))
                  .ok());
  // Inference is open.
  EXPECT_TRUE(restrictions.Check(Protocol::kInference, "triton-grpc-protocol-", Headers({})).ok());

  for (const auto& headers : {std::map<std::string, std::string>{},
                              std::map<std::string, std::string>{{header, "guess"}},
                              std::map<std::string, std::string>{{header, "s3cre"}},
                              std::map<std::string, std::string>{{"admin-key", "s3cret"}}}) {
    absl::Status denied =
        restrictions.Check(Protocol::kModelRepository, "triton-grpc-protocol-", Headers(headers));
    EXPECT_EQ(denied.code(), absl::StatusCode::kPermissionDenied);
    EXPECT_EQ(denied.message(),
              "the model-repository protocol is restricted: send header "
              "'triton-grpc-protocol-admin-key' with its value");
    EXPECT_THAT(std::string(denied.message()), Not(HasSubstr("s3cret")));
  }
  // HTTP's spelling: the key itself.
  EXPECT_TRUE(
      restrictions.Check(Protocol::kModelRepository, "", Headers({{"admin-key", "s3cret"}})).ok());
}

}  // namespace
}  // namespace seqserve
