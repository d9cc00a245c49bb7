// Compile-time tuning (core/tuner.h) and its on-disk cache (core/tuning_cache.h): decisions
// written beside the model and reused after a restart without timing anything, a corrupt
// file, a changed model or an unknown implementation name ignored with a warning, tuning
// off and a spent budget leaving the defaults, the load log line, the environment
// settings, and tuned plans computing what untuned ones do. The numerical parity of every
// implementation with PyTorch is golden_test.cc's (tuned, and forced to each candidate).
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "core/engine.h"
#include "core/executor.h"
#include "core/model.h"
#include "core/tuning_cache.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "spdlog/sinks/ostream_sink.h"
#include "spdlog/spdlog.h"
#include "tests/util/module_test_util.h"
#include "tests/util/temp_dir.h"

namespace seqserve {
namespace {

namespace fs = std::filesystem;
using testing::Contains;
using testing::Ramp;

// The engine's log lines while it lives.
class LogCapture {
 public:
  LogCapture() {
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(lines_);
    spdlog::drop("engine");
    spdlog::register_logger(std::make_shared<spdlog::logger>("engine", sink));
  }
  ~LogCapture() { spdlog::drop("engine"); }
  std::string text() const { return lines_.str(); }

 private:
  std::ostringstream lines_;
};

// A copy of the bundled LeNet-5 (two convolutions, three Linear layers) as a version dir.
class TuningTest : public ::testing::Test {
 protected:
  TuningTest() : dir_("tuning_test") {
    for (const char* file : {"model.seq", "model.safetensors"}) {
      fs::copy_file(fs::path(SEQSERVE_SOURCE_DIR) / "models" / "lenet" / "1" / file,
                    dir_.path() / file);
    }
  }

  static ModelOptions Tuned(double budget_ms = 20000) {
    ModelOptions options;
    options.tuning.mode = TuningMode::kOn;
    options.tuning.budget_ms = budget_ms;
    options.tuning.cache_dir.clear();
    return options;
  }

  // Loads the model (as a restart would) and compiles the plan for one 28x28 image.
  std::shared_ptr<const Plan> Compile(const ModelOptions& options) {
    absl::StatusOr<std::shared_ptr<Model>> model = Model::Load(dir_.path(), options);
    EXPECT_TRUE(model.ok()) << model.status();
    if (!model.ok()) return nullptr;
    model_ = *model;
    absl::StatusOr<std::shared_ptr<const Plan>> plan = model_->GetPlan(kInput);
    EXPECT_TRUE(plan.ok()) << plan.status();
    return plan.ok() ? *plan : nullptr;
  }

  Tensor Run(const std::shared_ptr<const Plan>& plan) {
    const Tensor input = Ramp(kInput);
    Tensor output(plan->output_shape());
    Executor executor(CpuEngine());
    EXPECT_TRUE(executor.Run(*plan, input.data.data(), output.data.data()).ok());
    return output;
  }

  fs::path CacheFile() const { return dir_.path() / "model.tuning.json"; }
  nlohmann::json ReadCache() const {
    std::ifstream in(CacheFile());
    return nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  }
  void WriteCache(const std::string& text) const { std::ofstream(CacheFile()) << text; }

  static inline const Shape kInput = {1, 1, 28, 28};
  testing::TempDir dir_;
  std::shared_ptr<Model> model_;
};

TEST_F(TuningTest, DecisionsAreWrittenBesideTheModelAndReusedAfterARestart) {
  LogCapture log;
  std::shared_ptr<const Plan> first = Compile(Tuned());
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(first->tuning().tunable_layers, 5);  // 2 Conv2d, 3 Linear
  EXPECT_EQ(first->tuning().timed_layers, 5);
  EXPECT_EQ(first->tuning().cached_layers, 0);
  EXPECT_TRUE(Contains(log.text(), "tuned 5 layer(s) in ")) << log.text();
  EXPECT_TRUE(Contains(log.text(), "(cache miss)")) << log.text();

  const nlohmann::json cache = ReadCache();
  ASSERT_FALSE(cache.is_discarded()) << "no valid " << CacheFile();
  EXPECT_EQ(cache["format"], "seqserve-tuning-1");
  EXPECT_EQ(cache["model_hash"].get<std::string>().size(), 16u);
  const std::string key = TuningPlanKey(kInput, 1, true, true);
  ASSERT_TRUE(cache["plans"].contains(key)) << cache.dump(1);
  for (const char* layer : {"0", "3", "7", "9", "11"}) {
    EXPECT_TRUE(cache["plans"][key].contains(layer)) << layer << " in " << cache.dump(1);
  }

  std::shared_ptr<const Plan> second = Compile(Tuned());
  ASSERT_NE(second, nullptr);
  EXPECT_EQ(second->tuning().cached_layers, 5);
  EXPECT_EQ(second->tuning().timed_layers, 0);
  // Nothing is built or timed with a warm cache: the lookup alone.
  EXPECT_LT(second->tuning().tuning_ms, 50);
  EXPECT_TRUE(Contains(log.text(), "5 layer(s) tuned from the cache in ")) << log.text();
  EXPECT_TRUE(Contains(log.text(), "(cache hit)")) << log.text();
  // The same choices, so the same plan.
  ASSERT_EQ(first->steps().size(), second->steps().size());
  for (size_t s = 0; s < first->steps().size(); ++s) {
    EXPECT_EQ(first->steps()[s].name, second->steps()[s].name);
  }
}

TEST_F(TuningTest, ACorruptCacheFileIsIgnoredWithAWarningAndRewritten) {
  for (const std::string& corrupt :
       {std::string("{\"format\": \"seqserve-tuning-1\", \"plans\": "),  // cut short
        std::string("[1, 2, 3]"),
        std::string("{\"format\": \"seqserve-tuning-1\", \"model_hash\": \"0\", \"plans\": 7}")}) {
    WriteCache(corrupt);
    LogCapture log;
    std::shared_ptr<const Plan> plan = Compile(Tuned());
    ASSERT_NE(plan, nullptr);
    EXPECT_TRUE(Contains(log.text(), "ignoring tuning cache " + CacheFile().string()))
        << log.text();
    EXPECT_EQ(plan->tuning().timed_layers, 5) << corrupt;
    EXPECT_FALSE(ReadCache().is_discarded()) << corrupt;
  }
}

TEST_F(TuningTest, ChangingTheModelInvalidatesItsDecisions) {
  ASSERT_NE(Compile(Tuned()), nullptr);
  const std::string old_hash = ReadCache()["model_hash"];
  std::ofstream(dir_.path() / "model.seq", std::ios::app) << "# retrained\n";
  LogCapture log;
  std::shared_ptr<const Plan> plan = Compile(Tuned());
  ASSERT_NE(plan, nullptr);
  EXPECT_TRUE(Contains(log.text(), "written for model content " + old_hash)) << log.text();
  EXPECT_EQ(plan->tuning().timed_layers, 5);
  EXPECT_NE(ReadCache()["model_hash"], old_hash);
}

TEST_F(TuningTest, AnUnknownImplementationNameIsTimedAgainNotTrusted) {
  ASSERT_NE(Compile(Tuned()), nullptr);
  nlohmann::json cache = ReadCache();
  const std::string key = TuningPlanKey(kInput, 1, true, true);
  cache["plans"][key]["0"] = "warp_drive";
  cache["plans"][key]["7"] = "warp_drive";
  WriteCache(cache.dump());
  LogCapture log;
  std::shared_ptr<const Plan> plan = Compile(Tuned());
  ASSERT_NE(plan, nullptr);
  EXPECT_TRUE(Contains(log.text(), "0: the tuning cache names implementation 'warp_drive'"))
      << log.text();
  EXPECT_EQ(plan->tuning().timed_layers, 2);
  EXPECT_EQ(plan->tuning().cached_layers, 3);
  EXPECT_NE(ReadCache()["plans"][key]["0"], "warp_drive");
}

TEST_F(TuningTest, TuningOffTimesNothingAndWritesNothing) {
  ModelOptions options;
  options.tuning.mode = TuningMode::kOff;
  std::shared_ptr<const Plan> plan = Compile(options);
  ASSERT_NE(plan, nullptr);
  EXPECT_EQ(plan->tuning().tunable_layers, 0);
  EXPECT_EQ(plan->tuning().tuning_ms, 0);
  EXPECT_FALSE(fs::exists(CacheFile()));
}

TEST_F(TuningTest, ASpentBudgetLeavesTheDefaultsAndSaysSo) {
  LogCapture log;
  std::shared_ptr<const Plan> plan = Compile(Tuned(/*budget_ms=*/0));
  ASSERT_NE(plan, nullptr);
  EXPECT_EQ(plan->tuning().untimed_layers, 5);
  EXPECT_EQ(plan->tuning().timed_layers, 0);
  EXPECT_TRUE(Contains(log.text(), "5 left at their default: tuning budget of 0 ms spent"))
      << log.text();
  // Nothing was decided, so nothing is cached: the next start tunes them.
  EXPECT_FALSE(fs::exists(CacheFile()));
}

TEST_F(TuningTest, EachThreadCountHasItsOwnDecisionsInOneFile) {
  ModelOptions two = Tuned();
  two.num_threads = 2;
  ASSERT_NE(Compile(Tuned()), nullptr);
  ASSERT_NE(Compile(two), nullptr);
  const nlohmann::json cache = ReadCache();
  EXPECT_TRUE(cache["plans"].contains(TuningPlanKey(kInput, 1, true, true))) << cache.dump(1);
  EXPECT_TRUE(cache["plans"].contains(TuningPlanKey(kInput, 2, true, true))) << cache.dump(1);
}

TEST_F(TuningTest, AnExplicitCacheDirectoryHoldsTheFileNamedByTheModelHash) {
  testing::TempDir cache_dir("tuning_cache_dir");
  ModelOptions options = Tuned();
  options.tuning.cache_dir = (cache_dir.path() / "nested").string();
  ASSERT_NE(Compile(options), nullptr);
  EXPECT_FALSE(fs::exists(CacheFile()));
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(cache_dir.path() / "nested")) {
    files.push_back(entry.path());
  }
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(files[0].extension(), ".json");
  EXPECT_TRUE(files[0].filename().string().ends_with(".tuning.json")) << files[0];
}

// Whatever timing picks, or the forced choice of each candidate, the plan computes what the
// untuned plan computes (both in fp32 with oneDNN's accumulation orders, so within 1e-4).
TEST(TunedPlans, GiveTheUntunedResults) {
  const std::string seq =
      "nn.Sequential(nn.Conv2d(3, 32, 3, stride=2, padding=1), nn.BatchNorm2d(32), nn.ReLU(), "
      "nn.Conv2d(32, 32, 3, padding=1, groups=32), nn.BatchNorm2d(32), nn.ReLU(), "
      "nn.Conv2d(32, 64, 1), nn.ReLU(), nn.MaxPool2d(2), nn.ConvTranspose2d(64, 16, 2, 2), "
      "nn.GELU(), nn.Flatten(), nn.Linear(16 * 16 * 16, 10))";
  const TensorMap weights = testing::PseudoWeights(seq);
  const Tensor input = Ramp({2, 3, 32, 32});
  auto run = [&](TuningMode mode, int forced) {
    ModelOptions options;
    options.tuning.mode = mode;
    options.tuning.forced_candidate = forced;
    options.tuning.budget_ms = 20000;
    testing::TempDir cache("tuned_plans");
    options.tuning.cache_dir = cache.path().string();
    absl::StatusOr<std::shared_ptr<Model>> model =
        Model::FromSource(seq, "model.seq", &weights, "model.safetensors", options);
    EXPECT_TRUE(model.ok()) << model.status();
    return model.ok() ? testing::RunModel(**model, input) : Tensor();
  };
  const Tensor reference = run(TuningMode::kOff, 0);
  ASSERT_EQ(reference.numel(), 20);
  std::vector<std::pair<TuningMode, int>> variants = {{TuningMode::kOn, 0}};
  for (int forced = 1; forced <= 6; ++forced) variants.push_back({TuningMode::kForced, forced});
  for (const auto& [mode, forced] : variants) {
    const Tensor out = run(mode, forced);
    ASSERT_EQ(out.numel(), reference.numel());
    for (int64_t i = 0; i < out.numel(); ++i) {
      EXPECT_NEAR(out.data[i], reference.data[i], 1e-4 * (1 + std::fabs(reference.data[i])))
          << "element " << i << ", forced candidate " << forced;
    }
  }
}

// Sets an environment variable for its lifetime, then restores it.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    const char* old = std::getenv(name);
    if (old != nullptr) old_ = old;
    ::setenv(name, value, 1);
  }
  ~ScopedEnv() {
    if (old_) {
      ::setenv(name_, old_->c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

TEST(TuningOptions, ComeFromTheEnvironment) {
  ScopedEnv mode("SEQSERVE_TUNING", "off");
  ScopedEnv budget("SEQSERVE_TUNING_BUDGET_MS", "250");
  ScopedEnv cache("SEQSERVE_TUNING_CACHE", "/var/cache/seqserve");
  ::setenv("SEQSERVE_TUNING_BUDGET_MS", "250", 1);
  ::setenv("SEQSERVE_TUNING_CACHE", "/var/cache/seqserve", 1);
  TuningOptions options = TuningOptions::FromEnvironment();
  EXPECT_EQ(options.mode, TuningMode::kOff);
  EXPECT_EQ(options.budget_ms, 250);
  EXPECT_EQ(options.cache_dir, "/var/cache/seqserve");
  ScopedEnv on("SEQSERVE_TUNING", "on");
  ScopedEnv bad_budget("SEQSERVE_TUNING_BUDGET_MS", "soon");  // not a number: default stays
  options = TuningOptions::FromEnvironment();
  EXPECT_EQ(options.mode, TuningMode::kOn);
  EXPECT_EQ(options.budget_ms, TuningOptions().budget_ms);
}

TEST(ContentHash, DependsOnEveryByteButNotOnHowTheyArrive) {
  std::string bytes(1000, '\0');
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>(i * 7);
  ContentHash whole;
  whole.Update(bytes);
  ContentHash pieces;
  for (size_t at = 0; at < bytes.size(); at += 13) pieces.Update(bytes.substr(at, 13));
  EXPECT_EQ(whole.Hex(), pieces.Hex());
  EXPECT_EQ(whole.Hex().size(), 16u);
  for (size_t i : {size_t{0}, size_t{31}, size_t{32}, size_t{999}}) {
    std::string changed = bytes;
    changed[i] ^= 1;
    ContentHash other;
    other.Update(changed);
    EXPECT_NE(other.Hex(), whole.Hex()) << "byte " << i;
  }
  ContentHash longer;
  longer.Update(bytes + std::string(1, '\0'));
  EXPECT_NE(longer.Hex(), whole.Hex());
}

}  // namespace
}  // namespace seqserve
