// `seqserve bench` as a user runs it, on the bundled models: the --json report's keys and
// their consistency, the input shape it picks or is given, and the errors for a missing
// model, a bad --shape and an unsupported precision (exit 1, message on stderr).
// The numeric expectations are derived from the definitions, not measured: percentiles by
// nearest rank are ordered; samples_per_s is batch * 1000 / mean_ms by definition; and for
// non-negative call times the mean is at least half the median (half the calls take at
// least the median) and at most the maximum, so batch * 1000 / max_ms <= samples_per_s <=
// 2 * batch * 1000 / median_ms however noisy the machine is.
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "core/precision.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/util/temp_dir.h"

namespace seqserve {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

struct RunResult {
  int exit_code = -1;
  std::string out;  // stdout
  std::string err;  // stderr
};

// Runs `seqserve ARGS` (with `env`, "NAME=value ..." before it), capturing stdout and stderr
// apart (stderr through a file).
RunResult Seqserve(const std::string& args, const std::string& env = "") {
  testing::TempDir dir("bench_command_test");
  const fs::path err_path = dir.path() / "stderr";
  RunResult result;
  const std::string command =
      absl::StrCat(env.empty() ? "" : "env " + env + " ", SEQSERVE_BINARY, " ", args, " 2>",
                   err_path.string());
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return result;
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof buffer, pipe)) > 0) result.out.append(buffer, n);
  const int status = pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::FILE* err = std::fopen(err_path.c_str(), "r");
  if (err != nullptr) {
    while ((n = fread(buffer, 1, sizeof buffer, err)) > 0) result.err.append(buffer, n);
    std::fclose(err);
  }
  return result;
}

std::string Bundled(const std::string& model) {
  return (fs::path(SEQSERVE_SOURCE_DIR) / "models" / model).string();
}

// The total FLOPs `seqserve check` prints for a batch-1 input.
int64_t CheckTotalFlops(const std::string& model, const std::string& input_shape) {
  RunResult check =
      Seqserve(absl::StrCat("check ", Bundled(model), " --input-shape ", input_shape));
  EXPECT_EQ(check.exit_code, 0) << check.err;
  std::istringstream lines(check.out);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("total", 0) != 0) continue;
    const std::string last = line.substr(line.find_last_of(' ') + 1);
    return std::stoll(absl::StrReplaceAll(last, {{",", ""}}));
  }
  ADD_FAILURE() << "no total row in:\n" << check.out;
  return -1;
}

TEST(BenchCommand, JsonReportIsConsistent) {
  const int batch = 4;
  RunResult r = Seqserve(
      absl::StrCat("bench ", Bundled("lenet"), " --batch ", batch, " --seconds 0.2 --json"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json j = nlohmann::json::parse(r.out);
  for (const char* key :
       {"model_dir", "version_dir", "input_shape", "output_shape", "batch", "threads",
        "precision", "load_ms", "tuning_ms", "first_compile_ms", "warmup_calls", "warmup_s",
        "iterations", "measured_s", "p10_ms", "median_ms", "p90_ms", "p99_ms", "min_ms",
        "max_ms", "mean_ms", "samples_per_s", "flops_per_call", "gflops", "weight_bytes",
        "workspace_bytes"}) {
    EXPECT_TRUE(j.contains(key)) << key << " missing from " << r.out;
  }
  EXPECT_EQ(j["input_shape"], nlohmann::json({batch, 1, 28, 28}));
  EXPECT_EQ(j["output_shape"], nlohmann::json({batch, 10}));
  EXPECT_EQ(j["batch"], batch);
  EXPECT_EQ(j["threads"], 1);
  EXPECT_EQ(j["precision"], "fp32");
  EXPECT_GT(j["load_ms"].get<double>(), 0);
  EXPECT_GT(j["first_compile_ms"].get<double>(), 0);
  // ctest runs the tests with SEQSERVE_TUNING=off: the first compile times no candidates.
  EXPECT_EQ(j["tuning_ms"].get<double>(), 0);
  EXPECT_EQ(j["input_dtype"], "float32");
  EXPECT_GE(j["warmup_calls"].get<int>(), 2);
  EXPECT_GE(j["iterations"].get<int>(), 10);
  EXPECT_GE(j["measured_s"].get<double>(), 0.2);

  const double min = j["min_ms"], p10 = j["p10_ms"], median = j["median_ms"],
               p90 = j["p90_ms"], p99 = j["p99_ms"], max = j["max_ms"], mean = j["mean_ms"];
  EXPECT_GT(min, 0);
  EXPECT_LE(min, p10);
  EXPECT_LE(p10, median);
  EXPECT_LE(median, p90);
  EXPECT_LE(p90, p99);
  EXPECT_LE(p99, max);
  EXPECT_LE(mean, max);
  const double samples_per_s = j["samples_per_s"];
  EXPECT_NEAR(samples_per_s * mean / 1e3, batch, batch * 1e-9);
  EXPECT_LE(samples_per_s, 2 * batch * 1e3 / median);
  EXPECT_GE(samples_per_s, batch * 1e3 / max);

  // FLOPs of one forward pass scale with the batch; gflops is flops per mean call.
  EXPECT_EQ(j["flops_per_call"].get<int64_t>(), batch * CheckTotalFlops("lenet", "1,1,28,28"));
  EXPECT_NEAR(j["gflops"].get<double>(), j["flops_per_call"].get<double>() / (mean * 1e6),
              1e-9 * j["gflops"].get<double>());
  EXPECT_GT(j["weight_bytes"].get<int64_t>(), 0);
  EXPECT_GT(j["workspace_bytes"].get<int64_t>(), 0);
}

TEST(BenchCommand, TextReportNamesEveryFigure) {
  RunResult r = Seqserve(absl::StrCat("bench ", Bundled("lenet"), " --seconds 0.05"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* label : {"load", "tuning", "first compile", "median", "p90", "p99",
                            "samples/s", "[1, 1, 28, 28] -> output [1, 10]", "fp32, 1 thread"}) {
    EXPECT_THAT(r.out, HasSubstr(label));
  }
}

TEST(BenchCommand, ShapeAndThreadsAreTakenAsGiven) {
  // seed is two unpadded 5x5 convolutions: 32 -> 28 -> 24.
  RunResult r = Seqserve(absl::StrCat("bench ", Bundled("seed"),
                                      " --batch 2 --shape 1,32,32 --threads 2 --seconds 0.05 "
                                      "--json --version 1"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["input_shape"], nlohmann::json({2, 1, 32, 32}));
  EXPECT_EQ(j["output_shape"], nlohmann::json({2, 64, 24, 24}));
  EXPECT_EQ(j["threads"], 2);
}

TEST(BenchCommand, FlattenFirstModelTakesItsInputDimsFromConfig) {
  // The bundled mlp starts with Flatten (no implied input); its config.pbtxt says 1x28x28.
  RunResult r = Seqserve(absl::StrCat("bench ", Bundled("mlp"), " --seconds 0.05 --json"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["input_shape"], nlohmann::json({1, 1, 28, 28}));

  // The same version without the config: the user must say the shape.
  testing::TempDir dir("bench_command_test_mlp");
  fs::copy(fs::path(Bundled("mlp")) / "1", dir.path() / "1");
  RunResult bare = Seqserve(absl::StrCat("bench ", dir.path().string(), " --seconds 0.05"));
  EXPECT_EQ(bare.exit_code, 1);
  EXPECT_THAT(bare.err, HasSubstr("pass --shape"));
  RunResult given =
      Seqserve(absl::StrCat("bench ", dir.path().string(), " --shape 784 --seconds 0.05 --json"));
  ASSERT_EQ(given.exit_code, 0) << given.err;
  EXPECT_EQ(nlohmann::json::parse(given.out)["input_shape"], nlohmann::json({1, 784}));
}

TEST(BenchCommand, TuningLogGoesToStderrAndIsReported) {
  // With tuning on (ctest turns it off), the engine logs what it tuned; stdout must still be
  // exactly one JSON object, and the report counts the tunable layers (LeNet-5: 2 Conv2d and
  // 3 Linear, each with a choice of implementation).
  testing::TempDir cache("bench_command_test_tuning");
  RunResult r = Seqserve(absl::StrCat("bench ", Bundled("lenet"), " --seconds 0.05 --json"),
                         absl::StrCat("SEQSERVE_TUNING=on SEQSERVE_TUNING_CACHE=",
                                      cache.path().string()));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json j = nlohmann::json::parse(r.out);  // throws (fails) on any log line
  EXPECT_GT(j["tuning_ms"].get<double>(), 0);
  EXPECT_EQ(j["tuned_layers"].get<int>() + j["tuning_cached_layers"].get<int>(), 5);
  EXPECT_THAT(r.err, HasSubstr("lenet"));
}

TEST(BenchCommand, IdModelIsMeasuredOnIdsOfItsType) {
  // The bundled text classifier takes int64 ids ([batch, 128], from its config.pbtxt); random
  // floats would be refused by its Embedding, so a report at all means ids were sent.
  RunResult r =
      Seqserve(absl::StrCat("bench ", Bundled("textclass"), " --batch 2 --seconds 0.05 --json"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["input_shape"], nlohmann::json({2, 128}));
  EXPECT_EQ(j["input_dtype"], "int64");
  EXPECT_EQ(j["output_shape"], nlohmann::json({2, 4}));
}

TEST(BenchCommand, MissingModelDirIsAnError) {
  RunResult r = Seqserve("bench /nonexistent/seqserve_model --seconds 0.05");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err, "error: /nonexistent/seqserve_model: no such directory\n");
  EXPECT_EQ(r.out, "");
}

TEST(BenchCommand, BadShapeIsAnError) {
  RunResult unparsable = Seqserve(absl::StrCat("bench ", Bundled("lenet"), " --shape 1,x,28"));
  EXPECT_EQ(unparsable.exit_code, 1);
  EXPECT_THAT(unparsable.err, HasSubstr("--shape: expected the positive comma-separated sizes "
                                        "of one sample (without the batch), such as 3,224,224, "
                                        "got '1,x,28'"));
  RunResult zero = Seqserve(absl::StrCat("bench ", Bundled("lenet"), " --shape 1,0,28"));
  EXPECT_EQ(zero.exit_code, 1);
  EXPECT_THAT(zero.err, HasSubstr("got '1,0,28'"));
  // LeNet-5's Linear(400, 120) takes 16x5x5 features, which only a 28x28 image gives.
  RunResult wrong = Seqserve(absl::StrCat("bench ", Bundled("lenet"), " --shape 1,32,32"));
  EXPECT_EQ(wrong.exit_code, 1);
  EXPECT_THAT(wrong.err, HasSubstr("input [1, 1, 32, 32] (--shape 1,32,32): "));
  EXPECT_THAT(wrong.err, HasSubstr("Linear"));
}

TEST(BenchCommand, UnsupportedPrecisionIsAnError) {
  RunResult unknown = Seqserve(absl::StrCat("bench ", Bundled("lenet"), " --precision fp64"));
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_EQ(unknown.err, "error: unknown precision 'fp64' (supported: fp32, bf16, int8)\n");
}

// bf16 runs where the CPU has AVX512_BF16 and falls back to fp32 (saying why) elsewhere; the
// report names the precision asked for and the one the plan runs in either way.
TEST(BenchCommand, Bf16ReportsThePrecisionThePlanRunsIn) {
  RunResult run = Seqserve(
      absl::StrCat("bench ", Bundled("mlp"), " --batch 8 --seconds 0.05 --precision bf16 --json"));
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const nlohmann::json j = nlohmann::json::parse(run.out);
  EXPECT_EQ(j["precision"], "bf16");
  EXPECT_EQ(j["effective_precision"], CpuHasBf16() ? "bf16" : "fp32");
}

}  // namespace
}  // namespace seqserve
