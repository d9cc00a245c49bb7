// One model version loaded from its directory (model.seq + model.safetensors): the module
// tree with its parameters, the reordered weights (held once, shared by every plan and
// worker), and a bounded cache of Plans compiled per input shape.
// Thread-safe: GetPlan may be called from any number of workers at once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "core/executor.h"
#include "core/int8_calibration.h"
#include "core/plan.h"
#include "core/precision.h"
#include "core/safetensors.h"
#include "common/safe_file.h"
#include "core/sequential.h"
#include "core/tuner.h"
#include "core/tuning_cache.h"
#include "common/tensor.h"
#include "core/weight_cache.h"

namespace seqserve {

// What Model::Load reads at most, so that a hostile or broken model directory fails its load
// with a clear error instead of hanging, exhausting memory or reading files elsewhere.
struct ModelFileLimits {
  // model.seq: a regular file of at most this size (and confinement: FilePolicy).
  FilePolicy seq_file{.max_bytes = uint64_t{1} << 20};
  // model.safetensors: likewise. The file is mapped, not read whole; this bounds what the
  // header may claim.
  FilePolicy safetensors_file{.max_bytes = uint64_t{16} << 30};
  // The parameters model.seq declares, as float32: checked before the weights file is even
  // opened, and again against what its header declares before anything is allocated.
  uint64_t max_parameter_bytes = uint64_t{4} << 30;
  // Names max_parameter_bytes's setting in the error ("--max-model-bytes"); empty: none.
  std::string max_parameter_bytes_name;
};

struct ModelOptions {
  // oneDNN (OpenMP) threads each execution of this model uses.
  int num_threads = 1;
  // Compiled plans kept, one per input shape (least recently used evicted).
  size_t plan_cache_capacity = 128;
  // Fold BatchNorm into Conv/Linear and fuse activations as post-ops (off only to test
  // that fused and unfused plans agree).
  bool fuse = true;
  // With fuse: fuse ReLUs as one max(x, 0) post-op in plans guarded by an input check, each
  // with an exact twin for the inputs that fail it (see Plan::input_guard); off, ReLUs fuse
  // exactly (an exp per element) or run as a separate pass, as tuning finds faster.
  bool fast_relu = true;
  // What Load reads at most (not used by FromSource).
  ModelFileLimits limits;
  // The precision asked for (config.pbtxt's "precision" parameter); the model runs in
  // ResolvePrecision's answer for it (Model::precision()).
  Precision precision = Precision::kFp32;
  // precision int8: the activation ranges to quantise with. Unset: Load reads them from
  // kInt8CalibrationFile in the version directory (a model without them fails to load,
  // saying how to make them: `seqserve calibrate`).
  std::optional<Int8Calibration> calibration;
  // Compile-time choice of each Conv/Linear's implementation by timing (core/tuner.h),
  // cached on disk (core/tuning_cache.h); defaults from the SEQSERVE_TUNING* variables.
  TuningOptions tuning = TuningOptions::FromEnvironment();
};

class Model {
 public:
  // Loads `version_dir`/model.seq and, if the model has parameters,
  // `version_dir`/model.safetensors (strict state_dict match), within options.limits: only
  // regular files, of bounded size, and parameters of bounded size, checked before any is
  // allocated. Errors name the file.
  static absl::StatusOr<std::shared_ptr<Model>> Load(const std::filesystem::path& version_dir,
                                                     const ModelOptions& options = {});
  // Builds from model.seq text and tensors already in memory (tests, tools).
  static absl::StatusOr<std::shared_ptr<Model>> FromSource(std::string_view seq_text,
                                                           std::string_view seq_file,
                                                           const TensorMap* weights,
                                                           std::string_view weights_file,
                                                           const ModelOptions& options = {});

  const Sequential& root() const { return *root_; }
  const std::vector<Layer>& layers() const { return layers_; }
  const ModelOptions& options() const { return options_; }
  // The precision the model's plans compute in: options().precision where this CPU runs it
  // natively, else fp32 (logged once, at load, with why).
  Precision precision() const { return precision_.precision; }
  // Why precision() differs from options().precision; empty when it does not.
  const std::string& precision_fallback_reason() const { return precision_.fallback_reason; }
  // The ranges an int8 model quantises with (null unless options().precision is int8).
  const Int8Calibration* calibration() const {
    return calibration_ ? &*calibration_ : nullptr;
  }
  // A hash of model.seq and every weight: what tuning decisions and int8 calibrations are
  // tied to (16 hex digits).
  const std::string& content_hash() const { return content_hash_; }
  int64_t NumParams() const;
  // The input dims (without batch) the first module implies, -1 where any size fits.
  std::optional<Shape> InputDims() const { return root_->InputDims(); }
  // The input element types the model takes, preferred first: {float32}, or {int64, int32}
  // when it starts with Embedding or EmbeddingBag.
  std::vector<DType> InputDTypes() const { return root_->InputDTypes(); }
  // For a model that takes ids: valid ids lie in [0, NumInputIds()) (num_embeddings of its
  // first module). nullopt for a model that takes floats.
  std::optional<int64_t> NumInputIds() const { return root_->NumInputIds(); }
  // Why the model cannot batch along dim 0 for input `in` ("1 (TransformerEncoder): ..."),
  // or nullopt when every output slice along dim 0 depends only on the same input slice.
  std::optional<std::string> MixesAlongDim0(const Shape& in) const {
    return root_->MixesAlongDim0(in);
  }

  // PyTorch's output shape for `input`, or an error naming the module path.
  absl::StatusOr<Shape> OutputShape(const Shape& input) const;

  // The plan for an input of shape `input` and element type `dtype` (compiled on first use;
  // cached). A dtype the model does not take is INVALID_ARGUMENT.
  absl::StatusOr<std::shared_ptr<const Plan>> GetPlan(const Shape& input,
                                                      DType dtype = DType::kFloat32);
  // Whether GetPlan has that plan cached, so it returns without compiling.
  bool HasPlan(const Shape& input, DType dtype = DType::kFloat32) const;

  // One forward pass (convenience for tools and tests).
  absl::StatusOr<Tensor> Run(Executor& executor, const Tensor& input);
  absl::StatusOr<Tensor> Run(Executor& executor, const TensorView& input);

  // Bytes held by reordered constants.
  size_t weight_bytes() const { return weights_.bytes(); }
  size_t cached_plans() const;

 private:
  Model(std::unique_ptr<Sequential> root, const ModelOptions& options);
  // FromSource once model.seq (`seq_text`) is parsed and built.
  static absl::StatusOr<std::shared_ptr<Model>> FromTree(std::unique_ptr<Sequential> root,
                                                         std::string_view seq_text,
                                                         std::string_view seq_file,
                                                         const TensorMap* weights,
                                                         std::string_view weights_file,
                                                         const ModelOptions& options);
  // For precision int8: takes options().calibration, else reads it from `version_dir`
  // (empty: not loaded from a directory), and checks it belongs to this model.
  absl::Status AttachCalibration(const std::filesystem::path& version_dir);
  absl::StatusOr<std::shared_ptr<const Plan>> Compile(const Shape& input, DType dtype)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(compile_mu_);
  // The plan with exact ReLUs that runs the inputs a guarded plan (Plan::input_guard) does
  // not take, with the implementations `fast` (that plan's tuning) chose.
  absl::StatusOr<std::shared_ptr<const Plan>> CompileExactTwin(const Shape& input, DType dtype,
                                                               const PlanTuning& fast)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(compile_mu_);
  // The model's tuning cache, opened on first use.
  TuningCache& tuning_cache() ABSL_EXCLUSIVE_LOCKS_REQUIRED(compile_mu_);

  std::unique_ptr<Sequential> root_;
  std::vector<Layer> layers_;  // borrowed from root_
  ModelOptions options_;
  EffectivePrecision precision_;
  WeightCache weights_;

  mutable absl::Mutex mu_;
  // Most recently used first.
  struct CachedPlan {
    Shape shape;
    DType dtype;
    std::shared_ptr<const Plan> plan;
  };
  std::list<CachedPlan> plans_ ABSL_GUARDED_BY(mu_);
  // The cached plan for (input, dtype), or plans_.end().
  std::list<CachedPlan>::const_iterator FindPlanLocked(const Shape& input, DType dtype) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Mutex compile_mu_;  // one compile at a time, so a burst compiles each shape once

  std::string source_;                     // model.seq's path, for log lines
  std::filesystem::path version_dir_;      // empty unless loaded from a directory
  std::string content_hash_;               // of model.seq and the weights
  std::optional<Int8Calibration> calibration_;
  std::unique_ptr<TuningCache> tuning_cache_ ABSL_GUARDED_BY(compile_mu_);
  double tuning_budget_left_ms_ ABSL_GUARDED_BY(compile_mu_) = 0;
};

}  // namespace seqserve
