// The one way sizes are written in errors and logs ("40.0 GB"), and how a limit error ends
// ("the limit is 1.0 MB (--max-seq-file-bytes=1048576)"): decimal units for reading, the
// exact setting for copying into a flag. Thread-safe: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace seqserve {

// `bytes` in decimal units with one decimal: "512 bytes", "1.5 kB", "40.0 GB".
std::string FormatBytes(uint64_t bytes);

// "the limit is 1.0 MB (--max-seq-file-bytes=1048576)"; without a name, "the limit is
// 1.0 MB".
std::string LimitText(uint64_t limit_bytes, std::string_view limit_name);

}  // namespace seqserve
