// How sizes and limits are written in errors.
#include "common/byte_size.h"

#include "gtest/gtest.h"

namespace seqserve {
namespace {

// Derivable: decimal units, one decimal.
TEST(FormatBytes, DecimalUnits) {
  EXPECT_EQ(FormatBytes(0), "0 bytes");
  EXPECT_EQ(FormatBytes(1), "1 byte");
  EXPECT_EQ(FormatBytes(999), "999 bytes");
  EXPECT_EQ(FormatBytes(1000), "1.0 kB");
  EXPECT_EQ(FormatBytes(1536), "1.5 kB");
  EXPECT_EQ(FormatBytes(67108864), "67.1 MB");
  EXPECT_EQ(FormatBytes(40'000'000'000), "40.0 GB");
  EXPECT_EQ(FormatBytes(999'999'999), "1.0 GB");
  EXPECT_EQ(LimitText(1048576, "--max-seq-file-bytes"),
            "the limit is 1.0 MB (--max-seq-file-bytes=1048576)");
  EXPECT_EQ(LimitText(1000, ""), "the limit is 1.0 kB");
}

}  // namespace
}  // namespace seqserve
