// The protocol-neutral request view and its validation, fed directly as a front end's codec
// feeds it: where the validated bytes live (the view's storage, or an aligned copy), how
// errors name the codec's field, datatypes, and the model_version rule. The rules as a gRPC
// client meets them are in grpc/grpc_codec_test.cc.
#include "server/frontend/infer_request.h"

#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/util/request_test_util.h"

namespace seqserve {
namespace {

using testing::LenetConfig;
using testing::PoolModel;

constexpr int64_t kLenetShape[] = {1, 1, 28, 28};

// A view of one LeNet input named "input" with datatype `datatype`.
InferRequestView LenetView(std::string_view datatype = "FP32") {
  InferRequestView view;
  InferRequestView::Input& input = view.inputs.emplace_back();
  input.name = "input";
  input.datatype = datatype;
  input.shape = kLenetShape;
  return view;
}

absl::StatusOr<InferInput> Validate(const InferRequestView& view) {
  return ValidateInferRequest(view, "lenet", LenetConfig(), *PoolModel());
}

TEST(ParseModelVersion, EmptyMeansLatestAndNumbersParse) {
  EXPECT_EQ(*ParseModelVersion(""), 0);
  EXPECT_EQ(*ParseModelVersion("3"), 3);
  EXPECT_EQ(*ParseModelVersion("1234567"), 1234567);
}

TEST(ParseModelVersion, RejectsNonPositiveAndNonNumbers) {
  for (const char* bad : {"0", "-1", "abc", "1.5", " 2", "99999999999999999999"}) {
    absl::StatusOr<int64_t> version = ParseModelVersion(bad);
    ASSERT_FALSE(version.ok()) << bad;
    EXPECT_EQ(version.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(version.status().message(),
              "model_version '" + std::string(bad) + "': expected a positive integer or empty");
  }
}

TEST(ValidateInferRequest, TypedValuesStayInTheViewsStorage) {
  const std::vector<float> values(784, 0.5f);
  InferRequestView view = LenetView();
  view.inputs[0].values = std::as_bytes(std::span<const float>(values));
  absl::StatusOr<InferInput> input = Validate(view);
  ASSERT_TRUE(input.ok()) << input.status();
  EXPECT_EQ(input->datatype, "FP32");
  EXPECT_FALSE(input->raw);
  EXPECT_EQ(input->floats(), values.data());
  EXPECT_EQ(input->bytes.size(), 784u * 4);
  EXPECT_TRUE(input->aligned_copy.empty());
}

TEST(ValidateInferRequest, MisalignedRawBytesAreCopiedAligned) {
  // Binary data right after a JSON header of odd length, as REST receives it.
  std::string body(1 + 784 * 4, '\0');
  const float value = 2.5f;
  std::memcpy(body.data() + 1 + 4, &value, sizeof(value));
  InferRequestView view = LenetView();
  view.inputs[0].raw_bytes = std::string_view(body).substr(1);
  absl::StatusOr<InferInput> input = Validate(view);
  ASSERT_TRUE(input.ok()) << input.status();
  EXPECT_TRUE(input->raw);
  EXPECT_EQ(input->aligned_copy.size(), 784u * 4);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(input->floats()) % alignof(float), 0u);
  EXPECT_EQ(input->floats()[1], 2.5f);
  // A move keeps the copy where the bytes point.
  InferInput moved = std::move(*input);
  EXPECT_EQ(moved.floats(), reinterpret_cast<const float*>(moved.aligned_copy.data()));
}

TEST(ValidateInferRequest, CountErrorsNameTheCodecsField) {
  const std::vector<float> values(780, 0.0f);
  InferRequestView view = LenetView();
  view.values_field = "\"data\"";
  view.inputs[0].values = std::as_bytes(std::span<const float>(values));
  EXPECT_EQ(Validate(view).status().message(),
            "input 'input': expected 784 values in \"data\" (1x1x28x28), got 780");
}

TEST(ValidateInferRequest, OnlyFp32IsAcceptedWhateverTheBytes) {
  const std::string bytes(784 * 8, '\0');
  InferRequestView view = LenetView("INT64");
  view.inputs[0].raw_bytes = bytes;
  EXPECT_EQ(Validate(view).status().message(),
            "input 'input': expected datatype FP32, got 'INT64'");
}

TEST(ValidateInferRequest, TheCodecsDataErrorComesAfterNameDatatypeAndShape) {
  InferRequestView view = LenetView();
  view.inputs[0].data_error = absl::InvalidArgumentError("no data");
  EXPECT_EQ(Validate(view).status().message(), "no data");
  constexpr int64_t kWrongRank[] = {1, 28, 28};
  view.inputs[0].shape = kWrongRank;
  EXPECT_THAT(std::string(Validate(view).status().message()),
              ::testing::StartsWith("input 'input': expected 4 dims"));
}

// The output limit is the server's, checked at validation (before the request is queued),
// for fixed dims from the config and for free dims from the model's shape rule.
TEST(ValidateInferRequest, AnOutputPastTheLimitIsResourceExhaustedNamingBoth) {
  const std::vector<float> values(784 * 2, 0.0f);
  constexpr int64_t kTwoImages[] = {2, 1, 28, 28};
  InferRequestView view = LenetView();
  view.inputs[0].shape = kTwoImages;
  view.inputs[0].values = std::as_bytes(std::span<const float>(values));
  ServingConfig config = LenetConfig();
  config.limits.max_output_bytes = 80;  // one row of 10 floats is 40 bytes
  EXPECT_TRUE(ValidateInferRequest(view, "lenet", config, *PoolModel()).ok());
  config.limits.max_output_bytes = 79;
  absl::StatusOr<InferInput> refused = ValidateInferRequest(view, "lenet", config, *PoolModel());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(refused.status().message(),
            "output 'output' of shape [2, 10] would take 80 bytes (FP32); the limit is 79 bytes "
            "(--max-output-bytes=79)");

  // Free dims: MaxPool2d(4) then Flatten on 1x28x28 gives 49 values a row.
  config.input_dims = {1, -1, -1};
  config.output_dims = {-1};
  config.limits.max_output_bytes = 2 * 49 * 4 - 1;
  refused = ValidateInferRequest(view, "lenet", config, *PoolModel());
  EXPECT_EQ(refused.status().message(),
            "output 'output' of shape [2, 49] would take 392 bytes (FP32); the limit is 391 "
            "bytes (--max-output-bytes=391)");
}

// Derivable: 4 bytes per element, saturating instead of overflowing.
TEST(OutputBytes, FourBytesAnElementSaturating) {
  EXPECT_EQ(OutputBytes({2, 10}), 80);
  EXPECT_EQ(OutputBytes({}), 4);
  EXPECT_EQ(OutputBytes({int64_t{1} << 40, int64_t{1} << 40}), INT64_MAX);
}

TEST(DatatypeBytes, IsTheKserveElementSize) {
  EXPECT_EQ(DatatypeBytes("FP32"), 4u);
  EXPECT_EQ(DatatypeBytes("INT64"), 8u);
  EXPECT_EQ(DatatypeBytes("INT32"), 4u);
  EXPECT_EQ(DatatypeBytes("BOOL"), 1u);
  EXPECT_EQ(DatatypeBytes("FP16"), 2u);
  EXPECT_EQ(DatatypeBytes("BYTES"), 0u);  // elements of no fixed size
  EXPECT_EQ(DatatypeBytes("fp32"), 0u);   // the names are upper case
}

}  // namespace
}  // namespace seqserve
