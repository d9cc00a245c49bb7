// Wire compatibility with KServe's grpc_predict_v2.proto and Triton's grpc_service.proto /
// model_config.proto: serialized bytes whose tags are derivable by hand, and the field
// numbers of the published files recorded here independently of proto/*.proto, so a
// renumbered field fails the build's tests instead of silently breaking every client.
#include <string>

#include "gmock/gmock.h"
#include "google/protobuf/descriptor.h"
#include "gtest/gtest.h"
#include "proto/grpc_service.grpc.pb.h"
#include "proto/grpc_service.pb.h"
#include "proto/model_config.pb.h"

namespace {

using google::protobuf::DescriptorPool;

// A protobuf tag byte: (field_number << 3) | wire_type, for field numbers below 16.
constexpr char Tag(int field, int wire_type) { return static_cast<char>((field << 3) | wire_type); }
constexpr int kVarint = 0;
constexpr int kLengthDelimited = 2;

TEST(WireFormat, RawInputContentsIsField7) {
  inference::ModelInferRequest request;
  request.add_raw_input_contents("abc");
  const std::string bytes = request.SerializeAsString();
  // (7 << 3) | 2 = 0x3A, then the length, then the bytes.
  EXPECT_EQ(bytes, std::string("\x3A\x03"
                               "abc",
                               5));
  EXPECT_EQ(bytes[0], Tag(7, kLengthDelimited));
}

TEST(WireFormat, InferParameterUint64IsField5) {
  inference::InferParameter parameter;
  parameter.set_uint64_param(7);
  // (5 << 3) | 0 = 0x28, then the varint 7.
  EXPECT_EQ(parameter.SerializeAsString(), std::string("\x28\x07", 2));
  EXPECT_EQ(parameter.SerializeAsString()[0], Tag(5, kVarint));
}

TEST(WireFormat, ResponseAndConfigTags) {
  inference::ModelInferResponse response;
  response.add_raw_output_contents("z");
  EXPECT_EQ(response.SerializeAsString(), std::string("\x32\x01z", 3));  // field 6

  inference::ModelConfig config;
  config.set_max_batch_size(8);
  EXPECT_EQ(config.SerializeAsString(), std::string("\x20\x08", 2));  // field 4, varint

  // Our own field 1000 encodes as the two-byte varint tag (1000 << 3) | 0 = 8000.
  inference::ModelConfig threads;
  threads.set_intra_op_threads(2);
  EXPECT_EQ(threads.SerializeAsString(), std::string("\xC0\x3E\x02", 3));
}

// A message field with its published number.
struct Field {
  const char* message;
  const char* field;
  int number;
};

TEST(WireFormat, FieldNumbersMatchThePublishedProtos) {
  const Field kPublished[] = {
      {"ServerLiveResponse", "live", 1},
      {"ServerReadyResponse", "ready", 1},
      {"ModelReadyRequest", "name", 1},
      {"ModelReadyRequest", "version", 2},
      {"ModelReadyResponse", "ready", 1},
      {"ServerMetadataResponse", "name", 1},
      {"ServerMetadataResponse", "version", 2},
      {"ServerMetadataResponse", "extensions", 3},
      {"ModelMetadataRequest", "name", 1},
      {"ModelMetadataRequest", "version", 2},
      {"ModelMetadataResponse", "name", 1},
      {"ModelMetadataResponse", "versions", 2},
      {"ModelMetadataResponse", "platform", 3},
      {"ModelMetadataResponse", "inputs", 4},
      {"ModelMetadataResponse", "outputs", 5},
      {"ModelMetadataResponse.TensorMetadata", "name", 1},
      {"ModelMetadataResponse.TensorMetadata", "datatype", 2},
      {"ModelMetadataResponse.TensorMetadata", "shape", 3},
      {"InferParameter", "bool_param", 1},
      {"InferParameter", "int64_param", 2},
      {"InferParameter", "string_param", 3},
      {"InferParameter", "double_param", 4},
      {"InferParameter", "uint64_param", 5},
      {"InferTensorContents", "bool_contents", 1},
      {"InferTensorContents", "int_contents", 2},
      {"InferTensorContents", "int64_contents", 3},
      {"InferTensorContents", "uint_contents", 4},
      {"InferTensorContents", "uint64_contents", 5},
      {"InferTensorContents", "fp32_contents", 6},
      {"InferTensorContents", "fp64_contents", 7},
      {"InferTensorContents", "bytes_contents", 8},
      {"ModelInferRequest", "model_name", 1},
      {"ModelInferRequest", "model_version", 2},
      {"ModelInferRequest", "id", 3},
      {"ModelInferRequest", "parameters", 4},
      {"ModelInferRequest", "inputs", 5},
      {"ModelInferRequest", "outputs", 6},
      {"ModelInferRequest", "raw_input_contents", 7},
      {"ModelInferRequest.InferInputTensor", "name", 1},
      {"ModelInferRequest.InferInputTensor", "datatype", 2},
      {"ModelInferRequest.InferInputTensor", "shape", 3},
      {"ModelInferRequest.InferInputTensor", "parameters", 4},
      {"ModelInferRequest.InferInputTensor", "contents", 5},
      {"ModelInferRequest.InferRequestedOutputTensor", "name", 1},
      {"ModelInferRequest.InferRequestedOutputTensor", "parameters", 2},
      {"ModelInferResponse", "model_name", 1},
      {"ModelInferResponse", "model_version", 2},
      {"ModelInferResponse", "id", 3},
      {"ModelInferResponse", "parameters", 4},
      {"ModelInferResponse", "outputs", 5},
      {"ModelInferResponse", "raw_output_contents", 6},
      {"ModelInferResponse.InferOutputTensor", "name", 1},
      {"ModelInferResponse.InferOutputTensor", "datatype", 2},
      {"ModelInferResponse.InferOutputTensor", "shape", 3},
      {"ModelInferResponse.InferOutputTensor", "parameters", 4},
      {"ModelInferResponse.InferOutputTensor", "contents", 5},
      {"ModelStreamInferResponse", "error_message", 1},
      {"ModelStreamInferResponse", "infer_response", 2},
      {"ModelConfigRequest", "name", 1},
      {"ModelConfigRequest", "version", 2},
      {"ModelConfigResponse", "config", 1},
      {"ModelStatisticsRequest", "name", 1},
      {"ModelStatisticsRequest", "version", 2},
      {"StatisticDuration", "count", 1},
      {"StatisticDuration", "ns", 2},
      {"InferStatistics", "success", 1},
      {"InferStatistics", "fail", 2},
      {"InferStatistics", "queue", 3},
      {"InferStatistics", "compute_input", 4},
      {"InferStatistics", "compute_infer", 5},
      {"InferStatistics", "compute_output", 6},
      {"InferStatistics", "cache_hit", 7},
      {"InferStatistics", "cache_miss", 8},
      {"InferBatchStatistics", "batch_size", 1},
      {"InferBatchStatistics", "compute_input", 2},
      {"InferBatchStatistics", "compute_infer", 3},
      {"InferBatchStatistics", "compute_output", 4},
      {"ModelStatistics", "name", 1},
      {"ModelStatistics", "version", 2},
      {"ModelStatistics", "last_inference", 3},
      {"ModelStatistics", "inference_count", 4},
      {"ModelStatistics", "execution_count", 5},
      {"ModelStatistics", "inference_stats", 6},
      {"ModelStatistics", "batch_stats", 7},
      {"ModelStatistics", "memory_usage", 8},
      {"ModelStatistics", "response_stats", 9},
      {"ModelStatisticsResponse", "model_stats", 1},
      {"RepositoryIndexRequest", "repository_name", 1},
      {"RepositoryIndexRequest", "ready", 2},
      {"RepositoryIndexResponse", "models", 1},
      {"RepositoryIndexResponse.ModelIndex", "name", 1},
      {"RepositoryIndexResponse.ModelIndex", "version", 2},
      {"RepositoryIndexResponse.ModelIndex", "state", 3},
      {"RepositoryIndexResponse.ModelIndex", "reason", 4},
      {"RepositoryModelLoadRequest", "repository_name", 1},
      {"RepositoryModelLoadRequest", "model_name", 2},
      {"RepositoryModelLoadRequest", "parameters", 3},
      {"RepositoryModelUnloadRequest", "repository_name", 1},
      {"RepositoryModelUnloadRequest", "model_name", 2},
      {"RepositoryModelUnloadRequest", "parameters", 3},
      {"ModelRepositoryParameter", "bool_param", 1},
      {"ModelRepositoryParameter", "int64_param", 2},
      {"ModelRepositoryParameter", "string_param", 3},
      {"ModelRepositoryParameter", "bytes_param", 4},
      {"SystemSharedMemoryStatusRequest", "name", 1},
      {"SystemSharedMemoryStatusResponse", "regions", 1},
      {"SystemSharedMemoryStatusResponse.RegionStatus", "name", 1},
      {"SystemSharedMemoryStatusResponse.RegionStatus", "key", 2},
      {"SystemSharedMemoryStatusResponse.RegionStatus", "offset", 3},
      {"SystemSharedMemoryStatusResponse.RegionStatus", "byte_size", 4},
      {"SystemSharedMemoryRegisterRequest", "name", 1},
      {"SystemSharedMemoryRegisterRequest", "key", 2},
      {"SystemSharedMemoryRegisterRequest", "offset", 3},
      {"SystemSharedMemoryRegisterRequest", "byte_size", 4},
      {"SystemSharedMemoryUnregisterRequest", "name", 1},
      // model_config.proto
      {"ModelConfig", "name", 1},
      {"ModelConfig", "version_policy", 3},
      {"ModelConfig", "max_batch_size", 4},
      {"ModelConfig", "input", 5},
      {"ModelConfig", "output", 6},
      {"ModelConfig", "instance_group", 7},
      {"ModelConfig", "dynamic_batching", 11},
      {"ModelConfig", "parameters", 14},
      {"ModelParameter", "string_value", 1},
      {"ModelInput", "name", 1},
      {"ModelInput", "data_type", 2},
      {"ModelInput", "format", 3},
      {"ModelInput", "dims", 4},
      {"ModelOutput", "name", 1},
      {"ModelOutput", "data_type", 2},
      {"ModelOutput", "dims", 3},
      {"ModelInstanceGroup", "name", 1},
      {"ModelInstanceGroup", "count", 2},
      {"ModelInstanceGroup", "kind", 4},
      {"ModelVersionPolicy", "latest", 1},
      {"ModelVersionPolicy", "all", 2},
      {"ModelVersionPolicy", "specific", 3},
      {"ModelVersionPolicy.Latest", "num_versions", 1},
      {"ModelVersionPolicy.Specific", "versions", 1},
      {"ModelDynamicBatching", "preferred_batch_size", 1},
      {"ModelDynamicBatching", "max_queue_delay_microseconds", 2},
      {"ModelDynamicBatching", "default_queue_policy", 6},
      {"ModelQueuePolicy", "timeout_action", 1},
      {"ModelQueuePolicy", "default_timeout_microseconds", 2},
      {"ModelQueuePolicy", "allow_timeout_override", 3},
      {"ModelQueuePolicy", "max_queue_size", 4},
  };
  const DescriptorPool* pool = DescriptorPool::generated_pool();
  for (const Field& expected : kPublished) {
    const std::string message = std::string("inference.") + expected.message;
    SCOPED_TRACE(message + "." + expected.field);
    const google::protobuf::Descriptor* descriptor = pool->FindMessageTypeByName(message);
    ASSERT_NE(descriptor, nullptr);
    const google::protobuf::FieldDescriptor* field = descriptor->FindFieldByName(expected.field);
    ASSERT_NE(field, nullptr);
    EXPECT_EQ(field->number(), expected.number);
  }
}

TEST(WireFormat, EnumValuesMatchTriton) {
  EXPECT_EQ(inference::TYPE_INVALID, 0);
  EXPECT_EQ(inference::TYPE_BOOL, 1);
  EXPECT_EQ(inference::TYPE_UINT8, 2);
  EXPECT_EQ(inference::TYPE_UINT64, 5);
  EXPECT_EQ(inference::TYPE_INT8, 6);
  EXPECT_EQ(inference::TYPE_INT64, 9);
  EXPECT_EQ(inference::TYPE_FP16, 10);
  EXPECT_EQ(inference::TYPE_FP32, 11);
  EXPECT_EQ(inference::TYPE_FP64, 12);
  EXPECT_EQ(inference::TYPE_STRING, 13);
  EXPECT_EQ(inference::TYPE_BF16, 14);
  EXPECT_EQ(inference::ModelInstanceGroup::KIND_AUTO, 0);
  EXPECT_EQ(inference::ModelInstanceGroup::KIND_GPU, 1);
  EXPECT_EQ(inference::ModelInstanceGroup::KIND_CPU, 2);
  EXPECT_EQ(inference::ModelInstanceGroup::KIND_MODEL, 3);
  EXPECT_EQ(inference::ModelInput::FORMAT_NHWC, 1);
  EXPECT_EQ(inference::ModelInput::FORMAT_NCHW, 2);
  EXPECT_EQ(inference::ModelQueuePolicy::DELAY, 1);
}

TEST(WireFormat, ServiceAndMethodNamesMatch) {
  const google::protobuf::ServiceDescriptor* service =
      DescriptorPool::generated_pool()->FindServiceByName("inference.GRPCInferenceService");
  ASSERT_NE(service, nullptr);
  for (const char* method :
       {"ServerLive", "ServerReady", "ModelReady", "ServerMetadata", "ModelMetadata", "ModelInfer",
        "ModelStreamInfer", "ModelConfig", "ModelStatistics", "RepositoryIndex",
        "RepositoryModelLoad", "RepositoryModelUnload", "SystemSharedMemoryStatus",
        "SystemSharedMemoryRegister", "SystemSharedMemoryUnregister"}) {
    SCOPED_TRACE(method);
    const google::protobuf::MethodDescriptor* found = service->FindMethodByName(method);
    ASSERT_NE(found, nullptr);
    const bool streaming = std::string(method) == "ModelStreamInfer";
    EXPECT_EQ(found->client_streaming(), streaming);
    EXPECT_EQ(found->server_streaming(), streaming);
  }
  EXPECT_EQ(service->FindMethodByName("ModelInfer")->input_type()->full_name(),
            "inference.ModelInferRequest");
  EXPECT_EQ(service->FindMethodByName("ModelStreamInfer")->output_type()->full_name(),
            "inference.ModelStreamInferResponse");
  // The generated stub's method paths are what go on the wire as HTTP/2 :path.
  EXPECT_STREQ(inference::GRPCInferenceService::service_full_name(),
               "inference.GRPCInferenceService");
}

}  // namespace
