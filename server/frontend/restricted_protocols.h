// Triton's restricted protocols, for every front end: `--grpc-restricted-protocol` (and the
// HTTP equivalent) declares groups of protocols, each open only to requests that carry a
// header with a given value — e.g. `model-repository:admin-key=secret` makes loading and
// unloading need the header that ordinary inference does not. The syntax, the protocol names
// and the one-group-per-protocol rule are Triton's:
//   <protocol>[,<protocol>...]:<key>=<value>     (the flag may repeat, one group each)
//   protocols: health, metadata, inference, shared-memory, model-config,
//              model-repository, statistics, trace, logging
// How the key becomes a header is the front end's: gRPC (as Triton) reads metadata
// "triton-grpc-protocol-<key>", HTTP reads header "<key>". A request to a restricted protocol
// without the header, or with another value, is PERMISSION_DENIED (SPEC §7); the error names
// the header, never the value. Values are compared in constant time.
// Thread-safe: immutable after Parse.
#pragma once

#include <array>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace seqserve {

enum class Protocol {
  kHealth,
  kMetadata,
  kInference,
  kSharedMemory,
  kModelConfig,
  kModelRepository,
  kStatistics,
  kTrace,
  kLogging,
};
inline constexpr size_t kProtocolCount = 9;

// Triton's name: "model-repository".
std::string_view ProtocolName(Protocol protocol);

class ProtocolRestrictions {
 public:
  struct Restriction {
    std::string key;
    std::string value;
  };
  // A request header's value by its full name; nullopt when the request has none.
  using HeaderLookup = std::function<std::optional<std::string>(std::string_view name)>;

  // No restriction: every protocol open.
  ProtocolRestrictions() = default;

  // Parses the values of a restricted-protocol flag (`flag` names it in errors, e.g.
  // "--grpc-restricted-protocol"). INVALID_ARGUMENT naming the value for a malformed one, an
  // unknown protocol, a protocol in two groups, a key that is not a header name (letters,
  // digits, '-', '_') or an empty value.
  static absl::StatusOr<ProtocolRestrictions> Parse(const std::vector<std::string>& values,
                                                    std::string_view flag);

  // The restriction on `protocol`; nullptr when it is open.
  const Restriction* Find(Protocol protocol) const;
  bool empty() const;

  // OK when `protocol` is open, or the request's header `header_prefix` + key (looked up with
  // `lookup`) has the restriction's value; PERMISSION_DENIED otherwise: "the model-repository
  // protocol is restricted: send header 'triton-grpc-protocol-admin-key' with its value".
  absl::Status Check(Protocol protocol, std::string_view header_prefix,
                     const HeaderLookup& lookup) const;

 private:
  std::array<std::optional<Restriction>, kProtocolCount> restrictions_;
};

}  // namespace seqserve
