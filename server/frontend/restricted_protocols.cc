#include "server/frontend/restricted_protocols.h"

#include <cstdint>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace seqserve {
namespace {

constexpr std::array<std::pair<Protocol, std::string_view>, kProtocolCount> kNames = {{
    {Protocol::kHealth, "health"},
    {Protocol::kMetadata, "metadata"},
    {Protocol::kInference, "inference"},
    {Protocol::kSharedMemory, "shared-memory"},
    {Protocol::kModelConfig, "model-config"},
    {Protocol::kModelRepository, "model-repository"},
    {Protocol::kStatistics, "statistics"},
    {Protocol::kTrace, "trace"},
    {Protocol::kLogging, "logging"},
}};

std::optional<Protocol> ProtocolNamed(std::string_view name) {
  for (const auto& [protocol, known] : kNames) {
    if (known == name) return protocol;
  }
  return std::nullopt;
}

std::string KnownNames() {
  std::vector<std::string> names;
  for (const auto& [protocol, name] : kNames) names.emplace_back(name);
  return absl::StrJoin(names, ", ");
}

bool IsHeaderToken(std::string_view key) {
  if (key.empty()) return false;
  for (const char c : key) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') return false;
  }
  return true;
}

// Compares without an early exit, so the time taken does not tell how much of a guess was
// right. (The length is not secret.)
bool SameSecret(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char difference = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    difference |= static_cast<unsigned char>(a[i] ^ b[i]);
  }
  return difference == 0;
}

}  // namespace

std::string_view ProtocolName(Protocol protocol) {
  return kNames[static_cast<size_t>(protocol)].second;
}

absl::StatusOr<ProtocolRestrictions> ProtocolRestrictions::Parse(
    const std::vector<std::string>& values, std::string_view flag_name) {
  const std::string flag(flag_name);
  ProtocolRestrictions parsed;
  for (const std::string& value : values) {
    const size_t colon = value.find(':');
    const size_t equals = colon == std::string::npos ? std::string::npos : value.find('=', colon);
    if (colon == std::string::npos || equals == std::string::npos) {
      // Not quoted: the value may hold the secret.
      return absl::InvalidArgumentError(absl::StrCat(
          "a value of ", flag, " is not <protocol>[,<protocol>...]:<key>=<value>"));
    }
    const std::string key = value.substr(colon + 1, equals - colon - 1);
    const std::string secret = value.substr(equals + 1);
    if (!IsHeaderToken(key)) {
      return absl::InvalidArgumentError(
          absl::StrCat(flag, ": the key '", key,
                       "' is not a header name (letters, digits, '-' and '_' only)"));
    }
    if (secret.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(flag, ": the key '", key, "' has an empty value"));
    }
    for (absl::string_view name : absl::StrSplit(value.substr(0, colon), ',')) {
      const std::string_view protocol_name(name.data(), name.size());
      const std::optional<Protocol> protocol = ProtocolNamed(protocol_name);
      if (!protocol) {
        return absl::InvalidArgumentError(absl::StrCat(flag, ": unknown protocol '",
                                                       std::string(protocol_name), "' (known: ",
                                                       KnownNames(), ")"));
      }
      std::optional<Restriction>& slot = parsed.restrictions_[static_cast<size_t>(*protocol)];
      if (slot) {
        return absl::InvalidArgumentError(
            absl::StrCat(flag, ": protocol '", std::string(protocol_name),
                         "' is in more than one group; each protocol may be restricted once"));
      }
      slot = Restriction{key, secret};
    }
  }
  return parsed;
}

const ProtocolRestrictions::Restriction* ProtocolRestrictions::Find(Protocol protocol) const {
  const std::optional<Restriction>& slot = restrictions_[static_cast<size_t>(protocol)];
  return slot ? &*slot : nullptr;
}

bool ProtocolRestrictions::empty() const {
  for (const std::optional<Restriction>& slot : restrictions_) {
    if (slot) return false;
  }
  return true;
}

absl::Status ProtocolRestrictions::Check(Protocol protocol, std::string_view header_prefix,
                                         const HeaderLookup& lookup) const {
  const Restriction* restriction = Find(protocol);
  if (restriction == nullptr) return absl::OkStatus();
  const std::string header = absl::StrCat(std::string(header_prefix), restriction->key);
  const std::optional<std::string> sent = lookup(header);
  if (sent && SameSecret(*sent, restriction->value)) return absl::OkStatus();
  return absl::PermissionDeniedError(
      absl::StrCat("the ", std::string(ProtocolName(protocol)),
                   " protocol is restricted: send header '", header, "' with its value"));
}

}  // namespace seqserve
