// The KServe v2 REST front end end to end: a Server started in-process on 127.0.0.1, port
// 0, over a temporary repository (the bundled models, a one-worker "held" copy of lenet and
// a broken model), called with cpp-httplib's client. Outputs are compared with real PyTorch
// outputs (tests/data/bundled/<model>/expected.npy). No fixed sleeps: a model's worker is
// held with a gate task, and a request sent on another thread is known to be queued by
// polling the scheduler's queue depth (bounded).
#include "server/http/http_service.h"

#include <cstring>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "proto/grpc_service.grpc.pb.h"
#include "server/logging/logging.h"
#include "spdlog/sinks/ostream_sink.h"
#include "tests/util/http_test_util.h"

namespace seqserve {
namespace {

using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;
using namespace seqserve::testing;  // NOLINT: the shared test helpers
using json = nlohmann::json;

class HttpServiceTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    repository_dir_ = new TempDir("seqserve_http");
    MakeRepository(repository_dir_->path());
    ServerOptions options = HttpServerOptions(repository_dir_->path());
    options.http_max_body_bytes = 1 << 20;  // small, so the 413 test sends little
    absl::StatusOr<std::unique_ptr<Server>> server = Server::Start(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = server->release();
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
    delete repository_dir_;
  }
  void SetUp() override { ASSERT_NE(server_, nullptr); }

  static HttpReply Get(const std::string& path) { return HttpGet(server_->http_port(), path); }
  static HttpReply Post(const std::string& path, const std::string& body,
                        const httplib::Headers& headers = {}) {
    return HttpPost(server_->http_port(), path, body, headers);
  }
  // The error message of a JSON error reply, checking its status.
  static std::string Error(const HttpReply& reply, int status) {
    EXPECT_EQ(reply.status, status) << reply.body;
    const json body = reply.json();
    EXPECT_TRUE(body.is_object() && body.contains("error")) << reply.body;
    return body.is_object() && body.contains("error") ? body["error"].get<std::string>() : "";
  }
  // After any error: the server still answers an inference correctly.
  static void ExpectStillServing() {
    const Tensor input = Rows(LoadNpy("mlp", "input"), 0, 1);
    const HttpReply reply = Post("/v2/models/mlp/infer", InferJson(input, false).dump());
    ASSERT_EQ(reply.status, 200) << reply.body;
    ExpectClose(JsonOutput(reply.json()), Rows(LoadNpy("mlp", "expected"), 0, 1).data);
  }

  static TempDir* repository_dir_;
  static Server* server_;
};

TempDir* HttpServiceTest::repository_dir_ = nullptr;
Server* HttpServiceTest::server_ = nullptr;

TEST_F(HttpServiceTest, HealthAndServerMetadata) {
  HttpReply live = Get("/v2/health/live");
  EXPECT_EQ(live.status, 200);
  EXPECT_EQ(live.json(), json({{"live", true}}));
  HttpReply ready = Get("/v2/health/ready");
  EXPECT_EQ(ready.status, 200);
  EXPECT_EQ(ready.json(), json({{"ready", true}}));
  EXPECT_EQ(ready.headers.find("Content-Type")->second, "application/json");

  const json metadata = Get("/v2").json();
  EXPECT_EQ(metadata["name"], "seqserve");
  EXPECT_FALSE(metadata["version"].get<std::string>().empty());
  EXPECT_THAT(metadata["extensions"].get<std::vector<std::string>>(),
              UnorderedElementsAre("model_repository", "model_configuration", "statistics",
                                   "classification", "logging", "binary_tensor_data"));
}

TEST_F(HttpServiceTest, ModelMetadataAndReadiness) {
  for (const std::string path : {"/v2/models/lenet", "/v2/models/lenet/versions/1"}) {
    const HttpReply reply = Get(path);
    ASSERT_EQ(reply.status, 200) << reply.body;
    const json metadata = reply.json();
    EXPECT_EQ(metadata["name"], "lenet");
    EXPECT_EQ(metadata["platform"], "seqserve");
    EXPECT_EQ(metadata["versions"], json({"1"}));
    EXPECT_EQ(metadata["inputs"],
              json::parse(R"([{"name":"input","datatype":"FP32","shape":[-1,1,28,28]}])"));
    EXPECT_EQ(metadata["outputs"],
              json::parse(R"([{"name":"output","datatype":"FP32","shape":[-1,10]}])"));
  }
  HttpReply ready = Get("/v2/models/lenet/versions/1/ready");
  EXPECT_EQ(ready.status, 200);
  EXPECT_EQ(ready.json(), json({{"name", "lenet"}, {"ready", true}}));
  // A model that failed to load is known but not ready (4xx = false, as KServe says).
  HttpReply broken = Get("/v2/models/broken/ready");
  EXPECT_EQ(broken.status, 400);
  EXPECT_EQ(broken.json()["ready"], false);
  // Its metadata says why it is unavailable.
  EXPECT_THAT(Error(Get("/v2/models/broken"), 503), HasSubstr("Bogus"));

  EXPECT_THAT(Error(Get("/v2/models/nope"), 404), HasSubstr("nope"));
  EXPECT_THAT(Error(Get("/v2/models/nope/ready"), 404), HasSubstr("nope"));
  EXPECT_THAT(Error(Get("/v2/models/lenet/versions/7"), 404), HasSubstr("7"));
  EXPECT_THAT(Error(Get("/v2/models/lenet/versions/x/ready"), 400),
              HasSubstr("expected a positive integer"));
}

TEST_F(HttpServiceTest, ConfigIsTheEffectiveConfigWithNumbers) {
  const HttpReply reply = Get("/v2/models/lenet/config");
  ASSERT_EQ(reply.status, 200) << reply.body;
  const json config = reply.json();
  EXPECT_EQ(config["name"], "lenet");
  EXPECT_EQ(config["max_batch_size"], 64);
  // 64-bit dims are JSON numbers (Triton's REST API), not proto3's strings.
  EXPECT_EQ(config["input"][0]["dims"], json({1, 28, 28}));
  EXPECT_EQ(config["input"][0]["data_type"], "TYPE_FP32");
  EXPECT_EQ(config["dynamic_batching"]["preferred_batch_size"], json({16, 32}));
  EXPECT_GE(config["instance_group"][0]["count"].get<int>(), 1);
  EXPECT_EQ(Get("/v2/models/held/versions/1/config").json()["max_batch_size"], 8);
}

TEST_F(HttpServiceTest, StatisticsCountRestRequests) {
  const auto success_count = [](const json& stats) {
    return stats["model_stats"][0]["inference_stats"]["success"]["count"].get<uint64_t>();
  };
  const HttpReply before = Get("/v2/models/seed/stats");
  ASSERT_EQ(before.status, 200) << before.body;
  const Tensor input = Rows(LoadNpy("seed", "input"), 0, 2);
  ASSERT_EQ(Post("/v2/models/seed/infer", InferJson(input, false).dump()).status, 200);
  const json after = Get("/v2/models/seed/versions/1/stats").json();
  EXPECT_EQ(success_count(after), success_count(before.json()) + 1);
  EXPECT_EQ(after["model_stats"][0]["name"], "seed");
  EXPECT_EQ(after["model_stats"][0]["version"], "1");
  EXPECT_GE(after["model_stats"][0]["inference_count"].get<uint64_t>(), 2u);

  // Every ready model's statistics, and the errors of the per-model form.
  std::vector<std::string> names;
  const json all = Get("/v2/models/stats").json();
  for (const json& stats : all["model_stats"]) {
    names.push_back(stats["name"]);
  }
  EXPECT_THAT(names, ::testing::IsSupersetOf({"lenet", "mlp", "seed", "held"}));
  EXPECT_THAT(Error(Get("/v2/models/nope/stats"), 404), HasSubstr("nope"));
}

TEST_F(HttpServiceTest, InferNestedAndFlatDataMatchPyTorch) {
  for (const std::string model : {"lenet", "mlp", "seed"}) {
    SCOPED_TRACE(model);
    const Tensor input = LoadNpy(model, "input");
    const Tensor expected = LoadNpy(model, "expected");
    for (const bool nested : {true, false}) {
      const HttpReply reply =
          Post("/v2/models/" + model + "/infer", InferJson(input, nested, "req-7").dump());
      ASSERT_EQ(reply.status, 200) << reply.body.substr(0, 300);
      const json body = reply.json();
      EXPECT_EQ(body["model_name"], model);
      EXPECT_EQ(body["model_version"], "1");
      EXPECT_EQ(body["id"], "req-7");
      ASSERT_EQ(body["outputs"].size(), 1u);
      EXPECT_EQ(body["outputs"][0]["name"], "output");
      EXPECT_EQ(body["outputs"][0]["datatype"], "FP32");
      EXPECT_EQ(body["outputs"][0]["shape"].get<Shape>(), expected.shape);
      ExpectClose(JsonOutput(body), expected.data);
    }
  }
  // Naming the version and the output, with a timeout that does not expire.
  const Tensor input = Rows(LoadNpy("lenet", "input"), 1, 1);
  json request = InferJson(input, false);
  request["outputs"] = json::parse(R"([{"name":"output"}])");
  request["parameters"] = {{"timeout", 60'000'000}};
  const HttpReply reply = Post("/v2/models/lenet/versions/1/infer", request.dump());
  ASSERT_EQ(reply.status, 200) << reply.body;
  EXPECT_FALSE(reply.json().contains("id"));
  ExpectClose(JsonOutput(reply.json()), Rows(LoadNpy("lenet", "expected"), 1, 1).data);
}

// Triton's binary tensor extension: the JSON header's length in a header, raw
// little-endian floats after it.
std::string BinaryBody(const Tensor& input, bool binary_output, size_t* json_length) {
  const std::string bytes(reinterpret_cast<const char*>(input.data.data()),
                          input.data.size() * sizeof(float));
  json request = {{"inputs",
                   {{{"name", "input"},
                     {"shape", input.shape},
                     {"datatype", "FP32"},
                     {"parameters", {{"binary_data_size", bytes.size()}}}}}}};
  if (binary_output) {
    request["outputs"] = json::parse(R"([{"name":"output","parameters":{"binary_data":true}}])");
  }
  const std::string header = request.dump();
  *json_length = header.size();
  return header + bytes;
}

std::vector<float> BinaryOutput(const HttpReply& reply, json* header) {
  const auto length = reply.headers.find("Inference-Header-Content-Length");
  EXPECT_NE(length, reply.headers.end());
  if (length == reply.headers.end()) return {};
  const size_t json_size = std::stoul(length->second);
  *header = json::parse(reply.body.substr(0, json_size));
  std::vector<float> values((reply.body.size() - json_size) / sizeof(float));
  std::memcpy(values.data(), reply.body.data() + json_size, values.size() * sizeof(float));
  return values;
}

TEST_F(HttpServiceTest, BinaryTensorExtensionBothWays) {
  for (const std::string model : {"lenet", "seed"}) {
    SCOPED_TRACE(model);
    const Tensor input = LoadNpy(model, "input");
    const Tensor expected = LoadNpy(model, "expected");
    size_t json_length = 0;
    // Binary in, binary out.
    std::string body = BinaryBody(input, /*binary_output=*/true, &json_length);
    HttpReply reply = Post("/v2/models/" + model + "/infer", body,
                           {{"Inference-Header-Content-Length", std::to_string(json_length)}});
    ASSERT_EQ(reply.status, 200) << reply.body.substr(0, 300);
    EXPECT_EQ(reply.headers.find("Content-Type")->second, "application/octet-stream");
    json header;
    const std::vector<float> output = BinaryOutput(reply, &header);
    EXPECT_EQ(header["outputs"][0]["shape"].get<Shape>(), expected.shape);
    EXPECT_EQ(header["outputs"][0]["parameters"]["binary_data_size"].get<size_t>(),
              expected.data.size() * sizeof(float));
    EXPECT_FALSE(header["outputs"][0].contains("data"));
    ExpectClose(output, expected.data);

    // Binary in, JSON out.
    body = BinaryBody(input, /*binary_output=*/false, &json_length);
    reply = Post("/v2/models/" + model + "/infer", body,
                 {{"Inference-Header-Content-Length", std::to_string(json_length)}});
    ASSERT_EQ(reply.status, 200) << reply.body.substr(0, 300);
    EXPECT_EQ(reply.headers.count("Inference-Header-Content-Length"), 0u);
    ExpectClose(JsonOutput(reply.json()), expected.data);

    // JSON in, binary out for every output (the request's binary_data_output).
    json request = InferJson(input, false);
    request["parameters"] = {{"binary_data_output", true}};
    reply = Post("/v2/models/" + model + "/infer", request.dump());
    ASSERT_EQ(reply.status, 200) << reply.body.substr(0, 300);
    ExpectClose(BinaryOutput(reply, &header), expected.data);
  }
}

// The bundled text classifier's int64 ids as JSON integers and as binary data, declared INT64
// or INT32: PyTorch's scores every time.
TEST_F(HttpServiceTest, TextClassifierTakesIdsAsJsonAndBinaryData) {
  const TypedTensor ids = LoadTypedNpy("textclass", "input");
  const Tensor expected = LoadNpy("textclass", "expected");
  const std::vector<int64_t> values = IdRows(ids, {0, 1, 2, 3});
  for (const std::string datatype : {"INT64", "INT32"}) {
    SCOPED_TRACE(datatype);
    json request = {
        {"inputs",
         {{{"name", "input"}, {"shape", ids.shape}, {"datatype", datatype}, {"data", values}}}}};
    HttpReply reply = Post("/v2/models/textclass/infer", request.dump());
    ASSERT_EQ(reply.status, 200) << reply.body.substr(0, 300);
    EXPECT_EQ(reply.json()["outputs"][0]["shape"].get<Shape>(), (Shape{4, 4}));
    ExpectClose(JsonOutput(reply.json()), expected.data);

    // Binary data: little-endian ids of the declared width.
    std::string bytes;
    if (datatype == "INT64") {
      bytes.assign(reinterpret_cast<const char*>(values.data()), values.size() * 8);
    } else {
      const std::vector<int32_t> narrow(values.begin(), values.end());
      bytes.assign(reinterpret_cast<const char*>(narrow.data()), narrow.size() * 4);
    }
    request["inputs"][0].erase("data");
    request["inputs"][0]["parameters"] = {{"binary_data_size", bytes.size()}};
    const std::string header = request.dump();
    reply = Post("/v2/models/textclass/infer", header + bytes,
                 {{"Inference-Header-Content-Length", std::to_string(header.size())}});
    ASSERT_EQ(reply.status, 200) << reply.body.substr(0, 300);
    ExpectClose(JsonOutput(reply.json()), expected.data);
  }
  EXPECT_EQ(Get("/v2/models/textclass").json()["inputs"][0]["datatype"], "INT64");

  // An id out of range, and ids that are not integers.
  std::vector<int64_t> bad = values;
  bad[2 * 128 + 7] = -3;
  json request = {
      {"inputs", {{{"name", "input"}, {"shape", ids.shape}, {"datatype", "INT64"}, {"data", bad}}}}};
  EXPECT_EQ(Error(Post("/v2/models/textclass/infer", request.dump()), 400),
            "input 'input': id -3 at [2, 7] is out of range: num_embeddings is 1000, so ids must "
            "be in [0, 999]");
  request["inputs"][0]["data"][5] = 2.5;
  EXPECT_EQ(Error(Post("/v2/models/textclass/infer", request.dump()), 400),
            "inputs[0].data[5]: expected an integer (INT64), got 2.5");
  ExpectStillServing();
}

// A float model takes other numeric datatypes when every value converts exactly.
TEST_F(HttpServiceTest, OtherDatatypesConvertToFp32WhenExact) {
  const Tensor input = Rows(LoadNpy("mlp", "input"), 0, 1);
  const Tensor expected = Rows(LoadNpy("mlp", "expected"), 0, 1);
  json request = InferJson(input, false);
  request["inputs"][0]["datatype"] = "FP64";
  HttpReply reply = Post("/v2/models/mlp/infer", request.dump());
  ASSERT_EQ(reply.status, 200) << reply.body.substr(0, 300);
  ExpectClose(JsonOutput(reply.json()), expected.data);
  // An FP64 value that no float32 equals.
  request["inputs"][0]["data"][3] = 0.1;
  EXPECT_EQ(Error(Post("/v2/models/mlp/infer", request.dump()), 400),
            "input 'input': FP64 value 0.1 at [0, 0, 0, 3] does not convert exactly to FP32, the "
            "model's input type (it has no float32 equal)");
  // Integers: UINT8 pixels, exactly.
  request = InferJson(Tensor(input.shape, std::vector<float>(784, 0.0f)), false);
  request["inputs"][0]["datatype"] = "UINT8";
  request["inputs"][0]["data"] = std::vector<int>(784, 0);
  reply = Post("/v2/models/mlp/infer", request.dump());
  ASSERT_EQ(reply.status, 200) << reply.body.substr(0, 300);
  EXPECT_EQ(JsonOutput(reply.json()).size(), 10u);
}

TEST_F(HttpServiceTest, BinaryExtensionErrors) {
  const Tensor input = Rows(LoadNpy("lenet", "input"), 0, 1);
  size_t json_length = 0;
  const std::string body = BinaryBody(input, false, &json_length);
  // Without the header the JSON parser sees the bytes after the JSON.
  EXPECT_THAT(Error(Post("/v2/models/lenet/infer", body), 400), HasSubstr("malformed JSON"));
  EXPECT_THAT(Error(Post("/v2/models/lenet/infer", body.substr(0, json_length)), 400),
              HasSubstr("needs the Inference-Header-Content-Length header"));
  const httplib::Headers header = {
      {"Inference-Header-Content-Length", std::to_string(json_length)}};
  EXPECT_THAT(Error(Post("/v2/models/lenet/infer", body + "xyz", header), 400),
              HasSubstr("add up to 3136 bytes, but 3139 bytes follow the JSON header"));
  EXPECT_THAT(
      Error(Post("/v2/models/lenet/infer", body, {{"Inference-Header-Content-Length", "99999999"}}),
            400),
      HasSubstr("the body has only"));
  EXPECT_THAT(
      Error(Post("/v2/models/lenet/infer", body, {{"Inference-Header-Content-Length", "ten"}}),
            400),
      HasSubstr("Inference-Header-Content-Length: expected the JSON's length in bytes"));
  // A size that disagrees with the shape: the same message as gRPC's raw_input_contents.
  json request = json::parse(body.substr(0, json_length));
  request["inputs"][0]["shape"] = {2, 1, 28, 28};
  const std::string header_json = request.dump();
  EXPECT_EQ(Error(Post("/v2/models/lenet/infer", header_json + body.substr(json_length),
                       {{"Inference-Header-Content-Length", std::to_string(header_json.size())}}),
                  400),
            "input 'input': expected 6272 bytes (2x1x28x28 FP32), got 3136");
  ExpectStillServing();
}

TEST_F(HttpServiceTest, MalformedJsonSaysWhereAndWhat) {
  std::string message =
      Error(Post("/v2/models/mlp/infer", R"({"inputs": [{"name": "input",)"), 400);
  EXPECT_THAT(message, HasSubstr("malformed JSON"));
  EXPECT_THAT(message, HasSubstr("line 1, column 30"));
  EXPECT_THAT(message, HasSubstr("unexpected end of input"));
  message = Error(Post("/v2/models/mlp/infer", "{\"inputs\": [}\n"), 400);
  EXPECT_THAT(message, HasSubstr("line 1, column 13"));
  EXPECT_THAT(Error(Post("/v2/models/mlp/infer", ""), 400), HasSubstr("malformed JSON"));
  // Well-formed JSON of the wrong shape names the JSON path.
  EXPECT_EQ(Error(Post("/v2/models/mlp/infer", "[1, 2]"), 400),
            "the request body: expected an object, got an array");
  EXPECT_EQ(Error(Post("/v2/models/mlp/infer", R"({"id": "x"})"), 400),
            "the request body: missing \"inputs\"");
  EXPECT_EQ(
      Error(Post("/v2/models/mlp/infer",
                 R"({"inputs":[{"name":"input","shape":"1x784","datatype":"FP32","data":[]}]})"),
            400),
      "inputs[0].shape: expected an array, got a string");
  EXPECT_EQ(
      Error(Post("/v2/models/mlp/infer",
                 R"({"inputs":[{"name":"input","shape":[1,1.5],"datatype":"FP32","data":[]}]})"),
            400),
      "inputs[0].shape[1]: expected an integer, got a fraction or a number out of range");
  EXPECT_EQ(
      Error(Post("/v2/models/mlp/infer", R"({"inputs":[{"name":"input","datatype":"FP32"}]})"),
            400),
      "inputs[0]: missing \"shape\"");
  EXPECT_EQ(Error(Post("/v2/models/mlp/infer",
                       R"({"inputs":[{"name":"input","shape":[1,1,28,28],"datatype":"FP32",)"
                       R"("data":[[1, "two"]]}]})"),
                  400),
            "inputs[0].data[0][1]: expected a number or an array, got a string");
  ExpectStillServing();
}

TEST_F(HttpServiceTest, ValidationErrorsAreTheGrpcOnes) {
  const Tensor input = Rows(LoadNpy("lenet", "input"), 0, 1);
  json request = InferJson(input, false);
  request["inputs"][0]["name"] = "x";
  EXPECT_EQ(Error(Post("/v2/models/lenet/infer", request.dump()), 400),
            "unknown input 'x': model 'lenet' has one input, 'input'");
  request = InferJson(input, false);
  request["inputs"][0]["datatype"] = "BYTES";
  EXPECT_EQ(Error(Post("/v2/models/lenet/infer", request.dump()), 400),
            "input 'input': datatype BYTES is not supported: the model's input type is FP32 "
            "(numeric datatypes are converted to it when every value converts exactly)");
  request = InferJson(input, false);
  request["inputs"][0]["shape"] = {1, 1, 27, 28};
  EXPECT_EQ(Error(Post("/v2/models/lenet/infer", request.dump()), 400),
            "input 'input': dim 2 must be 28, got 27 (expected shape [-1, 1, 28, 28], got "
            "[1, 1, 27, 28])");
  request = InferJson(input, false);
  request["inputs"][0]["shape"] = {65, 1, 28, 28};
  EXPECT_EQ(Error(Post("/v2/models/lenet/infer", request.dump()), 400),
            "input 'input': batch size 65 exceeds max_batch_size 64");
  request = InferJson(input, false);
  request["inputs"][0]["data"].erase(0);
  EXPECT_EQ(Error(Post("/v2/models/lenet/infer", request.dump()), 400),
            "input 'input': expected 784 values in \"data\" (1x1x28x28), got 783");
  request = InferJson(input, false);
  request["inputs"][0].erase("data");
  EXPECT_EQ(Error(Post("/v2/models/lenet/infer", request.dump()), 400),
            "input 'input': no data; send it in \"data\" or as binary data "
            "(parameters.binary_data_size)");
  request = InferJson(input, false);
  request["outputs"] = json::parse(R"([{"name":"probabilities"}])");
  EXPECT_EQ(Error(Post("/v2/models/lenet/infer", request.dump()), 400),
            "unknown output 'probabilities': model 'lenet' has one output, 'output'");
  request = InferJson(input, false);
  request["parameters"] = {{"timeout", -5}};
  EXPECT_EQ(Error(Post("/v2/models/lenet/infer", request.dump()), 400),
            "parameter 'timeout': expected microseconds >= 0, got -5");
  request["inputs"].push_back(request["inputs"][0]);
  EXPECT_EQ(Error(Post("/v2/models/lenet/infer", request.dump()), 400),
            "model 'lenet' has one input, 'input'; the request has 2 inputs");
  // The engine's shape rule, for a model with free dims (seed: two 5x5 convolutions).
  request = InferJson(Tensor({1, 1, 6, 6}), false);
  EXPECT_THAT(Error(Post("/v2/models/seed/infer", request.dump()), 400),
              HasSubstr("input 'input' of shape [1, 1, 6, 6]: "));
  ExpectStillServing();
}

TEST_F(HttpServiceTest, UnknownModelsEndpointsAndUnavailableModels) {
  const std::string body = InferJson(Rows(LoadNpy("lenet", "input"), 0, 1), false).dump();
  EXPECT_EQ(Error(Post("/v2/models/nope/infer", body), 404), "unknown model 'nope'");
  EXPECT_THAT(Error(Post("/v2/models/lenet/versions/3/infer", body), 404), HasSubstr("3"));
  EXPECT_THAT(Error(Post("/v2/models/broken/infer", body), 503), HasSubstr("Bogus"));
  EXPECT_THAT(Error(Get("/v2/no/such/thing"), 404), HasSubstr("no endpoint GET /v2/no/such/thing"));
  // Inference is POST only.
  EXPECT_THAT(Error(Get("/v2/models/lenet/infer"), 404), HasSubstr("no endpoint GET"));
  ExpectStillServing();
}

TEST_F(HttpServiceTest, OversizedBodyIs413AndTheServerKeepsServing) {
  const std::string big(2 << 20, ' ');  // twice the test server's 1 MiB limit
  const HttpReply reply = Post("/v2/models/mlp/infer", big);
  EXPECT_THAT(Error(reply, 413),
              HasSubstr("request body of 2097152 bytes exceeds the limit of 1048576 bytes "
                        "(--http-max-body-bytes)"));
  ExpectStillServing();
}

TEST_F(HttpServiceTest, FormEncodedLabelDoesNotLimitTheBody) {
  // curl -d and urllib label every body application/x-www-form-urlencoded.
  const Tensor input = LoadNpy("seed", "input");
  const HttpReply reply =
      HttpPost(server_->http_port(), "/v2/models/seed/infer", InferJson(input, false).dump(), {},
               "application/x-www-form-urlencoded");
  ASSERT_EQ(reply.status, 200) << reply.body.substr(0, 300);
  ExpectClose(JsonOutput(reply.json()), LoadNpy("seed", "expected").data);
}

TEST_F(HttpServiceTest, KeepAliveConnectionServesManyRequests) {
  httplib::Client client("127.0.0.1", server_->http_port());
  client.set_keep_alive(true);
  client.set_tcp_nodelay(true);
  const Tensor input = Rows(LoadNpy("mlp", "input"), 2, 1);
  const std::vector<float> expected = Rows(LoadNpy("mlp", "expected"), 2, 1).data;
  for (int i = 0; i < 20; ++i) {
    const httplib::Result result =
        client.Post("/v2/models/mlp/infer", InferJson(input, false).dump(), "application/json");
    ASSERT_TRUE(result) << httplib::to_string(result.error());
    ASSERT_EQ(result->status, 200) << result->body;
    ExpectClose(JsonOutput(json::parse(result->body)), expected);
  }
  client.stop();
}

TEST_F(HttpServiceTest, QueueFullIs429AndExpiredTimeoutIs504) {
  std::shared_ptr<Gate> gate = HoldWorker(*server_, "held");
  GateOpener opener(gate);
  const Tensor input = Rows(LoadNpy("lenet", "input"), 0, 1);
  // Queued behind the held worker with a timeout of 1 µs: long expired when the worker is
  // free again, so it is dropped before compute.
  json expiring = InferJson(input, false);
  expiring["parameters"] = {{"timeout", 1}};
  HttpReply expired;
  std::thread caller([&] { expired = Post("/v2/models/held/infer", expiring.dump()); });
  ASSERT_TRUE(WaitForQueueDepth(*server_, "held", 1));
  // The queue (of one) is full.
  EXPECT_THAT(Error(Post("/v2/models/held/infer", InferJson(input, false).dump()), 429),
              HasSubstr("queue full"));
  gate->release.Notify();
  caller.join();
  EXPECT_THAT(Error(expired, 504), HasSubstr("deadline exceeded"));
  const HttpReply reply = Post("/v2/models/held/infer", InferJson(input, false).dump());
  ASSERT_EQ(reply.status, 200) << reply.body;
  ExpectClose(JsonOutput(reply.json()), Rows(LoadNpy("lenet", "expected"), 0, 1).data);
}

TEST_F(HttpServiceTest, RepositoryIndexLoadAndUnload) {
  HttpReply index = Post("/v2/repository/index", "");
  ASSERT_EQ(index.status, 200) << index.body;
  bool saw_broken = false;
  for (const json& model : index.json()) {
    if (model["name"] == "broken") {
      saw_broken = true;
      EXPECT_EQ(model["state"], "UNAVAILABLE");
      EXPECT_THAT(model["reason"].get<std::string>(), HasSubstr("Bogus"));
    }
  }
  EXPECT_TRUE(saw_broken) << index.body;
  index = Post("/v2/repository/index", R"({"ready": true})");
  for (const json& model : index.json()) EXPECT_EQ(model["state"], "READY") << index.body;

  const HttpReply unload = Post("/v2/repository/models/mlp/unload", "");
  EXPECT_EQ(unload.status, 200) << unload.body;
  EXPECT_EQ(Get("/v2/models/mlp/ready").status, 400);
  EXPECT_THAT(Error(Post("/v2/models/mlp/infer",
                         InferJson(Rows(LoadNpy("mlp", "input"), 0, 1), false).dump()),
                    503),
              HasSubstr("unloaded"));
  const HttpReply load = Post("/v2/repository/models/mlp/load", "{}");
  EXPECT_EQ(load.status, 200) << load.body;
  EXPECT_EQ(Get("/v2/models/mlp/ready").status, 200);
  ExpectStillServing();

  EXPECT_THAT(Error(Post("/v2/repository/models/nope/load", ""), 404), HasSubstr("nope"));
  EXPECT_THAT(Error(Post("/v2/repository/models/broken/load", ""), 400), HasSubstr("Bogus"));
  EXPECT_EQ(
      Error(Post("/v2/repository/models/mlp/load", R"({"parameters": {"config": {}}})"), 400),
      "parameter 'config': expected a string holding the model configuration as JSON");
  EXPECT_EQ(Error(Post("/v2/repository/models/mlp/load",
                       R"({"parameters": {"file:1/model.seq": "TGluZWFy"}})"),
                  400),
            "parameter 'file:1/model.seq' is not supported by seqserve: it loads model files "
            "from its repository only, never from a request");
  EXPECT_EQ(
      Post("/v2/repository/models/mlp/unload", R"({"parameters": {"unload_dependents": true}})")
          .status,
      200);
  EXPECT_EQ(Post("/v2/repository/models/mlp/load", "").status, 200);
  EXPECT_THAT(Error(Post("/v2/repository/index", "{oops"), 400), HasSubstr("malformed JSON"));
}

// SPEC §9 over HTTP: once shutdown begins the server is not ready and refuses new work, the
// request already queued is answered, and then the port closes.
TEST(HttpServiceShutdown, DrainsQueuedRequestsAndRefusesNewOnes) {
  TempDir dir("seqserve_http_drain");
  MakeRepository(dir.path());
  absl::StatusOr<std::unique_ptr<Server>> started = Server::Start(HttpServerOptions(dir.path()));
  ASSERT_TRUE(started.ok()) << started.status();
  Server& server = **started;
  const int port = server.http_port();
  std::shared_ptr<Gate> gate = HoldWorker(server, "held");
  GateOpener opener(gate);
  const Tensor input = Rows(LoadNpy("lenet", "input"), 3, 1);
  HttpReply queued;
  std::thread caller(
      [&] { queued = HttpPost(port, "/v2/models/held/infer", InferJson(input, false).dump()); });
  ASSERT_TRUE(WaitForQueueDepth(server, "held", 1));

  std::thread stopper([&] { server.Shutdown(); });
  // Readiness drops at once (polled: Shutdown runs on the other thread).
  const absl::Time deadline = absl::Now() + kGuard;
  while (HttpGet(port, "/v2/health/ready").status != 400) {
    ASSERT_LT(absl::Now(), deadline) << "still ready after Shutdown began";
    std::this_thread::yield();
  }
  const HttpReply refused =
      HttpPost(port, "/v2/models/lenet/infer", InferJson(input, false).dump());
  EXPECT_EQ(refused.status, 503);
  EXPECT_THAT(refused.body, HasSubstr("server is shutting down"));
  EXPECT_EQ(HttpGet(port, "/v2/models/lenet/ready").status, 400);

  gate->release.Notify();
  caller.join();
  stopper.join();
  ASSERT_EQ(queued.status, 200) << queued.body;
  ExpectClose(JsonOutput(queued.json()), Rows(LoadNpy("lenet", "expected"), 3, 1).data);
  EXPECT_EQ(HttpGet(port, "/v2/health/live").status, 0) << "the port still answers";
}

// --log-requests: one access-log line per request, HTTP and gRPC alike, with the request's
// fields; without it, nothing per request.
TEST(HttpServiceAccessLog, OneLinePerRequestOverHttpAndGrpcOnlyWhenAsked) {
  // Leaked on purpose: loggers cloned from the default logger keep its sink for the rest of
  // the process.
  static std::ostringstream* const log = new std::ostringstream;
  ASSERT_TRUE(ConfigureLogging("info", LogFormat::kJson,
                               std::make_shared<spdlog::sinks::ostream_sink_mt>(*log))
                  .ok());
  const auto lines_of = [](const std::string& logger) {
    std::vector<json> lines;
    std::istringstream in(log->str());
    for (std::string line; std::getline(in, line);) {
      json entry = json::parse(line, nullptr, false);
      if (entry.is_object() && entry["logger"] == logger) lines.push_back(std::move(entry));
    }
    return lines;
  };
  TempDir dir("seqserve_http_access");
  MakeRepository(dir.path());
  const Tensor input = Rows(LoadNpy("lenet", "input"), 0, 1);
  {
    ServerOptions options = HttpServerOptions(dir.path());
    options.log_requests = true;
    absl::StatusOr<std::unique_ptr<Server>> server = Server::Start(options);
    ASSERT_TRUE(server.ok()) << server.status();
    const int port = (*server)->http_port();
    ASSERT_EQ(HttpPost(port, "/v2/models/lenet/infer", InferJson(input, false, "acc-1").dump())
                  .status,
              200);
    ASSERT_EQ(HttpGet(port, "/v2/models/nope").status, 404);
    auto stub = inference::GRPCInferenceService::NewStub(grpc::CreateChannel(
        absl::StrCat("127.0.0.1:", (*server)->grpc_port()), grpc::InsecureChannelCredentials()));
    grpc::ClientContext context;
    inference::ServerLiveResponse live;
    ASSERT_TRUE(stub->ServerLive(&context, {}, &live).ok());
    (*server)->Shutdown();
  }
  // Each line is written after its reply went out, so the client may send its next request
  // before the previous line is logged: look lines up by message, not by position.
  std::map<std::string, json> access;
  for (json& line : lines_of("access")) {
    const std::string msg = line["msg"].get<std::string>();
    access[msg] = std::move(line);
  }
  ASSERT_EQ(access.size(), 3u) << log->str();
  const json& infer = access["POST /v2/models/lenet/infer"];
  EXPECT_EQ(infer["protocol"], "http") << log->str();
  EXPECT_EQ(infer["status"], 200);
  EXPECT_EQ(infer["model"], "lenet");
  EXPECT_EQ(infer["version"], "1");
  EXPECT_EQ(infer["request_id"], "acc-1");
  EXPECT_TRUE(infer["duration_ms"].is_number());
  EXPECT_EQ(access["GET /v2/models/nope"]["status"], 404) << log->str();
  const json& live_line = access["/inference.GRPCInferenceService/ServerLive"];
  EXPECT_EQ(live_line["protocol"], "grpc") << log->str();
  EXPECT_EQ(live_line["status"], "OK");

  // By default: no line per request at info.
  log->str("");
  {
    absl::StatusOr<std::unique_ptr<Server>> server = Server::Start(HttpServerOptions(dir.path()));
    ASSERT_TRUE(server.ok()) << server.status();
    for (int i = 0; i < 3; ++i) {
      ASSERT_EQ(HttpPost((*server)->http_port(), "/v2/models/lenet/infer",
                         InferJson(input, false).dump())
                    .status,
                200);
    }
  }
  EXPECT_TRUE(lines_of("access").empty());
  EXPECT_THAT(log->str(), ::testing::Not(HasSubstr("/infer")));
}

TEST(HttpServiceStatus, CanonicalMapping) {
  EXPECT_EQ(HttpStatusFromCode(absl::StatusCode::kOk), 200);
  EXPECT_EQ(HttpStatusFromCode(absl::StatusCode::kInvalidArgument), 400);
  EXPECT_EQ(HttpStatusFromCode(absl::StatusCode::kFailedPrecondition), 400);
  EXPECT_EQ(HttpStatusFromCode(absl::StatusCode::kNotFound), 404);
  EXPECT_EQ(HttpStatusFromCode(absl::StatusCode::kResourceExhausted), 429);
  EXPECT_EQ(HttpStatusFromCode(absl::StatusCode::kCancelled), 499);
  EXPECT_EQ(HttpStatusFromCode(absl::StatusCode::kInternal), 500);
  EXPECT_EQ(HttpStatusFromCode(absl::StatusCode::kUnavailable), 503);
  EXPECT_EQ(HttpStatusFromCode(absl::StatusCode::kDeadlineExceeded), 504);
}

}  // namespace
}  // namespace seqserve
