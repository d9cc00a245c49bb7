// The gRPC codec: ModelInferRequest decoding and validation against a serving config (every
// rule of frontend/infer_request.h with its message, as a gRPC client meets it, and the
// gRPC-only ones), and the reply encoding: raw vs typed tensors, zero-copy input and output.
#include "server/grpc/grpc_codec.h"

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/util/module_test_util.h"
#include "tests/util/request_test_util.h"

namespace seqserve {
namespace {

using inference::ModelInferRequest;
using inference::ModelInferResponse;
using ::testing::HasSubstr;
using testing::LenetConfig;
using testing::PoolModel;

ModelInferRequest TypedRequest(const std::vector<int64_t>& shape, size_t values) {
  ModelInferRequest request;
  request.set_model_name("lenet");
  ModelInferRequest::InferInputTensor* input = request.add_inputs();
  input->set_name("input");
  input->set_datatype("FP32");
  for (const int64_t dim : shape) input->add_shape(dim);
  for (size_t i = 0; i < values; ++i) {
    input->mutable_contents()->add_fp32_contents(static_cast<float>(i));
  }
  return request;
}

ModelInferRequest RawRequest(const std::vector<int64_t>& shape, size_t bytes) {
  ModelInferRequest request = TypedRequest(shape, 0);
  request.add_raw_input_contents(std::string(bytes, '\0'));
  return request;
}

class InferRequestTest : public ::testing::Test {
 protected:
  absl::StatusOr<InferInput> Decode(const ModelInferRequest& request) {
    return DecodeInferRequest(request, "lenet", config_, *model_);
  }
  void ExpectError(const ModelInferRequest& request, const std::string& message) {
    absl::StatusOr<InferInput> input = Decode(request);
    ASSERT_FALSE(input.ok());
    EXPECT_EQ(input.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(input.status().message(), message);
  }

  ServingConfig config_ = LenetConfig();
  std::shared_ptr<Model> model_ = PoolModel();
};

TEST_F(InferRequestTest, TypedInputPointsIntoTheRequest) {
  const ModelInferRequest request = TypedRequest({2, 1, 28, 28}, 2 * 784);
  absl::StatusOr<InferInput> input = Decode(request);
  ASSERT_TRUE(input.ok()) << input.status();
  EXPECT_EQ(input->shape, (Shape{2, 1, 28, 28}));
  EXPECT_FALSE(input->raw);
  EXPECT_EQ(input->floats(), request.inputs(0).contents().fp32_contents().data());
  EXPECT_TRUE(input->owned_bytes.empty());
  EXPECT_EQ(input->timeout_us, 0);
}

TEST_F(InferRequestTest, RawInputPointsIntoTheRequest) {
  ModelInferRequest request = RawRequest({1, 1, 28, 28}, 3136);
  const float value = 2.5f;
  std::memcpy(request.mutable_raw_input_contents(0)->data() + 4, &value, sizeof(value));
  absl::StatusOr<InferInput> input = Decode(request);
  ASSERT_TRUE(input.ok()) << input.status();
  EXPECT_TRUE(input->raw);
  EXPECT_EQ(reinterpret_cast<const char*>(input->floats()), request.raw_input_contents(0).data());
  EXPECT_EQ(input->floats()[1], 2.5f);
}

TEST_F(InferRequestTest, RejectsWrongNumberOfInputs) {
  ModelInferRequest none;
  ExpectError(none, "model 'lenet' has one input, 'input'; the request has 0 inputs");
  ModelInferRequest two = TypedRequest({1, 1, 28, 28}, 784);
  *two.add_inputs() = two.inputs(0);
  ExpectError(two, "model 'lenet' has one input, 'input'; the request has 2 inputs");
}

TEST_F(InferRequestTest, RejectsUnknownInputName) {
  ModelInferRequest request = TypedRequest({1, 1, 28, 28}, 784);
  request.mutable_inputs(0)->set_name("x");
  ExpectError(request, "unknown input 'x': model 'lenet' has one input, 'input'");
}

TEST_F(InferRequestTest, RejectsBytesAndUnknownDatatypes) {
  ModelInferRequest request = TypedRequest({1, 1, 28, 28}, 784);
  request.mutable_inputs(0)->set_datatype("BYTES");
  ExpectError(request,
              "input 'input': datatype BYTES is not supported: the model's input type is FP32 "
              "(numeric datatypes are converted to it when every value converts exactly)");
  request.mutable_inputs(0)->set_datatype("");
  ExpectError(request, "input 'input': unknown datatype ''; the model's input type is FP32");
  request.mutable_inputs(0)->set_datatype("fp32");
  ExpectError(request, "input 'input': unknown datatype 'fp32'; the model's input type is FP32");
}

TEST_F(InferRequestTest, RejectsWrongRank) {
  ExpectError(TypedRequest({1, 28, 28}, 784),
              "input 'input': expected 4 dims [-1, 1, 28, 28] (the batch dim, then the model's "
              "dims), got 3 dims [1, 28, 28]");
}

TEST_F(InferRequestTest, RejectsBatchBeyondMaxBatchSize) {
  ExpectError(TypedRequest({65, 1, 28, 28}, 65 * 784),
              "input 'input': batch size 65 exceeds max_batch_size 64");
  EXPECT_TRUE(Decode(TypedRequest({64, 1, 28, 28}, 64 * 784)).ok());
}

TEST_F(InferRequestTest, RejectsEmptyBatch) {
  ExpectError(TypedRequest({0, 1, 28, 28}, 0),
              "input 'input': batch size must be at least 1, got 0");
}

TEST_F(InferRequestTest, RejectsAWrongDimNamingIndexExpectedAndActual) {
  ExpectError(TypedRequest({1, 1, 27, 28}, 756),
              "input 'input': dim 2 must be 28, got 27 (expected shape [-1, 1, 28, 28], got "
              "[1, 1, 27, 28])");
  ExpectError(TypedRequest({1, 3, 28, 28}, 3 * 784),
              "input 'input': dim 1 must be 1, got 3 (expected shape [-1, 1, 28, 28], got "
              "[1, 3, 28, 28])");
}

TEST_F(InferRequestTest, FreeDimsTakeAnyPositiveSize) {
  config_.input_dims = {1, -1, -1};
  absl::StatusOr<InferInput> input = Decode(TypedRequest({1, 1, 8, 12}, 96));
  ASSERT_TRUE(input.ok()) << input.status();
  EXPECT_EQ(input->shape, (Shape{1, 1, 8, 12}));
  ExpectError(TypedRequest({1, 1, 0, 12}, 0),
              "input 'input': dim 2 must be at least 1, got 0 (shape [1, 1, 0, 12])");
  ExpectError(TypedRequest({1, 1, 8, -3}, 0),
              "input 'input': dim 3 must be at least 1, got -3 (shape [1, 1, 8, -3])");
}

TEST_F(InferRequestTest, FreeDimsAreCheckedByTheEngine) {
  config_.input_dims = {1, -1, -1};
  absl::StatusOr<InferInput> input = Decode(TypedRequest({1, 1, 2, 2}, 4));
  ASSERT_FALSE(input.ok());
  EXPECT_EQ(input.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(input.status().message(), HasSubstr("input 'input' of shape [1, 1, 2, 2]: "));
  EXPECT_THAT(input.status().message(), HasSubstr("(MaxPool2d)"));
}

TEST_F(InferRequestTest, NonBatchingModelTakesTheConfiguredShapeAsIs) {
  config_.max_batch_size = 0;
  config_.input_dims = {1, 28, 28};
  absl::StatusOr<InferInput> input = Decode(TypedRequest({1, 28, 28}, 784));
  ASSERT_TRUE(input.ok()) << input.status();
  EXPECT_EQ(input->shape, (Shape{1, 28, 28}));
  ExpectError(TypedRequest({1, 1, 28, 28}, 784),
              "input 'input': expected 3 dims [1, 28, 28], got 4 dims [1, 1, 28, 28]");
}

TEST_F(InferRequestTest, RejectsRawByteSizeMismatch) {
  ExpectError(RawRequest({1, 1, 28, 28}, 3132),
              "input 'input': expected 3136 bytes (1x1x28x28 FP32), got 3132");
  ExpectError(RawRequest({2, 1, 28, 28}, 3136),
              "input 'input': expected 6272 bytes (2x1x28x28 FP32), got 3136");
}

TEST_F(InferRequestTest, RejectsTypedValueCountMismatch) {
  ExpectError(TypedRequest({1, 1, 28, 28}, 780),
              "input 'input': expected 784 values in contents.fp32_contents (1x1x28x28), got 780");
}

TEST_F(InferRequestTest, RejectsBothOrNeitherDataForm) {
  ModelInferRequest both = TypedRequest({1, 1, 28, 28}, 784);
  both.add_raw_input_contents(std::string(3136, '\0'));
  ExpectError(both,
              "input 'input': data in both raw_input_contents and contents.fp32_contents; send "
              "one of them");
  ExpectError(TypedRequest({1, 1, 28, 28}, 0),
              "input 'input': no data; send it in contents.fp32_contents or raw_input_contents");
}

TEST_F(InferRequestTest, RejectsMoreRawEntriesThanInputs) {
  ModelInferRequest request = RawRequest({1, 1, 28, 28}, 3136);
  request.add_raw_input_contents(std::string(3136, '\0'));
  ExpectError(request, "raw_input_contents has 2 entries; the request has 1 input");
}

TEST_F(InferRequestTest, RejectsDataInAnotherContentsField) {
  ModelInferRequest request = TypedRequest({1, 1, 28, 28}, 0);
  request.mutable_inputs(0)->mutable_contents()->add_int_contents(1);
  ExpectError(request,
              "input 'input': data in contents.int_contents; FP32 data goes in "
              "contents.fp32_contents or raw_input_contents");
}

// Each datatype's own contents field (KServe v2), converted to the model's FP32.
// Triton's shared memory parameters as ViewOf reads them (the registry's checks are in
// shared_memory_registry_test and shared_memory_server_test).
TEST_F(InferRequestTest, SharedMemoryParametersAreReadWithTheirTypesChecked) {
  ModelInferRequest request = TypedRequest({1, 1, 28, 28}, 0);
  auto& parameters = *request.mutable_inputs(0)->mutable_parameters();
  parameters["shared_memory_region"].set_string_param("r");
  parameters["shared_memory_byte_size"].set_uint64_param(3136);
  parameters["shared_memory_offset"].set_int64_param(64);
  ModelInferRequest::InferRequestedOutputTensor* output = request.add_outputs();
  output->set_name("output");
  (*output->mutable_parameters())["shared_memory_region"].set_string_param("o");
  (*output->mutable_parameters())["shared_memory_byte_size"].set_int64_param(40);
  InferRequestView view = ViewOf(request);
  ASSERT_TRUE(view.inputs[0].data_error.ok()) << view.inputs[0].data_error;
  ASSERT_TRUE(view.inputs[0].shared_memory.has_value());
  EXPECT_EQ(view.inputs[0].shared_memory->region, "r");
  EXPECT_EQ(view.inputs[0].shared_memory->offset, 64u);
  EXPECT_EQ(view.inputs[0].shared_memory->byte_size, 3136u);
  ASSERT_TRUE(view.output_shared_memory.ok());
  ASSERT_TRUE(view.output_shared_memory->has_value());
  EXPECT_EQ((*view.output_shared_memory)->region, "o");
  EXPECT_EQ((*view.output_shared_memory)->offset, 0u);
  // Without a registry (this decoder has none, as a server without --allow-shared-memory) the
  // request is refused, naming the tensor and the flag.
  absl::StatusOr<InferInput> input = Decode(request);
  ASSERT_FALSE(input.ok());
  EXPECT_EQ(input.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_THAT(std::string(input.status().message()),
              ::testing::StartsWith("input 'input': system shared memory is off: start seqserve "
                                    "with --allow-shared-memory"));

  parameters["shared_memory_byte_size"].set_string_param("3136");
  EXPECT_EQ(ViewOf(request).inputs[0].data_error.message(),
            "input 'input': parameter 'shared_memory_byte_size' must be an int64_param");
  parameters["shared_memory_byte_size"].set_int64_param(3136);
  parameters["shared_memory_region"].set_int64_param(1);
  EXPECT_EQ(ViewOf(request).inputs[0].data_error.message(),
            "input 'input': parameter 'shared_memory_region' must be a string_param");
  (*output->mutable_parameters())["shared_memory_byte_size"].set_bool_param(true);
  EXPECT_EQ(ViewOf(request).output_shared_memory.status().message(),
            "output 'output': parameter 'shared_memory_byte_size' must be an int64_param");
  // No parameters: no shared memory.
  EXPECT_FALSE(ViewOf(RawRequest({1, 1, 28, 28}, 3136)).inputs[0].shared_memory.has_value());
}

TEST_F(InferRequestTest, EveryDatatypeReadsItsOwnContentsField) {
  auto request_of = [](const std::string& datatype) {
    ModelInferRequest request = TypedRequest({1, 1, 28, 28}, 0);
    request.mutable_inputs(0)->set_datatype(datatype);
    return request;
  };
  auto third_value = [&](const ModelInferRequest& request) {
    absl::StatusOr<InferInput> input = Decode(request);
    EXPECT_TRUE(input.ok()) << request.inputs(0).datatype() << ": " << input.status();
    EXPECT_TRUE(!input.ok() || input->dtype == DType::kFloat32);
    return input.ok() ? input->floats()[2] : -1.0f;
  };
  ModelInferRequest fp64 = request_of("FP64");
  for (int i = 0; i < 784; ++i)
    fp64.mutable_inputs(0)->mutable_contents()->add_fp64_contents(i * 0.5);
  EXPECT_EQ(third_value(fp64), 1.0f);
  for (const char* datatype : {"INT8", "INT16", "INT32"}) {
    ModelInferRequest request = request_of(datatype);
    for (int i = 0; i < 784; ++i)
      request.mutable_inputs(0)->mutable_contents()->add_int_contents(-i % 100);
    EXPECT_EQ(third_value(request), -2.0f) << datatype;
  }
  ModelInferRequest int64 = request_of("INT64");
  for (int i = 0; i < 784; ++i) int64.mutable_inputs(0)->mutable_contents()->add_int64_contents(i);
  EXPECT_EQ(third_value(int64), 2.0f);
  for (const char* datatype : {"UINT8", "UINT16", "UINT32"}) {
    ModelInferRequest request = request_of(datatype);
    for (int i = 0; i < 784; ++i)
      request.mutable_inputs(0)->mutable_contents()->add_uint_contents(i % 200);
    EXPECT_EQ(third_value(request), 2.0f) << datatype;
  }
  ModelInferRequest uint64 = request_of("UINT64");
  for (int i = 0; i < 784; ++i)
    uint64.mutable_inputs(0)->mutable_contents()->add_uint64_contents(7);
  EXPECT_EQ(third_value(uint64), 7.0f);
  ModelInferRequest boolean = request_of("BOOL");
  for (int i = 0; i < 784; ++i)
    boolean.mutable_inputs(0)->mutable_contents()->add_bool_contents(i == 2);
  EXPECT_EQ(third_value(boolean), 1.0f);
  // FP16 has no contents field: raw only. 0x4200 is 3.0 in binary16.
  ModelInferRequest fp16 = request_of("FP16");
  std::vector<uint16_t> halves(784, 0x4200);
  fp16.add_raw_input_contents(std::string(reinterpret_cast<const char*>(halves.data()), 784 * 2));
  EXPECT_EQ(third_value(fp16), 3.0f);
  fp16.clear_raw_input_contents();
  ExpectError(fp16, "input 'input': no data; send it in raw_input_contents");
  fp16.mutable_inputs(0)->mutable_contents()->add_fp32_contents(1.0f);
  ExpectError(fp16,
              "input 'input': data in contents.fp32_contents; FP16 data goes in "
              "raw_input_contents");
}

TEST_F(InferRequestTest, TypedValuesOutsideTheDatatypeOrNotExactAreRefused) {
  ModelInferRequest int8 = TypedRequest({1, 1, 28, 28}, 0);
  int8.mutable_inputs(0)->set_datatype("INT8");
  for (int i = 0; i < 784; ++i)
    int8.mutable_inputs(0)->mutable_contents()->add_int_contents(i == 30 ? 300 : 1);
  ExpectError(int8,
              "input 'input': value 300 at [0, 0, 1, 2] in contents.int_contents is "
              "outside the range of INT8");
  ModelInferRequest fp64 = TypedRequest({1, 1, 28, 28}, 0);
  fp64.mutable_inputs(0)->set_datatype("FP64");
  for (int i = 0; i < 784; ++i)
    fp64.mutable_inputs(0)->mutable_contents()->add_fp64_contents(i == 5 ? 0.1 : 1);
  ExpectError(fp64,
              "input 'input': FP64 value 0.1 at [0, 0, 0, 5] does not convert exactly "
              "to FP32, the model's input type (it has no float32 equal)");
  ModelInferRequest wrong_field = TypedRequest({1, 1, 28, 28}, 0);
  wrong_field.mutable_inputs(0)->set_datatype("INT64");
  for (int i = 0; i < 784; ++i)
    wrong_field.mutable_inputs(0)->mutable_contents()->add_int_contents(1);
  ExpectError(wrong_field,
              "input 'input': data in contents.int_contents; INT64 data goes in "
              "contents.int64_contents or raw_input_contents");
}

// A text model's ids: INT64 typed or raw stay in the request; INT32 is widened.
TEST(InferRequestIds, Int64AndInt32ContentsAndRaw) {
  ServingConfig config;
  config.input_name = "input";
  config.output_name = "output";
  config.input_dims = {3};
  config.max_batch_size = 4;
  config.input_dtype = DType::kInt64;
  auto model = testing::MustLoadWithWeights("nn.Sequential(nn.Embedding(5, 2), nn.Flatten())");
  ModelInferRequest request;
  ModelInferRequest::InferInputTensor* tensor = request.add_inputs();
  tensor->set_name("input");
  tensor->set_datatype("INT64");
  tensor->add_shape(1);
  tensor->add_shape(3);
  for (int64_t id : {4, 0, 2}) tensor->mutable_contents()->add_int64_contents(id);
  absl::StatusOr<InferInput> input = DecodeInferRequest(request, "text", config, *model);
  ASSERT_TRUE(input.ok()) << input.status();
  EXPECT_EQ(input->bytes.data(),
            reinterpret_cast<const std::byte*>(tensor->contents().int64_contents().data()));

  tensor->set_datatype("INT32");
  tensor->mutable_contents()->clear_int64_contents();
  for (int32_t id : {4, 0, 2}) tensor->mutable_contents()->add_int_contents(id);
  input = DecodeInferRequest(request, "text", config, *model);
  ASSERT_TRUE(input.ok()) << input.status();
  EXPECT_EQ(input->dtype, DType::kInt64);
  EXPECT_EQ(reinterpret_cast<const int64_t*>(input->bytes.data())[0], 4);

  tensor->mutable_contents()->set_int_contents(1, 5);
  input = DecodeInferRequest(request, "text", config, *model);
  EXPECT_EQ(input.status().message(),
            "input 'input': id 5 at [0, 1] is out of range: num_embeddings is 5, so ids must be "
            "in [0, 4]");

  tensor->mutable_contents()->clear_int_contents();
  const int32_t raw[] = {1, 2, 3};
  request.add_raw_input_contents(std::string(reinterpret_cast<const char*>(raw), sizeof(raw)));
  input = DecodeInferRequest(request, "text", config, *model);
  ASSERT_TRUE(input.ok()) << input.status();
  EXPECT_EQ(reinterpret_cast<const int64_t*>(input->bytes.data())[2], 3);
}

TEST_F(InferRequestTest, RequestedOutputMustBeTheConfiguredOne) {
  ModelInferRequest request = TypedRequest({1, 1, 28, 28}, 784);
  request.add_outputs()->set_name("output");
  EXPECT_TRUE(Decode(request).ok());
  request.add_outputs()->set_name("output");
  ExpectError(request, "output 'output' requested 2 times; request it once");
  request.clear_outputs();
  request.add_outputs()->set_name("probabilities");
  ExpectError(request, "unknown output 'probabilities': model 'lenet' has one output, 'output'");
}

TEST_F(InferRequestTest, TimeoutParameterIsMicroseconds) {
  ModelInferRequest request = TypedRequest({1, 1, 28, 28}, 784);
  (*request.mutable_parameters())["timeout"].set_int64_param(1500);
  EXPECT_EQ(Decode(request)->timeout_us, 1500);
  (*request.mutable_parameters())["timeout"].set_uint64_param(7);
  EXPECT_EQ(Decode(request)->timeout_us, 7);
  (*request.mutable_parameters())["timeout"].set_int64_param(-5);
  ExpectError(request, "parameter 'timeout': expected microseconds >= 0, got -5");
  (*request.mutable_parameters())["timeout"].set_string_param("1s");
  ExpectError(request,
              "parameter 'timeout': expected an integer number of microseconds (int64_param)");
}

TEST(InferResponse, EchoesNameVersionAndId) {
  ModelInferRequest request;
  request.set_model_name("lenet");
  request.set_id("req-7");
  ModelInferResponse response;
  StartInferResponse(request, 3, response);
  EXPECT_EQ(response.model_name(), "lenet");
  EXPECT_EQ(response.model_version(), "3");
  EXPECT_EQ(response.id(), "req-7");
}

TEST(InferResponse, RawOutputIsTheResponsesOwnBuffer) {
  ModelInferResponse response;
  float* out = AddOutput({2, 10}, LenetConfig(), response);
  for (int i = 0; i < 20; ++i) out[i] = static_cast<float>(i);
  ASSERT_EQ(response.outputs_size(), 1);
  EXPECT_EQ(response.outputs(0).name(), "output");
  EXPECT_EQ(response.outputs(0).datatype(), "FP32");
  EXPECT_THAT(response.outputs(0).shape(), ::testing::ElementsAre(2, 10));
  EXPECT_FALSE(response.outputs(0).has_contents());
  ASSERT_EQ(response.raw_output_contents_size(), 1);
  const std::string& bytes = response.raw_output_contents(0);
  ASSERT_EQ(bytes.size(), 80u);
  EXPECT_EQ(reinterpret_cast<const float*>(bytes.data()), out);
  float last = 0;
  std::memcpy(&last, bytes.data() + 76, sizeof(last));
  EXPECT_EQ(last, 19.0f);
}


}  // namespace
}  // namespace seqserve
