#include "server/config/model_config.h"

#include <algorithm>
#include <iterator>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "core/precision.h"
#include "server/config/config_error.h"
#include "server/config/cpu_budget.h"

namespace seqserve {
namespace {

using inference::DataType;
using inference::ModelConfig;
using inference::ModelInput;
using inference::ModelInstanceGroup;
using inference::ModelOutput;

// Without config.pbtxt the model batches: its first dim is taken as the batch dim (as a
// PyTorch model's is) and up to this many rows go through one execution. Large enough to
// amortise per-execution overhead, small enough that one batch's latency stays short.
constexpr int64_t kDefaultMaxBatchSize = 64;
constexpr char kDefaultInputName[] = "input";
constexpr char kDefaultOutputName[] = "output";
// Durations beyond this are mistakes, and the bound keeps `now + duration` from overflowing.
constexpr uint64_t kMaxMicros = 10'000'000'000'000;  // about 116 days
// Workers per model at most: a typo such as "count: 10000000" fails the load instead of
// trying to start that many threads.
constexpr int64_t kMaxInstances = 4096;
// Sizes tried for free (-1) input dims to find the output dims: an output dim that
// differs between them follows a free input dim. Spread wide so that even a deep stack of
// stride-2 layers maps them to different sizes; starting small enough for unpadded convs.
constexpr int64_t kProbeSizes[] = {32, 48, 64, 96, 128, 224, 256, 384, 512};

template <typename Dims>
std::string DimsString(const Dims& dims) {
  return ShapeToString(Shape(dims.begin(), dims.end()));
}

bool HasFreeDim(const Shape& dims) { return std::find(dims.begin(), dims.end(), -1) != dims.end(); }

// The first module that computes something: the one whose input rule the model takes.
std::string FirstModuleType(const Model& model) {
  const std::vector<Layer>& layers = model.layers();
  for (const Layer& layer : layers) {
    if (!layer.module->IsIdentity()) return std::string(layer.module->type());
  }
  return layers.empty() ? std::string("Sequential") : std::string(layers[0].module->type());
}

// The input's element type: the configured data_type, which must be one the model takes,
// or (when absent) the one it prefers: TYPE_FP32, or TYPE_INT64 for ids. Writes the
// completed data_type into `input`.
absl::StatusOr<DType> ResolveInputDataType(ModelInput& input, const Model& model) {
  const std::vector<DType> accepted = model.InputDTypes();
  const bool ids = model.NumInputIds().has_value();
  if (input.data_type() == inference::TYPE_INVALID) {
    input.set_data_type(ids ? inference::TYPE_INT64 : inference::TYPE_FP32);
  }
  std::optional<DType> dtype;
  switch (input.data_type()) {
    case inference::TYPE_FP32:
      dtype = DType::kFloat32;
      break;
    case inference::TYPE_INT64:
      dtype = DType::kInt64;
      break;
    case inference::TYPE_INT32:
      dtype = DType::kInt32;
      break;
    default:
      break;
  }
  if (dtype && std::find(accepted.begin(), accepted.end(), *dtype) != accepted.end()) {
    return *dtype;
  }
  if (ids) {
    return ConfigError(absl::StrFormat(
        "input '%s' has data_type %s, but the model takes integer ids (its first module, %s, "
        "looks up rows by id): use TYPE_INT64 or TYPE_INT32",
        input.name(), inference::DataType_Name(input.data_type()), FirstModuleType(model)));
  }
  return ConfigError(absl::StrFormat(
      "input '%s' has data_type %s, but the model takes float32 input (its first module, %s, "
      "computes in float32): use TYPE_FP32",
      input.name(), inference::DataType_Name(input.data_type()), FirstModuleType(model)));
}

absl::Status CheckOutputDataType(ModelOutput& output) {
  if (output.data_type() == inference::TYPE_INVALID) output.set_data_type(inference::TYPE_FP32);
  if (output.data_type() == inference::TYPE_FP32) return absl::OkStatus();
  return ConfigError(absl::StrFormat(
      "output '%s' has data_type %s, but seqserve models compute in float32: use TYPE_FP32",
      output.name(), inference::DataType_Name(output.data_type())));
}

template <typename Message>
absl::Status CheckSingle(std::string_view what,
                         const google::protobuf::RepeatedPtrField<Message>& tensors) {
  if (tensors.size() <= 1) return absl::OkStatus();
  std::vector<std::string> names;
  for (const Message& tensor : tensors) names.push_back(absl::StrCat("'", tensor.name(), "'"));
  return ConfigError(absl::StrFormat("a Sequential has exactly one %s, but %d are configured: %s",
                                     std::string(what), tensors.size(),
                                     absl::StrJoin(names, ", ")));
}

// The input dims in effect: the configured ones checked against those the first module
// implies (-1 on either side matches anything; a configured size refines a free one), or
// the implied ones when none are configured.
absl::StatusOr<Shape> ResolveInputDims(const ModelInput& input, const Model& model, bool batching) {
  Shape dims(input.dims().begin(), input.dims().end());
  for (int64_t d : dims) {
    if (d != -1 && d <= 0) {
      return ConfigError(
          absl::StrFormat("input '%s' dims %s may hold only positive sizes and -1 (any size)",
                          input.name(), ShapeToString(dims)));
    }
  }
  const std::optional<Shape> implied = model.InputDims();
  if (dims.empty()) {
    if (!implied) {
      return ConfigError(absl::StrFormat(
          "input dims are required because the first module (%s) does not imply an input "
          "shape",
          FirstModuleType(model)));
    }
    dims = *implied;
    // Without a batch dim added by the server, a PyTorch model still takes a batch: let
    // the request carry it, of any size.
    if (!batching) dims.insert(dims.begin(), -1);
    return dims;
  }
  if (!implied) return dims;

  // The implied dims describe one sample; with max_batch_size 0 the configured dims may
  // also carry the batch dim in front (Triton's common `max_batch_size: 0, dims: [-1, ...]`).
  size_t lead = 0;
  if (!batching && dims.size() == implied->size() + 1) {
    lead = 1;
  } else if (dims.size() != implied->size()) {
    return ConfigError(absl::StrFormat(
        "input '%s' dims %s have %d dims, but the first module (%s) takes %d: %s%s", input.name(),
        ShapeToString(dims), dims.size(), FirstModuleType(model), implied->size(),
        ShapeToString(*implied),
        batching ? " (the batch dim is not part of dims when max_batch_size > 0)"
                 : " (or one more, a leading batch dim, since max_batch_size is 0)"));
  }
  Shape resolved = dims;
  for (size_t i = 0; i < implied->size(); ++i) {
    int64_t& configured = resolved[lead + i];
    const int64_t wanted = (*implied)[i];
    if (configured != -1 && wanted != -1 && configured != wanted) {
      return ConfigError(absl::StrFormat(
          "input '%s' dims %s do not match the dims %s the first module (%s) implies", input.name(),
          ShapeToString(dims), ShapeToString(*implied), FirstModuleType(model)));
    }
    if (configured == -1) configured = wanted;
  }
  return resolved;
}

struct ProbeResult {
  Shape output;         // -1 where it follows a free input dim
  Shape fitting_input;  // a concrete input the model takes
};

// The model's output shape for `input` (which may hold -1): PyTorch's shape rule on
// concrete sizes, and, for free dims, on several probe sizes, -1 where results differ.
// `dims` (the configured form of `input`) and `input_name` are for the messages.
absl::StatusOr<ProbeResult> ProbeOutputShape(const Model& model, const Shape& input,
                                             const Shape& dims, const std::string& input_name) {
  if (!HasFreeDim(input)) {
    absl::StatusOr<Shape> out = model.OutputShape(input);
    if (!out.ok()) {
      return ConfigError(absl::StrFormat("input '%s' dims %s do not fit the model: %s", input_name,
                                         ShapeToString(dims), std::string(out.status().message())));
    }
    return ProbeResult{*std::move(out), input};
  }
  std::vector<Shape> outputs;
  Shape fitting_input;
  absl::Status first_error;
  for (int64_t size : kProbeSizes) {
    Shape probe = input;
    std::replace(probe.begin(), probe.end(), int64_t{-1}, size);
    absl::StatusOr<Shape> out = model.OutputShape(probe);
    if (out.ok()) {
      outputs.push_back(*std::move(out));
      if (fitting_input.empty()) fitting_input = probe;
    } else if (first_error.ok()) {
      first_error = out.status();
    }
  }
  if (outputs.size() < 2) {
    return ConfigError(absl::StrFormat(
        "input '%s' dims %s leave sizes free (-1), but at most one of the sizes from %d to "
        "%d tried there fits the model (%s); give the sizes in dims",
        input_name, ShapeToString(dims), kProbeSizes[0], std::end(kProbeSizes)[-1],
        first_error.ok() ? "" : std::string(first_error.message())));
  }
  Shape result = outputs[0];
  for (const Shape& out : outputs) {
    if (out.size() != result.size()) {
      return ConfigError(absl::StrFormat(
          "the model's output rank depends on the free sizes of input '%s' dims %s (%s or "
          "%s); give the sizes in dims",
          input_name, ShapeToString(dims), ShapeToString(outputs[0]), ShapeToString(out)));
    }
    for (size_t i = 0; i < out.size(); ++i) {
      if (out[i] != result[i]) result[i] = -1;
    }
  }
  return ProbeResult{std::move(result), std::move(fitting_input)};
}

// With batching on, each request's rows must come out as the same rows: dim 0 of the
// output must be the input's batch dim, whatever its size. `fitting_input` is a concrete
// batched input the model takes.
absl::Status CheckBatchDim(const Model& model, const Shape& fitting_input, int64_t max_batch_size,
                           const std::string& input_name) {
  for (int64_t batch : {int64_t{1}, int64_t{3}}) {
    Shape in = fitting_input;
    in[0] = batch;
    absl::StatusOr<Shape> out = model.OutputShape(in);
    if (out.ok() && !out->empty() && (*out)[0] == batch) continue;
    return ConfigError(absl::StrFormat(
        "max_batch_size is %d, so dim 0 of input '%s' is the batch dim, but the model does "
        "not keep it as dim 0 of its output (input %s gives %s); set max_batch_size: 0",
        max_batch_size, input_name, ShapeToString(in),
        out.ok() ? ShapeToString(*out) : std::string(out.status().message())));
  }
  return absl::OkStatus();
}

// `default_batching`: batching is on only because config.pbtxt is absent, so a model that
// cannot batch along dim 0 is served without batching instead of failing to load.
absl::Status CompleteTensors(ModelConfig& config, const Model& model, bool default_batching,
                             ServingConfig& serving) {
  const bool batching = config.max_batch_size() > 0;

  SEQ_RETURN_IF_ERROR(CheckSingle("input", config.input()));
  if (config.input_size() == 0) config.add_input();
  ModelInput& input = *config.mutable_input(0);
  if (input.name().empty()) input.set_name(kDefaultInputName);
  SEQ_ASSIGN_OR_RETURN(serving.input_dtype, ResolveInputDataType(input, model));
  if (input.format() == ModelInput::FORMAT_NHWC) {
    return ConfigError(absl::StrFormat(
        "input '%s' has format FORMAT_NHWC, but PyTorch modules take channels first: send "
        "NCHW tensors (FORMAT_NCHW, or leave format out)",
        input.name()));
  }

  SEQ_ASSIGN_OR_RETURN(Shape input_dims, ResolveInputDims(input, model, batching));
  // Triton: an image format means 3 dims (C, H, W) besides the batch dim.
  const bool image_rank = input_dims.size() == 3 || (!batching && input_dims.size() == 4);
  if (input.format() == ModelInput::FORMAT_NCHW && !image_rank) {
    return ConfigError(absl::StrFormat(
        "input '%s' has format FORMAT_NCHW, which needs dims (C, H, W), but its dims are %s",
        input.name(), ShapeToString(input_dims)));
  }

  Shape probe_input = input_dims;
  if (batching) probe_input.insert(probe_input.begin(), 1);
  SEQ_ASSIGN_OR_RETURN(ProbeResult probe,
                       ProbeOutputShape(model, probe_input, input_dims, input.name()));
  Shape output_dims = std::move(probe.output);
  if (batching) {
    if (std::optional<std::string> mixes = model.MixesAlongDim0(probe.fitting_input)) {
      if (!default_batching) {
        return ConfigError(absl::StrFormat(
            "max_batch_size is %d, so dim 0 of input '%s' is the batch dim and requests are "
            "stacked along it, but the model mixes dim 0: %s; set max_batch_size: 0 (no "
            "dynamic batching: each request runs alone and its shape is the model's whole "
            "input)",
            config.max_batch_size(), input.name(), *mixes));
      }
      serving.warnings.push_back(absl::StrFormat(
          "served without dynamic batching (max_batch_size 0): the model mixes dim 0 (%s), so "
          "requests cannot be stacked along it",
          *mixes));
      config.set_max_batch_size(0);
      config.clear_dynamic_batching();
      serving.max_batch_size = 0;
      return CompleteTensors(config, model, /*default_batching=*/false, serving);
    }
    SEQ_RETURN_IF_ERROR(
        CheckBatchDim(model, probe.fitting_input, config.max_batch_size(), input.name()));
    output_dims.erase(output_dims.begin());
  }

  SEQ_RETURN_IF_ERROR(CheckSingle("output", config.output()));
  if (config.output_size() == 0) config.add_output();
  ModelOutput& output = *config.mutable_output(0);
  if (output.name().empty()) output.set_name(kDefaultOutputName);
  SEQ_RETURN_IF_ERROR(CheckOutputDataType(output));
  if (output.dims_size() > 0) {
    bool agree = static_cast<size_t>(output.dims_size()) == output_dims.size();
    for (int i = 0; agree && i < output.dims_size(); ++i) {
      const int64_t configured = output.dims(i);
      agree = configured == -1 || output_dims[i] == -1 || configured == output_dims[i];
    }
    if (!agree) {
      return ConfigError(absl::StrFormat(
          "output '%s' dims %s do not match the model's output dims %s for input dims %s",
          output.name(), DimsString(output.dims()), ShapeToString(output_dims),
          ShapeToString(input_dims)));
    }
  }

  input.mutable_dims()->Assign(input_dims.begin(), input_dims.end());
  output.mutable_dims()->Assign(output_dims.begin(), output_dims.end());
  serving.input_name = input.name();
  serving.output_name = output.name();
  serving.input_dims = std::move(input_dims);
  serving.output_dims = std::move(output_dims);
  return absl::OkStatus();
}

// The keys of the model's `parameters` map seqserve knows (proto/model_config.proto).
constexpr char kAdaptiveBatching[] = "adaptive_batching";
constexpr char kPrecisionKey[] = "precision";
constexpr char kRunOnCaller[] = "run_on_caller";

// A batch expected to take at most this long may run on the thread that enqueued it
// (SchedulerOptions::caller_run_max_us): the hand-off to a worker and back costs tens of
// microseconds, which matters below a millisecond; a longer batch would hold a front end's
// thread for longer than its requests can wait to be read.
constexpr int64_t kCallerRunMaxUs = 1000;

// Any other key is an error, as an unknown field is: a setting is never silently ignored.
absl::Status CheckParameterKey(const std::string& key) {
  if (key == kAdaptiveBatching || key == kPrecisionKey || key == kRunOnCaller) {
    return absl::OkStatus();
  }
  const std::string shown = key.size() <= 40 ? key : key.substr(0, 40) + "...";
  return ConfigError(absl::StrFormat(
      "parameters key '%s' is not supported by seqserve (it knows \"%s\", \"%s\" and \"%s\")",
      shown, kAdaptiveBatching, kPrecisionKey, kRunOnCaller));
}

// Parses a "true"/"false" parameter named `key`.
absl::StatusOr<bool> BoolParameter(const std::string& key, const std::string& text) {
  if (text == "true") return true;
  if (text == "false") return false;
  return ConfigError(absl::StrFormat("parameters %s must be \"true\" or \"false\", got \"%s\"",
                                     key, text.size() <= 40 ? text : text.substr(0, 40) + "..."));
}

// Whether short batches may run on the enqueuing thread: the "run_on_caller" parameter,
// "true" unless given; only a model whose plans run on one thread does (a caller's thread
// is not the worker's OpenMP team).
absl::StatusOr<bool> RunOnCaller(const ModelConfig& config, int threads) {
  bool run_on_caller = true;
  for (const auto& [key, value] : config.parameters()) {
    if (key != kRunOnCaller) continue;
    SEQ_ASSIGN_OR_RETURN(run_on_caller, BoolParameter(kRunOnCaller, value.string_value()));
  }
  return run_on_caller && threads == 1;
}

// Whether the dynamic batcher adapts its window (BatchPolicy::adaptive_window): the
// "adaptive_batching" parameter, "true" unless given.
absl::StatusOr<bool> AdaptiveBatching(const ModelConfig& config) {
  bool adaptive = true;
  for (const auto& [key, value] : config.parameters()) {
    SEQ_RETURN_IF_ERROR(CheckParameterKey(key));
    if (key != kAdaptiveBatching) continue;
    SEQ_ASSIGN_OR_RETURN(adaptive, BoolParameter(kAdaptiveBatching, value.string_value()));
    if (!config.has_dynamic_batching()) {
      return ConfigError(absl::StrFormat(
          "parameters %s needs dynamic_batching: without it every request runs alone",
          kAdaptiveBatching));
    }
  }
  return adaptive;
}

absl::Status CompleteDynamicBatching(ModelConfig& config, SchedulerOptions& options) {
  options.batching = BatchPolicy{};
  options.default_timeout_us = 0;
  SEQ_ASSIGN_OR_RETURN(const bool adaptive, AdaptiveBatching(config));
  // Without dynamic_batching every request runs alone, in an unbounded queue without a
  // timeout (as in Triton, whose queue policy lives inside dynamic_batching).
  if (!config.has_dynamic_batching()) return absl::OkStatus();
  // Written in, so the completed config shows the window in effect.
  (*config.mutable_parameters())[kAdaptiveBatching].set_string_value(adaptive ? "true" : "false");

  const int64_t max_batch_size = config.max_batch_size();
  inference::ModelDynamicBatching& batching = *config.mutable_dynamic_batching();
  std::vector<int64_t> preferred;
  for (int32_t size : batching.preferred_batch_size()) {
    if (size <= 0 || size > max_batch_size) {
      return ConfigError(absl::StrFormat(
          "dynamic_batching preferred_batch_size %d is outside [1, max_batch_size %d]", size,
          max_batch_size));
    }
    preferred.push_back(size);
  }
  std::sort(preferred.begin(), preferred.end());
  preferred.erase(std::unique(preferred.begin(), preferred.end()), preferred.end());
  batching.mutable_preferred_batch_size()->Assign(preferred.begin(), preferred.end());

  if (batching.max_queue_delay_microseconds() > kMaxMicros) {
    return ConfigError(
        absl::StrFormat("dynamic_batching max_queue_delay_microseconds %d is beyond %d",
                        batching.max_queue_delay_microseconds(), kMaxMicros));
  }
  inference::ModelQueuePolicy& queue = *batching.mutable_default_queue_policy();
  if (queue.timeout_action() != inference::ModelQueuePolicy::REJECT) {
    return ConfigError(absl::StrFormat(
        "default_queue_policy timeout_action %s is not supported by seqserve: a request "
        "whose timeout passes while queued fails with DEADLINE_EXCEEDED (REJECT)",
        inference::ModelQueuePolicy::TimeoutAction_Name(queue.timeout_action())));
  }
  if (queue.has_allow_timeout_override() && !queue.allow_timeout_override()) {
    return ConfigError(
        "default_queue_policy allow_timeout_override: false is not supported by seqserve: a "
        "request's own \"timeout\" parameter always applies when it is shorter");
  }
  queue.set_allow_timeout_override(true);
  if (queue.default_timeout_microseconds() > kMaxMicros) {
    return ConfigError(
        absl::StrFormat("default_queue_policy default_timeout_microseconds %d is beyond %d",
                        queue.default_timeout_microseconds(), kMaxMicros));
  }

  options.batching.max_batch_size = max_batch_size;
  options.batching.max_queue_delay_us =
      static_cast<int64_t>(batching.max_queue_delay_microseconds());
  options.batching.preferred_batch_sizes = std::move(preferred);
  options.batching.max_queue_size = queue.max_queue_size();
  options.batching.adaptive_window = adaptive;
  options.default_timeout_us = static_cast<int64_t>(queue.default_timeout_microseconds());
  return absl::OkStatus();
}

absl::Status CompleteInstanceGroups(ModelConfig& config, int threads, int available_cpus,
                                    ServingConfig& serving) {
  // By default the model gets the whole CPU budget: as many single-threaded workers as
  // there are CPUs (or fewer, wider ones when intra_op_threads is raised). Workers
  // compete for cores only when several models are busy at the same time.
  if (config.instance_group_size() == 0) {
    ModelInstanceGroup& group = *config.add_instance_group();
    group.set_kind(ModelInstanceGroup::KIND_CPU);
    group.set_count(std::max(1, available_cpus / threads));
  }
  int64_t total = 0;
  for (int i = 0; i < config.instance_group_size(); ++i) {
    ModelInstanceGroup& group = *config.mutable_instance_group(i);
    if (group.name().empty()) group.set_name(absl::StrCat(config.name(), "_", i));
    if (group.kind() == ModelInstanceGroup::KIND_AUTO) group.set_kind(ModelInstanceGroup::KIND_CPU);
    if (group.kind() != ModelInstanceGroup::KIND_CPU) {
      return ConfigError(absl::StrFormat(
          "instance_group '%s' has kind %s, but seqserve runs models on the CPU only: use "
          "KIND_CPU",
          group.name(), ModelInstanceGroup::Kind_Name(group.kind())));
    }
    if (group.count() < 0) {
      return ConfigError(absl::StrFormat("instance_group '%s' count must be >= 1, got %d",
                                         group.name(), group.count()));
    }
    if (group.count() == 0) group.set_count(1);  // unset: Triton's default
    total += group.count();
  }
  if (total > kMaxInstances) {
    return ConfigError(
        absl::StrFormat("instance_group counts add up to %d workers; at most %d are allowed", total,
                        kMaxInstances));
  }
  serving.scheduler_options.instance_count = static_cast<int>(total);
  const int64_t max_threads = MaxModelThreads(available_cpus);
  if (total * threads > max_threads) {
    return ConfigError(absl::StrFormat(
        "instance_group count %d x intra_op_threads %d = %d worker threads; the CPU budget of "
        "%d CPU%s allows at most %d per model (%d per CPU)",
        total, threads, total * threads, available_cpus, available_cpus == 1 ? "" : "s",
        max_threads, kModelThreadsPerCpu));
  }
  if (total * threads > available_cpus) {
    serving.warnings.push_back(absl::StrFormat(
        "%d workers x %d intra_op_threads = %d threads exceed the %d CPUs this process may "
        "use; they will contend for cores",
        total, threads, total * threads, available_cpus));
  }
  return absl::OkStatus();
}

// The "precision" parameter, fp32 unless given.
absl::StatusOr<Precision> ConfiguredPrecision(const ModelConfig& config) {
  Precision precision = Precision::kFp32;
  // Sorted, so that the first bad key reported is the same on every load.
  std::vector<std::string> keys;
  for (const auto& [key, value] : config.parameters()) keys.push_back(key);
  std::sort(keys.begin(), keys.end());
  for (const std::string& key : keys) {
    SEQ_RETURN_IF_ERROR(CheckParameterKey(key));
    if (key != kPrecisionKey) continue;
    const std::string& value = config.parameters().at(key).string_value();
    absl::StatusOr<Precision> parsed = ParsePrecision(value);
    if (!parsed.ok()) {
      return ConfigError(absl::StrFormat("parameters key \"%s\" value \"%s\": %s", key, value,
                                         std::string(parsed.status().message())));
    }
    precision = *parsed;
  }
  return precision;
}

}  // namespace

absl::StatusOr<ModelOptions> ModelOptionsFromConfig(const ModelConfig& config,
                                                    int available_cpus) {
  available_cpus = std::max(1, available_cpus);
  if (config.intra_op_threads() < 0) {
    return ConfigError(
        absl::StrFormat("intra_op_threads must be >= 1, got %d", config.intra_op_threads()));
  }
  // Checked before the model loads: loading already runs OpenMP teams this wide (weights
  // are reordered in parallel), and libgomp ends the process when it cannot make a thread.
  if (config.intra_op_threads() > available_cpus) {
    return ConfigError(absl::StrFormat(
        "intra_op_threads %d is more than the %d CPU%s this process may use (the CPU budget); "
        "at most %d",
        config.intra_op_threads(), available_cpus, available_cpus == 1 ? "" : "s",
        available_cpus));
  }
  ModelOptions options;
  // One oneDNN thread per worker by default: at serving load, parallelism comes from
  // several workers on independent batches, which scales better than threads splitting
  // one small batch.
  options.num_threads = config.intra_op_threads() > 0 ? config.intra_op_threads() : 1;
  SEQ_ASSIGN_OR_RETURN(options.precision, ConfiguredPrecision(config));
  return options;
}

absl::StatusOr<ServingConfig> CompleteModelConfig(ModelConfig config, std::string_view model_name,
                                                  bool config_file_present, const Model& model,
                                                  int available_cpus) {
  available_cpus = std::max(1, available_cpus);
  ServingConfig serving;

  if (!config.name().empty() && config.name() != model_name) {
    return ConfigError(
        absl::StrFormat("name \"%s\" does not match the model's directory name \"%s\"",
                        config.name(), std::string(model_name)));
  }
  config.set_name(std::string(model_name));

  if (!config_file_present) {
    // Batching on, without added latency: a free worker takes whatever queued while the
    // workers were busy (delay 0), so at low load a request runs at once and under load
    // batches form by themselves.
    config.set_max_batch_size(static_cast<int32_t>(kDefaultMaxBatchSize));
    config.mutable_dynamic_batching();
  }
  if (config.max_batch_size() < 0) {
    return ConfigError(
        absl::StrFormat("max_batch_size must be >= 0, got %d", config.max_batch_size()));
  }
  if (config.has_dynamic_batching() && config.max_batch_size() == 0) {
    return ConfigError(
        "dynamic_batching needs max_batch_size > 0: with max_batch_size 0 (the default when "
        "config.pbtxt exists) requests have no batch dim to batch along");
  }
  serving.max_batch_size = config.max_batch_size();

  SEQ_ASSIGN_OR_RETURN(ModelOptions threads, ModelOptionsFromConfig(config, available_cpus));
  serving.model_options = model.options();
  serving.model_options.num_threads = threads.num_threads;
  config.set_intra_op_threads(threads.num_threads);
  if (model.options().num_threads != threads.num_threads) {
    serving.warnings.push_back(absl::StrFormat(
        "the model was loaded with %d threads per execution, but intra_op_threads is %d; "
        "load it with ModelOptionsFromConfig",
        model.options().num_threads, threads.num_threads));
  }
  if (model.options().precision != threads.precision) {
    serving.warnings.push_back(absl::StrFormat(
        "the model was loaded with precision %s, but parameters \"precision\" is %s; load it "
        "with ModelOptionsFromConfig",
        std::string(PrecisionName(model.options().precision)),
        std::string(PrecisionName(threads.precision))));
  }
  // What the model actually runs in: fp32 on a CPU without the instructions for the
  // precision asked for (the model logged why when it loaded).
  (*config.mutable_parameters())[kPrecisionKey].set_string_value(
      std::string(PrecisionName(model.precision())));

  SEQ_RETURN_IF_ERROR(CompleteTensors(config, model, !config_file_present, serving));
  SEQ_RETURN_IF_ERROR(CompleteDynamicBatching(config, serving.scheduler_options));
  SEQ_RETURN_IF_ERROR(CompleteInstanceGroups(config, threads.num_threads, available_cpus, serving));
  SEQ_ASSIGN_OR_RETURN(const bool run_on_caller, RunOnCaller(config, threads.num_threads));
  serving.scheduler_options.caller_run_max_us = run_on_caller ? kCallerRunMaxUs : 0;
  SEQ_ASSIGN_OR_RETURN(serving.version_policy, CompleteVersionPolicy(config));

  serving.config = std::move(config);
  return serving;
}

}  // namespace seqserve
