// KServe v2 datatypes and their conversion to a model's input type (frontend/datatypes.h):
// every datatype a Triton client may send, converted when every value converts exactly and
// refused otherwise with the tensor, the datatype, the value and its index; ids checked
// against the embedding size. The expected values follow from the formats' definitions
// (IEEE 754 binary16/32/64, bfloat16 = the top half of a float32, two's complement).
#include "server/frontend/datatypes.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace seqserve {
namespace {

// Converts `values` (stored as T, declared `datatype`) to `to`; the result as Out values.
template <typename Out, typename T>
absl::StatusOr<std::vector<Out>> Convert(std::string_view datatype, const std::vector<T>& values,
                                         DType to, std::optional<int64_t> num_ids = std::nullopt,
                                         std::string_view storage = {}) {
  const int64_t shape[] = {static_cast<int64_t>(values.size())};
  std::vector<Out> out(values.size());
  const RequestValues request{datatype, storage.empty() ? datatype : storage,
                              "contents.int_contents",
                              reinterpret_cast<const std::byte*>(values.data()), shape};
  if (absl::Status status = CheckConvertible("x", datatype, to); !status.ok()) return status;
  if (absl::Status status = ConvertValues("x", request, to, num_ids, out.data()); !status.ok()) {
    return status;
  }
  return out;
}

template <typename T>
std::string ErrorOf(const absl::StatusOr<T>& result) {
  EXPECT_FALSE(result.ok());
  EXPECT_TRUE(result.ok() || absl::IsInvalidArgument(result.status())) << result.status();
  return result.ok() ? "" : std::string(result.status().message());
}

TEST(Datatypes, SizesAndNames) {
  EXPECT_EQ(DatatypeBytes("FP64"), 8u);
  EXPECT_EQ(DatatypeBytes("UINT16"), 2u);
  EXPECT_EQ(DatatypeBytes("BF16"), 2u);
  EXPECT_EQ(DatatypeName(DType::kFloat32), "FP32");
  EXPECT_EQ(DatatypeName(DType::kInt64), "INT64");
  EXPECT_EQ(DatatypeName(DType::kInt32), "INT32");
  const int64_t shape[] = {2, 3, 4};
  EXPECT_EQ(ElementIndex(0, shape), "[0, 0, 0]");
  EXPECT_EQ(ElementIndex(17, shape), "[1, 1, 1]");  // 17 = 1*12 + 1*4 + 1
  EXPECT_EQ(ElementIndex(23, shape), "[1, 2, 3]");
}

TEST(Datatypes, Fp16AndBf16AlwaysConvertToFp32) {
  // binary16: 0x3c00 = 1, 0xc000 = -2, 0x3555 = 0.333251953125, 0x0001 = 2^-24 (the smallest
  // subnormal), 0x03ff = 1023 * 2^-24 (the largest), 0x7bff = 65504 (the largest normal),
  // 0x7c00 = inf, 0x8000 = -0, 0x7e00 = NaN.
  const std::vector<uint16_t> half = {0x3c00, 0xc000, 0x3555, 0x0001, 0x03ff,
                                      0x7bff, 0x7c00, 0x8000, 0x7e00};
  absl::StatusOr<std::vector<float>> f = Convert<float>("FP16", half, DType::kFloat32);
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ((*f)[0], 1.0f);
  EXPECT_EQ((*f)[1], -2.0f);
  EXPECT_EQ((*f)[2], 0.333251953125f);
  EXPECT_EQ((*f)[3], std::ldexp(1.0f, -24));
  EXPECT_EQ((*f)[4], 1023 * std::ldexp(1.0f, -24));
  EXPECT_EQ((*f)[5], 65504.0f);
  EXPECT_EQ((*f)[6], INFINITY);
  EXPECT_TRUE((*f)[7] == 0.0f && std::signbit((*f)[7]));
  EXPECT_TRUE(std::isnan((*f)[8]));
  // bfloat16 0x3fc0 = 1.5, 0xc2f7 = -123.5.
  absl::StatusOr<std::vector<float>> b =
      Convert<float>("BF16", std::vector<uint16_t>{0x3fc0, 0xc2f7}, DType::kFloat32);
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_THAT(*b, ::testing::ElementsAre(1.5f, -123.5f));
}

TEST(Datatypes, Fp64ConvertsWhenEveryValueIsAFloat32) {
  // 2^25 + 4 is a float32 (they are 4 apart there); 2^-149 is the smallest subnormal.
  const std::vector<double> exact = {0.5, -3.25, 33554436.0, 0x1p-149, INFINITY, std::nan("")};
  absl::StatusOr<std::vector<float>> f = Convert<float>("FP64", exact, DType::kFloat32);
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ((*f)[2], 33554436.0f);
  EXPECT_EQ((*f)[3], 0x1p-149f);
  EXPECT_EQ((*f)[4], INFINITY);
  EXPECT_TRUE(std::isnan((*f)[5]));
  // 0.1 has no float32 equal; 1e39 is beyond the largest float32 (3.4028235e38).
  EXPECT_EQ(ErrorOf(Convert<float>("FP64", std::vector<double>{1.0, 0.1}, DType::kFloat32)),
            "input 'x': FP64 value 0.1 at [1] does not convert exactly to FP32, the model's "
            "input type (it has no float32 equal)");
  EXPECT_EQ(ErrorOf(Convert<float>("FP64", std::vector<double>{1e39}, DType::kFloat32)),
            "input 'x': FP64 value 1e+39 at [0] does not convert exactly to FP32, the model's "
            "input type (beyond the largest float32)");
}

TEST(Datatypes, IntegersConvertToFp32UpTo2To24) {
  // 2^24 = 16777216 and every integer below are float32 values; 2^24 + 1 is not.
  absl::StatusOr<std::vector<float>> f =
      Convert<float>("INT64", std::vector<int64_t>{-16777216, 0, 7, 16777216}, DType::kFloat32);
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_THAT(*f, ::testing::ElementsAre(-16777216.0f, 0.0f, 7.0f, 16777216.0f));
  EXPECT_EQ(ErrorOf(Convert<float>("INT64", std::vector<int64_t>{1, 16777217}, DType::kFloat32)),
            "input 'x': INT64 value 16777217 at [1] does not convert exactly to FP32, the "
            "model's input type (integers convert when |v| <= 16777216)");
  EXPECT_EQ(ErrorOf(Convert<float>("UINT64", std::vector<uint64_t>{UINT64_MAX}, DType::kFloat32)),
            "input 'x': UINT64 value 18446744073709551615 at [0] does not convert exactly to "
            "FP32, the model's input type (integers convert when |v| <= 16777216)");
  // Every narrow type, at its extremes.
  EXPECT_THAT(*Convert<float>("INT8", std::vector<int8_t>{-128, 127}, DType::kFloat32),
              ::testing::ElementsAre(-128.0f, 127.0f));
  EXPECT_THAT(*Convert<float>("UINT8", std::vector<uint8_t>{0, 255}, DType::kFloat32),
              ::testing::ElementsAre(0.0f, 255.0f));
  EXPECT_THAT(*Convert<float>("INT16", std::vector<int16_t>{-32768, 32767}, DType::kFloat32),
              ::testing::ElementsAre(-32768.0f, 32767.0f));
  EXPECT_THAT(*Convert<float>("UINT16", std::vector<uint16_t>{65535}, DType::kFloat32),
              ::testing::ElementsAre(65535.0f));
  EXPECT_THAT(*Convert<float>("INT32", std::vector<int32_t>{-5, 16777216}, DType::kFloat32),
              ::testing::ElementsAre(-5.0f, 16777216.0f));
  EXPECT_THAT(*Convert<float>("UINT32", std::vector<uint32_t>{9}, DType::kFloat32),
              ::testing::ElementsAre(9.0f));
  EXPECT_EQ(ErrorOf(Convert<float>("INT32", std::vector<int32_t>{-16777217}, DType::kFloat32)),
            "input 'x': INT32 value -16777217 at [0] does not convert exactly to FP32, the "
            "model's input type (integers convert when |v| <= 16777216)");
}

TEST(Datatypes, BoolConvertsToZeroAndOne) {
  absl::StatusOr<std::vector<float>> f =
      Convert<float>("BOOL", std::vector<uint8_t>{1, 0, 1}, DType::kFloat32);
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_THAT(*f, ::testing::ElementsAre(1.0f, 0.0f, 1.0f));
  EXPECT_EQ(ErrorOf(Convert<float>("BOOL", std::vector<uint8_t>{0, 2}, DType::kFloat32)),
            "input 'x': BOOL byte 2 at [1] is neither 0 (false) nor 1 (true)");
}

TEST(Datatypes, IntegersBecomeIdsInRange) {
  absl::StatusOr<std::vector<int64_t>> wide =
      Convert<int64_t>("INT32", std::vector<int32_t>{0, 9, 3}, DType::kInt64, 10);
  ASSERT_TRUE(wide.ok()) << wide.status();
  EXPECT_THAT(*wide, ::testing::ElementsAre(0, 9, 3));
  absl::StatusOr<std::vector<int32_t>> narrow =
      Convert<int32_t>("INT64", std::vector<int64_t>{4, 0}, DType::kInt32, 10);
  ASSERT_TRUE(narrow.ok()) << narrow.status();
  EXPECT_THAT(*narrow, ::testing::ElementsAre(4, 0));
  EXPECT_THAT(*Convert<int64_t>("UINT8", std::vector<uint8_t>{255}, DType::kInt64, 256),
              ::testing::ElementsAre(255));
  EXPECT_THAT(*Convert<int32_t>("UINT64", std::vector<uint64_t>{7}, DType::kInt32, 8),
              ::testing::ElementsAre(7));
  // Out of the embedding's range: the id, its index and the embedding size.
  EXPECT_EQ(ErrorOf(Convert<int64_t>("INT32", std::vector<int32_t>{1, 10}, DType::kInt64, 10)),
            "input 'x': id 10 at [1] is out of range: num_embeddings is 10, so ids must be in "
            "[0, 9]");
  EXPECT_EQ(ErrorOf(Convert<int64_t>("INT8", std::vector<int8_t>{-1}, DType::kInt64, 10)),
            "input 'x': id -1 at [0] is out of range: num_embeddings is 10, so ids must be in "
            "[0, 9]");
  EXPECT_EQ(
      ErrorOf(Convert<int64_t>("UINT64", std::vector<uint64_t>{UINT64_MAX}, DType::kInt64, 10)),
      "input 'x': id 18446744073709551615 at [0] is out of range: num_embeddings is 10, so ids "
      "must be in [0, 9]");
  // Without an embedding size (no model takes ids that way today), the type's range decides.
  EXPECT_EQ(
      ErrorOf(Convert<int32_t>("INT64", std::vector<int64_t>{int64_t{1} << 40}, DType::kInt32)),
      "input 'x': INT64 value 1099511627776 at [0] does not convert exactly to INT32, the "
      "model's input type (outside the range of INT32)");
  EXPECT_EQ(ErrorOf(Convert<int64_t>("UINT64", std::vector<uint64_t>{UINT64_MAX}, DType::kInt64)),
            "input 'x': UINT64 value 18446744073709551615 at [0] does not convert exactly to "
            "INT64, the model's input type (beyond the largest INT64)");
}

TEST(Datatypes, FloatingPointAndBoolCannotCarryIds) {
  for (const char* datatype : {"FP16", "BF16", "FP32", "FP64", "BOOL"}) {
    EXPECT_EQ(std::string(CheckConvertible("x", datatype, DType::kInt64).message()),
              std::string("input 'x': datatype ") + datatype +
                  " cannot carry ids: the model takes INT64 ids (any integer datatype is "
                  "converted to it when its values fit)");
  }
  EXPECT_TRUE(CheckConvertible("x", "UINT16", DType::kInt32).ok());
}

TEST(Datatypes, BytesAndUnknownNamesAreRefused) {
  EXPECT_EQ(std::string(CheckConvertible("x", "BYTES", DType::kFloat32).message()),
            "input 'x': datatype BYTES is not supported: the model's input type is FP32 "
            "(numeric datatypes are converted to it when every value converts exactly)");
  EXPECT_EQ(std::string(CheckConvertible("x", "FLOAT", DType::kInt64).message()),
            "input 'x': unknown datatype 'FLOAT'; the model's input type is INT64");
}

TEST(Datatypes, WiderStorageMustHoldTheDeclaredType) {
  // gRPC's int_contents holds INT8 values as int32: 300 is not an INT8.
  absl::StatusOr<std::vector<float>> ok = Convert<float>("INT8", std::vector<int32_t>{-128, 127},
                                                         DType::kFloat32, std::nullopt, "INT32");
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_THAT(*ok, ::testing::ElementsAre(-128.0f, 127.0f));
  EXPECT_EQ(ErrorOf(Convert<float>("INT8", std::vector<int32_t>{1, 300}, DType::kFloat32,
                                   std::nullopt, "INT32")),
            "input 'x': value 300 at [1] in contents.int_contents is outside the range of INT8");
  EXPECT_EQ(
      ErrorOf(
          Convert<int64_t>("UINT16", std::vector<uint32_t>{70000}, DType::kInt64, 10, "UINT32")),
      "input 'x': value 70000 at [0] in contents.int_contents is outside the range of UINT16");
}

TEST(Datatypes, ValuesMayBeUnaligned) {
  // Raw bytes after a REST JSON header start anywhere.
  std::vector<std::byte> bytes(1 + 2 * sizeof(int64_t));
  const int64_t values[] = {3, -4};
  std::memcpy(bytes.data() + 1, values, sizeof(values));
  const int64_t shape[] = {2};
  float out[2] = {};
  const RequestValues request{"INT64", "INT64", "raw_input_contents", bytes.data() + 1, shape};
  ASSERT_TRUE(ConvertValues("x", request, DType::kFloat32, std::nullopt, out).ok());
  EXPECT_EQ(out[0], 3.0f);
  EXPECT_EQ(out[1], -4.0f);
}

TEST(Datatypes, CheckIdsNamesTheFirstBadIdByItsIndex) {
  const int64_t shape[] = {2, 3};
  const std::vector<int64_t> ids = {0, 1, 2, 3, 99, -1};
  EXPECT_EQ(std::string(CheckIds("ids", DType::kInt64, ids.data(), shape, 10).message()),
            "input 'ids': id 99 at [1, 1] is out of range: num_embeddings is 10, so ids must be "
            "in [0, 9]");
  const std::vector<int32_t> small = {0, 1, 2, 3, 4, -7};
  EXPECT_EQ(std::string(CheckIds("ids", DType::kInt32, small.data(), shape, 5).message()),
            "input 'ids': id -7 at [1, 2] is out of range: num_embeddings is 5, so ids must be "
            "in [0, 4]");
  EXPECT_TRUE(
      CheckIds("ids", DType::kInt32, small.data(), std::span<const int64_t>(shape, 1), 5).ok());
  EXPECT_EQ(std::string(CheckIds("ids", DType::kInt64, ids.data(), shape, 0).message()),
            "input 'ids': id 0 at [0, 0] is out of range: num_embeddings is 0, so no id is valid");
}

}  // namespace
}  // namespace seqserve
