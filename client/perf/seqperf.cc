// seqperf: a load generator in the spirit of Triton's perf_analyzer. It drives one model
// with closed-loop (--concurrency-range) or open-loop (--request-rate) load, unary or
// streaming, measures each step in windows until three agree, and prints throughput,
// latency percentiles, errors by status code, and its own CPU per request (plus the
// server's with --server-pid) so a reader can tell whether the client was the limit.
//
//   seqperf -m lenet --shape 1,28,28 --concurrency-range 1:64:2x --json out.json --plot out.svg
//   seqperf -m textclass --shape 128 --id-range 0:1000       (random INT64 ids)
//   seqperf -m textclass --input-data sample.npy             (one sample: float32 or int ids)
//   seqperf -m resnet --shape 3,224,224 --shm                (input in system shared memory)
//
// --shm puts the input in a POSIX shared memory object of this process, registered as a
// region (Triton's system shared memory extension), so each request names the region instead
// of carrying the tensor; the server must run on this host. The region is unregistered and
// the object unlinked at exit.
//
// Random data (--shape) has the model's input type, from its metadata: uniform [0, 1) for
// FP32, uniform ids in --id-range for INT64/INT32.
//
// Exit status: 0 when every step ran, 1 when the server refused the first request or a
// step failed, 2 for a usage error.
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <future>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "client/client.h"
#include "client/shared_memory.h"
#include "client/perf/load_generator.h"
#include "client/perf/perf_report.h"
#include "common/npy.h"

namespace seqserve::perf {
namespace {

constexpr int kExitError = 1;
constexpr int kExitUsage = 2;

// "a", "a:b" (step 1) or "a:b:step"; a step ending in "x" multiplies ("1:64:2x" is
// 1, 2, 4, ... 64), which sweeps a wide range in few steps.
absl::StatusOr<std::vector<double>> ParseRange(const std::string& text) {
  std::vector<std::string> parts = absl::StrSplit(text, ':');
  if (parts.empty() || parts.size() > 3) {
    return absl::InvalidArgumentError(absl::StrCat("bad range '", text, "': want a[:b[:step]]"));
  }
  double start = 0, end = 0, step = 1;
  bool multiply = false;
  if (!absl::SimpleAtod(parts[0], &start)) {
    return absl::InvalidArgumentError(absl::StrCat("bad range start in '", text, "'"));
  }
  end = start;
  if (parts.size() >= 2 && !absl::SimpleAtod(parts[1], &end)) {
    return absl::InvalidArgumentError(absl::StrCat("bad range end in '", text, "'"));
  }
  if (parts.size() == 3) {
    std::string s = parts[2];
    if (!s.empty() && (s.back() == 'x' || s.back() == 'X')) {
      multiply = true;
      s.pop_back();
    }
    if (!absl::SimpleAtod(s, &step)) {
      return absl::InvalidArgumentError(absl::StrCat("bad range step in '", text, "'"));
    }
  }
  if (!(start > 0) || end < start || (multiply ? !(step > 1) : !(step > 0))) {
    return absl::InvalidArgumentError(absl::StrCat(
        "bad range '", text, "': need 0 < start <= end and step > 0 (or > 1 with 'x')"));
  }
  std::vector<double> values;
  for (double v = start; v <= end * (1 + 1e-9); v = multiply ? v * step : v + step) {
    values.push_back(v);
  }
  return values;
}

absl::StatusOr<Shape> ParseShape(const std::string& text) {
  Shape shape;
  for (absl::string_view part : absl::StrSplit(text, ',', absl::SkipWhitespace())) {
    int64_t d = 0;
    if (!absl::SimpleAtoi(part, &d) || d <= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("bad --shape '", text, "': want positive integers like 1,28,28"));
    }
    shape.push_back(d);
  }
  return shape;
}

// "lo:hi": ids in [lo, hi).
absl::StatusOr<std::pair<int64_t, int64_t>> ParseIdRange(const std::string& text) {
  const std::vector<std::string> parts = absl::StrSplit(text, ':');
  int64_t lo = 0, hi = 0;
  if (parts.size() != 2 || !absl::SimpleAtoi(parts[0], &lo) || !absl::SimpleAtoi(parts[1], &hi) ||
      lo < 0 || hi <= lo) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad --id-range '", text, "': want lo:hi with 0 <= lo < hi (ids in [lo, hi))"));
  }
  return std::pair{lo, hi};
}

// The model's input datatype as its metadata reports it ("FP32", "INT64", ...): the input
// named `input_name`, else the only one.
absl::StatusOr<std::string> InputDatatype(const client::Client& server, const std::string& model,
                                          int64_t version, const std::string& input_name) {
  absl::StatusOr<inference::ModelMetadataResponse> metadata = server.ModelMetadata(model, version);
  if (!metadata.ok()) return metadata.status();
  for (const auto& input : metadata->inputs()) {
    if (input.name() == input_name || metadata->inputs_size() == 1) return input.datatype();
  }
  return absl::InvalidArgumentError(
      absl::StrCat("model '", model, "' has no input named '", input_name, "'"));
}

// One request's input: `batch` copies of a sample — the file's (float32, or int64/int32
// ids), else random: uniform [0, 1) for FP32, uniform ids in `ids` for INT64/INT32.
absl::StatusOr<TypedTensor> MakeInput(const std::string& shape_text, const std::string& input_path,
                                      const std::string& datatype,
                                      std::pair<int64_t, int64_t> ids, int batch, uint64_t seed) {
  TypedTensor sample;
  if (!input_path.empty()) {
    absl::StatusOr<TypedTensor> file = ReadTypedNpy(input_path);
    if (!file.ok()) return file.status();
    sample = *std::move(file);
  } else {
    absl::StatusOr<Shape> shape = ParseShape(shape_text);
    if (!shape.ok()) return shape.status();
    sample.shape = *std::move(shape);
    const size_t count = static_cast<size_t>(NumElements(sample.shape));
    std::mt19937_64 rng(seed);
    if (datatype == "FP32") {
      sample.dtype = DType::kFloat32;
      std::vector<float> values(count);
      std::uniform_real_distribution<float> uniform(0.0f, 1.0f);
      for (float& v : values) v = uniform(rng);
      sample.bytes.resize(count * sizeof(float));
      std::memcpy(sample.bytes.data(), values.data(), sample.bytes.size());
    } else if (datatype == "INT64" || datatype == "INT32") {
      std::uniform_int_distribution<int64_t> uniform(ids.first, ids.second - 1);
      std::vector<int64_t> values(count);
      for (int64_t& v : values) v = uniform(rng);
      if (datatype == "INT64") {
        sample.dtype = DType::kInt64;
        sample.bytes.resize(count * sizeof(int64_t));
        std::memcpy(sample.bytes.data(), values.data(), sample.bytes.size());
      } else {
        sample.dtype = DType::kInt32;
        const std::vector<int32_t> narrow(values.begin(), values.end());
        sample.bytes.resize(count * sizeof(int32_t));
        std::memcpy(sample.bytes.data(), narrow.data(), sample.bytes.size());
      }
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("the model's input is ", datatype,
                       "; seqperf makes random FP32, INT64 and INT32 inputs: give the data "
                       "with --input-data FILE.npy"));
    }
  }
  TypedTensor input;
  input.dtype = sample.dtype;
  input.shape = {batch};
  input.shape.insert(input.shape.end(), sample.shape.begin(), sample.shape.end());
  for (int b = 0; b < batch; ++b) {
    input.bytes.insert(input.bytes.end(), sample.bytes.begin(), sample.bytes.end());
  }
  return input;
}

template <typename Writer>
absl::Status WriteFile(const std::string& path, Writer write) {
  std::ofstream out(path);
  if (!out) return absl::PermissionDeniedError(absl::StrCat("cannot write ", path));
  write(out);
  out.close();
  if (!out) return absl::DataLossError(absl::StrCat("error writing ", path));
  return absl::OkStatus();
}

int Fail(const absl::Status& status) {
  std::cerr << "error: " << status.ToString() << "\n";
  return kExitError;
}

// --shm: the input in a shared memory object of this process, registered as a region named
// after it; unregistered and unlinked when this goes away.
class SharedMemoryInput {
 public:
  SharedMemoryInput() = default;
  SharedMemoryInput(const SharedMemoryInput&) = delete;
  SharedMemoryInput& operator=(const SharedMemoryInput&) = delete;
  ~SharedMemoryInput() {
    if (server_ != nullptr) (void)server_->UnregisterSystemSharedMemory(region_);
  }

  // Copies `input` into a new object, registers it and makes `request` name it; then sends
  // the request once, so that a server that cannot use the region fails here clearly.
  absl::Status Place(const client::Client& server, const TensorView& input,
                     inference::ModelInferRequest& request) {
    size_t bytes = DTypeSize(input.dtype);
    for (const int64_t dim : input.shape) bytes *= static_cast<size_t>(dim);
    region_ = absl::StrCat("seqperf_", getpid());
    absl::StatusOr<std::unique_ptr<client::SharedMemoryObject>> object =
        client::SharedMemoryObject::Create(absl::StrCat("/", region_), bytes);
    if (!object.ok()) return object.status();
    object_ = *std::move(object);
    std::memcpy(object_->data(), input.data, bytes);
    absl::Status registered =
        server.RegisterSystemSharedMemory(region_, object_->key(), 0, bytes);
    if (!registered.ok()) return registered;
    server_ = &server;
    client::SetSharedMemoryInput(request, 0, region_, 0, bytes);

    std::promise<grpc::Status> done;
    grpc::ClientContext context;
    inference::ModelInferResponse response;
    server.StartModelInfer(&context, &request, &response,
                           [&done](grpc::Status status) { done.set_value(std::move(status)); });
    return client::ToAbslStatus(done.get_future().get());
  }

 private:
  std::string region_;
  std::unique_ptr<client::SharedMemoryObject> object_;
  const client::Client* server_ = nullptr;  // set once registered; outlives this
};

int Main(int argc, char** argv) {
  CLI::App app{"seqperf: throughput and latency of a KServe v2 gRPC model server"};
  std::string url = "localhost:8001", model, shape_text, input_path, input_name = "input";
  std::string id_range = "0:100";
  int64_t version = 0, timeout_ms = 0, measurement_ms = 2000;
  int batch = 1, streams = 0, max_outstanding = 1024, server_pid = 0;
  bool streaming = false, typed = false, use_shm = false;
  std::string concurrency_range, request_rate, distribution = "constant";
  double warmup_s = 1.0;
  StabilityRule stability;
  double stability_percent = stability.tolerance * 100;
  uint64_t seed = 1;
  std::string json_path, csv_path, plot_path;

  app.add_option("-u,--url", url, "Server address host:port")->capture_default_str();
  app.add_option("-m,--model", model, "Model name")->required();
  app.add_option("--version", version, "Model version; 0 = the server's pick");
  app.add_option("-b,--batch-size", batch, "Samples per request (the leading dimension)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  auto* shape_opt = app.add_option("--shape", shape_text,
                                   "One sample's shape without the batch dim, e.g. 1,28,28 "
                                   "(random data)");
  auto* input_opt =
      app.add_option("--input-data,--input", input_path,
                     "One sample (.npy without the batch dim: float32, or int64/int32 ids)")
          ->check(CLI::ExistingFile);
  shape_opt->excludes(input_opt);
  app.add_option("--input-name", input_name, "Input tensor name")->capture_default_str();
  app.add_option("--id-range", id_range,
                 "Random ids for an INT64/INT32 input (--shape without --input-data): lo:hi "
                 "draws from [lo, hi). The server does not report an Embedding's size, so the "
                 "default suits any table of at least 100 rows")
      ->capture_default_str();
  app.add_flag("--typed", typed,
               "Send typed contents (fp32_contents, int64_contents, int_contents) instead of raw "
               "bytes");
  app.add_flag("--shm", use_shm,
               "Send the input through a system shared memory region instead of in each "
               "request (the server must run on this host)");
  app.add_flag("--streaming", streaming, "Use ModelStreamInfer instead of unary ModelInfer");
  app.add_option("--streams", streams,
                 "Streaming: streams to spread requests over (default one per outstanding "
                 "request in closed loop, 4 in open loop)");
  auto* conc_opt = app.add_option("--concurrency-range", concurrency_range,
                                  "Closed loop: a[:b[:step]] outstanding requests; step 'Nx' "
                                  "multiplies (default 1)");
  auto* rate_opt = app.add_option("--request-rate", request_rate,
                                  "Open loop: a[:b[:step]] requests per second");
  conc_opt->excludes(rate_opt);
  app.add_option("--request-distribution", distribution, "Open-loop arrivals")
      ->check(CLI::IsMember({"constant", "poisson"}))
      ->capture_default_str();
  app.add_option("--max-outstanding", max_outstanding,
                 "Open loop: requests in flight at most (more are counted as dropped)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--warmup-secs", warmup_s, "Load before measuring each step")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("-p,--measurement-ms", measurement_ms, "Measurement window")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("-s,--stability-percentage", stability_percent,
                 "Windows agree when throughput and p50 are within this % of their mean")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--stability-windows", stability.windows, "Consecutive windows that must agree")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("-r,--max-trials", stability.max_windows, "Windows per step at most")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--timeout-ms", timeout_ms, "Deadline of each unary request; 0 = none")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--server-pid", server_pid,
                 "Also report this process's CPU per request (from /proc/PID/stat)");
  app.add_option("--seed", seed, "Seed of the random input and of Poisson arrivals")
      ->capture_default_str();
  app.add_option("--json", json_path, "Write the results as JSON");
  app.add_option("--csv", csv_path, "Write the results as CSV");
  app.add_option("--plot", plot_path, "Draw latency against throughput as SVG");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : kExitUsage;
  }
  if (shape_text.empty() && input_path.empty()) {
    std::cerr << "error: give the input as --shape (random data) or --input-data FILE.npy\n";
    return kExitUsage;
  }
  stability.tolerance = stability_percent / 100;
  if (use_shm && typed) {
    std::cerr << "error: --shm and --typed exclude each other (the input is in the region)\n";
    return kExitUsage;
  }

  const bool open_loop = !request_rate.empty();
  absl::StatusOr<std::vector<double>> loads =
      ParseRange(open_loop ? request_rate : (concurrency_range.empty() ? "1" : concurrency_range));
  if (!loads.ok()) {
    std::cerr << "error: " << loads.status().message() << "\n";
    return kExitUsage;
  }
  absl::StatusOr<std::pair<int64_t, int64_t>> ids = ParseIdRange(id_range);
  if (!ids.ok()) {
    std::cerr << "error: " << ids.status().message() << "\n";
    return kExitUsage;
  }

  absl::StatusOr<std::unique_ptr<client::Client>> connection = client::Client::Create(url);
  if (!connection.ok()) return Fail(connection.status());
  const client::Client& server = **connection;
  // Random data takes the model's input type from its metadata.
  std::string datatype = "FP32";
  if (input_path.empty()) {
    absl::StatusOr<std::string> reported = InputDatatype(server, model, version, input_name);
    if (!reported.ok()) return Fail(reported.status());
    datatype = *std::move(reported);
  }
  absl::StatusOr<TypedTensor> input = MakeInput(shape_text, input_path, datatype, *ids, batch, seed);
  if (!input.ok()) return Fail(input.status());
  client::InferOptions infer_options;
  infer_options.version = version;
  infer_options.raw = !typed;
  infer_options.input_name = input_name;
  infer_options.timeout_ms = timeout_ms;
  // One request first, so a wrong model name or shape is one clear error, not a table of
  // failures.
  if (absl::StatusOr<Tensor> probe = server.Infer(model, input->view(), infer_options);
      !probe.ok()) {
    return Fail(probe.status());
  }

  inference::ModelInferRequest request = client::MakeInferRequest(model, input->view(), infer_options);
  SharedMemoryInput shm;
  if (use_shm) {
    absl::Status placed = shm.Place(server, input->view(), request);
    if (!placed.ok()) return Fail(placed);
  }

  PerfSettings settings;
  settings.url = url;
  settings.model = model;
  settings.version = version;
  settings.batch_size = batch;
  settings.shape = ShapeToString(input->shape);
  settings.streaming = streaming;
  settings.open_loop = open_loop;
  settings.arrivals = distribution;
  settings.measurement_ms = measurement_ms;
  settings.warmup_s = warmup_s;
  settings.stability = stability;
  std::cout << absl::StrFormat(
      "*** seqperf: %s at %s, input %s (%s), %s, %s ***\n"
      "  measurement window %d ms, stable when %d windows agree within %g%% (at most %d), "
      "warm-up %gs\n",
      model, url, absl::StrCat(settings.shape, " ", DTypeName(input->dtype)),
      use_shm ? "system shared memory" : typed ? "typed contents" : "raw",
      streaming ? "streaming" : "unary",
      open_loop ? absl::StrCat("open loop, ", distribution, " arrivals")
                : std::string("closed loop"),
      measurement_ms, stability.windows, stability_percent, stability.max_windows, warmup_s);

  LoadGeneratorOptions gen_options;
  gen_options.streaming = streaming;
  gen_options.timeout_ms = timeout_ms;
  gen_options.streams = streams;
  LoadGenerator generator(server, request, gen_options);
  MeasureOptions measure;
  measure.warmup_s = warmup_s;
  measure.window_ms = measurement_ms;
  measure.stability = stability;
  measure.server_pid = server_pid;
  std::function<void(const std::string&)> progress;
  if (isatty(STDERR_FILENO)) {
    progress = [](const std::string& line) { std::cerr << "\r\033[K" << line << std::flush; };
  }

  std::vector<StepResult> steps;
  for (double load : *loads) {
    absl::Status started = open_loop
        ? generator.StartOpenLoop(load, distribution == "poisson", max_outstanding, seed)
        : generator.StartClosedLoop(static_cast<int>(std::lround(load)));
    if (!started.ok()) return Fail(started);
    measure.progress_label = open_loop ? absl::StrFormat("rate %g/s", load)
                                       : absl::StrFormat("concurrency %g", load);
    absl::StatusOr<StepResult> step = MeasureStep(generator, load, batch, measure, progress);
    absl::Status stopped = generator.Stop();
    if (progress) std::cerr << "\r\033[K" << std::flush;
    if (!step.ok()) return Fail(step.status());
    if (!stopped.ok()) return Fail(stopped);
    std::cout << FormatStep(settings, *step) << std::endl;
    steps.push_back(*std::move(step));
  }
  std::cout << "\n" << FormatTable(settings, steps);

  if (!json_path.empty()) {
    absl::Status s = WriteFile(json_path, [&](std::ostream& o) { WriteJson(o, settings, steps); });
    if (!s.ok()) return Fail(s);
  }
  if (!csv_path.empty()) {
    absl::Status s = WriteFile(csv_path, [&](std::ostream& o) { WriteCsv(o, settings, steps); });
    if (!s.ok()) return Fail(s);
  }
  if (!plot_path.empty()) {
    absl::Status s =
        WriteFile(plot_path, [&](std::ostream& o) { WriteSvgPlot(o, settings, steps); });
    if (!s.ok()) return Fail(s);
  }
  return 0;
}

}  // namespace
}  // namespace seqserve::perf

int main(int argc, char** argv) { return seqserve::perf::Main(argc, argv); }
