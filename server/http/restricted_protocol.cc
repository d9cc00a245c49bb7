#include "server/http/restricted_protocol.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace seqserve {

const std::vector<std::string>& RestrictedProtocols::Known() {
  static const std::vector<std::string> known = {
      "health",           "metadata",   "inference", "shared-memory", "model-config",
      "model-repository", "statistics", "trace",     "logging"};
  return known;
}

absl::StatusOr<RestrictedProtocols> RestrictedProtocols::Parse(
    const std::vector<std::string>& specs) {
  RestrictedProtocols parsed;
  for (const std::string& spec : specs) {
    const auto invalid = [&spec](const std::string& why) {
      return absl::InvalidArgumentError(
          absl::StrCat("restricted protocol '", spec, "': ", why,
                       " (expected <protocol>[,<protocol>...]:<header>=<value>)"));
    };
    const size_t colon = spec.find(':');
    if (colon == std::string::npos) return invalid("no ':' before the header");
    const std::string_view list = std::string_view(spec).substr(0, colon);
    const std::string_view header = std::string_view(spec).substr(colon + 1);
    const size_t equals = header.find('=');
    if (equals == std::string_view::npos) return invalid("no '=' between header and value");
    Rule rule;
    rule.header = std::string(header.substr(0, equals));
    rule.value = std::string(header.substr(equals + 1));
    if (rule.header.empty()) return invalid("the header name is empty");
    for (const absl::string_view piece :
         absl::StrSplit(absl::string_view(list.data(), list.size()), ',')) {
      const std::string protocol(piece);
      if (std::find(Known().begin(), Known().end(), protocol) == Known().end()) {
        return invalid(absl::StrCat("unknown protocol '", protocol,
                                    "'; known: ", absl::StrJoin(Known(), ", ")));
      }
      for (const Rule& other : parsed.rules_) {
        if (std::find(other.protocols.begin(), other.protocols.end(), protocol) !=
            other.protocols.end()) {
          return invalid(absl::StrCat("protocol '", protocol, "' is already restricted"));
        }
      }
      if (std::find(rule.protocols.begin(), rule.protocols.end(), protocol) !=
          rule.protocols.end()) {
        return invalid(absl::StrCat("protocol '", protocol, "' is listed twice"));
      }
      rule.protocols.push_back(protocol);
    }
    parsed.rules_.push_back(std::move(rule));
  }
  return parsed;
}

absl::Status RestrictedProtocols::Check(
    std::string_view protocol,
    const std::function<const std::string*(std::string_view name)>& header) const {
  for (const Rule& rule : rules_) {
    if (std::find(rule.protocols.begin(), rule.protocols.end(), protocol) == rule.protocols.end()) {
      continue;
    }
    const std::string* given = header(rule.header);
    if (given != nullptr && *given == rule.value) return absl::OkStatus();
    return absl::PermissionDeniedError(absl::StrCat(
        "the ", std::string(protocol), " protocol is restricted: the request needs the '",
        rule.header, "' header with the configured value"));
  }
  return absl::OkStatus();
}

}  // namespace seqserve
