// libFuzzer target: config.pbtxt parsing (server/config/config_parser.h ParseModelConfigText).
// Errors must quote at most the offending token (40 characters) of the text: an error text
// longer than the message around it plus that is a finding (issue 13 §3: no file contents in
// errors).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "server/config/config_parser.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto config = seqserve::ParseModelConfigText(text, "config.pbtxt");
  if (config.ok()) {
    // What the parser accepted serializes.
    std::string wire;
    if (!config->SerializeToString(&wire)) {
      std::fprintf(stderr, "accepted config does not serialize\n");
      std::abort();
    }
  } else if (config.status().message().size() > 600) {
    std::fprintf(stderr, "error text too long: %s\n", config.status().ToString().c_str());
    std::abort();
  }
  return 0;
}
