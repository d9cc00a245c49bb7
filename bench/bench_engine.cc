// seqserve's side of the engine benchmark: the models of bench/models.py run in-process
// through Model + Executor, timed exactly as bench_torch.py and bench_ort.js time theirs
// (warm-up, then median of per-call wall times). Also measures oneDNN's sgemm GFLOP/s in
// the same run (the practical ceiling) and load + first-compile time of a repository.
// Prints one JSON line per measurement.
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "core/engine.h"
#include "core/executor.h"
#include "core/model.h"
#include "common/npy.h"
#include "dnnl.hpp"
#include "nlohmann/json.hpp"

namespace {

using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

struct Timing {
  double median_ms;
  double p10_ms;
  size_t iterations;
};

template <typename Fn>
Timing Measure(Fn&& fn, double seconds) {
  const auto warm_end = Clock::now() + std::chrono::duration<double>(std::min(0.3, seconds / 3));
  while (Clock::now() < warm_end) fn();
  std::vector<double> times;
  const auto end = Clock::now() + std::chrono::duration<double>(seconds);
  while (Clock::now() < end || times.size() < 10) {
    const auto t0 = Clock::now();
    fn();
    times.push_back(Ms(Clock::now() - t0));
  }
  std::sort(times.begin(), times.end());
  return {times[times.size() / 2], times[times.size() / 10], times.size()};
}

std::vector<int> ParseList(const std::string& text) {
  std::vector<int> values;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t comma = text.find(',', pos);
    if (comma == std::string::npos) comma = text.size();
    values.push_back(std::stoi(text.substr(pos, comma - pos)));
    pos = comma + 1;
  }
  return values;
}

void Fail(const std::string& what, const absl::Status& status) {
  std::fprintf(stderr, "%s: %s\n", what.c_str(), std::string(status.message()).c_str());
  std::exit(1);
}

void BenchModels(const fs::path& out_dir, const std::vector<int>& batches,
                 const std::vector<int>& thread_counts, double seconds,
                 const std::vector<std::string>& only) {
  std::ifstream meta_file(out_dir / "models.json");
  const nlohmann::json meta = nlohmann::json::parse(meta_file);
  for (int threads : thread_counts) {
    for (const auto& [name, info] : meta.items()) {
      if (!only.empty() && std::find(only.begin(), only.end(), name) == only.end()) continue;
      seqserve::ModelOptions options;
      options.num_threads = threads;
      auto model = seqserve::Model::Load(out_dir / "models" / name / "1", options);
      if (!model.ok()) Fail(name, model.status());
      seqserve::Executor executor(seqserve::CpuEngine());
      for (int batch : batches) {
        seqserve::Shape shape = {batch};
        for (const auto& d : info["shape"]) shape.push_back(d.get<int64_t>());
        seqserve::Tensor input(shape);
        std::mt19937 rng(42);
        std::normal_distribution<float> normal;
        for (float& v : input.data) v = normal(rng);
        auto plan = (*model)->GetPlan(shape);
        if (!plan.ok()) Fail(name, plan.status());
        seqserve::Tensor output((*plan)->output_shape());
        const Timing t = Measure(
            [&] {
              absl::Status s = executor.Run(**plan, input.data.data(), output.data.data());
              if (!s.ok()) Fail(name, s);
            },
            seconds);
        const double flops = info["flops_per_sample"].get<double>() * batch;
        nlohmann::json row = {{"engine", "seqserve"}, {"model", name},       {"batch", batch},
                              {"threads", threads},   {"median_ms", t.median_ms},
                              {"p10_ms", t.p10_ms},   {"iterations", t.iterations},
                              {"gflops", flops / (t.median_ms * 1e6)}};
        std::printf("%s\n", row.dump().c_str());
        std::fflush(stdout);
      }
    }
  }
}

// oneDNN's sgemm on square matrices: what a well-tuned GEMM reaches on this machine.
void BenchSgemm(const std::vector<int>& thread_counts, double seconds) {
  const int n = 1024;
  std::vector<float> a(n * n, 0.5f), b(n * n, 0.25f), c(n * n);
  for (int threads : thread_counts) {
    omp_set_num_threads(threads);
    const Timing t = Measure(
        [&] { dnnl::sgemm('N', 'N', n, n, n, 1.f, a.data(), n, b.data(), n, 0.f, c.data(), n); },
        seconds);
    const double gflops = 2.0 * n * n * n / (t.median_ms * 1e6);
    nlohmann::json row = {{"engine", "onednn_sgemm"}, {"threads", threads}, {"size", n},
                          {"median_ms", t.median_ms}, {"gflops", gflops}};
    std::printf("%s\n", row.dump().c_str());
    std::fflush(stdout);
  }
}

// Load + first compile of each model in a repository, as a fresh server would do it, for a
// batch-1 input shaped like the model's sample in tests/data/bundled/<model>/input.npy.
void BenchLoad(const fs::path& repository) {
  for (const auto& entry : fs::directory_iterator(repository)) {
    if (!entry.is_directory()) continue;
    fs::path version;
    for (const auto& v : fs::directory_iterator(entry.path())) {
      if (v.is_directory() && fs::exists(v.path() / "model.seq")) version = v.path();
    }
    if (version.empty()) continue;
    const auto t0 = Clock::now();
    auto model = seqserve::Model::Load(version);
    if (!model.ok()) Fail(version.string(), model.status());
    const auto t1 = Clock::now();
    const fs::path sample = repository / ".." / "tests" / "data" / "bundled" /
                            entry.path().filename() / "input.npy";
    auto input = seqserve::ReadNpy(sample);
    if (!input.ok()) Fail(sample.string(), input.status());
    seqserve::Shape shape = input->shape;
    shape[0] = 1;
    auto plan = (*model)->GetPlan(shape);
    if (!plan.ok()) Fail(version.string(), plan.status());
    const auto t2 = Clock::now();
    nlohmann::json row = {{"engine", "seqserve_load"}, {"model", entry.path().filename().string()},
                          {"load_ms", Ms(t1 - t0)}, {"first_compile_ms", Ms(t2 - t1)}};
    std::printf("%s\n", row.dump().c_str());
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"seqserve engine benchmark"};
  std::string out_dir = "bench/out", batches = "1,8,32,128", threads = "1,2", models;
  std::string load_repository;
  double seconds = 1.0;
  bool sgemm = false;
  app.add_option("--out-dir", out_dir, "directory written by bench/models.py");
  app.add_option("--batches", batches);
  app.add_option("--threads", threads);
  app.add_option("--models", models, "comma-separated subset (default: all)");
  app.add_option("--seconds", seconds, "measurement time per configuration");
  app.add_flag("--sgemm", sgemm, "measure oneDNN sgemm instead of the models");
  app.add_option("--load", load_repository, "measure load + first compile of a repository");
  CLI11_PARSE(app, argc, argv);

  if (sgemm) {
    BenchSgemm(ParseList(threads), seconds);
  } else if (!load_repository.empty()) {
    BenchLoad(load_repository);
  } else {
    std::vector<std::string> only;
    for (size_t pos = 0; pos < models.size();) {
      size_t comma = models.find(',', pos);
      if (comma == std::string::npos) comma = models.size();
      only.push_back(models.substr(pos, comma - pos));
      pos = comma + 1;
    }
    BenchModels(out_dir, ParseList(batches), ParseList(threads), seconds, only);
  }
  return 0;
}
