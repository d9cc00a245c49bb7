// Triton's system shared memory extension end to end, over real gRPC (the generated stub) and
// raw HTTP: regions the test makes with shm_open, registered, used for inputs and outputs,
// listed and unregistered. The reference for a shared memory reply is the same server's reply
// to the same rows sent as raw bytes (this checks the transport, not the math) — and, for the
// math, PyTorch's rows of the bundled goldens (tests/data/bundled/lenet/expected.npy).
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/util/grpc_requests.h"
#include "tests/util/grpc_test_util.h"
#include "tests/util/http_test_util.h"
#include "tests/util/shm_test_util.h"

namespace seqserve {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using namespace seqserve::testing;  // NOLINT: the shared test helpers

constexpr size_t kImageBytes = 28 * 28 * sizeof(float);
constexpr size_t kScoresBytes = 10 * sizeof(float);

using Parameters = google::protobuf::Map<std::string, inference::InferParameter>;

void SetShm(Parameters& parameters, const std::string& region, int64_t offset, int64_t bytes) {
  parameters["shared_memory_region"].set_string_param(region);
  parameters["shared_memory_offset"].set_int64_param(offset);
  parameters["shared_memory_byte_size"].set_int64_param(bytes);
}

std::string Bytes(const std::vector<float>& values) {
  return std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float));
}

class SharedMemoryTest : public SuiteServerTest {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir("seqserve_shm");
    CopyModel(dir_->path(), "lenet", "lenet");
    CopyModel(dir_->path(), "lenet", "held", kHeldConfig);
    CopyModel(dir_->path(), "textclass", "textclass");
    ServerOptions options = HttpServerOptions(dir_->path());
    options.allow_shared_memory = true;
    StartSuiteServer(options);
  }

  // Each test starts from no regions; the objects are unlinked by their ShmObject.
  void TearDown() override { EXPECT_TRUE(Unregister(*client_, "").ok()); }

  static grpc::Status Register(StubClient& client, const std::string& name,
                               const std::string& key, uint64_t offset, uint64_t bytes) {
    grpc::ClientContext context;
    inference::SystemSharedMemoryRegisterRequest request;
    request.set_name(name);
    request.set_key(key);
    request.set_offset(offset);
    request.set_byte_size(bytes);
    inference::SystemSharedMemoryRegisterResponse response;
    return client.stub->SystemSharedMemoryRegister(&context, request, &response);
  }

  static grpc::Status Unregister(StubClient& client, const std::string& name) {
    grpc::ClientContext context;
    inference::SystemSharedMemoryUnregisterRequest request;
    request.set_name(name);
    inference::SystemSharedMemoryUnregisterResponse response;
    return client.stub->SystemSharedMemoryUnregister(&context, request, &response);
  }

  static grpc::Status Status(StubClient& client, const std::string& name,
                             inference::SystemSharedMemoryStatusResponse* response) {
    grpc::ClientContext context;
    inference::SystemSharedMemoryStatusRequest request;
    request.set_name(name);
    return client.stub->SystemSharedMemoryStatus(&context, request, response);
  }

  // The server's answer for `rows` of the golden input sent as raw bytes: the reference.
  std::vector<float> RawReply(const std::vector<int>& rows, const std::string& model = "lenet") {
    inference::ModelInferResponse response;
    const grpc::Status status =
        client_->Infer(MakeRequest(model, LoadNpy("lenet", "input"), rows, true), &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return OutputValues(response);
  }

  // A request for `rows` whose input is in `in` at `in_offset` and output in `out` at
  // `out_offset` (either region may be empty: raw input, output in the reply).
  static inference::ModelInferRequest ShmRequest(const std::vector<int>& rows,
                                                 const std::string& in, int64_t in_offset,
                                                 const std::string& out, int64_t out_offset,
                                                 const std::string& model = "lenet") {
    inference::ModelInferRequest request =
        MakeRequest(model, LoadNpy("lenet", "input"), rows, /*raw=*/true);
    const int64_t n = static_cast<int64_t>(rows.size());
    if (!in.empty()) {
      request.clear_raw_input_contents();
      SetShm(*request.mutable_inputs(0)->mutable_parameters(), in, in_offset,
             n * static_cast<int64_t>(kImageBytes));
    }
    if (!out.empty()) {
      inference::ModelInferRequest::InferRequestedOutputTensor* output = request.add_outputs();
      output->set_name("output");
      SetShm(*output->mutable_parameters(), out, out_offset,
             n * static_cast<int64_t>(kScoresBytes));
    }
    return request;
  }

  static void WriteRows(ShmObject& object, size_t offset, const std::vector<int>& rows) {
    const std::vector<float> values = RowValues(LoadNpy("lenet", "input"), rows);
    object.Write(offset, values.data(), values.size() * sizeof(float));
  }

};

TEST_F(SharedMemoryTest, ServerMetadataListsTheExtension) {
  grpc::ClientContext context;
  inference::ServerMetadataResponse metadata;
  ASSERT_TRUE(client_->stub->ServerMetadata(&context, {}, &metadata).ok());
  EXPECT_THAT(metadata.extensions(), ::testing::Contains("system_shared_memory"));
  const HttpReply rest = HttpGet(server_->http_port(), "/v2");
  EXPECT_THAT(rest.json()["extensions"].get<std::vector<std::string>>(),
              ::testing::Contains("system_shared_memory"));
}

TEST_F(SharedMemoryTest, GrpcInputAndOutputInSharedMemoryMatchTheRawReply) {
  const std::vector<int> rows = {0, 3, 1};
  ShmObject in("grpc_in", 3 * kImageBytes), out("grpc_out", 4096);
  WriteRows(in, 0, rows);
  ASSERT_TRUE(Register(*client_, "in", in.key(), 0, in.size()).ok());
  ASSERT_TRUE(Register(*client_, "out", out.key(), 0, out.size()).ok());

  inference::ModelInferResponse response;
  const grpc::Status status = client_->Infer(ShmRequest(rows, "in", 0, "out", 64), &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  // Triton's reply for an output in shared memory: metadata and parameters, no data.
  ASSERT_EQ(response.outputs_size(), 1);
  const auto& output = response.outputs(0);
  EXPECT_EQ(output.name(), "output");
  EXPECT_EQ(output.datatype(), "FP32");
  EXPECT_THAT(output.shape(), ElementsAre(3, 10));
  EXPECT_EQ(output.parameters().at("shared_memory_region").string_param(), "out");
  EXPECT_EQ(output.parameters().at("shared_memory_offset").int64_param(), 64);
  EXPECT_EQ(output.parameters().at("shared_memory_byte_size").int64_param(),
            static_cast<int64_t>(3 * kScoresBytes));
  EXPECT_EQ(response.raw_output_contents_size(), 0);

  const std::vector<float> got = out.Read<float>(64, 30);
  EXPECT_EQ(Bytes(got), Bytes(RawReply(rows)));
  ExpectRows(got, LoadNpy("lenet", "expected"), rows);
  // Nothing written before the block or after it.
  for (size_t i = 0; i < 64; ++i) EXPECT_EQ(out.data()[i], std::byte{0}) << i;
  for (size_t i = 64 + 3 * kScoresBytes; i < out.size(); ++i) {
    EXPECT_EQ(out.data()[i], std::byte{0}) << i;
  }
}

TEST_F(SharedMemoryTest, StreamedRequestsUseRegionsToo) {
  const std::vector<int> rows = {1};
  const std::vector<float> want = RawReply(rows);
  ShmObject object("stream", 8192);
  WriteRows(object, 0, rows);
  ASSERT_TRUE(Register(*client_, "stream", object.key(), 0, 8192).ok());
  grpc::ClientContext context;
  auto stream = client_->stub->ModelStreamInfer(&context);
  inference::ModelInferRequest request = ShmRequest(rows, "stream", 0, "stream", 4096);
  request.set_id("s1");
  ASSERT_TRUE(stream->Write(request));
  // An unknown region fails that one request; the stream stays open.
  inference::ModelInferRequest unknown = ShmRequest(rows, "nope", 0, "", 0);
  unknown.set_id("s2");
  ASSERT_TRUE(stream->Write(unknown));
  ASSERT_TRUE(stream->WritesDone());
  std::map<std::string, inference::ModelStreamInferResponse> answers;
  for (inference::ModelStreamInferResponse answer; stream->Read(&answer);) {
    answers[answer.infer_response().id().empty() ? "error" : answer.infer_response().id()] =
        answer;
  }
  ASSERT_TRUE(stream->Finish().ok());
  ASSERT_EQ(answers.size(), 2u);
  EXPECT_EQ(answers["s1"].error_message(), "");
  EXPECT_EQ(answers["s1"].infer_response().outputs(0).parameters().at("shared_memory_region")
                .string_param(),
            "stream");
  EXPECT_EQ(Bytes(object.Read<float>(4096, 10)), Bytes(want));
  const auto failed = answers.count("s2") ? answers["s2"] : answers["error"];
  EXPECT_THAT(failed.error_message(), HasSubstr("shared memory region 'nope' is not registered"));
}

TEST_F(SharedMemoryTest, UnalignedOffsetsAndOneSidedUseGiveTheSameAnswer) {
  const std::vector<int> rows = {2};
  const std::vector<float> want = RawReply(rows);
  // A region that starts 3 bytes into its object; the input 2 bytes into the region, the
  // output 6: neither is aligned for floats.
  ShmObject object("unaligned", 8192);
  WriteRows(object, 3 + 2, rows);
  ASSERT_TRUE(Register(*client_, "mixed", object.key(), 3, 8000).ok());
  const size_t out_at = 3 + 2 + kImageBytes + 6;
  const int64_t out_offset = static_cast<int64_t>(out_at - 3);

  inference::ModelInferResponse response;
  ASSERT_TRUE(client_->Infer(ShmRequest(rows, "mixed", 2, "mixed", out_offset), &response).ok());
  EXPECT_EQ(Bytes(object.Read<float>(out_at, 10)), Bytes(want));
  EXPECT_EQ(object.data()[out_at - 1], std::byte{0});
  EXPECT_EQ(object.data()[out_at + kScoresBytes], std::byte{0});

  // Input in shared memory, output in the reply.
  response.Clear();
  ASSERT_TRUE(client_->Infer(ShmRequest(rows, "mixed", 2, "", 0), &response).ok());
  EXPECT_EQ(Bytes(OutputValues(response)), Bytes(want));
  // Raw input, output in shared memory (at the region's start, aligned).
  response.Clear();
  ASSERT_TRUE(client_->Infer(ShmRequest(rows, "", 0, "mixed", 1), &response).ok());
  EXPECT_EQ(Bytes(object.Read<float>(3 + 1, 10)), Bytes(want));
}

TEST_F(SharedMemoryTest, RestInputAndOutputInSharedMemoryMatchTheRawReply) {
  const int port = server_->http_port();
  const std::vector<int> rows = {1, 2};
  ShmObject object("rest", 16384);
  WriteRows(object, 100, rows);
  const HttpReply registered =
      HttpPost(port, "/v2/systemsharedmemory/region/rest_region/register",
               nlohmann::json{{"key", object.key()}, {"offset", 100}, {"byte_size", 10000}}.dump());
  ASSERT_EQ(registered.status, 200) << registered.body;

  nlohmann::json request = {
      {"inputs",
       {{{"name", "input"},
         {"shape", {2, 1, 28, 28}},
         {"datatype", "FP32"},
         {"parameters",
          {{"shared_memory_region", "rest_region"},
           {"shared_memory_byte_size", 2 * kImageBytes}}}}}},
      {"outputs",
       {{{"name", "output"},
         {"parameters",
          {{"shared_memory_region", "rest_region"},
           {"shared_memory_offset", 8000},
           {"shared_memory_byte_size", 2 * kScoresBytes}}}}}}};
  const HttpReply reply = HttpPost(port, "/v2/models/lenet/infer", request.dump());
  ASSERT_EQ(reply.status, 200) << reply.body;
  const nlohmann::json output = reply.json()["outputs"][0];
  EXPECT_EQ(output["name"], "output");
  EXPECT_EQ(output["datatype"], "FP32");
  EXPECT_EQ(output["shape"], nlohmann::json({2, 10}));
  EXPECT_FALSE(output.contains("data"));
  EXPECT_EQ(output["parameters"]["shared_memory_region"], "rest_region");
  EXPECT_EQ(output["parameters"]["shared_memory_offset"], 8000);
  EXPECT_EQ(output["parameters"]["shared_memory_byte_size"], 2 * kScoresBytes);
  const std::vector<float> got = object.Read<float>(100 + 8000, 20);
  EXPECT_EQ(Bytes(got), Bytes(RawReply(rows)));
  ExpectRows(got, LoadNpy("lenet", "expected"), rows);

  // Status, all and one, as Triton's JSON.
  const HttpReply all = HttpGet(port, "/v2/systemsharedmemory/status");
  ASSERT_EQ(all.status, 200) << all.body;
  EXPECT_EQ(all.json(), nlohmann::json::parse(absl::StrCat(
                            R"([{"name":"rest_region","key":")", object.key(),
                            R"(","offset":100,"byte_size":10000}])")));
  EXPECT_EQ(HttpGet(port, "/v2/systemsharedmemory/region/rest_region/status").json(),
            all.json());
  const HttpReply unknown = HttpGet(port, "/v2/systemsharedmemory/region/nope/status");
  EXPECT_EQ(unknown.status, 400);
  EXPECT_THAT(unknown.json()["error"].get<std::string>(),
              HasSubstr("shared memory region 'nope' is not registered"));

  // Unregister one, then inference naming it fails.
  EXPECT_EQ(HttpPost(port, "/v2/systemsharedmemory/region/rest_region/unregister", "").status,
            200);
  EXPECT_EQ(HttpGet(port, "/v2/systemsharedmemory/status").json(), nlohmann::json::array());
  const HttpReply gone = HttpPost(port, "/v2/models/lenet/infer", request.dump());
  EXPECT_EQ(gone.status, 400);
  EXPECT_THAT(gone.json()["error"].get<std::string>(),
              HasSubstr("input 'input': shared memory region 'rest_region' is not registered"));
}

TEST_F(SharedMemoryTest, RestErrorsAre400sThatNameTheRegionAndTheNumbers) {
  const int port = server_->http_port();
  ShmObject object("rest_errors", 4096);
  const auto register_region = [&](const std::string& name, const nlohmann::json& body) {
    return HttpPost(port, absl::StrCat("/v2/systemsharedmemory/region/", name, "/register"),
                    body.dump());
  };
  HttpReply reply = register_region("a", {{"key", object.key() + "_missing"}, {"byte_size", 8}});
  EXPECT_EQ(reply.status, 400);
  EXPECT_THAT(reply.json()["error"].get<std::string>(), HasSubstr("no such object"));
  reply = register_region("a", {{"key", object.key()}, {"offset", 4000}, {"byte_size", 100}});
  EXPECT_EQ(reply.status, 400);
  EXPECT_THAT(reply.json()["error"].get<std::string>(),
              HasSubstr("offset 4000 + byte_size 100 reaches past the end"));
  reply = register_region("a", {{"key", object.key()}, {"byte_size", -1}});
  EXPECT_EQ(reply.status, 400);
  EXPECT_THAT(reply.json()["error"].get<std::string>(),
              HasSubstr("\"byte_size\" must be an integer >= 0, got -1"));
  reply = register_region("a", {{"offset", 0}, {"byte_size", 8}});
  EXPECT_EQ(reply.status, 400);
  EXPECT_THAT(reply.json()["error"].get<std::string>(), HasSubstr("\"key\" must be a string"));
  ASSERT_EQ(register_region("a", {{"key", object.key()}, {"byte_size", 4096}}).status, 200);
  reply = register_region("a", {{"key", object.key()}, {"byte_size", 8}});
  EXPECT_EQ(reply.status, 400);
  EXPECT_THAT(reply.json()["error"].get<std::string>(), HasSubstr("already registered"));

  // An input with both "data" and shared memory; and a byte size that is not the tensor's.
  nlohmann::json request = InferJson(Rows(LoadNpy("lenet", "input"), 0, 1), false);
  request["inputs"][0]["parameters"] = {{"shared_memory_region", "a"},
                                        {"shared_memory_byte_size", kImageBytes}};
  reply = HttpPost(port, "/v2/models/lenet/infer", request.dump());
  EXPECT_EQ(reply.status, 400);
  EXPECT_THAT(reply.json()["error"].get<std::string>(),
              HasSubstr("data both in shared memory (region 'a') and in \"data\""));
  request["inputs"][0].erase("data");
  request["inputs"][0]["parameters"]["shared_memory_byte_size"] = 100;
  reply = HttpPost(port, "/v2/models/lenet/infer", request.dump());
  EXPECT_EQ(reply.status, 400);
  EXPECT_THAT(reply.json()["error"].get<std::string>(),
              HasSubstr("shared_memory_byte_size is 100 but the tensor (1x1x28x28 FP32) takes "
                        "3136 bytes"));
  // An unknown route under the extension.
  EXPECT_EQ(HttpPost(port, "/v2/systemsharedmemory/register", "{}").status, 404);
}

TEST_F(SharedMemoryTest, GrpcErrorsAreInvalidArgumentsThatNameTheRegionAndTheNumbers) {
  ShmObject object("grpc_errors", 8192);
  WriteRows(object, 0, {0});
  const auto expect_error = [](const grpc::Status& status, const std::string& text) {
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << status.error_message();
    EXPECT_THAT(status.error_message(), HasSubstr(text));
  };
  expect_error(Register(*client_, "r", object.key() + "_missing", 0, 8), "no such object");
  expect_error(Register(*client_, "r", object.key(), 8000, 200),
               "offset 8000 + byte_size 200 reaches past the end of shared memory object '" +
                   object.key() + "' (8192 bytes)");
  expect_error(Register(*client_, "r", object.key(), UINT64_MAX - 4, 100),
               "reaches past the end");
  ASSERT_TRUE(Register(*client_, "r", object.key(), 0, 4096).ok());
  expect_error(Register(*client_, "r", object.key(), 0, 8), "region 'r' is already registered");

  inference::ModelInferResponse response;
  expect_error(client_->Infer(ShmRequest({0}, "nope", 0, "", 0), &response),
               "input 'input': shared memory region 'nope' is not registered");
  expect_error(client_->Infer(ShmRequest({0}, "r", 2000, "", 0), &response),
               "input 'input': shared_memory_offset 2000 + shared_memory_byte_size 3136 reaches "
               "past the end of region 'r' (4096 bytes)");
  inference::ModelInferRequest wrapping = ShmRequest({0}, "r", 0, "", 0);
  SetShm(*wrapping.mutable_inputs(0)->mutable_parameters(), "r", INT64_MAX, 3136);
  expect_error(client_->Infer(wrapping, &response), "reaches past the end of region 'r'");
  inference::ModelInferRequest short_size = ShmRequest({0}, "r", 0, "", 0);
  SetShm(*short_size.mutable_inputs(0)->mutable_parameters(), "r", 0, 3000);
  expect_error(client_->Infer(short_size, &response),
               "shared_memory_byte_size is 3000 but the tensor (1x1x28x28 FP32) takes 3136 bytes");
  inference::ModelInferRequest both = ShmRequest({0}, "r", 0, "", 0);
  both.add_raw_input_contents(std::string(kImageBytes, '\0'));
  expect_error(client_->Infer(both, &response),
               "data both in shared memory (region 'r') and in raw_input_contents");
  inference::ModelInferRequest half = ShmRequest({0}, "r", 0, "", 0);
  half.mutable_inputs(0)->mutable_parameters()->erase("shared_memory_byte_size");
  expect_error(client_->Infer(half, &response),
               "needs both parameters shared_memory_region and shared_memory_byte_size");

  // An output block too small for the output, or past the region.
  inference::ModelInferRequest small = ShmRequest({0}, "r", 0, "r", 3200);
  SetShm(*small.mutable_outputs(0)->mutable_parameters(), "r", 3200, 39);
  expect_error(client_->Infer(small, &response),
               "output 'output': shared_memory_byte_size 39 in region 'r' cannot hold the output "
               "of shape [1, 10] (40 bytes, FP32)");
  expect_error(client_->Infer(ShmRequest({0}, "r", 0, "r", 4090), &response),
               "output 'output': shared_memory_offset 4090 + shared_memory_byte_size 40 reaches "
               "past the end of region 'r'");
  // Shared memory and classification at once.
  inference::ModelInferRequest classes = ShmRequest({0}, "r", 0, "r", 3200);
  (*classes.mutable_outputs(0)->mutable_parameters())["classification"].set_int64_param(3);
  expect_error(client_->Infer(classes, &response), "classification reply cannot go to shared");
  // None of the refused requests wrote anything after the input.
  for (size_t i = kImageBytes; i < 4096; ++i) EXPECT_EQ(object.data()[i], std::byte{0}) << i;
}

TEST_F(SharedMemoryTest, IdsInSharedMemoryAreCheckedLikeRawIds) {
  const TypedTensor ids = LoadTypedNpy("textclass", "input");
  const std::vector<int> rows = {3, 0};
  inference::ModelInferRequest request = MakeIdsRequest("textclass", ids, rows, "INT64", true);
  inference::ModelInferResponse raw_response;
  ASSERT_TRUE(client_->Infer(request, &raw_response).ok());

  std::string bytes = request.raw_input_contents(0);
  ShmObject object("ids", bytes.size());
  object.Write(0, bytes.data(), bytes.size());
  ASSERT_TRUE(Register(*client_, "ids", object.key(), 0, bytes.size()).ok());
  request.clear_raw_input_contents();
  SetShm(*request.mutable_inputs(0)->mutable_parameters(), "ids", 0,
         static_cast<int64_t>(bytes.size()));
  inference::ModelInferResponse response;
  ASSERT_TRUE(client_->Infer(request, &response).ok());
  EXPECT_EQ(OutputValues(response), OutputValues(raw_response));
  ExpectRows(OutputValues(response), LoadNpy("textclass", "expected"), rows);

  // An id past the embedding, read from the region, is refused as a raw one is.
  const int64_t bad = 1 << 20;
  object.Write(8 * 5, &bad, sizeof bad);
  const grpc::Status refused = client_->Infer(request, &response);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(refused.error_message(), HasSubstr("1048576"));
}

TEST_F(SharedMemoryTest, GrpcStatusAndUnregister) {
  ShmObject a("status_a", 4096), b("status_b", 4096);
  ASSERT_TRUE(Register(*client_, "a", a.key(), 16, 1024).ok());
  ASSERT_TRUE(Register(*client_, "b", b.key(), 0, 4096).ok());

  inference::SystemSharedMemoryStatusResponse status;
  ASSERT_TRUE(Status(*client_, "", &status).ok());
  ASSERT_EQ(status.regions_size(), 2);
  const auto& region_a = status.regions().at("a");
  EXPECT_EQ(region_a.name(), "a");
  EXPECT_EQ(region_a.key(), a.key());
  EXPECT_EQ(region_a.offset(), 16u);
  EXPECT_EQ(region_a.byte_size(), 1024u);
  status.Clear();
  ASSERT_TRUE(Status(*client_, "b", &status).ok());
  ASSERT_EQ(status.regions_size(), 1);
  EXPECT_EQ(status.regions().at("b").key(), b.key());
  const grpc::Status unknown = Status(*client_, "c", &status);
  EXPECT_EQ(unknown.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(unknown.error_message(), HasSubstr("shared memory region 'c' is not registered"));

  ASSERT_TRUE(Unregister(*client_, "a").ok());
  status.Clear();
  ASSERT_TRUE(Status(*client_, "", &status).ok());
  EXPECT_EQ(status.regions_size(), 1);
  EXPECT_TRUE(Unregister(*client_, "a").ok());  // again: nothing to do, as in Triton
  ASSERT_TRUE(Unregister(*client_, "").ok());
  status.Clear();
  ASSERT_TRUE(Status(*client_, "", &status).ok());
  EXPECT_EQ(status.regions_size(), 0);
}

TEST_F(SharedMemoryTest, TwoClientsWithTwoRegionsNeverSeeEachOthersData) {
  struct Party {
    std::vector<int> rows;
    std::string region;
    std::unique_ptr<ShmObject> object;
    std::vector<float> want;
    int wrong = 0;
  };
  Party parties[2] = {{{0, 1}, "client_a", nullptr, {}, 0}, {{2, 3}, "client_b", nullptr, {}, 0}};
  for (Party& party : parties) {
    party.want = RawReply(party.rows);
    party.object = std::make_unique<ShmObject>(party.region, 8192);
    WriteRows(*party.object, 0, party.rows);
    ASSERT_TRUE(Register(*client_, party.region, party.object->key(), 0, 8192).ok());
  }
  ASSERT_NE(Bytes(parties[0].want), Bytes(parties[1].want));
  std::vector<std::thread> threads;
  for (Party& party : parties) {
    threads.emplace_back([&party] {
      StubClient client(server_->grpc_port());
      const size_t out_at = 7168;  // after the input's 2 x 3136 bytes
      for (int i = 0; i < 20; ++i) {
        std::memset(party.object->data() + out_at, 0xff, 2 * kScoresBytes);
        inference::ModelInferResponse response;
        const grpc::Status status = client.Infer(
            ShmRequest(party.rows, party.region, 0, party.region, out_at), &response);
        if (!status.ok() ||
            Bytes(party.object->Read<float>(out_at, 20)) != Bytes(party.want)) {
          ++party.wrong;
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(parties[0].wrong, 0);
  EXPECT_EQ(parties[1].wrong, 0);
  // Each input is as its client wrote it.
  for (Party& party : parties) {
    EXPECT_TRUE(party.object->Read<float>(0, party.rows.size() * 28 * 28) ==
                RowValues(LoadNpy("lenet", "input"), party.rows))
        << party.region;
  }
}

TEST_F(SharedMemoryTest, AClientThatTruncatesItsObjectMidRequestGetsErrorsAndTheServerLives) {
  // A hostile client shrinks its object to nothing and back, as fast as it can, while its
  // requests read and write it. Each answer is OK or INVALID_ARGUMENT saying the object
  // shrank (caught by the size check or by the guarded copy); none may kill the server.
  const std::vector<int> rows = {0, 1, 2, 3};
  const size_t bytes = 4 * kImageBytes + 4096;
  ShmObject object("truncated", bytes);
  ASSERT_TRUE(Register(*client_, "hostile", object.key(), 0, bytes).ok());
  const int fd = shm_open(object.key().c_str(), O_RDWR, 0600);
  ASSERT_GE(fd, 0);
  std::atomic<bool> stop{false};
  std::thread toggler([&] {
    while (!stop.load()) {
      EXPECT_EQ(ftruncate(fd, 0), 0);
      EXPECT_EQ(ftruncate(fd, static_cast<off_t>(bytes)), 0);
    }
  });
  int ok = 0;
  int shrank = 0;
  for (int i = 0; i < 300; ++i) {
    inference::ModelInferResponse response;
    const grpc::Status status = client_->Infer(
        ShmRequest(rows, "hostile", 0, "hostile", static_cast<int64_t>(4 * kImageBytes)),
        &response);
    if (status.ok()) {
      ++ok;
    } else {
      EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << status.error_message();
      EXPECT_THAT(status.error_message(), HasSubstr("shrank")) << status.error_message();
      ++shrank;
    }
  }
  stop = true;
  toggler.join();
  close(fd);
  EXPECT_GT(shrank, 0);  // the truncation did race the requests
  EXPECT_EQ(ok + shrank, 300);
  // The server serves on, this region included.
  WriteRows(object, 0, rows);
  inference::ModelInferResponse response;
  ASSERT_TRUE(client_
                  ->Infer(ShmRequest(rows, "hostile", 0, "hostile",
                                     static_cast<int64_t>(4 * kImageBytes)),
                          &response)
                  .ok());
  EXPECT_EQ(Bytes(object.Read<float>(4 * kImageBytes, 40)), Bytes(RawReply(rows)));
}

TEST_F(SharedMemoryTest, UnregisterWhileARequestIsQueuedKeepsItsRegionUntilItIsAnswered) {
  const std::vector<int> rows = {3};
  const std::vector<float> want = RawReply(rows, "held");
  ShmObject object("inflight", 8192);
  WriteRows(object, 0, rows);
  ASSERT_TRUE(Register(*client_, "inflight", object.key(), 0, 8192).ok());

  std::shared_ptr<Gate> gate = HoldWorker(*server_, "held");
  grpc::Status status;
  inference::ModelInferResponse response;
  std::thread request([&] {
    StubClient client(server_->grpc_port());
    status = client.Infer(ShmRequest(rows, "inflight", 0, "inflight", 4096, "held"), &response);
  });
  ASSERT_TRUE(WaitForQueueDepth(*server_, "held", 1));
  ASSERT_TRUE(Unregister(*client_, "inflight").ok());
  inference::SystemSharedMemoryStatusResponse regions;
  ASSERT_TRUE(Status(*client_, "", &regions).ok());
  EXPECT_EQ(regions.regions_size(), 0);
  gate->release.Notify();
  request.join();
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(Bytes(object.Read<float>(4096, 10)), Bytes(want));
}

TEST(SharedMemoryShutdown, ShutdownReleasesEveryMapping) {
  TempDir dir("seqserve_shm_shutdown");
  CopyModel(dir.path(), "lenet", "lenet");
  ServerOptions options = LocalOptions(dir.path());
  options.allow_shared_memory = true;
  absl::StatusOr<std::unique_ptr<Server>> server = Server::Start(options);
  ASSERT_TRUE(server.ok()) << server.status();
  ShmObject object("shutdown", 8192);
  StubClient client((*server)->grpc_port());
  for (const char* name : {"a", "b"}) {
    grpc::ClientContext context;
    inference::SystemSharedMemoryRegisterRequest request;
    request.set_name(name);
    request.set_key(object.key());
    request.set_byte_size(4096);
    inference::SystemSharedMemoryRegisterResponse response;
    ASSERT_TRUE(client.stub->SystemSharedMemoryRegister(&context, request, &response).ok());
  }
  EXPECT_EQ(object.Mappings(), 3);  // the test's own and the server's two
  (*server)->Shutdown();
  EXPECT_EQ(object.Mappings(), 1);
}

TEST(SharedMemoryRestricted, TheSharedMemoryProtocolCanNeedAHeader) {
  TempDir dir("seqserve_shm_restricted");
  CopyModel(dir.path(), "lenet", "lenet");
  ServerOptions options = HttpServerOptions(dir.path());
  options.allow_shared_memory = true;
  options.grpc_restricted_protocols = {"shared-memory:admin-key=secret"};
  options.http_restricted_protocols = {"shared-memory:admin-key=secret"};
  absl::StatusOr<std::unique_ptr<Server>> server = Server::Start(options);
  ASSERT_TRUE(server.ok()) << server.status();
  ShmObject object("restricted", 4096);

  StubClient client((*server)->grpc_port());
  inference::SystemSharedMemoryRegisterRequest request;
  request.set_name("r");
  request.set_key(object.key());
  request.set_byte_size(64);
  inference::SystemSharedMemoryRegisterResponse response;
  {
    grpc::ClientContext context;
    const grpc::Status denied = client.stub->SystemSharedMemoryRegister(&context, request, &response);
    EXPECT_EQ(denied.error_code(), grpc::StatusCode::PERMISSION_DENIED);
    EXPECT_THAT(denied.error_message(), HasSubstr("shared-memory protocol is restricted"));
  }
  {
    grpc::ClientContext context;
    context.AddMetadata("triton-grpc-protocol-admin-key", "secret");
    EXPECT_TRUE(client.stub->SystemSharedMemoryRegister(&context, request, &response).ok());
  }
  const int port = (*server)->http_port();
  EXPECT_EQ(HttpGet(port, "/v2/systemsharedmemory/status").status, 403);
  httplib::Client http("127.0.0.1", port);
  const httplib::Result allowed =
      http.Get("/v2/systemsharedmemory/status", httplib::Headers{{"admin-key", "secret"}});
  ASSERT_TRUE(allowed);
  EXPECT_EQ(allowed->status, 200);
  EXPECT_THAT(allowed->body, HasSubstr(object.key()));
  (*server)->Shutdown();
}

TEST(SharedMemoryOff, WithoutTheFlagEveryCallSaysHowToTurnItOn) {
  TempDir dir("seqserve_shm_off");
  CopyModel(dir.path(), "lenet", "lenet");
  absl::StatusOr<std::unique_ptr<Server>> server =
      Server::Start(HttpServerOptions(dir.path()));  // allow_shared_memory off
  ASSERT_TRUE(server.ok()) << server.status();
  ShmObject object("off", 4096);
  StubClient client((*server)->grpc_port());
  grpc::ClientContext context;
  inference::SystemSharedMemoryRegisterRequest request;
  request.set_name("off");
  request.set_key(object.key());
  request.set_byte_size(4096);
  inference::SystemSharedMemoryRegisterResponse response;
  const grpc::Status refused = client.stub->SystemSharedMemoryRegister(&context, request, &response);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::UNIMPLEMENTED);
  EXPECT_THAT(refused.error_message(), HasSubstr("--allow-shared-memory"));
  EXPECT_EQ(object.Mappings(), 1);  // the test's own only

  inference::ModelInferRequest infer = MakeRequest("lenet", LoadNpy("lenet", "input"), {0}, true);
  infer.clear_raw_input_contents();
  SetShm(*infer.mutable_inputs(0)->mutable_parameters(), "off", 0, kImageBytes);
  inference::ModelInferResponse answer;
  const grpc::Status infer_refused = client.Infer(infer, &answer);
  EXPECT_EQ(infer_refused.error_code(), grpc::StatusCode::UNIMPLEMENTED);
  EXPECT_THAT(infer_refused.error_message(), HasSubstr("input 'input': system shared memory is off"));

  const HttpReply http = HttpPost((*server)->http_port(), "/v2/systemsharedmemory/region/off/register",
                                  R"({"key": "/x", "offset": 0, "byte_size": 4})");
  EXPECT_EQ(http.status, 501);
  grpc::ClientContext metadata_context;
  inference::ServerMetadataResponse metadata;
  ASSERT_TRUE(client.stub->ServerMetadata(&metadata_context, {}, &metadata).ok());
  EXPECT_THAT(metadata.extensions(), ::testing::Not(::testing::Contains("system_shared_memory")));
}

}  // namespace
}  // namespace seqserve
