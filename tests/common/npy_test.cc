#include "common/npy.h"

#include <unistd.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace seqserve {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

using Bytes = std::vector<uint8_t>;

const std::filesystem::path kGoldenDir = std::filesystem::path(SEQSERVE_TEST_DATA_DIR) / "npy";

std::string ReadBytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in) << path;
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// A .npy file with the given header dict text (padded as NumPy does) and raw data.
Bytes MakeNpy(std::string_view dict, const Bytes& data, int major = 1) {
  const size_t preamble = major == 1 ? 10 : 12;
  std::string header(dict);
  header.append(64 - (preamble + header.size() + 1) % 64, ' ');
  header.push_back('\n');
  Bytes out = {0x93, 'N', 'U', 'M', 'P', 'Y', static_cast<uint8_t>(major), 0};
  for (size_t i = 0; i < preamble - 8; ++i)
    out.push_back(static_cast<uint8_t>(header.size() >> (8 * i)));
  out.insert(out.end(), header.begin(), header.end());
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

template <typename T>
Bytes Encode(const std::vector<T>& values, bool big_endian = false) {
  Bytes out;
  for (T v : values) {
    const auto bits = std::bit_cast<std::conditional_t<sizeof(T) == 4, uint32_t, uint64_t>>(v);
    for (size_t i = 0; i < sizeof(T); ++i) {
      const size_t byte = big_endian ? sizeof(T) - 1 - i : i;
      out.push_back(static_cast<uint8_t>(bits >> (8 * byte)));
    }
  }
  return out;
}

std::string ParseError(const Bytes& bytes) {
  absl::StatusOr<Tensor> result = ParseNpy(bytes, "x.npy");
  EXPECT_FALSE(result.ok());
  if (result.ok()) return "";
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(result.status().message());
}

TEST(Npy, ReadsNumpyFloat32Golden) {
  absl::StatusOr<Tensor> t = ReadNpy(kGoldenDir / "f32_2x3.npy");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->shape, (Shape{2, 3}));
  EXPECT_THAT(t->data, ElementsAre(-1.0f, -0.5f, 0.0f, 0.5f, 1.0f, 1.5f));
}

TEST(Npy, ReadsNumpyOneDimensionalAndScalarGoldens) {
  absl::StatusOr<Tensor> t = ReadNpy(kGoldenDir / "f32_5.npy");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->shape, (Shape{5}));
  EXPECT_THAT(t->data, ElementsAre(1.0f, -1.0f, 0.25f, 1e-3f, 65504.0f));

  t = ReadNpy(kGoldenDir / "f32_scalar.npy");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->shape, Shape{});
  EXPECT_THAT(t->data, ElementsAre(2.5f));
}

TEST(Npy, ConvertsNumpyFloat64Golden) {
  absl::StatusOr<Tensor> t = ReadNpy(kGoldenDir / "f64_4.npy");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->shape, (Shape{4}));
  // 1e300 is beyond float32 and becomes inf, as numpy's astype(np.float32) does.
  EXPECT_THAT(t->data, ElementsAre(0.1f, -2.5f, std::numeric_limits<float>::infinity(), 3.0f));
}

TEST(Npy, RejectsNumpyInt64Golden) {
  const std::filesystem::path path = kGoldenDir / "i64_3.npy";
  absl::StatusOr<Tensor> t = ReadNpy(path);
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().message(),
            path.string() +
                ": dtype '<i8' is not supported; expected float32 (or float64, "
                "which is converted)");
}

TEST(Npy, ReadsNumpyIntegerGoldensTyped) {
  absl::StatusOr<TypedTensor> t = ReadTypedNpy(kGoldenDir / "i64_3.npy");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->dtype, DType::kInt64);
  EXPECT_EQ(t->shape, (Shape{3}));
  std::vector<int64_t> i64(3);
  ASSERT_EQ(t->bytes.size(), sizeof(int64_t) * 3);
  std::memcpy(i64.data(), t->bytes.data(), t->bytes.size());
  EXPECT_THAT(i64, ElementsAre(1, 2, 3));

  t = ReadTypedNpy(kGoldenDir / "i64_big_2.npy");
  ASSERT_TRUE(t.ok()) << t.status();
  std::vector<int64_t> big(2);
  ASSERT_EQ(t->bytes.size(), sizeof(int64_t) * 2);
  std::memcpy(big.data(), t->bytes.data(), t->bytes.size());
  EXPECT_THAT(big, ElementsAre(-(int64_t{1} << 40), int64_t{1} << 62));

  t = ReadTypedNpy(kGoldenDir / "i32_2x2.npy");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->dtype, DType::kInt32);
  EXPECT_EQ(t->shape, (Shape{2, 2}));
  std::vector<int32_t> i32(4);
  ASSERT_EQ(t->bytes.size(), sizeof(int32_t) * 4);
  std::memcpy(i32.data(), t->bytes.data(), t->bytes.size());
  EXPECT_THAT(i32, ElementsAre(-1, 0, 7, 2147483647));
}

TEST(Npy, TypedReaderConvertsFloat64AndKeepsFloat32) {
  absl::StatusOr<TypedTensor> t = ReadTypedNpy(kGoldenDir / "f64_4.npy");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->dtype, DType::kFloat32);
  std::vector<float> values(4);
  ASSERT_EQ(t->bytes.size(), sizeof(float) * 4);
  std::memcpy(values.data(), t->bytes.data(), t->bytes.size());
  EXPECT_THAT(values, ElementsAre(0.1f, -2.5f, std::numeric_limits<float>::infinity(), 3.0f));
  EXPECT_EQ(EncodeNpy(*ReadTypedNpy(kGoldenDir / "f32_2x3.npy")),
            ReadBytes(kGoldenDir / "f32_2x3.npy"));
}

TEST(Npy, TypedReaderReadsBigEndianIntegers) {
  absl::StatusOr<TypedTensor> t =
      ParseTypedNpy(MakeNpy("{'descr': '>i8', 'fortran_order': False, 'shape': (2,), }",
                            Encode<int64_t>({5, -300}, /*big_endian=*/true)),
                    "be.npy");
  ASSERT_TRUE(t.ok()) << t.status();
  std::vector<int64_t> values(2);
  std::memcpy(values.data(), t->bytes.data(), 16);
  EXPECT_THAT(values, ElementsAre(5, -300));
}

TEST(Npy, TypedReaderRejectsOtherDtypesNamingTheSupportedOnes) {
  for (const char* descr : {"|b1", "<f2", "|u1", "<u8", "<i2"}) {
    const std::string dict =
        std::string("{'descr': '") + descr + "', 'fortran_order': False, 'shape': (1,), }";
    absl::StatusOr<TypedTensor> t = ParseTypedNpy(MakeNpy(dict, Bytes(16)), "x.npy");
    ASSERT_FALSE(t.ok());
    EXPECT_EQ(t.status().message(),
              std::string("x.npy: dtype '") + descr +
                  "' is not supported; expected float32 (or float64, which is converted), int64 "
                  "or int32");
  }
}

TEST(Npy, EncodeOfIntegersIsByteIdenticalToNpSave) {
  TypedTensor i64{DType::kInt64, {3}, {}};
  for (int64_t v : {1, 2, 3}) {
    const auto* p = reinterpret_cast<const uint8_t*>(&v);
    i64.bytes.insert(i64.bytes.end(), p, p + sizeof(v));
  }
  EXPECT_EQ(EncodeNpy(i64), ReadBytes(kGoldenDir / "i64_3.npy"));
  TypedTensor i32{DType::kInt32, {2, 2}, {}};
  for (int32_t v : {-1, 0, 7, 2147483647}) {
    const auto* p = reinterpret_cast<const uint8_t*>(&v);
    i32.bytes.insert(i32.bytes.end(), p, p + sizeof(v));
  }
  EXPECT_EQ(EncodeNpy(i32), ReadBytes(kGoldenDir / "i32_2x2.npy"));

  const std::filesystem::path path = std::filesystem::path(::testing::TempDir()) /
                                     ("typed." + std::to_string(::getpid()) + ".npy");
  ASSERT_TRUE(WriteNpy(path, i32).ok());
  absl::StatusOr<TypedTensor> back = ReadTypedNpy(path);
  std::filesystem::remove(path);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->dtype, DType::kInt32);
  EXPECT_EQ(back->shape, i32.shape);
  EXPECT_EQ(back->bytes, i32.bytes);
}

TEST(Npy, EncodeIsByteIdenticalToNpSave) {
  EXPECT_EQ(EncodeNpy(Tensor({2, 3}, {-1.0f, -0.5f, 0.0f, 0.5f, 1.0f, 1.5f})),
            ReadBytes(kGoldenDir / "f32_2x3.npy"));
  EXPECT_EQ(EncodeNpy(Tensor({5}, {1.0f, -1.0f, 0.25f, 1e-3f, 65504.0f})),
            ReadBytes(kGoldenDir / "f32_5.npy"));
  EXPECT_EQ(EncodeNpy(Tensor({}, {2.5f})), ReadBytes(kGoldenDir / "f32_scalar.npy"));
}

TEST(Npy, EncodeAlignsDataTo64BytesForAnyRank) {
  for (const Shape& shape : {Shape{}, Shape{0}, Shape{7}, Shape{1, 2, 3, 4, 5, 6, 7, 8},
                             Shape{123456789, 0, 1}, Shape(40, 1)}) {
    const std::string bytes = EncodeNpy(Tensor(shape));
    const size_t header_bytes =
        static_cast<uint8_t>(bytes[8]) | (static_cast<uint8_t>(bytes[9]) << 8);
    const size_t data_start = 10 + header_bytes;
    EXPECT_EQ(data_start % 64, 0u) << ShapeToString(shape);
    EXPECT_EQ(bytes[data_start - 1], '\n');
    absl::StatusOr<Tensor> back = ParseNpy(
        std::span(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()), "enc.npy");
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(back->shape, shape);
  }
}

TEST(Npy, WriteThenReadRoundTrips) {
  const std::filesystem::path path = std::filesystem::path(::testing::TempDir()) /
                                     ("roundtrip." + std::to_string(::getpid()) + ".npy");
  Tensor t({2, 2, 1}, {1.0f, -0.0f, std::numeric_limits<float>::infinity(), 3.25f});
  ASSERT_TRUE(WriteNpy(path, t).ok());
  absl::StatusOr<Tensor> back = ReadNpy(path);
  std::filesystem::remove(path);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->shape, t.shape);
  EXPECT_THAT(back->data, ElementsAre(1.0f, -0.0f, std::numeric_limits<float>::infinity(), 3.25f));
  EXPECT_TRUE(std::signbit(back->data[1]));
}

TEST(Npy, FileErrorsNameThePath) {
  const std::filesystem::path missing = kGoldenDir / "does_not_exist.npy";
  absl::StatusOr<Tensor> t = ReadNpy(missing);
  EXPECT_EQ(t.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(t.status().message(), HasSubstr(missing.string()));

  const std::filesystem::path bad_dir = kGoldenDir / "no_such_dir" / "out.npy";
  absl::Status s = WriteNpy(bad_dir, Tensor({1}));
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.message(), HasSubstr(bad_dir.string()));
}

TEST(Npy, ReadsVersion2And3Headers) {
  for (int major : {2, 3}) {
    absl::StatusOr<Tensor> t =
        ParseNpy(MakeNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }",
                         Encode<float>({1, 2}), major),
                 "v.npy");
    ASSERT_TRUE(t.ok()) << t.status();
    EXPECT_THAT(t->data, ElementsAre(1.0f, 2.0f));
  }
}

TEST(Npy, ReadsBigEndianAndNativeDescr) {
  absl::StatusOr<Tensor> t =
      ParseNpy(MakeNpy("{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }",
                       Encode<float>({1.5f, -3.0f}, /*big_endian=*/true)),
               "be.npy");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_THAT(t->data, ElementsAre(1.5f, -3.0f));

  t = ParseNpy(MakeNpy("{'descr': '>f8', 'fortran_order': False, 'shape': (1, 2), }",
                       Encode<double>({0.1, 2.0}, /*big_endian=*/true)),
               "be8.npy");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->shape, (Shape{1, 2}));
  EXPECT_THAT(t->data, ElementsAre(0.1f, 2.0f));

  // "=" is native order; this project builds for little-endian hosts.
  t = ParseNpy(
      MakeNpy("{'descr': '=f4', 'fortran_order': False, 'shape': (1,), }", Encode<float>({7.0f})),
      "native.npy");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_THAT(t->data, ElementsAre(7.0f));
}

TEST(Npy, AcceptsHeaderVariationsLiteralEvalAccepts) {
  // Keys in any order, double quotes, no trailing comma, Python 2 long suffixes.
  absl::StatusOr<Tensor> t =
      ParseNpy(MakeNpy("{\"shape\": (1L, 2L), \"fortran_order\": False, \"descr\": \"<f4\"}",
                       Encode<float>({1, 2})),
               "py2.npy");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->shape, (Shape{1, 2}));

  t = ParseNpy(MakeNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (0, 3), }", {}),
               "empty.npy");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->shape, (Shape{0, 3}));
  EXPECT_TRUE(t->data.empty());
}

TEST(Npy, RejectsOtherDtypes) {
  for (const char* descr : {"<i8", "|b1", "<f2", "<c8", "|O", "<i4", "|u1", "<f16"}) {
    const std::string dict =
        std::string("{'descr': '") + descr + "', 'fortran_order': False, 'shape': (1,), }";
    EXPECT_EQ(ParseError(MakeNpy(dict, Bytes(16))),
              std::string("x.npy: dtype '") + descr +
                  "' is not supported; expected float32 (or float64, which is converted)");
  }
  // A structured dtype is a list, named verbatim.
  EXPECT_THAT(
      ParseError(MakeNpy(
          "{'descr': [('a', '<f4'), ('b', '<i4')], 'fortran_order': False, 'shape': (1,), }",
          Bytes(8))),
      HasSubstr("dtype '[('a', '<f4'), ('b', '<i4')]' is not supported"));
}

TEST(Npy, RejectsFortranOrder) {
  EXPECT_THAT(ParseError(MakeNpy("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }",
                                 Encode<float>({1, 2, 3, 4}))),
              HasSubstr("x.npy: fortran_order=True is not supported"));
  EXPECT_THAT(ParseError(MakeNpy("{'descr': '<f4', 'fortran_order': 0, 'shape': (1,), }",
                                 Encode<float>({1}))),
              HasSubstr("fortran_order 0 is not a bool"));
}

TEST(Npy, RejectsTruncatedAndTrailingData) {
  EXPECT_THAT(ParseError(MakeNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }",
                                 Encode<float>({1, 2, 3}))),
              AllOf(HasSubstr("x.npy: data is truncated"), HasSubstr("needs 24 bytes"),
                    HasSubstr("has 12")));
  EXPECT_THAT(ParseError(MakeNpy("{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }",
                                 Encode<float>({1, 2, 3, 4, 5}))),
              AllOf(HasSubstr("needs 16 bytes"), HasSubstr("has 20"), HasSubstr("trailing")));
  EXPECT_THAT(
      ParseError(MakeNpy(
          "{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296, 16), }",
          Encode<float>({1}))),
      AllOf(HasSubstr("truncated"), HasSubstr("more than 2^64")));
}

TEST(Npy, RejectsBadPreamble) {
  EXPECT_THAT(ParseError({'P', 'K', 3, 4}), HasSubstr("x.npy: not a NumPy .npy file"));
  Bytes v4 = MakeNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (), }", Encode<float>({1}));
  v4[6] = 4;
  EXPECT_THAT(ParseError(v4), HasSubstr("version 4.0 is not supported"));
  Bytes long_header =
      MakeNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (), }", Encode<float>({1}));
  long_header[9] = 0x10;
  EXPECT_THAT(ParseError(long_header),
              AllOf(HasSubstr("header length 4214"), HasSubstr("-byte file")));
  Bytes v2_cut = {0x93, 'N', 'U', 'M', 'P', 'Y', 2, 0, 1, 0};
  EXPECT_THAT(ParseError(v2_cut), HasSubstr("preamble"));
}

TEST(Npy, RejectsHeaderGarbage) {
  for (const char* dict :
       {"{'descr': '<f4', 'fortran_order': False, 'shape': (2,)", "{'descr' '<f4'}", "descr",
        "{'descr': <f4}", "{'descr': 'f4\\'}",
        "{'descr': '<f4', 'shape': (1,), 'fortran_order': False} x", "{'shape': (--1,)}"}) {
    EXPECT_THAT(ParseError(MakeNpy(dict, {})),
                HasSubstr("x.npy: header is not a valid Python dict literal"))
        << dict;
  }
  EXPECT_THAT(ParseError(MakeNpy(std::string(1000, '(') + std::string(1000, ')'), {})),
              HasSubstr("nesting too deep"));
  EXPECT_THAT(ParseError(MakeNpy("(1, 2)", {})), HasSubstr("is not a dictionary"));
  EXPECT_THAT(ParseError(MakeNpy("{'descr': '<f4', 'shape': (1,)}", {})),
              HasSubstr("must have the keys 'descr', 'fortran_order' and 'shape'"));
  EXPECT_THAT(ParseError(MakeNpy(
                  "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'extra': 1}", {})),
              HasSubstr("header key 'extra' is unexpected or repeated"));
  EXPECT_THAT(ParseError(MakeNpy(
                  "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (1,)}", {})),
              HasSubstr("header key 'descr' is unexpected or repeated"));
}

TEST(Npy, RejectsBadShapes) {
  // "(2)" is the integer 2 in Python, not a tuple.
  EXPECT_THAT(ParseError(MakeNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (2), }",
                                 Encode<float>({1, 2}))),
              HasSubstr("shape (2) is not a tuple"));
  EXPECT_THAT(ParseError(MakeNpy("{'descr': '<f4', 'fortran_order': False, 'shape': [2], }",
                                 Encode<float>({1, 2}))),
              HasSubstr("shape [2] is not a tuple"));
  EXPECT_THAT(ParseError(MakeNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (-1, 2), }",
                                 Encode<float>({1, 2}))),
              HasSubstr("shape (-1, 2) must hold non-negative integers"));
  EXPECT_THAT(ParseError(MakeNpy("{'descr': '<f4', 'fortran_order': False, 'shape': ('2',), }",
                                 Encode<float>({1, 2}))),
              HasSubstr("must hold non-negative integers"));
}

}  // namespace
}  // namespace seqserve
