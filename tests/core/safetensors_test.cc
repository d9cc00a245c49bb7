#include "core/safetensors.h"

#include <unistd.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace seqserve {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

using Bytes = std::vector<uint8_t>;

// Little-endian bytes of an unsigned integer.
template <typename T>
void AppendLE(Bytes& out, T v) {
  for (size_t i = 0; i < sizeof(T); ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

Bytes F32Bytes(const std::vector<float>& values) {
  Bytes out;
  for (float v : values) AppendLE(out, std::bit_cast<uint32_t>(v));
  return out;
}

// A safetensors file: u64 header length, the header text verbatim, then the data area.
Bytes MakeFile(std::string_view header, const Bytes& data) {
  Bytes out;
  AppendLE<uint64_t>(out, header.size());
  out.insert(out.end(), header.begin(), header.end());
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

absl::StatusOr<TensorMap> Parse(std::string_view header, const Bytes& data = {}) {
  return ParseSafetensors(MakeFile(header, data), "model.safetensors");
}

// The error message of a parse that must fail.
std::string ParseError(std::string_view header, const Bytes& data = {}) {
  absl::StatusOr<TensorMap> result = Parse(header, data);
  EXPECT_FALSE(result.ok()) << "header parsed: " << header;
  if (result.ok()) return "";
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(result.status().message());
}

TEST(Safetensors, ParsesF32TensorsAndMetadata) {
  Bytes data = F32Bytes({1, 2, 3, 4, 5, 6, -7});
  absl::StatusOr<TensorMap> tensors = Parse(
      R"({"__metadata__": {"format": "pt"},
          "0.weight": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]},
          "0.bias": {"dtype": "F32", "shape": [1], "data_offsets": [24, 28]}})",
      data);
  ASSERT_TRUE(tensors.ok()) << tensors.status();
  ASSERT_EQ(tensors->size(), 2u);
  EXPECT_EQ(tensors->at("0.weight").shape, (Shape{2, 3}));
  EXPECT_THAT(tensors->at("0.weight").data, ElementsAre(1, 2, 3, 4, 5, 6));
  EXPECT_EQ(tensors->at("0.bias").shape, (Shape{1}));
  EXPECT_THAT(tensors->at("0.bias").data, ElementsAre(-7));
}

TEST(Safetensors, ReadsUnalignedData) {
  // A 3-byte-longer header puts the data area at an odd address.
  Bytes data = F32Bytes({1.5f, -2.5f});
  absl::StatusOr<TensorMap> tensors =
      Parse(R"({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}   )", data);
  ASSERT_TRUE(tensors.ok()) << tensors.status();
  EXPECT_THAT(tensors->at("w").data, ElementsAre(1.5f, -2.5f));
}

TEST(Safetensors, ScalarAndEmptyTensors) {
  Bytes data = F32Bytes({42});
  absl::StatusOr<TensorMap> tensors = Parse(
      R"({"s": {"dtype": "F32", "shape": [], "data_offsets": [0, 4]},
          "e": {"dtype": "F32", "shape": [0, 3], "data_offsets": [4, 4]},
          "e2": {"dtype": "F16", "shape": [0], "data_offsets": [2, 2]}})",
      data);
  ASSERT_TRUE(tensors.ok()) << tensors.status();
  EXPECT_EQ(tensors->at("s").shape, Shape{});
  EXPECT_THAT(tensors->at("s").data, ElementsAre(42));
  EXPECT_EQ(tensors->at("e").shape, (Shape{0, 3}));
  EXPECT_TRUE(tensors->at("e").data.empty());
  EXPECT_TRUE(tensors->at("e2").data.empty());
}

TEST(Safetensors, ConvertsF16IncludingSubnormalsInfAndNan) {
  Bytes data;
  for (uint16_t h :
       {0x3C00, 0xC000, 0x0001, 0x03FF, 0x7BFF, 0x3555, 0x8000, 0x7C00, 0xFC00, 0x7E00}) {
    AppendLE<uint16_t>(data, h);
  }
  absl::StatusOr<TensorMap> tensors =
      Parse(R"({"h": {"dtype": "F16", "shape": [10], "data_offsets": [0, 20]}})", data);
  ASSERT_TRUE(tensors.ok()) << tensors.status();
  const std::vector<float>& v = tensors->at("h").data;
  EXPECT_EQ(v[0], 1.0f);
  EXPECT_EQ(v[1], -2.0f);
  EXPECT_EQ(v[2], std::ldexp(1.0f, -24));         // smallest subnormal
  EXPECT_EQ(v[3], 1023 * std::ldexp(1.0f, -24));  // largest subnormal
  EXPECT_EQ(v[4], 65504.0f);                      // largest normal
  EXPECT_EQ(v[5], 0.333251953125f);               // 0x3555 = 1365/4096
  EXPECT_EQ(v[6], 0.0f);
  EXPECT_TRUE(std::signbit(v[6]));  // -0 keeps its sign
  EXPECT_EQ(v[7], std::numeric_limits<float>::infinity());
  EXPECT_EQ(v[8], -std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(v[9]));
}

TEST(Safetensors, ConvertsBF16) {
  Bytes data;
  for (uint16_t h : {0x3F80, 0xC040, 0x7F80, 0x3E20}) AppendLE<uint16_t>(data, h);
  absl::StatusOr<TensorMap> tensors =
      Parse(R"({"b": {"dtype": "BF16", "shape": [2, 2], "data_offsets": [0, 8]}})", data);
  ASSERT_TRUE(tensors.ok()) << tensors.status();
  EXPECT_THAT(tensors->at("b").data,
              ElementsAre(1.0f, -3.0f, std::numeric_limits<float>::infinity(), 0.15625f));
}

TEST(Safetensors, ConvertsF64) {
  Bytes data;
  for (double d : {0.1, -2.5, 1e-3}) AppendLE(data, std::bit_cast<uint64_t>(d));
  absl::StatusOr<TensorMap> tensors =
      Parse(R"({"d": {"dtype": "F64", "shape": [3], "data_offsets": [0, 24]}})", data);
  ASSERT_TRUE(tensors.ok()) << tensors.status();
  EXPECT_THAT(tensors->at("d").data, ElementsAre(0.1f, -2.5f, 1e-3f));
}

TEST(Safetensors, SkipsNumBatchesTrackedWhateverTheDtype) {
  Bytes data = F32Bytes({1, 2});
  AppendLE<uint64_t>(data, 7);
  absl::StatusOr<TensorMap> tensors = Parse(
      R"({"1.running_mean": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
          "1.num_batches_tracked": {"dtype": "I64", "shape": [], "data_offsets": [8, 16]},
          "2.num_batches_tracked": {"dtype": "WHATEVER"}})",
      data);
  ASSERT_TRUE(tensors.ok()) << tensors.status();
  EXPECT_EQ(tensors->size(), 1u);
  EXPECT_TRUE(tensors->contains("1.running_mean"));
}

TEST(Safetensors, RejectsFileShorterThanEightBytes) {
  Bytes bytes = {1, 2, 3};
  absl::StatusOr<TensorMap> result = ParseSafetensors(bytes, "tiny.safetensors");
  ASSERT_FALSE(result.ok());
  EXPECT_THAT(result.status().message(),
              AllOf(HasSubstr("tiny.safetensors"), HasSubstr("3 bytes"), HasSubstr("8-byte")));
}

TEST(Safetensors, RejectsHeaderLengthPastEndOfFile) {
  Bytes bytes;
  AppendLE<uint64_t>(bytes, 1000);
  bytes.resize(20, '{');
  absl::StatusOr<TensorMap> result = ParseSafetensors(bytes, "cut.safetensors");
  ASSERT_FALSE(result.ok());
  EXPECT_THAT(result.status().message(),
              AllOf(HasSubstr("cut.safetensors"), HasSubstr("header length 1000"),
                    HasSubstr("20-byte file")));
}

TEST(Safetensors, RejectsHeaderOverOneHundredMegabytes) {
  Bytes bytes;
  AppendLE<uint64_t>(bytes, uint64_t{1} << 62);
  absl::StatusOr<TensorMap> result = ParseSafetensors(bytes, "big.safetensors");
  ASSERT_FALSE(result.ok());
  EXPECT_THAT(result.status().message(),
              AllOf(HasSubstr("big.safetensors"), HasSubstr(std::to_string(uint64_t{1} << 62)),
                    HasSubstr("limit of 100000000 bytes")));
}

TEST(Safetensors, RejectsInvalidJsonWithPosition) {
  EXPECT_THAT(ParseError(R"({"a": {"dtype": "F32",,}})"),
              AllOf(HasSubstr("model.safetensors"), HasSubstr("not valid JSON"),
                    HasSubstr("JSON: parse error at line 1, column 23")));
  // Not UTF-8.
  EXPECT_THAT(ParseError("{\"\xff\": 1}"), HasSubstr("not valid JSON"));
}

// Before: nlohmann's "last read: '...'" carried bytes of the file into the error.
TEST(Safetensors, JsonErrorsDoNotQuoteTheFile) {
  // nlohmann's lexer reads the whole string up to the bad escape before it fails.
  const std::string message = ParseError(R"({"a": "password: hunter2\q"})");
  EXPECT_THAT(message, HasSubstr("not valid JSON: parse error at line 1, column"));
  EXPECT_THAT(message, Not(HasSubstr("hunter2")));
}

// The float32 total of the header's tensors is checked against the caller's budget before
// any tensor is made. Derivable: [2, 3] F32 + [4] F16 = 6*4 + 4*4 = 40 bytes as float32.
TEST(Safetensors, TensorsOverTheBudgetAreRefusedBeforeAllocation) {
  Bytes bytes = MakeFile(R"({"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},)"
                     R"("b":{"dtype":"F16","shape":[4],"data_offsets":[24,32]}})",
                     Bytes(32, 0));
  EXPECT_TRUE(ParseSafetensors(bytes, "w.safetensors", {.max_float32_bytes = 40}).ok());
  absl::StatusOr<TensorMap> over = ParseSafetensors(
      bytes, "w.safetensors", {.max_float32_bytes = 39, .what = "the 39 bytes it may take"});
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(over.status().message(),
            "w.safetensors: its tensors take 40 bytes as float32, more than the 39 bytes it may "
            "take");
}

TEST(Safetensors, TheShapeCheckSeesEveryTensorBeforeAnyIsMade) {
  Bytes bytes = MakeFile(R"({"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},)"
                         R"("n.num_batches_tracked":{"dtype":"I64","shape":[],)"
                         R"("data_offsets":[24,32]}})",
                         Bytes(32, 0));
  std::map<std::string, Shape> seen;
  absl::StatusOr<TensorMap> refused = ParseSafetensors(
      bytes, "w.safetensors", {.check_shapes = [&](const std::map<std::string, Shape>& shapes) {
        seen = shapes;
        return absl::InvalidArgumentError("not this one");
      }});
  EXPECT_EQ(refused.status().message(), "not this one");
  EXPECT_EQ(seen, (std::map<std::string, Shape>{{"a", {2, 3}}}));
}

TEST(Safetensors, RejectsNonObjectTopLevel) {
  EXPECT_THAT(ParseError("[1, 2]"), HasSubstr("header is a JSON array, expected an object"));
}

TEST(Safetensors, RejectsDuplicateKeys) {
  Bytes data = F32Bytes({1});
  EXPECT_THAT(ParseError(R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
                             "w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}})",
                         data),
              HasSubstr("tensor 'w' twice"));
}

TEST(Safetensors, RejectsBadMetadata) {
  EXPECT_THAT(ParseError(R"({"__metadata__": [1]})"), HasSubstr("'__metadata__' is not"));
  EXPECT_THAT(ParseError(R"({"__metadata__": {"epoch": 3}})"),
              HasSubstr("'__metadata__' value for 'epoch' is not a string"));
}

TEST(Safetensors, RejectsMalformedEntries) {
  EXPECT_THAT(ParseError(R"({"w": 3})"), HasSubstr("tensor 'w': header entry is not a JSON"));
  EXPECT_THAT(ParseError(R"({"w": {"shape": [1], "data_offsets": [0, 4]}})"),
              HasSubstr("tensor 'w': missing or non-string field 'dtype'"));
  EXPECT_THAT(ParseError(R"({"w": {"dtype": 1, "shape": [1], "data_offsets": [0, 4]}})"),
              HasSubstr("tensor 'w': missing or non-string field 'dtype'"));
  EXPECT_THAT(ParseError(R"({"w": {"dtype": "F32", "data_offsets": [0, 4]}})"),
              HasSubstr("tensor 'w': missing or non-array field 'shape'"));
  EXPECT_THAT(ParseError(R"({"w": {"dtype": "F32", "shape": 4, "data_offsets": [0, 4]}})"),
              HasSubstr("tensor 'w': missing or non-array field 'shape'"));
  EXPECT_THAT(ParseError(R"({"w": {"dtype": "F32", "shape": [1]}})"),
              HasSubstr("tensor 'w': field 'data_offsets' must be"));
  EXPECT_THAT(ParseError(R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0]}})"),
              HasSubstr("tensor 'w': field 'data_offsets' must be"));
  EXPECT_THAT(ParseError(R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, "4"]}})"),
              HasSubstr("tensor 'w': field 'data_offsets' must be"));
  EXPECT_THAT(ParseError(R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [-4, 4]}})"),
              HasSubstr("tensor 'w': field 'data_offsets' must be"));
}

TEST(Safetensors, RejectsBadShapeDims) {
  Bytes data = F32Bytes({1, 2});
  EXPECT_THAT(ParseError(R"({"w": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}})", data),
              HasSubstr("tensor 'w': shape [-1] must hold non-negative integers"));
  EXPECT_THAT(
      ParseError(R"({"w": {"dtype": "F32", "shape": [2.0], "data_offsets": [0, 8]}})", data),
      HasSubstr("tensor 'w': shape [2.0] must hold non-negative integers"));
  EXPECT_THAT(
      ParseError(R"({"w": {"dtype": "F32", "shape": ["2"], "data_offsets": [0, 8]}})", data),
      HasSubstr("must hold non-negative integers"));
  EXPECT_THAT(
      ParseError(
          R"({"w": {"dtype": "F32", "shape": [18446744073709551615], "data_offsets": [0, 8]}})",
          data),
      HasSubstr("must hold non-negative integers"));
}

TEST(Safetensors, RejectsUnknownDtype) {
  EXPECT_THAT(
      ParseError(R"({"w": {"dtype": "F99", "shape": [1], "data_offsets": [0, 4]}})", F32Bytes({1})),
      HasSubstr("tensor 'w': unknown dtype 'F99'"));
}

TEST(Safetensors, RejectsUnsupportedDtypesNamingKeyAndDtype) {
  for (const char* dtype : {"I64", "I32", "U8", "BOOL", "I8", "F8_E4M3"}) {
    std::string header = std::string(R"({"idx": {"dtype": ")") + dtype +
                         R"(", "shape": [1], "data_offsets": [0, 1]}})";
    EXPECT_THAT(ParseError(header, Bytes(8)),
                AllOf(HasSubstr("tensor 'idx'"), HasSubstr(std::string("dtype ") + dtype),
                      HasSubstr("not supported")));
  }
}

TEST(Safetensors, RejectsHugeShapeWithoutAllocating) {
  // [2^40, 2^40]
  EXPECT_THAT(ParseError(R"({"w": {"dtype": "F32", "shape": [1099511627776, 1099511627776],)"
                         R"( "data_offsets": [0, 8]}})",
                         F32Bytes({1, 2})),
              AllOf(HasSubstr("tensor 'w'"), HasSubstr("more than 2^64")));
  // Element count fits, byte size overflows.
  EXPECT_THAT(
      ParseError(
          R"({"w": {"dtype": "F64", "shape": [4611686018427387904], "data_offsets": [0, 8]}})",
          F32Bytes({1, 2})),
      AllOf(HasSubstr("tensor 'w'"), HasSubstr("more than 2^64")));
}

TEST(Safetensors, RejectsSizeMismatch) {
  EXPECT_THAT(ParseError(R"({"w": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 8]}})",
                         F32Bytes({1, 2})),
              AllOf(HasSubstr("tensor 'w': shape [2, 2] of F32 needs 16 bytes"),
                    HasSubstr("[0, 8] span 8")));
}

TEST(Safetensors, RejectsBeginAfterEnd) {
  EXPECT_THAT(ParseError(R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [8, 4]}})",
                         F32Bytes({1, 2})),
              HasSubstr("tensor 'w': data_offsets [8, 4] has begin > end"));
}

TEST(Safetensors, RejectsEndPastDataArea) {
  EXPECT_THAT(ParseError(R"({"w": {"dtype": "F32", "shape": [3], "data_offsets": [0, 12]}})",
                         F32Bytes({1, 2})),
              HasSubstr("tensor 'w': data_offsets [0, 12] end past the data area of 8 bytes"));
}

TEST(Safetensors, RejectsOverlapsNamingBothKeys) {
  EXPECT_THAT(ParseError(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                             "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}})",
                         F32Bytes({1, 2, 3})),
              HasSubstr("tensors 'a' [0, 8) and 'b' [4, 12) overlap"));
  // A long tensor overlapping one that is not its neighbour in offset order.
  EXPECT_THAT(ParseError(R"({"big": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},
                             "c": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]},
                             "d": {"dtype": "F32", "shape": [1], "data_offsets": [12, 16]}})",
                         F32Bytes({1, 2, 3, 4})),
              HasSubstr("tensors 'big' [0, 16) and 'c' [4, 8) overlap"));
}

class TempFile {
 public:
  explicit TempFile(const std::string& stem)
      : path_(std::filesystem::path(::testing::TempDir()) /
              (stem + "." + std::to_string(::getpid()) + ".safetensors")) {}
  ~TempFile() { std::filesystem::remove(path_); }
  const std::filesystem::path& path() const { return path_; }
  void Write(const Bytes& bytes) const {
    std::ofstream out(path_, std::ios::binary);
    out.write(reinterpret_cast<const char*>(bytes.data()),
              static_cast<std::streamsize>(bytes.size()));
  }

 private:
  std::filesystem::path path_;
};

TEST(Safetensors, LoadsFromFile) {
  TempFile file("load");
  Bytes data = F32Bytes({0.5f, 1.5f, 2.5f});
  AppendLE<uint16_t>(data, 0x3C00);
  file.Write(MakeFile(R"({"w": {"dtype": "F32", "shape": [3], "data_offsets": [0, 12]},
                          "h": {"dtype": "F16", "shape": [1, 1], "data_offsets": [12, 14]}})",
                      data));
  absl::StatusOr<TensorMap> tensors = LoadSafetensors(file.path());
  ASSERT_TRUE(tensors.ok()) << tensors.status();
  EXPECT_THAT(tensors->at("w").data, ElementsAre(0.5f, 1.5f, 2.5f));
  EXPECT_EQ(tensors->at("h").shape, (Shape{1, 1}));
  EXPECT_THAT(tensors->at("h").data, ElementsAre(1.0f));
}

TEST(Safetensors, LoadErrorsNameTheFile) {
  TempFile empty("empty");
  empty.Write({});
  absl::StatusOr<TensorMap> result = LoadSafetensors(empty.path());
  ASSERT_FALSE(result.ok());
  EXPECT_THAT(result.status().message(),
              AllOf(HasSubstr(empty.path().string()), HasSubstr("0 bytes")));

  const std::filesystem::path missing = empty.path().string() + ".missing";
  result = LoadSafetensors(missing);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(result.status().message(), HasSubstr(missing.string()));

  result = LoadSafetensors(::testing::TempDir());
  ASSERT_FALSE(result.ok());
  EXPECT_THAT(result.status().message(), HasSubstr("not a regular file"));
}

}  // namespace
}  // namespace seqserve
