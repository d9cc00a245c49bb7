// seqclient and seqperf as a user runs them, against the in-process fake: output, the
// server's message on errors, and exit codes (0 ok, 1 server or file error, 2 usage).
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <cstring>
#include <fstream>
#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/npy.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/util/fake_inference_service.h"
#include "tests/util/run_command.h"

namespace seqserve {
namespace {

using ::testing::HasSubstr;

using RunResult = testing::CommandResult;

RunResult RunTool(const std::string& binary, const std::string& args) {
  return testing::RunCommand(absl::StrCat(binary, " ", args));
}

class ToolsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           absl::StrCat("seqclient_test_", getpid(), "_",
                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  RunResult Client(const std::string& args) {
    return RunTool(SEQCLIENT_PATH, absl::StrCat("--url ", server_.address(), " ", args));
  }
  RunResult Perf(const std::string& args) {
    return RunTool(SEQPERF_PATH, absl::StrCat("--url ", server_.address(), " ", args));
  }

  testing::FakeServer server_;
  std::filesystem::path dir_;
};

TEST_F(ToolsTest, HealthExitsZeroWhenReadyAndOneWhenNot) {
  RunResult ok = Client("health");
  EXPECT_EQ(ok.exit_code, 0) << ok.output;
  EXPECT_THAT(ok.output, HasSubstr("live: true\nready: true"));
  server_.service().ready = false;
  RunResult not_ready = Client("health");
  EXPECT_EQ(not_ready.exit_code, 1) << not_ready.output;
  EXPECT_THAT(not_ready.output, HasSubstr("ready: false"));
}

TEST_F(ToolsTest, UnreachableServerExitsOneWithUnavailable) {
  RunResult r = RunTool(SEQCLIENT_PATH, "--url 127.0.0.1:1 health");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.output, HasSubstr("error: UNAVAILABLE"));
}

TEST_F(ToolsTest, ListShowsStatesAndReasons) {
  RunResult r = Client("list");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("MODEL"));
  EXPECT_THAT(r.output, HasSubstr("echo"));
  EXPECT_THAT(r.output, HasSubstr("UNAVAILABLE  model.seq:1:1: unknown module 'Foo'"));
}

TEST_F(ToolsTest, MetadataPrintsTensorsAndConfig) {
  RunResult r = Client("metadata echo --config");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("input:  input FP32 [-1, 4]"));
  EXPECT_THAT(r.output, HasSubstr("output: output FP32 [-1, 4]"));
  EXPECT_THAT(r.output, HasSubstr("max_batch_size: 8"));
  RunResult unknown = Client("metadata nope");
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_THAT(unknown.output, HasSubstr("error: NOT_FOUND: unknown model 'nope'"));
}

TEST_F(ToolsTest, InferPrintsOrWritesTheOutput) {
  const std::filesystem::path in = dir_ / "x.npy", out = dir_ / "y.npy";
  ASSERT_TRUE(WriteNpy(in, Tensor({1, 3}, {1, 2, 3})).ok());
  RunResult printed = Client(absl::StrCat("infer double --input ", in.string()));
  EXPECT_EQ(printed.exit_code, 0) << printed.output;
  EXPECT_THAT(printed.output, HasSubstr("shape: [1, 3]\nvalues: [2, 4, 6]"));

  RunResult written =
      Client(absl::StrCat("infer double --typed --version 2 --input ", in.string(), " --output ",
                          out.string()));
  EXPECT_EQ(written.exit_code, 0) << written.output;
  absl::StatusOr<Tensor> result = ReadNpy(out);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_THAT(result->data, ::testing::ElementsAre(2, 4, 6));
  EXPECT_EQ(server_.service().last_request().model_version(), "2");
  EXPECT_EQ(server_.service().last_request().raw_input_contents_size(), 0);

  RunResult broken = Client(absl::StrCat("infer broken --input ", in.string()));
  EXPECT_EQ(broken.exit_code, 1);
  EXPECT_THAT(broken.output, HasSubstr("error: INTERNAL: model 'broken' failed: exploded"));
}

// int64 and int32 .npy files go as INT64 and INT32 ids, raw or in int64_contents/int_contents.
TEST_F(ToolsTest, InferSendsIntegerNpyAsIds) {
  const std::filesystem::path wide = dir_ / "ids64.npy", narrow = dir_ / "ids32.npy";
  TypedTensor ids{DType::kInt64, {1, 3}, {}};
  const int64_t wide_values[] = {7, 0, 999};
  ids.bytes.assign(reinterpret_cast<const uint8_t*>(wide_values),
                   reinterpret_cast<const uint8_t*>(wide_values) + sizeof(wide_values));
  ASSERT_TRUE(WriteNpy(wide, ids).ok());
  TypedTensor ids32{DType::kInt32, {1, 3}, {}};
  const int32_t narrow_values[] = {5, 6, 1};
  ids32.bytes.assign(reinterpret_cast<const uint8_t*>(narrow_values),
                     reinterpret_cast<const uint8_t*>(narrow_values) + sizeof(narrow_values));
  ASSERT_TRUE(WriteNpy(narrow, ids32).ok());

  RunResult raw = Client(absl::StrCat("infer ids --input ", wide.string()));
  EXPECT_EQ(raw.exit_code, 0) << raw.output;
  EXPECT_THAT(raw.output, HasSubstr("shape: [1, 3]\nvalues: [7, 0, 999]"));
  inference::ModelInferRequest sent = server_.service().last_request();
  EXPECT_EQ(sent.inputs(0).datatype(), "INT64");
  EXPECT_EQ(sent.raw_input_contents(0).size(), 24u);

  RunResult typed = Client(absl::StrCat("infer ids --typed --input ", wide.string()));
  EXPECT_EQ(typed.exit_code, 0) << typed.output;
  sent = server_.service().last_request();
  EXPECT_EQ(sent.raw_input_contents_size(), 0);
  EXPECT_THAT(sent.inputs(0).contents().int64_contents(), ::testing::ElementsAre(7, 0, 999));

  RunResult int32 = Client(absl::StrCat("infer ids --typed --input ", narrow.string()));
  EXPECT_EQ(int32.exit_code, 0) << int32.output;
  EXPECT_THAT(int32.output, HasSubstr("values: [5, 6, 1]"));
  sent = server_.service().last_request();
  EXPECT_EQ(sent.inputs(0).datatype(), "INT32");
  EXPECT_THAT(sent.inputs(0).contents().int_contents(), ::testing::ElementsAre(5, 6, 1));
}

// seqperf sends random ids in --id-range for a model whose metadata says INT64, or the ids of
// --input-data.
TEST_F(ToolsTest, SeqperfSendsIdsToAnIdModel) {
  RunResult random = Perf("-m ids --shape 64 -b 2 --id-range 5:8 --concurrency-range 1 "
                          "--warmup-secs 0 -p 40 -r 3");
  ASSERT_EQ(random.exit_code, 0) << random.output;
  EXPECT_THAT(random.output, HasSubstr("[2, 64] int64"));
  inference::ModelInferRequest sent = server_.service().last_request();
  EXPECT_EQ(sent.inputs(0).datatype(), "INT64");
  EXPECT_THAT(sent.inputs(0).shape(), ::testing::ElementsAre(2, 64));
  const std::string& bytes = sent.raw_input_contents(0);
  ASSERT_EQ(bytes.size(), 2u * 64 * 8);
  std::set<int64_t> seen;
  for (size_t i = 0; i < bytes.size(); i += 8) {
    int64_t id = 0;
    std::memcpy(&id, bytes.data() + i, 8);
    seen.insert(id);
  }
  EXPECT_EQ(seen, (std::set<int64_t>{5, 6, 7}));  // 128 draws from 3 values: all appear

  const std::filesystem::path sample = dir_ / "sample.npy";
  TypedTensor ids{DType::kInt32, {4}, {}};
  const int32_t values[] = {1, 2, 3, 4};
  ids.bytes.assign(reinterpret_cast<const uint8_t*>(values),
                   reinterpret_cast<const uint8_t*>(values) + sizeof(values));
  ASSERT_TRUE(WriteNpy(sample, ids).ok());
  RunResult file = Perf(absl::StrCat("-m ids --input-data ", sample.string(),
                                     " --typed --concurrency-range 1 --warmup-secs 0 -p 40 -r 3"));
  ASSERT_EQ(file.exit_code, 0) << file.output;
  sent = server_.service().last_request();
  EXPECT_EQ(sent.inputs(0).datatype(), "INT32");
  EXPECT_THAT(sent.inputs(0).contents().int_contents(), ::testing::ElementsAre(1, 2, 3, 4));

  EXPECT_EQ(Perf("-m ids --shape 4 --id-range 5:5").exit_code, 2);
  EXPECT_EQ(Perf("-m ids --shape 4 --id-range x").exit_code, 2);
}

TEST_F(ToolsTest, LoadAndUnload) {
  EXPECT_EQ(Client("load echo").exit_code, 0);
  EXPECT_EQ(Client("unload echo").exit_code, 0);
  RunResult missing = Client("load missing");
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_THAT(missing.output, HasSubstr("NOT_FOUND: no model directory 'missing'"));
}

TEST_F(ToolsTest, UsageErrorsExitTwo) {
  EXPECT_EQ(Client("").exit_code, 2);
  EXPECT_EQ(Client("frobnicate").exit_code, 2);
  EXPECT_EQ(Client("infer echo").exit_code, 2);  // --input is required
  EXPECT_EQ(Client("--help").exit_code, 0);
  EXPECT_EQ(Perf("-m echo").exit_code, 2);  // neither --shape nor --input
  EXPECT_EQ(Perf("-m echo --shape 4 --concurrency-range 4:1").exit_code, 2);
  EXPECT_EQ(Perf("-m echo --shape 4 --concurrency-range 1 --request-rate 5").exit_code, 2);
}

TEST_F(ToolsTest, SeqperfMeasuresAndWritesReports) {
  const std::string json = (dir_ / "r.json").string(), csv = (dir_ / "r.csv").string(),
                    svg = (dir_ / "r.svg").string();
  RunResult r = Perf(absl::StrCat("-m double --shape 1,4 -b 2 --concurrency-range 1:2 "
                                  "--warmup-secs 0 -p 40 -r 4 --server-pid ",
                                  getpid(), " --json ", json, " --csv ", csv, " --plot ", svg));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("Concurrency: 1, throughput:"));
  EXPECT_THAT(r.output, HasSubstr("Concurrency: 2, throughput:"));
  EXPECT_THAT(r.output, HasSubstr("server CPU"));
  // Not a terminal: no progress line.
  EXPECT_THAT(r.output, ::testing::Not(HasSubstr("\033[K")));

  std::ifstream json_in(json);
  const nlohmann::json j = nlohmann::json::parse(json_in);
  EXPECT_EQ(j["settings"]["shape"], "[2, 1, 4]");
  ASSERT_EQ(j["steps"].size(), 2u);
  EXPECT_GT(j["steps"][1]["throughput_infer_per_sec"].get<double>(), 0);
  EXPECT_DOUBLE_EQ(j["steps"][1]["throughput_samples_per_sec"].get<double>(),
                   2 * j["steps"][1]["throughput_infer_per_sec"].get<double>());
  EXPECT_TRUE(std::filesystem::file_size(csv) > 0);
  EXPECT_TRUE(std::filesystem::file_size(svg) > 0);
  EXPECT_EQ(server_.service().last_request().inputs(0).shape_size(), 3);
}

TEST_F(ToolsTest, SeqperfStreamingAndOpenLoop) {
  RunResult streaming = Perf("-m echo --shape 4 --streaming --concurrency-range 3 "
                             "--warmup-secs 0 -p 40 -r 3");
  EXPECT_EQ(streaming.exit_code, 0) << streaming.output;
  RunResult open = Perf("-m echo --shape 4 --request-rate 500 --request-distribution poisson "
                        "--warmup-secs 0 -p 40 -r 3");
  EXPECT_EQ(open.exit_code, 0) << open.output;
  EXPECT_THAT(open.output, HasSubstr("Request rate: 500,"));
}

TEST_F(ToolsTest, SeqperfStopsAtOnceOnAServerError) {
  RunResult r = Perf("-m nope --shape 4 --warmup-secs 0 -p 40");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.output, HasSubstr("error: NOT_FOUND: unknown model 'nope'"));
}

}  // namespace
}  // namespace seqserve
