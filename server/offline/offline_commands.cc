#include "server/offline/offline_commands.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/compiler.h"
#include "core/engine.h"
#include "core/executor.h"
#include "core/model.h"
#include "core/precision.h"
#include "core/module_registry.h"
#include "common/npy.h"
#include "fmt/core.h"
#include "server/offline/input_shape.h"
#include "server/offline/precision_agreement.h"
#include "server/offline/random_input.h"
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

absl::StatusOr<Shape> ParseInputShape(const std::string& text) {
  std::optional<Shape> shape = ParseSizeList(text);
  if (!shape) {
    return absl::InvalidArgumentError(
        absl::StrCat("--input-shape: expected comma-separated sizes such as 1,3,224,224, got '",
                     text, "'"));
  }
  return *shape;
}

void PrintError(const absl::Status& status) {
  std::fprintf(stderr, "error: %s\n", std::string(status.message()).c_str());
}

// "bf16", or "fp32 (bf16 asked for: why not)" when the CPU cannot run what was asked.
std::string PrecisionLine(const Model& model) {
  std::string line(PrecisionName(model.precision()));
  if (!model.precision_fallback_reason().empty()) {
    absl::StrAppend(&line, " (", std::string(PrecisionName(model.options().precision)),
                    " asked for: ", model.precision_fallback_reason(), ")");
  }
  return line;
}

// `reduced`'s outputs against `reference`'s (the same model in fp32) on kCheckSamples random
// inputs of `shape`, as one line.
absl::StatusOr<std::string> CompareWithFp32(Model& reduced, Model& reference, const Shape& shape,
                                            DType dtype) {
  Executor executor(CpuEngine());
  PrecisionAgreement agreement;
  for (int k = 0; k < kCheckSamples; ++k) {
    const TypedTensor input = RandomInput(reference, shape, dtype, 1000 + k);
    absl::StatusOr<Tensor> want = reference.Run(executor, input.view());
    if (!want.ok()) return want.status();
    absl::StatusOr<Tensor> got = reduced.Run(executor, input.view());
    if (!got.ok()) return got.status();
    agreement.Add(*want, *got);
  }
  return agreement.Line(PrecisionName(reduced.precision()),
                        "random samples");
}

}  // namespace

int RunCheckCommand(const CheckOptions& options) {
  absl::StatusOr<std::filesystem::path> dir = ResolveVersionDir(options.model_dir, options.version);
  if (!dir.ok()) return PrintError(dir.status()), 1;
  absl::StatusOr<Precision> precision = ParsePrecision(options.precision);
  if (!precision.ok()) return PrintError(precision.status()), 1;
  ModelOptions model_options;
  model_options.precision = *precision;
  const Clock::time_point load_start = Clock::now();
  absl::StatusOr<std::shared_ptr<Model>> model = Model::Load(*dir, model_options);
  if (!model.ok()) return PrintError(model.status()), 1;
  const double load_ms = MillisSince(load_start);

  absl::StatusOr<Shape> input =
      options.input_shape.empty()
          ? RepresentativeInput(**model, "pass --input-shape, e.g. 1,16")
          : ParseInputShape(options.input_shape);
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
  fmt::print("model {}\ninput {} {}\nprecision {}\n\n", dir->string(), ShapeToString(*input),
             input_dtype, PrecisionLine(**model));
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
  if ((*model)->precision() != Precision::kFp32) {
    absl::StatusOr<std::shared_ptr<Model>> reference = Model::Load(*dir);
    if (!reference.ok()) return PrintError(reference.status()), 1;
    absl::StatusOr<std::string> compared = CompareWithFp32(**model, **reference, *input, dtypes[0]);
    if (!compared.ok()) return PrintError(compared.status()), 1;
    fmt::print("{}\n", *compared);
  }
  return 0;
}

int RunRunCommand(const RunOptions& options) {
  absl::StatusOr<std::filesystem::path> dir = ResolveVersionDir(options.model_dir, options.version);
  if (!dir.ok()) return PrintError(dir.status()), 1;
  absl::StatusOr<TypedTensor> input = ReadTypedNpy(options.input_path);
  if (!input.ok()) return PrintError(input.status()), 1;
  absl::StatusOr<Precision> precision = ParsePrecision(options.precision);
  if (!precision.ok()) return PrintError(precision.status()), 1;
  ModelOptions model_options;
  model_options.num_threads = options.num_threads;
  model_options.precision = *precision;
  absl::StatusOr<std::shared_ptr<Model>> model = Model::Load(*dir, model_options);
  if (!model.ok()) return PrintError(model.status()), 1;
  Executor executor(CpuEngine());
  const Clock::time_point start = Clock::now();
  absl::StatusOr<Tensor> output = (*model)->Run(executor, input->view());
  if (!output.ok()) return PrintError(output.status()), 1;
  const double run_ms = MillisSince(start);
  absl::Status written = WriteNpy(options.output_path, *output);
  if (!written.ok()) return PrintError(written), 1;
  fmt::print("{} {} {} -> {} {} ({:.2f} ms including compile, precision {})\n",
             options.input_path, DTypeName(input->dtype), ShapeToString(input->shape),
             options.output_path, ShapeToString(output->shape), run_ms, PrecisionLine(**model));
  return 0;
}

int RunModulesCommand() {
  for (const std::string& type : ModuleTypes()) fmt::print("{}\n", type);
  return 0;
}

}  // namespace seqserve
