// The client library and seqperf's load generator against the real server, started
// in-process on the bundled repository (models/) at a free port: every model is listed,
// described and inferred, raw and typed agree, asynchronous and streamed answers reach
// their own callers, and SPEC §7's codes arrive unchanged.
#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <cstring>
#include <future>
#include <string>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "client/client.h"
#include "client/shared_memory.h"
#include "common/npy.h"
#include "client/perf/load_generator.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/server.h"
#include "tests/util/run_command.h"

namespace seqserve {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using client::Client;
using client::InferOptions;
using client::MakeInferRequest;
using perf::LoadGenerator;
using perf::LoadGeneratorOptions;
using perf::MeasureOptions;
using perf::MeasureStep;
using perf::StepResult;

Tensor Ramp(Shape shape, float scale) {
  Tensor t(std::move(shape));
  for (size_t i = 0; i < t.data.size(); ++i) t.data[i] = scale * static_cast<float>(i % 97) / 97;
  return t;
}

class RealServerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ServerOptions options;
    options.model_repositories = {std::filesystem::path(SEQSERVE_SOURCE_DIR) / "models"};
    options.address = "127.0.0.1";
    options.grpc_port = 0;
    options.available_cpus = 2;
    options.allow_shared_memory = true;  // seqperf --shm
    absl::StatusOr<std::unique_ptr<Server>> server = Server::Start(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = server->release();
  }
  static void TearDownTestSuite() {
    delete server_;  // shuts down
    server_ = nullptr;
  }

  void SetUp() override {
    ASSERT_NE(server_, nullptr);
    auto client = Client::Create("127.0.0.1:" + std::to_string(server_->grpc_port()));
    ASSERT_TRUE(client.ok()) << client.status();
    client_ = *std::move(client);
  }

  static Server* server_;
  std::unique_ptr<Client> client_;
};

Server* RealServerTest::server_ = nullptr;

TEST_F(RealServerTest, HealthAndRepository) {
  EXPECT_EQ(client_->ServerLive().value(), true);
  EXPECT_EQ(client_->ServerReady().value(), true);
  EXPECT_EQ(client_->ModelReady("lenet").value(), true);
  auto index = client_->RepositoryIndex();
  ASSERT_TRUE(index.ok()) << index.status();
  std::map<std::string, std::string> states;
  for (const auto& m : index->models()) states[m.name()] = m.state();
  EXPECT_EQ(states["lenet"], "READY");
  EXPECT_EQ(states["mlp"], "READY");
  EXPECT_EQ(states["seed"], "READY");
  EXPECT_EQ(states["textclass"], "READY");
  EXPECT_EQ(states["superres"], "READY");
  EXPECT_EQ(client_->ServerMetadata()->name(), "seqserve");
}

TEST_F(RealServerTest, MetadataConfigAndStatistics) {
  auto meta = client_->ModelMetadata("lenet");
  ASSERT_TRUE(meta.ok()) << meta.status();
  ASSERT_EQ(meta->inputs_size(), 1);
  EXPECT_THAT(meta->inputs(0).shape(), ElementsAre(-1, 1, 28, 28));
  auto config = client_->ModelConfig("lenet");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->max_batch_size(), 64);
  ASSERT_TRUE(client_->Infer("lenet", Ramp({1, 1, 28, 28}, 1)).ok());
  auto stats = client_->ModelStatistics("lenet");
  ASSERT_TRUE(stats.ok()) << stats.status();
  ASSERT_GE(stats->model_stats_size(), 1);
  EXPECT_GE(stats->model_stats(0).inference_count(), 1u);
}

TEST_F(RealServerTest, RawAndTypedGiveTheSameAnswer) {
  const Tensor input = Ramp({2, 1, 28, 28}, 1);
  absl::StatusOr<Tensor> raw = client_->Infer("lenet", input);
  ASSERT_TRUE(raw.ok()) << raw.status();
  EXPECT_THAT(raw->shape, ElementsAre(2, 10));
  InferOptions typed;
  typed.raw = false;
  absl::StatusOr<Tensor> fp32 = client_->Infer("lenet", input, typed);
  ASSERT_TRUE(fp32.ok()) << fp32.status();
  EXPECT_EQ(raw->data, fp32->data);
}

// Triton's system shared memory through the client library: an object this process makes,
// registered, listed, used for the input and the output of a request, and unregistered. The
// reference is the same request with its tensor in the message.
TEST_F(RealServerTest, SharedMemoryInputAndOutputThroughTheClientLibrary) {
  const Tensor input = Ramp({2, 1, 28, 28}, 1);
  absl::StatusOr<Tensor> plain = client_->Infer("lenet", input);
  ASSERT_TRUE(plain.ok()) << plain.status();

  const size_t in_bytes = input.data.size() * sizeof(float), out_bytes = 2 * 10 * sizeof(float);
  const std::string key = absl::StrCat("/seqserve_test_", getpid(), "_client");
  absl::StatusOr<std::unique_ptr<client::SharedMemoryObject>> object =
      client::SharedMemoryObject::Create(key, 8192);
  ASSERT_TRUE(object.ok()) << object.status();
  EXPECT_FALSE(client::SharedMemoryObject::Create(key, 16).ok());  // exists already
  std::memcpy((*object)->data(), input.data.data(), in_bytes);
  ASSERT_TRUE(client_->RegisterSystemSharedMemory("client_region", key, 0, 8192).ok());
  absl::StatusOr<inference::SystemSharedMemoryStatusResponse> status =
      client_->SystemSharedMemoryStatus("client_region");
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(status->regions().at("client_region").key(), key);
  EXPECT_EQ(status->regions().at("client_region").byte_size(), 8192u);

  inference::ModelInferRequest request = MakeInferRequest("lenet", input, {});
  client::SetSharedMemoryInput(request, 0, "client_region", 0, in_bytes);
  client::SetSharedMemoryOutput(request, "output", "client_region", 7000, out_bytes);
  EXPECT_EQ(request.raw_input_contents_size(), 0);
  grpc::ClientContext context;
  inference::ModelInferResponse response;
  std::promise<grpc::Status> done;
  client_->StartModelInfer(&context, &request, &response,
                           [&done](grpc::Status s) { done.set_value(std::move(s)); });
  const grpc::Status answered = done.get_future().get();
  ASSERT_TRUE(answered.ok()) << answered.error_message();
  EXPECT_EQ(response.raw_output_contents_size(), 0);
  std::vector<float> got(20);
  std::memcpy(got.data(), (*object)->data() + 7000, out_bytes);
  EXPECT_EQ(got, plain->data);

  ASSERT_TRUE(client_->UnregisterSystemSharedMemory().ok());
  status = client_->SystemSharedMemoryStatus();
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(status->regions_size(), 0);
}

// seqperf --shm against the real server: it registers its region, measures without errors,
// and leaves no region registered behind.
TEST_F(RealServerTest, SeqperfSendsItsInputThroughSharedMemory) {
  const testing::CommandResult result = testing::RunCommand(absl::StrCat(
      SEQPERF_PATH, " --url 127.0.0.1:", server_->grpc_port(),
      " -m lenet --shape 1,28,28 --shm --concurrency-range 2 -p 200 --warmup-secs 0.1 "
      "--stability-windows 1 -r 2 2>&1"));
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_THAT(result.output, HasSubstr("system shared memory"));
  EXPECT_THAT(result.output, HasSubstr("errors: 0"));
  absl::StatusOr<inference::SystemSharedMemoryStatusResponse> status =
      client_->SystemSharedMemoryStatus();
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(status->regions_size(), 0);
}

// The bundled text classifier through the client library: its int64 sample ids, and the
// same as int32, give PyTorch's scores (tests/data/bundled/textclass).
TEST_F(RealServerTest, TextClassifierTakesIdsFromTheClient) {
  const std::filesystem::path data = std::filesystem::path(SEQSERVE_TEST_DATA_DIR) / "bundled";
  absl::StatusOr<TypedTensor> ids = ReadTypedNpy(data / "textclass" / "input.npy");
  absl::StatusOr<Tensor> expected = ReadNpy(data / "textclass" / "expected.npy");
  ASSERT_TRUE(ids.ok() && expected.ok());
  TypedTensor narrow{DType::kInt32, ids->shape, {}};
  const auto* wide = reinterpret_cast<const int64_t*>(ids->bytes.data());
  for (int64_t i = 0; i < NumElements(ids->shape); ++i) {
    const int32_t id = static_cast<int32_t>(wide[i]);
    narrow.bytes.insert(narrow.bytes.end(), reinterpret_cast<const uint8_t*>(&id),
                        reinterpret_cast<const uint8_t*>(&id) + sizeof id);
  }
  EXPECT_EQ(client_->ModelMetadata("textclass")->inputs(0).datatype(), "INT64");
  for (const TypedTensor* input : {&*ids, &narrow}) {
    for (const bool raw : {true, false}) {
      InferOptions options;
      options.raw = raw;
      absl::StatusOr<Tensor> out = client_->Infer("textclass", input->view(), options);
      ASSERT_TRUE(out.ok()) << out.status();
      ASSERT_EQ(out->shape, expected->shape);
      for (size_t i = 0; i < out->data.size(); ++i) {
        EXPECT_NEAR(out->data[i], expected->data[i], 1e-4 * std::max(1.0f, std::fabs(expected->data[i])));
      }
    }
  }
}

TEST_F(RealServerTest, AsyncAndStreamedAnswersReachTheirCallers) {
  constexpr int kRequests = 64;
  std::vector<Tensor> expected;
  for (int i = 0; i < kRequests; ++i) {
    absl::StatusOr<Tensor> out = client_->Infer("mlp", Ramp({1, 1, 28, 28}, i + 1.0f));
    ASSERT_TRUE(out.ok()) << out.status();
    expected.push_back(*out);
  }
  absl::Mutex mu;
  std::map<int, absl::StatusOr<Tensor>> async_results;
  for (int i = 0; i < kRequests; ++i) {
    client_->AsyncInfer("mlp", Ramp({1, 1, 28, 28}, i + 1.0f), {},
                        [&, i](absl::StatusOr<Tensor> out) {
                          absl::MutexLock lock(&mu);
                          async_results.emplace(i, std::move(out));
                        });
  }
  std::map<std::string, absl::StatusOr<Tensor>> stream_results;
  auto stream = client_->OpenStream([&](std::string_view id, absl::StatusOr<Tensor> out) {
    absl::MutexLock lock(&mu);
    stream_results.emplace(std::string(id), std::move(out));
  });
  for (int i = 0; i < kRequests; ++i) {
    InferOptions options;
    options.id = "s" + std::to_string(i);
    ASSERT_TRUE(stream->Send("mlp", Ramp({1, 1, 28, 28}, i + 1.0f), options).ok());
  }
  ASSERT_TRUE(stream->Finish().ok());
  absl::MutexLock lock(&mu);
  mu.Await(absl::Condition(
      +[](std::map<int, absl::StatusOr<Tensor>>* m) { return m->size() == kRequests; },
      &async_results));
  ASSERT_EQ(stream_results.size(), static_cast<size_t>(kRequests));
  // Concurrent requests run in batches, and a batch may take another gemm kernel than a
  // lone request (it does with AVX2): equal up to float rounding. The inputs' ramps make
  // every request's output far from every other's, so a mixed-up answer still fails.
  const auto near = [](const std::vector<float>& got, const std::vector<float>& want) {
    if (got.size() != want.size()) return false;
    for (size_t k = 0; k < got.size(); ++k) {
      if (std::abs(got[k] - want[k]) > 1e-5f * std::max(1.f, std::abs(want[k]))) return false;
    }
    return true;
  };
  for (int i = 0; i < kRequests; ++i) {
    const absl::StatusOr<Tensor>& a = async_results.at(i);
    ASSERT_TRUE(a.ok()) << a.status();
    EXPECT_TRUE(near(a->data, expected[i].data)) << i;
    const absl::StatusOr<Tensor>& s = stream_results.at("s" + std::to_string(i));
    ASSERT_TRUE(s.ok()) << s.status();
    EXPECT_TRUE(near(s->data, expected[i].data)) << i;
  }
}

TEST_F(RealServerTest, ErrorsCarryTheServersCodeAndMessage) {
  absl::StatusOr<Tensor> unknown = client_->Infer("nope", Ramp({1, 4}, 1));
  EXPECT_TRUE(absl::IsNotFound(unknown.status())) << unknown.status();
  EXPECT_THAT(unknown.status().message(), HasSubstr("nope"));
  absl::StatusOr<Tensor> shape = client_->Infer("lenet", Ramp({1, 1, 27, 28}, 1));
  EXPECT_TRUE(absl::IsInvalidArgument(shape.status())) << shape.status();
  EXPECT_THAT(shape.status().message(), HasSubstr("27"));
  EXPECT_TRUE(absl::IsNotFound(client_->ModelMetadata("nope").status()));

  absl::Mutex mu;
  absl::Status stream_error;
  auto stream = client_->OpenStream([&](std::string_view, absl::StatusOr<Tensor> out) {
    absl::MutexLock lock(&mu);
    stream_error = out.status();
  });
  InferOptions options;
  options.id = "bad";
  ASSERT_TRUE(stream->Send("nope", Ramp({1, 4}, 1), options).ok());
  EXPECT_TRUE(stream->Finish().ok());  // a failed request does not break the stream
  absl::MutexLock lock(&mu);
  EXPECT_FALSE(stream_error.ok());
  EXPECT_THAT(stream_error.message(), HasSubstr("nope"));
}

TEST_F(RealServerTest, LoadGeneratorMeasuresWithoutErrors) {
  for (bool streaming : {false, true}) {
    LoadGeneratorOptions options;
    options.streaming = streaming;
    LoadGenerator generator(
        *client_, MakeInferRequest("lenet", Ramp({1, 1, 28, 28}, 1), InferOptions{}), options);
    ASSERT_TRUE(generator.StartClosedLoop(4).ok());
    MeasureOptions measure;
    measure.warmup_s = 0;
    measure.window_ms = 50;
    measure.stability.max_windows = 3;
    absl::StatusOr<StepResult> step = MeasureStep(generator, 4, 1, measure, nullptr);
    EXPECT_TRUE(generator.Stop().ok());
    ASSERT_TRUE(step.ok()) << step.status();
    EXPECT_GT(step->requests, 0) << (streaming ? "streaming" : "unary");
    EXPECT_EQ(step->error_total, 0) << (streaming ? "streaming" : "unary");
  }
}

}  // namespace
}  // namespace seqserve
