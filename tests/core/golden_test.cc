// Every golden case (tests/data/golden/<case>/, produced by real PyTorch 1.13 with
// tests/golden/make_goldens.py) must load and reproduce PyTorch's output, with BatchNorm
// folding and post-op fusion both on and off, and with every Conv/Linear implementation
// compile-time tuning may choose: tuning off (the defaults), on (timed, as a server runs),
// and forced to the 2nd to 6th candidate of every tunable layer (8-channel blocks and
// channels-last convolutions, each with post-ops and with its activations as a separate
// pass; inner products for Linear), so that each implementation is checked whatever the
// timings pick.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "core/engine.h"
#include "core/executor.h"
#include "core/model.h"
#include "core/module_registry.h"
#include "common/npy.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/util/temp_dir.h"

namespace seqserve {
namespace {

namespace fs = std::filesystem;

fs::path GoldenDir() { return fs::path(SEQSERVE_TEST_DATA_DIR) / "golden"; }

std::vector<std::string> CaseNames() {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(GoldenDir())) {
    if (entry.is_directory()) names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

struct Tolerance {
  double rtol = 1e-4;
  double atol = 1e-5;
};

Tolerance ReadTolerance(const fs::path& dir) {
  std::ifstream file(dir / "case.json");
  nlohmann::json j = nlohmann::json::parse(file);
  return Tolerance{j.at("rtol").get<double>(), j.at("atol").get<double>()};
}

// |actual - expected| <= atol + rtol * |expected| everywhere, NaN matching NaN and an
// infinity only itself.
void ExpectClose(const Tensor& actual, const Tensor& expected, Tolerance tol,
                 const std::string& what) {
  ASSERT_EQ(actual.shape, expected.shape) << what;
  int reported = 0;
  for (int64_t i = 0; i < expected.numel(); ++i) {
    const float a = actual.data[i], e = expected.data[i];
    if (std::isnan(e) && std::isnan(a)) continue;
    // An infinite expectation wants that infinity (a relative tolerance of it would be inf).
    const double limit = std::isinf(e) ? 0.0 : tol.atol + tol.rtol * std::fabs(e);
    if (!(a == e || std::fabs(a - e) <= limit) && reported++ < 5) {
      ADD_FAILURE() << what << ": element " << i << " is " << a << ", PyTorch says " << e
                    << " (difference " << std::fabs(a - e) << " > " << limit << ")";
    }
  }
}

enum class Tuning { kOff, kOn, kForced1, kForced2, kForced3, kForced4, kForced5 };

struct GoldenParam {
  std::string name;
  bool fuse;
  Tuning tuning;
};

// Where tuned runs keep their decisions: never beside the committed test data.
const std::filesystem::path& TuningCacheDir() {
  static const testing::TempDir* dir = new testing::TempDir("golden_tuning");
  return dir->path();
}

TuningOptions TuningFor(Tuning tuning) {
  TuningOptions options;
  options.cache_dir = TuningCacheDir().string();
  options.budget_ms = 10000;
  switch (tuning) {
    case Tuning::kOff: options.mode = TuningMode::kOff; break;
    case Tuning::kOn: options.mode = TuningMode::kOn; break;
    default:
      options.mode = TuningMode::kForced;
      options.forced_candidate = static_cast<int>(tuning) - static_cast<int>(Tuning::kForced1) + 1;
  }
  return options;
}

class GoldenTest : public ::testing::TestWithParam<GoldenParam> {};

TEST_P(GoldenTest, MatchesPyTorch) {
  const fs::path dir = GoldenDir() / GetParam().name;
  ModelOptions options;
  options.fuse = GetParam().fuse;
  options.tuning = TuningFor(GetParam().tuning);
  absl::StatusOr<std::shared_ptr<Model>> model = Model::Load(dir, options);
  ASSERT_TRUE(model.ok()) << model.status();
  const Tolerance tol = ReadTolerance(dir);
  Executor executor(CpuEngine());
  int inputs = 0;
  for (int k = 0; fs::exists(dir / ("input_" + std::to_string(k) + ".npy")); ++k, ++inputs) {
    // float32, or int64/int32 ids for models that start with an Embedding.
    absl::StatusOr<TypedTensor> input =
        ReadTypedNpy(dir / ("input_" + std::to_string(k) + ".npy"));
    absl::StatusOr<Tensor> expected = ReadNpy(dir / ("expected_" + std::to_string(k) + ".npy"));
    ASSERT_TRUE(input.ok() && expected.ok());
    absl::StatusOr<Shape> shape = (*model)->OutputShape(input->shape);
    ASSERT_TRUE(shape.ok()) << shape.status();
    EXPECT_EQ(*shape, expected->shape) << "shape inference for input " << k;
    // Twice: the second run reuses the cached plan and the executor's buffers.
    for (int repeat = 0; repeat < 2; ++repeat) {
      absl::StatusOr<Tensor> output = (*model)->Run(executor, input->view());
      ASSERT_TRUE(output.ok()) << output.status();
      ExpectClose(*output, *expected, tol,
                  GetParam().name + " input " + std::to_string(k) + " " +
                      ShapeToString(input->shape));
    }
  }
  EXPECT_GT(inputs, 0);
}

std::vector<GoldenParam> AllParams() {
  std::vector<GoldenParam> params;
  for (const std::string& name : CaseNames()) {
    for (Tuning tuning : {Tuning::kOff, Tuning::kOn, Tuning::kForced1, Tuning::kForced2,
                          Tuning::kForced3, Tuning::kForced4, Tuning::kForced5}) {
      params.push_back({name, true, tuning});
      params.push_back({name, false, tuning});
    }
  }
  return params;
}

std::string ParamName(const ::testing::TestParamInfo<GoldenParam>& info) {
  static const char* const kTuning[] = {"",         "_tuned",   "_forced1", "_forced2",
                                        "_forced3", "_forced4", "_forced5"};
  return info.param.name + (info.param.fuse ? "_fused" : "_unfused") +
         kTuning[static_cast<int>(info.param.tuning)];
}

INSTANTIATE_TEST_SUITE_P(Cases, GoldenTest, ::testing::ValuesIn(AllParams()), ParamName);

// Every module the engine registers (SPEC §3's list) appears in at least one golden case,
// so no module ships without a comparison against real PyTorch.
TEST(GoldenCoverage, EveryRegisteredModuleHasAPyTorchGolden) {
  std::string all;
  for (const std::string& name : CaseNames()) {
    std::ifstream file(GoldenDir() / name / "model.seq");
    all += std::string(std::istreambuf_iterator<char>(file), {});
  }
  const std::vector<std::string> modules = ModuleTypes();
  EXPECT_GE(modules.size(), 94u);  // SPEC §3 lists 94 besides Sequential
  for (const std::string& m : modules) {
    EXPECT_TRUE(std::regex_search(all, std::regex("\\b" + m + "\\(")))
        << m << " has no golden case";
  }
}

}  // namespace
}  // namespace seqserve
