// The C++ client library against an in-process fake service: every RPC, status code and
// message propagation, raw and typed tensors, many outstanding asynchronous requests, and
// streaming with ids.
#include "client/client.h"

#include <map>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/util/fake_inference_service.h"

namespace seqserve::client {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pointwise;
using ::testing::FloatEq;

class ClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto client = Client::Create(server_.address());
    ASSERT_TRUE(client.ok()) << client.status();
    client_ = *std::move(client);
  }

  testing::FakeServer server_;  // outlives the client
  std::unique_ptr<Client> client_;
};

Tensor Iota(Shape shape, float start) {
  Tensor t(std::move(shape));
  for (size_t i = 0; i < t.data.size(); ++i) t.data[i] = start + static_cast<float>(i);
  return t;
}

std::vector<float> Times(const std::vector<float>& v, float f) {
  std::vector<float> out;
  for (float x : v) out.push_back(x * f);
  return out;
}

TEST(ClientCreate, RejectsBadOptions) {
  EXPECT_TRUE(absl::IsInvalidArgument(Client::Create("").status()));
  ClientOptions negative;
  negative.timeout_ms = -1;
  EXPECT_TRUE(absl::IsInvalidArgument(Client::Create("localhost:1", negative).status()));
  ClientOptions no_messages;
  no_messages.max_message_bytes = 0;
  EXPECT_TRUE(absl::IsInvalidArgument(Client::Create("localhost:1", no_messages).status()));
}

TEST(ClientCreate, UnreachableServerIsUnavailable) {
  // Port 1 on loopback: nothing listens there, so the connection is refused at once.
  auto client = Client::Create("127.0.0.1:1");
  ASSERT_TRUE(client.ok());
  EXPECT_TRUE(absl::IsUnavailable((*client)->ServerLive().status()));
}

TEST_F(ClientTest, HealthReflectsServer) {
  EXPECT_EQ(client_->ServerLive().value(), true);
  EXPECT_EQ(client_->ServerReady().value(), true);
  server_.service().ready = false;
  EXPECT_EQ(client_->ServerReady().value(), false);
}

TEST_F(ClientTest, ModelReadyPerModelAndUnknownIsNotFound) {
  EXPECT_EQ(client_->ModelReady("echo").value(), true);
  EXPECT_EQ(client_->ModelReady("broken", 1).value(), false);
  absl::StatusOr<bool> unknown = client_->ModelReady("nope");
  EXPECT_TRUE(absl::IsNotFound(unknown.status()));
  EXPECT_EQ(unknown.status().message(), "unknown model 'nope'");
}

TEST_F(ClientTest, ServerAndModelMetadata) {
  auto server = client_->ServerMetadata();
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_EQ(server->name(), "fake");
  EXPECT_THAT(server->extensions(), ElementsAre("model_repository"));

  auto model = client_->ModelMetadata("echo");
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_THAT(model->versions(), ElementsAre("1", "2"));
  ASSERT_EQ(model->inputs_size(), 1);
  EXPECT_EQ(model->inputs(0).name(), "input");
  EXPECT_THAT(model->inputs(0).shape(), ElementsAre(-1, 4));
  EXPECT_TRUE(absl::IsNotFound(client_->ModelMetadata("nope").status()));
}

TEST_F(ClientTest, ModelConfigAndStatistics) {
  auto config = client_->ModelConfig("echo", 1);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->name(), "echo");
  EXPECT_EQ(config->max_batch_size(), 8);
  EXPECT_TRUE(absl::IsNotFound(client_->ModelConfig("nope").status()));

  ASSERT_TRUE(client_->Infer("echo", Iota({1, 4}, 0)).ok());
  auto stats = client_->ModelStatistics("echo");
  ASSERT_TRUE(stats.ok()) << stats.status();
  ASSERT_EQ(stats->model_stats_size(), 1);
  EXPECT_EQ(stats->model_stats(0).inference_count(), 1u);
  EXPECT_TRUE(absl::IsNotFound(client_->ModelStatistics("nope").status()));
}

TEST_F(ClientTest, RepositoryIndexAllAndReadyOnly) {
  auto all = client_->RepositoryIndex();
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->models_size(), 2);
  EXPECT_EQ(all->models(1).name(), "broken");
  EXPECT_EQ(all->models(1).state(), "UNAVAILABLE");
  EXPECT_THAT(all->models(1).reason(), HasSubstr("unknown module"));
  auto ready = client_->RepositoryIndex(/*ready_only=*/true);
  ASSERT_TRUE(ready.ok());
  EXPECT_EQ(ready->models_size(), 1);
}

TEST_F(ClientTest, LoadAndUnloadPropagateErrors) {
  EXPECT_TRUE(client_->Load("echo").ok());
  EXPECT_TRUE(client_->Unload("double").ok());
  EXPECT_THAT(server_.service().loaded(), ElementsAre("echo"));
  EXPECT_THAT(server_.service().unloaded(), ElementsAre("double"));
  absl::Status missing = client_->Load("missing");
  EXPECT_TRUE(absl::IsNotFound(missing));
  EXPECT_EQ(missing.message(), "no model directory 'missing' in the repository");
  EXPECT_TRUE(absl::IsNotFound(client_->Unload("nope")));
}

TEST_F(ClientTest, InferRawSendsRawBytesAndReadsRawOutput) {
  InferOptions options;
  options.version = 3;
  options.id = "req-7";
  const Tensor input = Iota({2, 4}, 1);
  absl::StatusOr<Tensor> out = client_->Infer("double", input, options);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_THAT(out->shape, ElementsAre(2, 4));
  EXPECT_THAT(out->data, Pointwise(FloatEq(), Times(input.data, 2)));

  const inference::ModelInferRequest sent = server_.service().last_request();
  EXPECT_EQ(sent.model_version(), "3");
  EXPECT_EQ(sent.id(), "req-7");
  ASSERT_EQ(sent.inputs_size(), 1);
  EXPECT_EQ(sent.inputs(0).name(), "input");
  EXPECT_EQ(sent.inputs(0).datatype(), "FP32");
  EXPECT_THAT(sent.inputs(0).shape(), ElementsAre(2, 4));
  EXPECT_FALSE(sent.inputs(0).has_contents());
  ASSERT_EQ(sent.raw_input_contents_size(), 1);
  EXPECT_EQ(sent.raw_input_contents(0).size(), 8 * sizeof(float));
}

TEST_F(ClientTest, InferTypedSendsFp32ContentsAndReadsThem) {
  InferOptions options;
  options.raw = false;
  options.input_name = "x";
  const Tensor input = Iota({3}, -1);
  absl::StatusOr<Tensor> out = client_->Infer("double", input, options);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_THAT(out->data, Pointwise(FloatEq(), Times(input.data, 2)));

  const inference::ModelInferRequest sent = server_.service().last_request();
  EXPECT_EQ(sent.model_version(), "");
  EXPECT_EQ(sent.inputs(0).name(), "x");
  EXPECT_EQ(sent.raw_input_contents_size(), 0);
  EXPECT_THAT(sent.inputs(0).contents().fp32_contents(), ElementsAre(-1, 0, 1));
}

TEST_F(ClientTest, InferSendsIdsAndStreamsThem) {
  TypedTensor ids{DType::kInt64, {1, 3}, {}};
  const int64_t values[] = {11, 0, 42};
  ids.bytes.assign(reinterpret_cast<const uint8_t*>(values),
                   reinterpret_cast<const uint8_t*>(values) + sizeof values);
  absl::StatusOr<Tensor> out = client_->Infer("ids", ids.view());
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_THAT(out->data, ElementsAre(11, 0, 42));
  EXPECT_EQ(server_.service().last_request().inputs(0).datatype(), "INT64");
  EXPECT_THAT(client_->InferFuture("ids", ids.view()).get()->data, ElementsAre(11, 0, 42));

  absl::Mutex mu;
  std::vector<float> streamed;
  auto stream = client_->OpenStream([&](std::string_view, absl::StatusOr<Tensor> result) {
    absl::MutexLock lock(&mu);
    if (result.ok()) streamed = result->data;
  });
  InferOptions options;
  options.raw = false;
  ASSERT_TRUE(stream->Send("ids", ids.view(), options).ok());
  ASSERT_TRUE(stream->Finish().ok());
  absl::MutexLock lock(&mu);
  EXPECT_THAT(streamed, ElementsAre(11, 0, 42));
}

TEST_F(ClientTest, InferErrorsCarryServerCodeAndMessage) {
  absl::StatusOr<Tensor> unknown = client_->Infer("nope", Iota({1}, 0));
  EXPECT_TRUE(absl::IsNotFound(unknown.status()));
  EXPECT_EQ(unknown.status().message(), "unknown model 'nope'");
  absl::StatusOr<Tensor> broken = client_->Infer("broken", Iota({1}, 0));
  EXPECT_TRUE(absl::IsInternal(broken.status()));
  EXPECT_EQ(broken.status().message(), "model 'broken' failed: exploded");
}

TEST_F(ClientTest, InferTimeoutIsDeadlineExceeded) {
  server_.service().SetGate(1000);  // never reached: the request stays parked
  InferOptions options;
  options.timeout_ms = 50;
  absl::StatusOr<Tensor> out = client_->Infer("gate", Iota({1}, 0), options);
  EXPECT_TRUE(absl::IsDeadlineExceeded(out.status())) << out.status();
}

TEST_F(ClientTest, ClientDefaultTimeoutApplies) {
  server_.service().SetGate(1000);
  ClientOptions options;
  options.timeout_ms = 50;
  auto client = Client::Create(server_.address(), options);
  ASSERT_TRUE(client.ok());
  EXPECT_TRUE(absl::IsDeadlineExceeded((*client)->Infer("gate", Iota({1}, 0)).status()));
}

TEST_F(ClientTest, AsyncInferKeepsHundredsOutstanding) {
  constexpr int kRequests = 300;
  // The fake answers none until all are parked: only concurrent requests can finish.
  server_.service().SetGate(kRequests);
  absl::Mutex mu;
  int done = 0;
  std::map<int, absl::StatusOr<Tensor>> results;
  for (int i = 0; i < kRequests; ++i) {
    InferOptions options;
    options.raw = i % 2 == 0;
    client_->AsyncInfer("gate", Iota({2}, static_cast<float>(10 * i)), options,
                        [&, i](absl::StatusOr<Tensor> out) {
                          absl::MutexLock lock(&mu);
                          results.emplace(i, std::move(out));
                          ++done;
                        });
  }
  absl::MutexLock lock(&mu);
  mu.Await(absl::Condition(+[](int* n) { return *n == kRequests; }, &done));
  EXPECT_EQ(server_.service().max_parked(), kRequests);
  for (auto& [i, out] : results) {
    ASSERT_TRUE(out.ok()) << out.status();
    EXPECT_THAT(out->data, ElementsAre(10 * i, 10 * i + 1));  // each caller gets its own
  }
}

TEST_F(ClientTest, AsyncInferReportsErrors) {
  auto future = client_->InferFuture("nope", Iota({1}, 0));
  absl::StatusOr<Tensor> out = future.get();
  EXPECT_TRUE(absl::IsNotFound(out.status()));
  EXPECT_EQ(out.status().message(), "unknown model 'nope'");
  EXPECT_THAT(client_->InferFuture("echo", Iota({2}, 5)).get()->data, ElementsAre(5, 6));
}

TEST_F(ClientTest, StreamMatchesAnswersByIdAndSurvivesErrors) {
  absl::Mutex mu;
  std::map<std::string, absl::StatusOr<Tensor>> results;
  auto stream = client_->OpenStream([&](std::string_view id, absl::StatusOr<Tensor> out) {
    absl::MutexLock lock(&mu);
    results.emplace(std::string(id), std::move(out));
  });
  constexpr int kRequests = 50;
  for (int i = 0; i < kRequests; ++i) {
    InferOptions options;
    options.id = "r" + std::to_string(i);
    options.raw = i % 3 != 0;
    ASSERT_TRUE(stream->Send(i == 7 ? "nope" : "double", Iota({3}, static_cast<float>(i)),
                             options).ok());
  }
  ASSERT_TRUE(stream->Finish().ok());
  // Finish returns after the server closed the stream, so every answer is in.
  absl::MutexLock lock(&mu);
  ASSERT_EQ(results.size(), static_cast<size_t>(kRequests));
  for (int i = 0; i < kRequests; ++i) {
    const absl::StatusOr<Tensor>& out = results.at("r" + std::to_string(i));
    if (i == 7) {
      EXPECT_TRUE(absl::IsNotFound(out.status())) << out.status();
      EXPECT_EQ(out.status().message(), "unknown model 'nope'");
      continue;
    }
    ASSERT_TRUE(out.ok()) << out.status();
    const float v = static_cast<float>(i);
    EXPECT_THAT(out->data, ElementsAre(2 * v, 2 * v + 2, 2 * v + 4));
  }
}

TEST_F(ClientTest, RawStreamSendsCallerOwnedRequests) {
  std::vector<inference::ModelInferRequest> requests;
  for (int i = 0; i < 4; ++i) {
    InferOptions options;
    options.id = std::to_string(i);
    requests.push_back(MakeInferRequest("echo", Iota({1}, static_cast<float>(i)), options));
  }
  absl::Mutex mu;
  std::vector<std::string> ids;
  auto stream = client_->OpenRawStream([&](const inference::ModelStreamInferResponse& r) {
    absl::MutexLock lock(&mu);
    ids.push_back(r.infer_response().id());
  });
  for (const auto& request : requests) ASSERT_TRUE(stream->Send(&request).ok());
  ASSERT_TRUE(stream->Finish().ok());
  EXPECT_THAT(ids, ::testing::UnorderedElementsAre("0", "1", "2", "3"));
  EXPECT_TRUE(absl::IsFailedPrecondition(stream->Send(&requests[0])));
}

TEST_F(ClientTest, UnfinishedStreamIsCancelledOnDestruction) {
  auto stream = client_->OpenStream([](std::string_view, absl::StatusOr<Tensor>) {});
  InferOptions options;
  options.id = "a";
  ASSERT_TRUE(stream->Send("echo", Iota({1}, 0), options).ok());
  stream.reset();  // must neither hang nor crash
}

TEST(ClientStatus, GrpcStatusMapsToSameCodeAndMessage) {
  EXPECT_TRUE(ToAbslStatus(grpc::Status::OK).ok());
  const absl::Status s =
      ToAbslStatus(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "queue full (1024)"));
  EXPECT_TRUE(absl::IsResourceExhausted(s));
  EXPECT_EQ(s.message(), "queue full (1024)");
  EXPECT_TRUE(absl::IsUnavailable(ToAbslStatus(grpc::Status(grpc::StatusCode::UNAVAILABLE, ""))));
}

TEST(ClientStatus, StreamErrorsKeepALeadingCodeName) {
  inference::ModelStreamInferResponse r;
  EXPECT_TRUE(StreamResponseStatus(r).ok());
  r.set_error_message("RESOURCE_EXHAUSTED: queue full");
  EXPECT_EQ(StreamResponseStatus(r), absl::ResourceExhaustedError("queue full"));
  r.set_error_message("input 'x': expected [1, 4], got [2]");
  EXPECT_EQ(StreamResponseStatus(r), absl::UnknownError("input 'x': expected [1, 4], got [2]"));
}

inference::ModelInferResponse OneOutput(std::string datatype, std::vector<int64_t> shape) {
  inference::ModelInferResponse r;
  auto* out = r.add_outputs();
  out->set_name("output");
  out->set_datatype(std::move(datatype));
  for (int64_t d : shape) out->add_shape(d);
  return r;
}

TEST(TensorFromResponse, ReadsRawOrTypedAndRejectsMalformed) {
  inference::ModelInferResponse raw = OneOutput("FP32", {2});
  const float values[] = {1.5f, -2.0f};
  raw.add_raw_output_contents()->assign(reinterpret_cast<const char*>(values), sizeof values);
  EXPECT_THAT(TensorFromResponse(raw)->data, ElementsAre(1.5f, -2.0f));

  inference::ModelInferResponse typed = OneOutput("FP32", {1, 2});
  typed.mutable_outputs(0)->mutable_contents()->add_fp32_contents(3);
  typed.mutable_outputs(0)->mutable_contents()->add_fp32_contents(4);
  EXPECT_THAT(TensorFromResponse(typed, "output")->shape, ElementsAre(1, 2));

  EXPECT_TRUE(absl::IsInvalidArgument(TensorFromResponse(typed, "other").status()));
  EXPECT_TRUE(absl::IsInvalidArgument(TensorFromResponse({}).status()));
  EXPECT_THAT(TensorFromResponse(OneOutput("INT64", {0})).status().message(),
              HasSubstr("datatype INT64"));
  inference::ModelInferResponse short_raw = OneOutput("FP32", {3});
  short_raw.add_raw_output_contents()->assign(8, '\0');
  EXPECT_THAT(TensorFromResponse(short_raw).status().message(), HasSubstr("8 bytes, expected 12"));
}

TEST(TypedTensorFromResponse, ReadsFp32Int64AndInt32RawOrTyped) {
  inference::ModelInferResponse raw = OneOutput("INT64", {2});
  const int64_t wide[] = {int64_t{1} << 40, -3};
  raw.add_raw_output_contents()->assign(reinterpret_cast<const char*>(wide), sizeof wide);
  absl::StatusOr<TypedTensor> ids = TypedTensorFromResponse(raw);
  ASSERT_TRUE(ids.ok()) << ids.status();
  EXPECT_EQ(ids->dtype, DType::kInt64);
  EXPECT_THAT(ids->shape, ElementsAre(2));
  EXPECT_EQ(reinterpret_cast<const int64_t*>(ids->bytes.data())[0], int64_t{1} << 40);

  inference::ModelInferResponse typed = OneOutput("INT32", {1, 2});
  typed.mutable_outputs(0)->mutable_contents()->add_int_contents(7);
  typed.mutable_outputs(0)->mutable_contents()->add_int_contents(-8);
  ids = TypedTensorFromResponse(typed);
  ASSERT_TRUE(ids.ok()) << ids.status();
  EXPECT_EQ(ids->dtype, DType::kInt32);
  EXPECT_EQ(reinterpret_cast<const int32_t*>(ids->bytes.data())[1], -8);

  inference::ModelInferResponse floats = OneOutput("FP32", {1});
  floats.mutable_outputs(0)->mutable_contents()->add_fp32_contents(2.5f);
  EXPECT_EQ(TypedTensorFromResponse(floats)->dtype, DType::kFloat32);
  EXPECT_THAT(TypedTensorFromResponse(OneOutput("FP16", {0})).status().message(),
              HasSubstr("datatype FP16, not FP32, INT64 or INT32"));
  inference::ModelInferResponse short_typed = OneOutput("INT64", {3});
  short_typed.mutable_outputs(0)->mutable_contents()->add_int64_contents(1);
  EXPECT_THAT(TypedTensorFromResponse(short_typed).status().message(),
              HasSubstr("has 1 values, expected 3"));
}

TEST(MakeInferRequest, IdsGoAsInt64OrInt32RawOrTyped) {
  TypedTensor ids{DType::kInt64, {1, 2}, {}};
  const int64_t values[] = {3, 999};
  ids.bytes.assign(reinterpret_cast<const uint8_t*>(values),
                   reinterpret_cast<const uint8_t*>(values) + sizeof values);
  InferOptions options;
  inference::ModelInferRequest raw = MakeInferRequest("text", ids.view(), options);
  EXPECT_EQ(raw.inputs(0).datatype(), "INT64");
  EXPECT_THAT(raw.inputs(0).shape(), ElementsAre(1, 2));
  ASSERT_EQ(raw.raw_input_contents_size(), 1);
  EXPECT_EQ(raw.raw_input_contents(0), std::string(reinterpret_cast<const char*>(values), 16));
  options.raw = false;
  inference::ModelInferRequest typed = MakeInferRequest("text", ids.view(), options);
  EXPECT_EQ(typed.raw_input_contents_size(), 0);
  EXPECT_THAT(typed.inputs(0).contents().int64_contents(), ElementsAre(3, 999));

  TypedTensor narrow{DType::kInt32, {2}, {}};
  const int32_t small[] = {4, 5};
  narrow.bytes.assign(reinterpret_cast<const uint8_t*>(small),
                      reinterpret_cast<const uint8_t*>(small) + sizeof small);
  typed = MakeInferRequest("text", narrow.view(), options);
  EXPECT_EQ(typed.inputs(0).datatype(), "INT32");
  EXPECT_THAT(typed.inputs(0).contents().int_contents(), ElementsAre(4, 5));
}

}  // namespace
}  // namespace seqserve::client
