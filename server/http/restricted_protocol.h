// Triton's restricted-protocol option for HTTP (`--http-restricted-protocol`): groups of
// endpoints that only answer requests carrying a given header with a given value, e.g.
//
//   --http-restricted-protocol=model-repository:admin-key=secret
//   --http-restricted-protocol=shared-memory,statistics:ops-key=s3cret   (repeatable)
//
// Each value is `<protocol>[,<protocol>...]:<header>=<value>`; the protocols are Triton's
// (health, metadata, inference, shared-memory, model-config, model-repository, statistics,
// trace, logging). A protocol may be restricted by one value only. Header names compare
// case-insensitively (HTTP's rule), values exactly. A request to a restricted protocol
// without the header (or with another value) is refused: 403 {"error": ...} over HTTP.
//
// All the parsing lives in Parse, so that the gRPC side can share it.
// Thread-safe: immutable after Parse.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace seqserve {

class RestrictedProtocols {
 public:
  // Nothing restricted.
  RestrictedProtocols() = default;

  // One rule per `specs` element (the flag's values). INVALID_ARGUMENT naming the value and
  // what is wrong: no ':' or '=', an unknown or repeated protocol, an empty header name.
  static absl::StatusOr<RestrictedProtocols> Parse(const std::vector<std::string>& specs);

  // OK when `protocol` is unrestricted or `header` (a request's header lookup: the value of
  // a header by name, or null) carries the configured value; PERMISSION_DENIED otherwise,
  // naming the protocol and the header (never the expected value).
  absl::Status Check(std::string_view protocol,
                     const std::function<const std::string*(std::string_view name)>& header) const;

  bool empty() const { return rules_.empty(); }

  // The protocol names Triton defines, in its order.
  static const std::vector<std::string>& Known();

 private:
  struct Rule {
    std::vector<std::string> protocols;
    std::string header;
    std::string value;
  };
  std::vector<Rule> rules_;
};

}  // namespace seqserve
