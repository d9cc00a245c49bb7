// Model loading, plan caching and concurrent execution. Expected numbers here are
// hand-derivable (small integer weights); the PyTorch goldens are in golden_test.cc.
#include "core/model.h"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "core/engine.h"
#include "core/executor.h"
#include "common/npy.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace seqserve {
namespace {

namespace fs = std::filesystem;

// Linear(2, 2) with W = [[1, 2], [3, 4]], b = [1, -1], then ReLU:
// x = [1, 1] -> [4, 6];  x = [-1, -1] -> relu([-2, -8]) = [0, 0];  x = [2, -1] -> [1, 1].
TensorMap HandWeights() {
  TensorMap w;
  w["0.weight"] = Tensor({2, 2}, {1, 2, 3, 4});
  w["0.bias"] = Tensor({2}, {1, -1});
  return w;
}

TEST(Model, ComputesAHandDerivableLinearReLU) {
  TensorMap w = HandWeights();
  auto model = Model::FromSource("nn.Sequential(nn.Linear(2, 2), nn.ReLU())", "model.seq", &w,
                                 "model.safetensors");
  ASSERT_TRUE(model.ok()) << model.status();
  Executor executor(CpuEngine());
  auto out = (*model)->Run(executor, Tensor({3, 2}, {1, 1, -1, -1, 2, -1}));
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->shape, (Shape{3, 2}));
  EXPECT_EQ(out->data, (std::vector<float>{4, 6, 0, 0, 1, 1}));
}

TEST(Model, AcceptsUnbatchedAndHigherRankLinearInputs) {
  TensorMap w = HandWeights();
  auto model = Model::FromSource("nn.Sequential(nn.Linear(2, 2))", "model.seq", &w,
                                 "model.safetensors");
  ASSERT_TRUE(model.ok()) << model.status();
  Executor executor(CpuEngine());
  auto one = (*model)->Run(executor, Tensor({2}, {1, 1}));
  ASSERT_TRUE(one.ok()) << one.status();
  EXPECT_EQ(one->shape, (Shape{2}));
  EXPECT_EQ(one->data, (std::vector<float>{4, 6}));
  auto three = (*model)->Run(executor, Tensor({1, 2, 2}, {1, 1, 0, 0}));
  ASSERT_TRUE(three.ok()) << three.status();
  EXPECT_EQ(three->shape, (Shape{1, 2, 2}));
  EXPECT_EQ(three->data, (std::vector<float>{4, 6, 1, -1}));
}

TEST(Model, ShapeErrorsNameTheModulePathAndBothShapes) {
  TensorMap w = HandWeights();
  auto model = Model::FromSource("nn.Sequential(nn.ReLU(), nn.Sequential(nn.Linear(2, 2)))",
                                 "model.seq", &w, "model.safetensors");
  ASSERT_FALSE(model.ok());  // keys are 1.0.weight here, not 0.weight
  EXPECT_NE(model.status().message().find("missing key '1.0.weight'"), absl::string_view::npos)
      << model.status();
  TensorMap nested;
  nested["1.0.weight"] = w["0.weight"];
  nested["1.0.bias"] = w["0.bias"];
  model = Model::FromSource("nn.Sequential(nn.ReLU(), nn.Sequential(nn.Linear(2, 2)))",
                            "model.seq", &nested, "model.safetensors");
  ASSERT_TRUE(model.ok()) << model.status();
  auto shape = (*model)->OutputShape({3, 5});
  ASSERT_FALSE(shape.ok());
  EXPECT_EQ(shape.status().message(),
            "1.0 (Linear): expected input of shape (*, 2) (in_features=2), got [3, 5]");
  Executor executor(CpuEngine());
  EXPECT_EQ((*model)->Run(executor, Tensor({3, 5})).status().message(), shape.status().message());
}

TEST(Model, MissingWeightsFileIsAnErrorOnlyWhenTheModelHasParameters) {
  auto with_params = Model::FromSource("nn.Sequential(nn.Linear(3, 4))", "m/model.seq", nullptr,
                                       "m/model.safetensors");
  ASSERT_FALSE(with_params.ok());
  EXPECT_EQ(with_params.status().message(),
            "m/model.safetensors: file is missing, and the model has parameters (the first is "
            "'0.weight' of shape [4, 3])");
  auto without = Model::FromSource("nn.Sequential(nn.ReLU(), nn.Tanh())", "m/model.seq", nullptr,
                                   "m/model.safetensors");
  EXPECT_TRUE(without.ok()) << without.status();
}

TEST(Model, LoadNamesTheMissingModelSeq) {
  const fs::path dir = fs::path(testing::TempDir()) / "model_test_empty";
  fs::create_directories(dir);
  auto model = Model::Load(dir);
  ASSERT_FALSE(model.ok());
  EXPECT_EQ(model.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(model.status().message().find("model_test_empty/model.seq: no such file"),
            absl::string_view::npos)
      << model.status();
}

// A safetensors file whose header lists F32 tensors of `shapes` back to back; its data area
// is `data_bytes` long (sparse: nothing is written), so a header may claim gigabytes.
void WriteSafetensorsHeader(const fs::path& path,
                            const std::vector<std::pair<std::string, Shape>>& shapes,
                            uint64_t data_bytes) {
  std::string header = "{";
  uint64_t offset = 0;
  for (const auto& [name, shape] : shapes) {
    uint64_t bytes = 4;
    std::string dims;
    for (int64_t d : shape) {
      bytes *= static_cast<uint64_t>(d);
      if (!dims.empty()) dims += ",";
      dims += std::to_string(d);
    }
    if (header.size() > 1) header += ",";
    header += "\"" + name + "\":{\"dtype\":\"F32\",\"shape\":[" + dims +
              "],\"data_offsets\":[" + std::to_string(offset) + "," +
              std::to_string(offset + bytes) + "]}";
    offset += bytes;
  }
  header += "}";
  std::string prefix(8, '\0');
  for (int i = 0; i < 8; ++i) prefix[i] = static_cast<char>((header.size() >> (8 * i)) & 0xff);
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << prefix << header;
  }
  fs::resize_file(path, 8 + header.size() + data_bytes);
}

fs::path FreshDir(const std::string& name) {
  const fs::path dir = fs::path(testing::TempDir()) / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

// Before: the header's 40 GB tensor was allocated (std::bad_alloc, or the kernel's OOM
// killer). Now model.seq's declaration is checked against the limit before the weights file
// is even opened. The file is sparse: it takes no space.
TEST(Model, LoadRefusesParametersOverTheLimitBeforeAllocating) {
  const fs::path dir = FreshDir("model_test_huge");
  {
    std::ofstream(dir / "model.seq") << "nn.Sequential(nn.Linear(100000, 100000))\n";
  }
  WriteSafetensorsHeader(dir / "model.safetensors",
                         {{"0.bias", {100000}}, {"0.weight", {100000, 100000}}},
                         40'000'400'000);
  auto model = Model::Load(dir);
  ASSERT_FALSE(model.ok());
  EXPECT_EQ(model.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(model.status().message(),
            (dir / "model.seq").string() +
                ": 0 (Linear) needs 40.0 GB of parameters; the limit is 4.3 GB");

  // Several modules over the limit together, none alone; the limit named as the server's
  // flag names it.
  {
    std::ofstream(dir / "model.seq")
        << "nn.Sequential(nn.Linear(1000, 1000), nn.Linear(1000, 1000, bias=False))\n";
  }
  ModelOptions options;
  options.limits.max_parameter_bytes = 6'000'000;
  options.limits.max_parameter_bytes_name = "--max-model-bytes";
  model = Model::Load(dir, options);
  ASSERT_FALSE(model.ok());
  EXPECT_EQ(model.status().message(),
            (dir / "model.seq").string() +
                ": the model needs 8.0 MB of parameters (the largest module, 0 (Linear), "
                "4.0 MB); the limit is 6.0 MB (--max-model-bytes=6000000)");
}

TEST(Model, LoadChecksTheWeightsFileAgainstWhatModelSeqDeclares) {
  const fs::path dir = FreshDir("model_test_mismatch");
  {
    std::ofstream(dir / "model.seq") << "nn.Sequential(nn.Linear(1000, 1000))\n";
  }
  // Too small to hold 4,004,000 bytes of float32, even as float16.
  WriteSafetensorsHeader(dir / "model.safetensors", {{"0.bias", {10}}}, 40);
  auto model = Model::Load(dir);
  ASSERT_FALSE(model.ok());
  EXPECT_EQ(model.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(model.status().message()),
              ::testing::EndsWith("model.safetensors: the file is 109 bytes, too small for the "
                                  "4.0 MB of parameters model.seq declares (2.0 MB even as "
                                  "float16)"));

  // A header claiming other tensors than model.seq declares is refused, naming the keys,
  // before its tensors are made (here 10 GB of them).
  {
    std::ofstream(dir / "model.seq") << "nn.Sequential(nn.Linear(2, 2))\n";
  }
  WriteSafetensorsHeader(dir / "model.safetensors",
                         {{"0.bias", {2}}, {"0.weight", {50000, 50000}}}, 10'000'000'008);
  model = Model::Load(dir);
  ASSERT_FALSE(model.ok());
  EXPECT_THAT(std::string(model.status().message()),
              ::testing::EndsWith("model.safetensors: key '0.weight': expected shape [2, 2], "
                                  "got [50000, 50000]"));
}

// Before: model.seq as a FIFO hung the load (and the server's start-up) forever.
TEST(Model, LoadRefusesAModelSeqThatIsNotARegularFile) {
  const fs::path dir = FreshDir("model_test_fifo");
  ASSERT_EQ(::mkfifo((dir / "model.seq").c_str(), 0600), 0);
  auto model = Model::Load(dir);
  ASSERT_FALSE(model.ok());
  EXPECT_EQ(model.status().message(),
            (dir / "model.seq").string() + " is a FIFO, not a regular file");

  fs::remove(dir / "model.seq");
  {
    std::ofstream(dir / "model.seq") << "nn.Sequential(nn.ReLU())\n" << std::string(100, ' ');
  }
  ModelOptions options;
  options.limits.seq_file.max_bytes = 100;
  options.limits.seq_file.limit_name = "--max-seq-file-bytes";
  model = Model::Load(dir, options);
  ASSERT_FALSE(model.ok());
  EXPECT_EQ(model.status().message(),
            (dir / "model.seq").string() +
                " is 125 bytes; the limit is 100 bytes (--max-seq-file-bytes=100)");
}

TEST(Model, AnEmptySequentialCopiesItsInput) {
  auto model = Model::FromSource("nn.Sequential(nn.Dropout())", "model.seq", nullptr, "");
  ASSERT_TRUE(model.ok()) << model.status();
  Executor executor(CpuEngine());
  auto out = (*model)->Run(executor, Tensor({2, 2}, {1, -2, 3, -4}));
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->data, (std::vector<float>{1, -2, 3, -4}));
}

TEST(Model, PlanCacheIsBoundedAndReusesPlans) {
  TensorMap w = HandWeights();
  ModelOptions options;
  options.plan_cache_capacity = 2;
  auto model = Model::FromSource("nn.Sequential(nn.Linear(2, 2))", "model.seq", &w, "w", options);
  ASSERT_TRUE(model.ok()) << model.status();
  auto a = (*model)->GetPlan({1, 2});
  auto a_again = (*model)->GetPlan({1, 2});
  ASSERT_TRUE(a.ok() && a_again.ok());
  EXPECT_EQ(a->get(), a_again->get());
  ASSERT_TRUE((*model)->GetPlan({2, 2}).ok());
  ASSERT_TRUE((*model)->GetPlan({3, 2}).ok());
  EXPECT_EQ((*model)->cached_plans(), 2u);
  // {1, 2} was evicted: a new plan, which still computes the same thing.
  auto a_new = (*model)->GetPlan({1, 2});
  ASSERT_TRUE(a_new.ok());
  EXPECT_NE(a_new->get(), a->get());
  Executor executor(CpuEngine());
  std::vector<float> out(2);
  const std::vector<float> in = {1, 1};
  ASSERT_TRUE(executor.Run(**a, in.data(), out.data()).ok());  // the evicted plan still runs
  EXPECT_EQ(out, (std::vector<float>{4, 6}));
}

// One compiled plan, four threads, each with its own Executor (as the server's workers):
// every run must give exactly the single-threaded result.
void ExpectIdenticalFromFourThreads(const fs::path& dir) {
  auto model = Model::Load(dir);
  ASSERT_TRUE(model.ok()) << model.status();
  auto input = ReadNpy(dir / "input_0.npy");
  ASSERT_TRUE(input.ok()) << input.status();
  auto plan = (*model)->GetPlan(input->shape);
  ASSERT_TRUE(plan.ok()) << plan.status();
  Executor reference_executor(CpuEngine());
  std::vector<float> reference(NumElements((*plan)->output_shape()));
  ASSERT_TRUE(reference_executor.Run(**plan, input->data.data(), reference.data()).ok());

  std::vector<int> mismatches(4, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      Executor executor(CpuEngine());
      std::vector<float> out(reference.size());
      for (int i = 0; i < 200; ++i) {
        if (!executor.Run(**plan, input->data.data(), out.data()).ok() || out != reference) {
          ++mismatches[t];
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(mismatches, (std::vector<int>{0, 0, 0, 0})) << dir;
}

TEST(Model, OnePlanRunsConcurrentlyOnFourWorkers) {
  const fs::path golden = fs::path(SEQSERVE_TEST_DATA_DIR) / "golden";
  for (const char* name : {"mlp", "conv_seed", "pool_after_conv", "norm_groupnorm"}) {
    if (fs::exists(golden / name)) ExpectIdenticalFromFourThreads(golden / name);
  }
}

}  // namespace
}  // namespace seqserve
