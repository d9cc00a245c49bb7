// The machine's ceilings for the engine benchmark (bench/run.sh), measured in the same run
// as the models (which `seqserve bench --json` measures): oneDNN's sgemm GFLOP/s (what a
// well-tuned GEMM reaches) and STREAM-style memory bandwidth (read, copy, triad) at several
// footprints, from L2-sized to well beyond the last-level cache, so that bandwidth-bound rows
// (a batch-1 Linear reads every weight once per call) can be judged against what the memory
// delivers for a working set of their size. Also load + first-compile time of a repository.
// Prints one JSON line per measurement.
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "core/engine.h"
#include "core/model.h"
#include "common/npy.h"
#include "dnnl.hpp"
#include "nlohmann/json.hpp"
#include "spdlog/sinks/stdout_color_sinks.h"
#include "spdlog/spdlog.h"

namespace {

using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

struct Timing {
  double median_ms;
  double p10_ms;
  double min_ms;
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
  return {times[times.size() / 2], times[times.size() / 10], times.front(), times.size()};
}

std::vector<std::string> Split(const std::string& text) {
  std::vector<std::string> parts;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t comma = text.find(',', pos);
    if (comma == std::string::npos) comma = text.size();
    parts.push_back(text.substr(pos, comma - pos));
    pos = comma + 1;
  }
  return parts;
}

std::vector<int> ParseList(const std::string& text) {
  std::vector<int> values;
  for (const std::string& part : Split(text)) values.push_back(std::stoi(part));
  return values;
}

// "64K", "32M", "1G" (binary units) or plain bytes.
size_t ParseBytes(const std::string& text) {
  size_t idx = 0;
  const double value = std::stod(text, &idx);
  const std::string unit = text.substr(idx);
  const double scale = unit.empty() ? 1 : unit == "K" ? 1024.0 : unit == "M" ? 1024.0 * 1024
                       : unit == "G" ? 1024.0 * 1024 * 1024 : 0;
  if (scale == 0) throw std::invalid_argument("size '" + text + "': use K, M or G");
  return static_cast<size_t>(value * scale);
}

void Fail(const std::string& what, const absl::Status& status) {
  std::fprintf(stderr, "%s: %s\n", what.c_str(), std::string(status.message()).c_str());
  std::exit(1);
}

// STREAM's kernels (McCalpin) on float arrays, the bytes each moves per element as STREAM
// counts them (reads + writes, no write-allocate), plus a read-only sum: the access pattern
// of a batch-1 Linear streaming its weights.
struct StreamKernel {
  const char* name;
  int arrays;          // arrays touched (footprint = arrays * n * 4 bytes)
  int bytes_per_elem;  // counted traffic per element
};
constexpr StreamKernel kStreamKernels[] = {{"read", 1, 4}, {"copy", 2, 8}, {"triad", 3, 12}};

// The inner loops, compiled for AVX-512 and AVX2 too (the build targets baseline x86-64),
// so that beyond the L2 cache the loop is not what limits the bandwidth. Counts are
// multiples of kBlock; the read sum keeps kBlock partial sums (four AVX-512 registers) so
// that it is not bound by the latency of one chain of adds.
constexpr int64_t kBlock = 64;

__attribute__((target_clones("avx512f", "avx2", "default"))) float SumBlocks(
    const float* __restrict a, int64_t n) {
  float acc[kBlock] = {};
  for (int64_t i = 0; i < n; i += kBlock) {
    for (int64_t k = 0; k < kBlock; ++k) acc[k] += a[i + k];
  }
  float sum = 0;
  for (float v : acc) sum += v;
  return sum;
}

__attribute__((target_clones("avx512f", "avx2", "default"))) void CopyBlocks(
    const float* __restrict a, float* __restrict c, int64_t n) {
  for (int64_t i = 0; i < n; ++i) c[i] = a[i];
}

__attribute__((target_clones("avx512f", "avx2", "default"))) void TriadBlocks(
    float* __restrict a, const float* __restrict b, const float* __restrict c, int64_t n) {
  for (int64_t i = 0; i < n; ++i) a[i] = b[i] + 3.0f * c[i];
}

// One pass of `kernel` over n elements (a multiple of kBlock) on `threads` threads, each
// taking one contiguous share (the share it first touched).
float RunStreamKernel(const StreamKernel& kernel, float* a, float* b, float* c, int64_t n,
                      int threads) {
  const int64_t blocks = n / kBlock;
  const std::string name = kernel.name;
  float sum = 0;
#pragma omp parallel for num_threads(threads) schedule(static) reduction(+ : sum)
  for (int t = 0; t < threads; ++t) {
    const int64_t begin = blocks * t / threads * kBlock;
    const int64_t count = (blocks * (t + 1) / threads) * kBlock - begin;
    if (name == "read") {
      sum += SumBlocks(a + begin, count);
    } else if (name == "copy") {
      CopyBlocks(a + begin, c + begin, count);
    } else {
      TriadBlocks(a + begin, b + begin, c + begin, count);
    }
  }
  return sum;
}

void BenchStream(const std::vector<int>& thread_counts, const std::vector<std::string>& sizes,
                 const std::vector<std::string>& kernels, double seconds) {
  volatile float sink = 0;  // keeps the read kernel's sum alive
  for (const std::string& size : sizes) {
    const size_t footprint = ParseBytes(size);
    for (const StreamKernel& kernel : kStreamKernels) {
      if (std::find(kernels.begin(), kernels.end(), kernel.name) == kernels.end()) continue;
      const int64_t n = static_cast<int64_t>(footprint / (4 * kernel.arrays)) / kBlock * kBlock;
      for (int threads : thread_counts) {
        // Only the arrays the kernel touches; first touched by the threads that use them
        // (each its own share), as STREAM does.
        std::vector<std::unique_ptr<float[]>> arrays;
        for (int i = 0; i < kernel.arrays; ++i) arrays.emplace_back(new float[n]);
#pragma omp parallel for num_threads(threads) schedule(static)
        for (int t = 0; t < threads; ++t) {
          const int64_t begin = n / kBlock * t / threads * kBlock;
          const int64_t end = n / kBlock * (t + 1) / threads * kBlock;
          for (auto& array : arrays) std::fill(array.get() + begin, array.get() + end, 1.0f);
        }
        float* a = arrays[0].get();
        float* b = kernel.arrays > 1 ? arrays[1].get() : nullptr;
        float* c = kernel.arrays > 2 ? arrays[2].get() : b;
        const Timing t = Measure(
            [&] { sink = sink + RunStreamKernel(kernel, a, b, c, n, threads); },
            seconds);
        // STREAM reports the best pass; the median is beside it for the noise.
        const double best_ms = t.min_ms;
        const double bytes = static_cast<double>(kernel.bytes_per_elem) * static_cast<double>(n);
        nlohmann::json row = {{"engine", "stream"},
                              {"kernel", kernel.name},
                              {"threads", threads},
                              {"footprint_bytes", static_cast<double>(n) * 4 * kernel.arrays},
                              {"gbps_best", bytes / (best_ms * 1e6)},
                              {"gbps_median", bytes / (t.median_ms * 1e6)},
                              {"iterations", t.iterations}};
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
    auto input = seqserve::ReadTypedNpy(sample);  // float32 images or int64 ids
    if (!input.ok()) Fail(sample.string(), input.status());
    seqserve::Shape shape = input->shape;
    shape[0] = 1;
    auto plan = (*model)->GetPlan(shape, input->dtype);
    if (!plan.ok()) Fail(version.string(), plan.status());
    const auto t2 = Clock::now();
    nlohmann::json row = {{"engine", "seqserve_load"}, {"model", entry.path().filename().string()},
                          {"load_ms", Ms(t1 - t0)}, {"first_compile_ms", Ms(t2 - t1)}};
    std::printf("%s\n", row.dump().c_str());
  }
}

}  // namespace

int main(int argc, char** argv) {
  // stdout carries only the JSON lines; the engine's log (tuning reports) goes to stderr.
  spdlog::set_default_logger(spdlog::stderr_color_mt("bench_engine"));
  CLI::App app{"seqserve engine benchmark: the machine's ceilings (models: seqserve bench)"};
  std::string threads = "1,2", stream_sizes = "2M,16M,64M,256M,2G";
  std::string stream_kernels = "read,copy,triad";
  std::string load_repository;
  double seconds = 1.0;
  bool sgemm = false, stream = false;
  app.add_option("--threads", threads, "comma-separated thread counts");
  app.add_option("--seconds", seconds, "measurement time per configuration");
  app.add_flag("--sgemm", sgemm, "measure oneDNN sgemm (1024^3)");
  app.add_flag("--stream", stream, "measure STREAM-style memory bandwidth");
  app.add_option("--stream-sizes", stream_sizes,
                 "footprints (all arrays of a kernel together), e.g. 2M,16M,64M,256M,2G");
  app.add_option("--stream-kernels", stream_kernels, "of read, copy, triad");
  app.add_option("--load", load_repository, "measure load + first compile of a repository");
  CLI11_PARSE(app, argc, argv);

  if (sgemm) BenchSgemm(ParseList(threads), seconds);
  if (stream) BenchStream(ParseList(threads), Split(stream_sizes), Split(stream_kernels), seconds);
  if (!load_repository.empty()) BenchLoad(load_repository);
  if (!sgemm && !stream && load_repository.empty()) {
    std::fprintf(stderr, "nothing to measure: pass --sgemm, --stream or --load DIR\n");
    return 2;
  }
  return 0;
}
