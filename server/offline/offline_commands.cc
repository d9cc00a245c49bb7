#include "server/offline/offline_commands.h"

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "core/compiler.h"
#include "core/engine.h"
#include "core/executor.h"
#include "core/model.h"
#include "core/module_registry.h"
#include "common/npy.h"
#include "fmt/core.h"
#include "server/repository/model_dir.h"

namespace seqserve {
namespace {

using Clock = std::chrono::steady_clock;

double MillisSince(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

// 1234567 -> "1,234,567"
std::string Grouped(int64_t n) {
  std::string digits = std::to_string(n < 0 ? -n : n);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return n < 0 ? "-" + out : out;
}

absl::StatusOr<Shape> ParseShape(const std::string& text) {
  Shape shape;
  for (absl::string_view part : absl::StrSplit(text, ',', absl::SkipWhitespace())) {
    int64_t d = 0;
    if (!absl::SimpleAtoi(part, &d) || d < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("--input-shape: expected comma-separated sizes such as 1,3,224,224, got '",
                       text, "'"));
    }
    shape.push_back(d);
  }
  return shape;
}

// A batch-1 input for `check`: the first module's dims, with each free (-1) dim set to
// the first common image size the whole model accepts.
absl::StatusOr<Shape> RepresentativeInput(const Model& model) {
  std::optional<Shape> dims = model.InputDims();
  if (!dims) {
    return absl::InvalidArgumentError(
        "the first module does not imply an input shape; pass --input-shape, e.g. 1,16");
  }
  std::vector<int64_t> candidates = {28, 32, 64, 224};
  for (int64_t s = 1; s <= 512; ++s) candidates.push_back(s);
  absl::Status last = absl::OkStatus();
  for (int64_t size : candidates) {
    Shape shape = {1};
    bool free = false;
    for (int64_t d : *dims) {
      shape.push_back(d < 0 ? size : d);
      free = free || d < 0;
    }
    absl::Status status = model.OutputShape(shape).status();
    if (status.ok()) return shape;
    if (!free) return status;
    if (last.ok()) last = status;
  }
  return last;
}

void PrintError(const absl::Status& status) {
  std::fprintf(stderr, "error: %s\n", std::string(status.message()).c_str());
}

}  // namespace

int RunCheckCommand(const CheckOptions& options) {
  absl::StatusOr<std::filesystem::path> dir = ResolveVersionDir(options.model_dir, options.version);
  if (!dir.ok()) return PrintError(dir.status()), 1;
  const Clock::time_point load_start = Clock::now();
  absl::StatusOr<std::shared_ptr<Model>> model = Model::Load(*dir);
  if (!model.ok()) return PrintError(model.status()), 1;
  const double load_ms = MillisSince(load_start);

  absl::StatusOr<Shape> input =
      options.input_shape.empty() ? RepresentativeInput(**model) : ParseShape(options.input_shape);
  if (!input.ok()) return PrintError(input.status()), 1;
  const std::vector<Layer>& layers = (*model)->layers();
  absl::StatusOr<std::vector<Shape>> shapes = InferShapes(layers, *input);
  if (!shapes.ok()) return PrintError(shapes.status()), 1;

  const std::vector<DType> dtypes = (*model)->InputDTypes();
  const Clock::time_point compile_start = Clock::now();
  absl::StatusOr<std::shared_ptr<const Plan>> plan = (*model)->GetPlan(*input, dtypes[0]);
  if (!plan.ok()) return PrintError(plan.status()), 1;
  const double compile_ms = MillisSince(compile_start);

  std::string input_dtype = DTypeName(dtypes[0]);
  for (size_t i = 1; i < dtypes.size(); ++i) {
    input_dtype += absl::StrCat(i == 1 ? " (or " : ", ", DTypeName(dtypes[i]));
  }
  if (dtypes.size() > 1) input_dtype += ")";
  fmt::print("model {}\ninput {} {}\n\n", dir->string(), ShapeToString(*input), input_dtype);
  fmt::print("{:<24} {:<18} {:<22} {:>12} {:>16}\n", "path", "type", "output shape", "params",
             "FLOPs");
  int64_t total_params = 0, total_flops = 0;
  for (size_t i = 0; i < layers.size(); ++i) {
    const Module& m = *layers[i].module;
    const int64_t params = m.NumParams();
    const int64_t flops = m.Flops(i == 0 ? *input : (*shapes)[i - 1]);
    total_params += params;
    total_flops += flops;
    fmt::print("{:<24} {:<18} {:<22} {:>12} {:>16}\n", layers[i].path, m.type(),
               ShapeToString((*shapes)[i]), Grouped(params), Grouped(flops));
  }
  fmt::print("{:<24} {:<18} {:<22} {:>12} {:>16}\n\n", "total", "",
             ShapeToString(shapes->empty() ? *input : shapes->back()), Grouped(total_params),
             Grouped(total_flops));
  fmt::print("OK: loaded in {:.1f} ms, compiled for {} in {:.1f} ms ({} steps, {} KiB weights, "
             "{} KiB activations)\n",
             load_ms, ShapeToString(*input), compile_ms, (*plan)->steps().size(),
             (*model)->weight_bytes() / 1024, (*plan)->arena_bytes() / 1024);
  return 0;
}

int RunRunCommand(const RunOptions& options) {
  absl::StatusOr<std::filesystem::path> dir = ResolveVersionDir(options.model_dir, options.version);
  if (!dir.ok()) return PrintError(dir.status()), 1;
  absl::StatusOr<TypedTensor> input = ReadTypedNpy(options.input_path);
  if (!input.ok()) return PrintError(input.status()), 1;
  ModelOptions model_options;
  model_options.num_threads = options.num_threads;
  absl::StatusOr<std::shared_ptr<Model>> model = Model::Load(*dir, model_options);
  if (!model.ok()) return PrintError(model.status()), 1;
  Executor executor(CpuEngine());
  const Clock::time_point start = Clock::now();
  absl::StatusOr<Tensor> output = (*model)->Run(executor, input->view());
  if (!output.ok()) return PrintError(output.status()), 1;
  const double run_ms = MillisSince(start);
  absl::Status written = WriteNpy(options.output_path, *output);
  if (!written.ok()) return PrintError(written), 1;
  fmt::print("{} {} {} -> {} {} ({:.2f} ms including compile)\n", options.input_path,
             DTypeName(input->dtype), ShapeToString(input->shape), options.output_path,
             ShapeToString(output->shape), run_ms);
  return 0;
}

int RunModulesCommand() {
  for (const std::string& type : ModuleTypes()) fmt::print("{}\n", type);
  return 0;
}

}  // namespace seqserve
