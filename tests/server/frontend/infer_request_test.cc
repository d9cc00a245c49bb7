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
#include "tests/util/module_test_util.h"
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
  EXPECT_TRUE(input->owned_bytes.empty());
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
  EXPECT_EQ(input->owned_bytes.size(), 784u * 4);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(input->floats()) % alignof(float), 0u);
  EXPECT_EQ(input->floats()[1], 2.5f);
  // A move keeps the copy where the bytes point.
  InferInput moved = std::move(*input);
  EXPECT_EQ(moved.floats(), reinterpret_cast<const float*>(moved.owned_bytes.data()));
}

TEST(ValidateInferRequest, CountErrorsNameTheCodecsField) {
  const std::vector<float> values(780, 0.0f);
  InferRequestView view = LenetView();
  view.inputs[0].values_field = "\"data\"";
  view.inputs[0].values = std::as_bytes(std::span<const float>(values));
  EXPECT_EQ(Validate(view).status().message(),
            "input 'input': expected 784 values in \"data\" (1x1x28x28), got 780");
}

TEST(ValidateInferRequest, OtherDatatypesAreConvertedToTheModelsType) {
  std::vector<int64_t> values(784, 0);
  values[1] = 3;
  values[783] = -16777216;
  const std::string bytes(reinterpret_cast<const char*>(values.data()), 784 * 8);
  InferRequestView view = LenetView("INT64");
  view.inputs[0].raw_bytes = bytes;
  absl::StatusOr<InferInput> input = Validate(view);
  ASSERT_TRUE(input.ok()) << input.status();
  EXPECT_EQ(input->datatype, "INT64");
  EXPECT_EQ(input->dtype, DType::kFloat32);
  EXPECT_TRUE(input->raw);
  EXPECT_EQ(input->owned_bytes.size(), 784u * 4);
  EXPECT_EQ(input->floats(), reinterpret_cast<const float*>(input->owned_bytes.data()));
  EXPECT_EQ(input->floats()[1], 3.0f);
  EXPECT_EQ(input->floats()[783], -16777216.0f);
  // A value that does not convert exactly is named with its index in the client's tensor.
  values[784 - 28] = 16777217;
  const std::string inexact(reinterpret_cast<const char*>(values.data()), 784 * 8);
  view.inputs[0].raw_bytes = inexact;
  EXPECT_EQ(Validate(view).status().message(),
            "input 'input': INT64 value 16777217 at [0, 0, 27, 0] does not convert exactly to "
            "FP32, the model's input type (integers convert when |v| <= 16777216)");
  // The byte count is the request's datatype's.
  view.inputs[0].raw_bytes = std::string_view(bytes).substr(0, 784 * 4);
  EXPECT_EQ(Validate(view).status().message(),
            "input 'input': expected 6272 bytes (1x1x28x28 INT64), got 3136");
}

// A text model: Embedding(10, 4) over 5 ids, batching up to 8 rows, ids as INT64.
ServingConfig IdsConfig(DType dtype = DType::kInt64) {
  ServingConfig config;
  config.input_name = "input";
  config.output_name = "output";
  config.input_dims = {5};
  config.output_dims = {20};
  config.max_batch_size = 8;
  config.input_dtype = dtype;
  return config;
}

std::shared_ptr<Model> IdsModel() {
  return testing::MustLoadWithWeights("nn.Sequential(nn.Embedding(10, 4), nn.Flatten())");
}

constexpr int64_t kIdsShape[] = {2, 5};

InferRequestView IdsView(std::string_view datatype) {
  InferRequestView view;
  InferRequestView::Input& input = view.inputs.emplace_back();
  input.name = "input";
  input.datatype = datatype;
  input.shape = kIdsShape;
  return view;
}

TEST(ValidateInferRequest, IdsOfTheModelsTypeStayInTheRequest) {
  const std::vector<int64_t> ids = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
  InferRequestView view = IdsView("INT64");
  view.inputs[0].values = std::as_bytes(std::span<const int64_t>(ids));
  view.inputs[0].values_datatype = "INT64";
  auto model = IdsModel();
  absl::StatusOr<InferInput> input = ValidateInferRequest(view, "text", IdsConfig(), *model);
  ASSERT_TRUE(input.ok()) << input.status();
  EXPECT_EQ(input->dtype, DType::kInt64);
  EXPECT_EQ(input->bytes.data(), reinterpret_cast<const std::byte*>(ids.data()));
  EXPECT_TRUE(input->owned_bytes.empty());
  const TensorView tensor = input->view();
  EXPECT_EQ(tensor.dtype, DType::kInt64);
  EXPECT_EQ(Shape(tensor.shape.begin(), tensor.shape.end()), (Shape{2, 5}));
}

TEST(ValidateInferRequest, IdsOfAnotherIntegerTypeAreConverted) {
  const std::vector<int32_t> ids = {9, 8, 7, 6, 5, 4, 3, 2, 1, 0};
  InferRequestView view = IdsView("INT32");
  view.inputs[0].raw_bytes =
      std::string_view(reinterpret_cast<const char*>(ids.data()), ids.size() * 4);
  auto model = IdsModel();
  absl::StatusOr<InferInput> input = ValidateInferRequest(view, "text", IdsConfig(), *model);
  ASSERT_TRUE(input.ok()) << input.status();
  ASSERT_EQ(input->owned_bytes.size(), 10u * 8);
  std::vector<int64_t> wide(10);
  std::memcpy(wide.data(), input->bytes.data(), 80);
  EXPECT_EQ(wide, (std::vector<int64_t>{9, 8, 7, 6, 5, 4, 3, 2, 1, 0}));
  // INT32 models take INT64 on the wire too.
  const std::vector<int64_t> long_ids(10, 4);
  InferRequestView long_view = IdsView("INT64");
  long_view.inputs[0].raw_bytes =
      std::string_view(reinterpret_cast<const char*>(long_ids.data()), long_ids.size() * 8);
  input = ValidateInferRequest(long_view, "text", IdsConfig(DType::kInt32), *model);
  ASSERT_TRUE(input.ok()) << input.status();
  EXPECT_EQ(input->dtype, DType::kInt32);
  EXPECT_EQ(input->bytes.size(), 10u * 4);
}

TEST(ValidateInferRequest, AnIdOutOfRangeNamesTheTensorItsIndexAndTheEmbeddingSize) {
  auto model = IdsModel();
  // Zero-copy INT64 ids: checked where they lie.
  const std::vector<int64_t> ids = {0, 1, 2, 3, 4, 5, 6, 10, 8, 9};
  InferRequestView view = IdsView("INT64");
  view.inputs[0].values = std::as_bytes(std::span<const int64_t>(ids));
  view.inputs[0].values_datatype = "INT64";
  EXPECT_EQ(ValidateInferRequest(view, "text", IdsConfig(), *model).status().message(),
            "input 'input': id 10 at [1, 2] is out of range: num_embeddings is 10, so ids must "
            "be in [0, 9]");
  // Converted INT32 ids: checked while converting, with the same message.
  const std::vector<int32_t> narrow = {0, -1, 2, 3, 4, 5, 6, 7, 8, 9};
  InferRequestView converted = IdsView("INT32");
  converted.inputs[0].raw_bytes =
      std::string_view(reinterpret_cast<const char*>(narrow.data()), narrow.size() * 4);
  EXPECT_EQ(ValidateInferRequest(converted, "text", IdsConfig(), *model).status().message(),
            "input 'input': id -1 at [0, 1] is out of range: num_embeddings is 10, so ids must "
            "be in [0, 9]");
}

TEST(ValidateInferRequest, FloatsCannotCarryIds) {
  const std::vector<float> values(10, 1.0f);
  InferRequestView view = IdsView("FP32");
  view.inputs[0].values = std::as_bytes(std::span<const float>(values));
  auto model = IdsModel();
  EXPECT_EQ(ValidateInferRequest(view, "text", IdsConfig(), *model).status().message(),
            "input 'input': datatype FP32 cannot carry ids: the model takes INT64 ids (any "
            "integer datatype is converted to it when its values fit)");
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
  absl::StatusOr<InferInput> fits = ValidateInferRequest(view, "lenet", config, *PoolModel());
  ASSERT_TRUE(fits.ok()) << fits.status();
  // The shape checked is kept for the front end (the gRPC reply's size check).
  EXPECT_EQ(fits->output_shape, (Shape{2, 10}));
  config.limits.max_output_bytes = 79;
  absl::StatusOr<InferInput> refused = ValidateInferRequest(view, "lenet", config, *PoolModel());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(refused.status().message(),
            "output 'output' of shape [2, 10] would take 80 bytes (FP32); the limit is 79 bytes "
            "(--max-output-bytes=79)");

  // Free dims: MaxPool2d(4) then Flatten on 1x28x28 gives 49 values a row.
  config.input_dims = {1, -1, -1};
  config.output_dims = {-1};
  config.limits.max_output_bytes = 2 * 49 * 4;
  fits = ValidateInferRequest(view, "lenet", config, *PoolModel());
  ASSERT_TRUE(fits.ok()) << fits.status();
  EXPECT_EQ(fits->output_shape, (Shape{2, 49}));
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
