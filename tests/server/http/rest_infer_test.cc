// REST's codec (server/http/rest_infer.h) on its own: floats written as the shortest text
// that reads back bit for bit (and NaN/Infinity as Python's json module writes them), and a
// request decoded into a view that points into its own storage.
#include "server/http/rest_infer.h"

#include <bit>
#include <charconv>
#include <cmath>
#include <cstring>
#include <memory>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace seqserve {
namespace {

using json = nlohmann::json;
using ::testing::HasSubstr;

TEST(RestInferCodec, FloatsRoundTripThroughJson) {
  // Shortest round-trip text: every float comes back bit for bit.
  RestInferRequest request;
  const std::vector<float> values = {0.1f,       -3.4028235e38f, 1.17549435e-38f, 1e-45f,
                                     123456.79f, 0.0f,           -0.0f,           16777216.0f};
  const RestInferResponse reply = EncodeRestInferResponse(
      "m", 2, request, "output", {static_cast<int64_t>(values.size())}, values);
  const json body = json::parse(reply.body);
  EXPECT_EQ(body["model_version"], "2");
  std::vector<float> decoded;
  for (const json& value : body["outputs"][0]["data"]) decoded.push_back(value.get<float>());
  ASSERT_EQ(decoded.size(), values.size());
  for (size_t i = 0; i < values.size(); ++i) {
    EXPECT_EQ(std::memcmp(&decoded[i], &values[i], sizeof(float)), 0) << values[i];
  }
  // Non-finite values as Python's json module writes them.
  const std::vector<float> special = {std::nanf(""), INFINITY, -INFINITY};
  EXPECT_THAT(EncodeRestInferResponse("m", 1, request, "o", {3}, special).body,
              HasSubstr("\"data\":[NaN,Infinity,-Infinity]"));
}

TEST(RestInferCodec, DecodesNestedDataAndKeepsViewsValid) {
  absl::StatusOr<std::unique_ptr<RestInferRequest>> request = DecodeRestInferRequest(
      R"({"id":"a\"b","inputs":[{"name":"in","shape":[2,2],"datatype":"FP32",)"
      R"("data":[[1,2.5],[-3e2,4]]}],"outputs":[{"name":"out"}],"parameters":{"timeout":7}})",
      std::nullopt);
  ASSERT_TRUE(request.ok()) << request.status();
  const InferRequestView& view = (*request)->view;
  EXPECT_EQ((*request)->id, "a\"b");
  ASSERT_EQ(view.inputs.size(), 1u);
  EXPECT_EQ(view.inputs[0].name, "in");
  EXPECT_EQ(view.inputs[0].datatype, "FP32");
  EXPECT_EQ(std::vector<int64_t>(view.inputs[0].shape.begin(), view.inputs[0].shape.end()),
            (std::vector<int64_t>{2, 2}));
  const std::span<const std::byte> bytes = view.inputs[0].values;
  std::vector<float> values(bytes.size() / sizeof(float));
  std::memcpy(values.data(), bytes.data(), bytes.size());
  EXPECT_EQ(values, (std::vector<float>{1.0f, 2.5f, -300.0f, 4.0f}));
  ASSERT_EQ(view.outputs.size(), 1u);
  EXPECT_EQ(view.outputs[0], "out");
  EXPECT_EQ(*view.timeout_us, 7);
  EXPECT_FALSE((*request)->binary_output);
}

// The values of a decoded input's "data", as T.
template <typename T>
std::vector<T> ValuesOf(const InferRequestView::Input& input) {
  std::vector<T> values(input.values.size() / sizeof(T));
  std::memcpy(values.data(), input.values.data(), values.size() * sizeof(T));
  return values;
}

absl::StatusOr<std::unique_ptr<RestInferRequest>> DecodeData(const std::string& datatype,
                                                             const std::string& data,
                                                             const std::string& shape = "[3]") {
  return DecodeRestInferRequest(
      absl::StrCat(R"({"inputs":[{"name":"x","shape":)", shape, R"(,"datatype":")", datatype,
                   R"(","data":)", data, "}]}"),
      std::nullopt);
}

// The data error of the only input (validation reports it once the name, datatype and shape
// are checked).
std::string DataError(const absl::StatusOr<std::unique_ptr<RestInferRequest>>& request) {
  EXPECT_TRUE(request.ok()) << request.status();
  return request.ok() ? std::string((*request)->view.inputs[0].data_error.message()) : "";
}

TEST(RestInferCodec, SharedMemoryParametersOfInputsAndOutputs) {
  absl::StatusOr<std::unique_ptr<RestInferRequest>> request = DecodeRestInferRequest(
      R"({"inputs":[{"name":"x","shape":[3],"datatype":"FP32","parameters":)"
      R"({"shared_memory_region":"in","shared_memory_byte_size":12,"shared_memory_offset":4}}],)"
      R"("outputs":[{"name":"y","parameters":{"shared_memory_region":"out",)"
      R"("shared_memory_byte_size":40,"binary_data":true}}]})",
      std::nullopt);
  ASSERT_TRUE(request.ok()) << request.status();
  const InferRequestView& view = (*request)->view;
  ASSERT_TRUE(view.inputs[0].data_error.ok()) << view.inputs[0].data_error;
  ASSERT_TRUE(view.inputs[0].shared_memory.has_value());
  EXPECT_EQ(view.inputs[0].shared_memory->region, "in");
  EXPECT_EQ(view.inputs[0].shared_memory->offset, 4u);
  EXPECT_EQ(view.inputs[0].shared_memory->byte_size, 12u);
  ASSERT_TRUE(view.output_shared_memory.ok() && view.output_shared_memory->has_value());
  EXPECT_EQ((*view.output_shared_memory)->region, "out");
  EXPECT_EQ((*view.output_shared_memory)->byte_size, 40u);

  // A region without its byte size, a byte size that is not an integer, data as well.
  EXPECT_THAT(DataError(DecodeRestInferRequest(
                  R"({"inputs":[{"name":"x","shape":[3],"datatype":"FP32",)"
                  R"("parameters":{"shared_memory_region":"in"}}]})",
                  std::nullopt)),
              HasSubstr("needs both parameters shared_memory_region and shared_memory_byte_size"));
  absl::StatusOr<std::unique_ptr<RestInferRequest>> text = DecodeRestInferRequest(
      R"({"inputs":[{"name":"x","shape":[3],"datatype":"FP32",)"
      R"("parameters":{"shared_memory_region":"in","shared_memory_byte_size":"12"}}]})",
      std::nullopt);
  EXPECT_EQ(text.status().message(),
            "inputs[0].parameters.shared_memory_byte_size: expected an integer, got a string");
  EXPECT_THAT(DataError(DecodeRestInferRequest(
                  R"({"inputs":[{"name":"x","shape":[3],"datatype":"FP32","data":[1,2,3],)"
                  R"("parameters":{"shared_memory_region":"in","shared_memory_byte_size":12}}]})",
                  std::nullopt)),
              HasSubstr("data both in shared memory (region 'in') and in \"data\""));
}

TEST(RestInferCodec, DataHoldsValuesOfTheInputsDatatype) {
  auto ints = DecodeData("INT64", "[1, -2, 9007199254740993]");
  ASSERT_TRUE(ints.ok()) << ints.status();
  // 2^53 + 1 survives: integers are read as integers, never through a double.
  EXPECT_EQ(ValuesOf<int64_t>((*ints)->view.inputs[0]),
            (std::vector<int64_t>{1, -2, 9007199254740993}));
  auto int32 = DecodeData("INT32", "[[2147483647], [-2147483648], [0]]");
  EXPECT_EQ(ValuesOf<int32_t>((*int32)->view.inputs[0]),
            (std::vector<int32_t>{2147483647, -2147483647 - 1, 0}));
  EXPECT_EQ(ValuesOf<uint8_t>((*DecodeData("UINT8", "[0, 255, 7]"))->view.inputs[0]),
            (std::vector<uint8_t>{0, 255, 7}));
  EXPECT_EQ(
      ValuesOf<uint64_t>((*DecodeData("UINT64", "[18446744073709551615, 0, 1]"))->view.inputs[0]),
      (std::vector<uint64_t>{UINT64_MAX, 0, 1}));
  EXPECT_EQ(ValuesOf<int16_t>((*DecodeData("INT16", "[-32768, 1, 32767]"))->view.inputs[0]),
            (std::vector<int16_t>{-32768, 1, 32767}));
  EXPECT_EQ(ValuesOf<double>((*DecodeData("FP64", "[0.1, -1e300, 5]"))->view.inputs[0]),
            (std::vector<double>{0.1, -1e300, 5.0}));
  EXPECT_EQ(ValuesOf<uint8_t>((*DecodeData("BOOL", "[true, false, true]"))->view.inputs[0]),
            (std::vector<uint8_t>{1, 0, 1}));
  // FP32: correctly rounded from the decimal text; below the smallest subnormal is zero.
  EXPECT_EQ(ValuesOf<float>((*DecodeData("FP32", "[0.1, 1e-50, -1e-50]"))->view.inputs[0]),
            (std::vector<float>{0.1f, 0.0f, -0.0f}));
}

// Numbers are read correctly rounded (the fast path for short decimals included), bit for bit
// what std::from_chars gives: decimals of every length, and decimals near the points halfway
// between two floats, where rounding through a double could go wrong.
TEST(RestInferCodec, NumbersAreCorrectlyRounded) {
  std::mt19937_64 rng(7);
  std::vector<std::string> texts;
  char buffer[64];
  for (int i = 0; i < 4000; ++i) {
    const float f = std::bit_cast<float>(static_cast<uint32_t>(rng()) & 0x7f7fffffu);
    texts.emplace_back(buffer, std::to_chars(buffer, buffer + 64, f).ptr);
    const double midpoint =
        (static_cast<double>(f) + static_cast<double>(std::nextafter(f, INFINITY))) / 2;
    for (int digits : {9, 12, 15, 16, 17}) {
      texts.emplace_back(buffer, std::to_chars(buffer, buffer + 64, midpoint,
                                               std::chars_format::scientific, digits - 1)
                                     .ptr);
    }
    const double scale = std::pow(10.0, static_cast<int>(rng() % 40) - 20);
    texts.emplace_back(
        buffer,
        std::to_chars(buffer, buffer + 64, static_cast<double>(rng() % 100000000) * scale).ptr);
  }
  std::string data = "[";
  for (const std::string& text : texts) absl::StrAppend(&data, data.size() > 1 ? "," : "", text);
  data += "]";
  const std::string shape = absl::StrCat("[", texts.size(), "]");
  auto floats = DecodeData("FP32", data, shape);
  auto doubles = DecodeData("FP64", data, shape);
  ASSERT_TRUE(floats.ok() && doubles.ok());
  ASSERT_TRUE((*floats)->view.inputs[0].data_error.ok()) << (*floats)->view.inputs[0].data_error;
  const std::vector<float> got_floats = ValuesOf<float>((*floats)->view.inputs[0]);
  const std::vector<double> got_doubles = ValuesOf<double>((*doubles)->view.inputs[0]);
  ASSERT_EQ(got_floats.size(), texts.size());
  int wrong = 0;
  for (size_t i = 0; i < texts.size(); ++i) {
    const std::string& text = texts[i];
    float want_float = 0;
    double want_double = 0;
    std::from_chars(text.data(), text.data() + text.size(), want_float);
    std::from_chars(text.data(), text.data() + text.size(), want_double);
    if (std::bit_cast<uint32_t>(got_floats[i]) != std::bit_cast<uint32_t>(want_float) ||
        std::bit_cast<uint64_t>(got_doubles[i]) != std::bit_cast<uint64_t>(want_double)) {
      if (++wrong <= 5)
        ADD_FAILURE() << text << ": got " << got_floats[i] << " / " << got_doubles[i];
    }
  }
  EXPECT_EQ(wrong, 0);
}

TEST(RestInferCodec, DataThatIsNotOfTheDatatypeIsADataError) {
  EXPECT_EQ(DataError(DecodeData("INT64", "[1, 2.5, 3]")),
            "inputs[0].data[1]: expected an integer (INT64), got 2.5");
  EXPECT_EQ(DataError(DecodeData("INT8", "[[1], [128], [3]]", "[3, 1]")),
            "inputs[0].data[1][0]: 128 is out of range of INT8");
  EXPECT_EQ(DataError(DecodeData("UINT16", "[1, -1, 3]")),
            "inputs[0].data[1]: -1 is out of range of UINT16");
  EXPECT_EQ(DataError(DecodeData("INT64", "[1, 99999999999999999999, 3]")),
            "inputs[0].data[1]: 99999999999999999999 is out of range of INT64");
  EXPECT_EQ(DataError(DecodeData("INT32", "[1, \"2\", 3]")),
            "inputs[0].data[1]: expected an integer or an array, got a string");
  EXPECT_EQ(DataError(DecodeData("BOOL", "[true, 1, false]")),
            "inputs[0].data[1]: expected true, false or an array, got a number");
  EXPECT_EQ(DataError(DecodeData("FP32", "[1, 1e39, 3]")),
            "inputs[0].data[1]: 1e39 is beyond the range of FP32");
  EXPECT_EQ(DataError(DecodeData("FP32", "{\"a\": 1}")),
            "inputs[0].data: expected an array, got an object");
  EXPECT_EQ(DataError(DecodeData("FP16", "[1, 2, 3]")),
            "input 'x': FP16 data cannot travel as JSON numbers; send it as binary data "
            "(parameters.binary_data_size)");
  // The rest of the body is still read (and checked) after a data error.
  auto request = DecodeRestInferRequest(
      R"({"inputs":[{"name":"x","shape":[2],"datatype":"INT32","data":[[1, 2.5], [3]]}],)"
      R"("outputs":[{"name":"y"}]})",
      std::nullopt);
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_EQ((*request)->view.outputs.size(), 1u);
  EXPECT_EQ(DecodeRestInferRequest(
                R"({"inputs":[{"name":"x","shape":[2],"datatype":"INT32","data":[[1, 2.5], [3})",
                std::nullopt)
                .status()
                .message()
                .substr(0, 14),
            "malformed JSON");
}

TEST(RestInferCodec, DataBeforeItsDatatypeIsReadOnceTheDatatypeIsKnown) {
  auto request = DecodeRestInferRequest(
      R"({"inputs":[{"data":[[7, 8], [9, 10]],"name":"x","datatype":"INT64","shape":[2, 2]},)"
      R"({"name":"y","data":[0.5],"shape":[1],"datatype":"FP32"}]})",
      std::nullopt);
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_EQ(ValuesOf<int64_t>((*request)->view.inputs[0]), (std::vector<int64_t>{7, 8, 9, 10}));
  EXPECT_EQ(ValuesOf<float>((*request)->view.inputs[1]), (std::vector<float>{0.5f}));
  EXPECT_EQ((*request)->view.inputs[1].name, "y");
}

TEST(RestInferCodec, SyntaxErrorsComeFirstWithLineAndColumn) {
  // A semantic error early and a syntax error late: the syntax error is reported.
  const absl::Status status =
      DecodeRestInferRequest("{\"inputs\": 5,\n \"x\": [1, 2,]}", std::nullopt).status();
  EXPECT_THAT(std::string(status.message()), HasSubstr("malformed JSON"));
  EXPECT_THAT(std::string(status.message()), HasSubstr("line 2, column 13"));
  EXPECT_EQ(DecodeRestInferRequest("{\"inputs\": 5}", std::nullopt).status().message(),
            "inputs: expected an array, got a number");
}

}  // namespace
}  // namespace seqserve
