#include "server/offline/bench_command.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "common/tensor.h"
#include "core/compiler.h"
#include "core/engine.h"
#include "core/executor.h"
#include "core/model.h"
#include "core/precision.h"
#include "fmt/core.h"
#include "nlohmann/json.hpp"
#include "server/config/cpu_budget.h"
#include "server/config/config_parser.h"
#include "server/config/model_config.h"
#include "server/offline/input_shape.h"
#include "server/offline/random_input.h"
#include "server/repository/model_dir.h"

namespace seqserve {
namespace {

namespace fs = std::filesystem;
using WallClock = std::chrono::steady_clock;  // seqserve::Clock is the schedulers' injectable one

// Warm-up: at least this many calls (the first one allocates and first touches the
// executor's arena), and at least min(kMaxWarmupSeconds, seconds / 4) of them.
constexpr int kMinWarmupCalls = 2;
constexpr double kMaxWarmupSeconds = 0.5;
// Input values: standard normal from this seed, so that runs compare.
constexpr uint32_t kInputSeed = 42;

double SecondsSince(WallClock::time_point start) {
  return std::chrono::duration<double>(WallClock::now() - start).count();
}

double MillisSince(WallClock::time_point start) { return SecondsSince(start) * 1e3; }

// The sample dims of the model's config.pbtxt (beside the version directory), when it
// batches (max_batch_size > 0) and fixes every input dim; nullopt when there is no such
// config. A config.pbtxt that does not parse is an error: the server would refuse it too.
absl::StatusOr<std::optional<Shape>> ConfigSampleDims(const fs::path& version_dir) {
  const fs::path config_path = version_dir.parent_path() / "config.pbtxt";
  if (!fs::exists(config_path)) return std::nullopt;
  absl::StatusOr<inference::ModelConfig> config = ParseModelConfig(config_path);
  if (!config.ok()) return config.status();
  if (config->max_batch_size() <= 0 || config->input_size() != 1) return std::nullopt;
  Shape dims(config->input(0).dims().begin(), config->input(0).dims().end());
  if (dims.empty() || std::any_of(dims.begin(), dims.end(), [](int64_t d) { return d <= 0; })) {
    return std::nullopt;
  }
  return dims;
}

// The benchmarked input: [batch, sample dims...], checked against the model.
absl::StatusOr<Shape> BenchInput(const Model& model, const fs::path& version_dir,
                                 const BenchOptions& options) {
  Shape sample;
  std::string origin;
  if (!options.shape.empty()) {
    std::optional<Shape> dims = ParseSizeList(options.shape);
    if (!dims || std::count(dims->begin(), dims->end(), 0) > 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--shape: expected the positive comma-separated sizes of one sample (without the "
          "batch), such as 3,224,224, got '",
          options.shape, "'"));
    }
    sample = *dims;
    origin = absl::StrCat(" (--shape ", options.shape, ")");
  } else if (model.InputDims()) {
    absl::StatusOr<Shape> representative =
        RepresentativeInput(model, "pass --shape with the sizes of one sample");
    if (!representative.ok()) return representative.status();
    sample.assign(representative->begin() + 1, representative->end());
  } else {
    absl::StatusOr<std::optional<Shape>> configured = ConfigSampleDims(version_dir);
    if (!configured.ok()) return configured.status();
    if (!*configured) {
      return absl::InvalidArgumentError(
          "the first module does not imply an input shape and no config.pbtxt beside the "
          "version fixes the input dims; pass --shape with the sizes of one sample, e.g. "
          "--shape 784");
    }
    sample = **configured;
    origin = " (config.pbtxt input dims)";
  }
  Shape input = {options.batch};
  input.insert(input.end(), sample.begin(), sample.end());
  absl::Status fits = model.OutputShape(input).status();
  if (!fits.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("input ", ShapeToString(input), origin, ": ", fits.message()));
  }
  return input;
}

// The value at nearest rank `fraction` of ascending `sorted` (non-empty): the smallest
// value with at least that fraction of the calls at or below it.
double Percentile(const std::vector<double>& sorted, double fraction) {
  const size_t rank = static_cast<size_t>(std::ceil(fraction * static_cast<double>(sorted.size())));
  return sorted[std::clamp<size_t>(rank, 1, sorted.size()) - 1];
}

void PrintError(const absl::Status& status) {
  std::fprintf(stderr, "error: %s\n", std::string(status.message()).c_str());
}

}  // namespace

int RunBenchCommand(const BenchOptions& options) {
  absl::StatusOr<Precision> precision = ParsePrecision(options.precision);
  if (!precision.ok()) return PrintError(precision.status()), 1;
  if (options.batch < 1 || options.threads < 1 || !(options.seconds > 0) ||
      !std::isfinite(options.seconds)) {
    PrintError(absl::InvalidArgumentError(absl::StrCat(
        "--batch and --threads must be at least 1 and --seconds positive, got --batch ",
        options.batch, " --threads ", options.threads, " --seconds ", options.seconds)));
    return 1;
  }
  absl::StatusOr<fs::path> dir = ResolveVersionDir(options.model_dir, options.version);
  if (!dir.ok()) return PrintError(dir.status()), 1;

  ModelOptions model_options;
  model_options.num_threads = options.threads;
  model_options.precision = *precision;
  const WallClock::time_point load_start = WallClock::now();
  absl::StatusOr<std::shared_ptr<Model>> model = Model::Load(*dir, model_options);
  if (!model.ok()) return PrintError(model.status()), 1;
  const double load_ms = MillisSince(load_start);

  absl::StatusOr<Shape> input_shape = BenchInput(**model, *dir, options);
  if (!input_shape.ok()) return PrintError(input_shape.status()), 1;
  int64_t flops = 0;
  {
    const std::vector<Layer>& layers = (*model)->layers();
    absl::StatusOr<std::vector<Shape>> shapes = InferShapes(layers, *input_shape);
    if (!shapes.ok()) return PrintError(shapes.status()), 1;
    for (size_t i = 0; i < layers.size(); ++i) {
      flops += layers[i].module->Flops(i == 0 ? *input_shape : (*shapes)[i - 1]);
    }
  }

  // The first compile includes compile-time tuning (timing candidate implementations per
  // layer, or reading the decisions cached beside the model); the plan reports its part.
  const DType dtype = (*model)->InputDTypes().front();
  const WallClock::time_point compile_start = WallClock::now();
  absl::StatusOr<std::shared_ptr<const Plan>> plan = (*model)->GetPlan(*input_shape, dtype);
  if (!plan.ok()) return PrintError(plan.status()), 1;
  const double first_compile_ms = MillisSince(compile_start);
  const TuningReport& tuning = (*plan)->tuning();
  const int reduced_layers = (*plan)->reduced_layers();
  const int weighted_layers = (*plan)->weighted_layers();
  const double tuning_ms = tuning.tuning_ms;

  const TypedTensor input = RandomInput(**model, *input_shape, dtype, kInputSeed);
  Tensor output((*plan)->output_shape());
  Executor executor(CpuEngine());
  auto call = [&] { return executor.Run(**plan, input.view(), output.data.data()); };

  const double warmup_target_s = std::min(kMaxWarmupSeconds, options.seconds / 4);
  int warmup_calls = 0;
  const WallClock::time_point warmup_start = WallClock::now();
  while (warmup_calls < kMinWarmupCalls || SecondsSince(warmup_start) < warmup_target_s) {
    absl::Status status = call();
    if (!status.ok()) return PrintError(status), 1;
    ++warmup_calls;
  }
  const double warmup_s = SecondsSince(warmup_start);

  std::vector<double> call_ms;
  const WallClock::time_point measure_start = WallClock::now();
  while (static_cast<int>(call_ms.size()) < kMinTimedCalls ||
         SecondsSince(measure_start) < options.seconds) {
    const WallClock::time_point t0 = WallClock::now();
    absl::Status status = call();
    call_ms.push_back(MillisSince(t0));
    if (!status.ok()) return PrintError(status), 1;
  }
  const double measured_s = SecondsSince(measure_start);

  double total_ms = 0;
  for (double ms : call_ms) total_ms += ms;
  std::sort(call_ms.begin(), call_ms.end());
  const double mean_ms = total_ms / static_cast<double>(call_ms.size());
  // Throughput over the timed calls themselves: batch * 1000 / mean_ms.
  const double samples_per_s = static_cast<double>(options.batch) * 1e3 / mean_ms;
  const double p10_ms = Percentile(call_ms, 0.1);
  const double median_ms = Percentile(call_ms, 0.5);
  const double p90_ms = Percentile(call_ms, 0.9);
  const double p99_ms = Percentile(call_ms, 0.99);
  const double gflops = static_cast<double>(flops) / (mean_ms * 1e6);

  if (options.json) {
    nlohmann::json report = {
        {"model_dir", options.model_dir},
        {"version_dir", dir->string()},
        {"input_shape", *input_shape},
        {"output_shape", (*plan)->output_shape()},
        {"batch", options.batch},
        {"threads", options.threads},
        {"precision", options.precision},
        {"effective_precision", PrecisionName((*plan)->precision())},
        // Layers with weights in the plan's reduced precision (bf16 or int8); "bf16_layers"
        // is the name of earlier reports, kept for scripts that read it.
        {"reduced_layers", reduced_layers},
        {"bf16_layers", (*plan)->precision() == Precision::kBf16 ? reduced_layers : 0},
        {"weighted_layers", weighted_layers},
        {"load_ms", load_ms},
        {"tuning_ms", tuning_ms},
        {"tuned_layers", tuning.timed_layers},
        {"tuning_cached_layers", tuning.cached_layers},
        {"input_dtype", DTypeName(dtype)},
        {"first_compile_ms", first_compile_ms},
        {"warmup_calls", warmup_calls},
        {"warmup_s", warmup_s},
        {"iterations", call_ms.size()},
        {"measured_s", measured_s},
        {"p10_ms", p10_ms},
        {"median_ms", median_ms},
        {"p90_ms", p90_ms},
        {"p99_ms", p99_ms},
        {"min_ms", call_ms.front()},
        {"max_ms", call_ms.back()},
        {"mean_ms", mean_ms},
        {"samples_per_s", samples_per_s},
        {"flops_per_call", flops},
        {"gflops", gflops},
        {"weight_bytes", (*model)->weight_bytes()},
        {"workspace_bytes", executor.workspace_bytes()},
    };
    fmt::print("{}\n", report.dump());
    return 0;
  }
  fmt::print("model          {}\n", dir->string());
  fmt::print("input          {} -> output {}\n", ShapeToString(*input_shape),
             ShapeToString((*plan)->output_shape()));
  fmt::print("precision      {}{}, {} thread{}{}\n", PrecisionName((*plan)->precision()),
             (*model)->precision_fallback_reason().empty()
                 ? std::string()
                 : fmt::format(" ({} asked for: {})", options.precision,
                               (*model)->precision_fallback_reason()),
             options.threads,
             options.threads == 1 ? "" : "s",
             options.threads > AvailableCpus()
                 ? fmt::format(" (more than the {} CPUs available: expect contention)",
                               AvailableCpus())
                 : "");
  if ((*plan)->precision() != Precision::kFp32) {
    fmt::print("{} layers    {} of {} steps with weights (tuning keeps the others in fp32)\n",
               PrecisionName((*plan)->precision()), reduced_layers, weighted_layers);
  }
  fmt::print("load           {:.1f} ms ({} KiB weights)\n", load_ms,
             (*model)->weight_bytes() / 1024);
  fmt::print("tuning         {:.1f} ms of the first compile ({} of {} tunable layers timed, {} "
             "from the cache)\n",
             tuning_ms, tuning.timed_layers, tuning.tunable_layers, tuning.cached_layers);
  fmt::print("first compile  {:.1f} ms ({} KiB activations and scratchpad)\n", first_compile_ms,
             executor.workspace_bytes() / 1024);
  fmt::print("warm-up        {} calls in {:.2f} s\n", warmup_calls, warmup_s);
  fmt::print("measured       {} calls in {:.2f} s\n", call_ms.size(), measured_s);
  fmt::print("latency        median {:.3f} ms, p90 {:.3f} ms, p99 {:.3f} ms (min {:.3f}, "
             "mean {:.3f}, max {:.3f})\n",
             median_ms, p90_ms, p99_ms, call_ms.front(), mean_ms, call_ms.back());
  fmt::print("throughput     {:.1f} samples/s ({:.1f} GFLOP/s)\n", samples_per_s, gflops);
  return 0;
}

}  // namespace seqserve
