#include "server/offline/calibrate_command.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/npy.h"
#include "core/calibrator.h"
#include "core/engine.h"
#include "core/executor.h"
#include "core/int8_calibration.h"
#include "core/model.h"
#include "core/precision.h"
#include "fmt/core.h"
#include "server/offline/precision_agreement.h"
#include "server/repository/model_dir.h"

namespace seqserve {
namespace {

void PrintError(const absl::Status& status) {
  std::fprintf(stderr, "error: %s\n", std::string(status.message()).c_str());
}

// The samples of `all` whose index i satisfies keep(i), in order.
template <typename Keep>
TypedTensor Select(const TypedTensor& all, const Keep& keep) {
  TypedTensor out;
  out.dtype = all.dtype;
  out.shape = all.shape;
  out.shape[0] = 0;
  const size_t row_bytes = all.bytes.size() / std::max<int64_t>(1, all.shape[0]);
  for (int64_t i = 0; i < all.shape[0]; ++i) {
    if (!keep(i)) continue;
    out.bytes.insert(out.bytes.end(), all.bytes.begin() + i * row_bytes,
                     all.bytes.begin() + (i + 1) * row_bytes);
    ++out.shape[0];
  }
  return out;
}

absl::Status CheckSamples(const Model& model, const TypedTensor& samples, const std::string& file) {
  if (samples.shape.empty() || samples.shape[0] < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat(file, ": expected (N, *input) with N >= 1 samples, got ",
                     ShapeToString(samples.shape)));
  }
  const std::vector<DType> dtypes = model.InputDTypes();
  if (std::find(dtypes.begin(), dtypes.end(), samples.dtype) == dtypes.end()) {
    return absl::InvalidArgumentError(absl::StrCat(file, ": the model takes ",
                                                   DTypeName(dtypes[0]), " input, the file holds ",
                                                   DTypeName(samples.dtype)));
  }
  absl::StatusOr<Shape> out = model.OutputShape(samples.shape);
  if (!out.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(file, ": samples of shape ",
                                                   ShapeToString(samples.shape),
                                                   " do not fit the model: ", out.status().message()));
  }
  return absl::OkStatus();
}

}  // namespace

int RunCalibrateCommand(const CalibrateOptions& options) {
  absl::StatusOr<std::filesystem::path> dir = ResolveVersionDir(options.model_dir, options.version);
  if (!dir.ok()) return PrintError(dir.status()), 1;
  ModelOptions fp32_options;
  fp32_options.num_threads = options.num_threads;
  absl::StatusOr<std::shared_ptr<Model>> fp32 = Model::Load(*dir, fp32_options);
  if (!fp32.ok()) return PrintError(fp32.status()), 1;
  absl::StatusOr<TypedTensor> data = ReadTypedNpy(options.data_path);
  if (!data.ok()) return PrintError(data.status()), 1;
  if (absl::Status ok = CheckSamples(**fp32, *data, options.data_path); !ok.ok()) {
    return PrintError(ok), 1;
  }
  TypedTensor calibration_samples = *data;
  std::optional<TypedTensor> holdout;
  std::string holdout_what;
  if (!options.holdout_path.empty()) {
    absl::StatusOr<TypedTensor> read = ReadTypedNpy(options.holdout_path);
    if (!read.ok()) return PrintError(read.status()), 1;
    if (absl::Status ok = CheckSamples(**fp32, *read, options.holdout_path); !ok.ok()) {
      return PrintError(ok), 1;
    }
    holdout = *std::move(read);
    holdout_what = absl::StrCat("held-out samples of ", options.holdout_path);
  } else if (data->shape[0] >= 10) {
    calibration_samples = Select(*data, [](int64_t i) { return i % 5 != 4; });
    holdout = Select(*data, [](int64_t i) { return i % 5 == 4; });
    holdout_what = "held-out samples (every fifth of --data)";
  }

  CalibrationOptions calibrate;
  calibrate.batch = options.batch;
  calibrate.percentile = options.percentile;
  calibrate.num_threads = options.num_threads;
  absl::StatusOr<Int8Calibration> calibration =
      CalibrateInt8(**fp32, calibration_samples, calibrate);
  if (!calibration.ok()) return PrintError(calibration.status()), 1;
  if (calibration->inputs.empty()) {
    return PrintError(absl::InvalidArgumentError(
               "the model has no layer that computes in int8 (Conv1d/2d/3d, Linear)")),
           1;
  }
  const std::filesystem::path output = options.output_path.empty()
                                           ? *dir / kInt8CalibrationFile
                                           : std::filesystem::path(options.output_path);
  if (absl::Status written = WriteInt8Calibration(output, *calibration); !written.ok()) {
    return PrintError(written), 1;
  }
  fmt::print("model {}\ncalibrated on {} samples of {} (percentile {} of |x|)\n\n", dir->string(),
             calibration->samples, options.data_path, calibration->percentile);
  fmt::print("{:<24} {:<10} {:>12} {:>12} {:>12}  {}\n", "layer input", "type", "min", "max",
             "clip", "as");
  for (const Layer& layer : (*fp32)->layers()) {
    auto it = calibration->inputs.find(layer.path);
    if (it == calibration->inputs.end()) continue;
    const ActivationRange& r = it->second;
    fmt::print("{:<24} {:<10} {:>12.5g} {:>12.5g} {:>12.5g}  {}\n", layer.path,
               layer.module->type(), r.min, r.max, r.clip, r.non_negative() ? "u8" : "s8");
  }
  fmt::print("\nwrote {}\n", output.string());

  if (!holdout) {
    fmt::print("accuracy: not measured (pass --holdout, or 10 or more samples in --data)\n");
    return 0;
  }
  ModelOptions int8_options = fp32_options;
  int8_options.precision = Precision::kInt8;
  int8_options.calibration = *calibration;
  absl::StatusOr<std::shared_ptr<Model>> int8 = Model::Load(*dir, int8_options);
  if (!int8.ok()) return PrintError(int8.status()), 1;
  if ((*int8)->precision() != Precision::kInt8) {
    fmt::print("accuracy: not measured: {}\n", (*int8)->precision_fallback_reason());
    return 0;
  }
  Executor executor(CpuEngine());
  PrecisionAgreement agreement;
  const int64_t batch = std::max<int64_t>(1, options.batch);
  for (int64_t begin = 0; begin < holdout->shape[0]; begin += batch) {
    const TypedTensor rows =
        SampleRows(*holdout, begin, std::min(holdout->shape[0], begin + batch));
    absl::StatusOr<Tensor> want = (*fp32)->Run(executor, rows.view());
    if (!want.ok()) return PrintError(want.status()), 1;
    absl::StatusOr<Tensor> got = (*int8)->Run(executor, rows.view());
    if (!got.ok()) return PrintError(got.status()), 1;
    agreement.Add(*want, *got);
  }
  fmt::print("{}\n", agreement.Line("int8", holdout_what));
  return 0;
}

}  // namespace seqserve
