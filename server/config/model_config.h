// A model's serving configuration: completes a parsed config.pbtxt (config_parser.h; Triton's
// ModelConfig subset in proto/model_config.proto) against the loaded model — input and output
// names, types and dims checked against (or inferred from) the Sequential, batching, queue,
// worker-pool and thread defaults filled in so that a model without any config serves
// well — producing both the effective ModelConfig (what the ModelConfig RPC returns) and
// the options the engine and the scheduler take.
// Completing includes probing the model's shape rule with a few sizes for free (-1) input
// dims, to tell which output dims follow them.
// Thread-safe: free functions over values.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "core/model.h"
#include "common/tensor.h"
#include "proto/model_config.pb.h"
#include "server/config/version_policy.h"
#include "server/scheduling/scheduler.h"

namespace seqserve {

// The server's limits on one request, the same for every model: checked before any compute
// (SPEC §7: RESOURCE_EXHAUSTED naming the size and the limit).
struct RequestLimits {
  // The output tensor of one request (--max-output-bytes).
  int64_t max_output_bytes = int64_t{64} << 20;
  // Activations and scratchpad of one execution of the compiled plan (--max-activation-bytes).
  int64_t max_activation_bytes = int64_t{1} << 30;
  // What a worker keeps between requests (--worker-retain-bytes): a batch that needs more
  // memory for activations, scratchpad or gathered rows gets it for that batch alone, and it
  // goes back to the system right after.
  int64_t worker_retain_bytes = int64_t{64} << 20;
};

struct ServingConfig {
  // Completed: every default written in, so it shows what is in effect.
  inference::ModelConfig config;
  std::string input_name;   // "input" unless configured
  std::string output_name;  // "output" unless configured
  // The input's element type (data_type): float32, or int64/int32 ids for a model that
  // starts with Embedding or EmbeddingBag. Requests in another datatype are converted to it
  // (frontend/input_conversion.h). Outputs are always float32.
  DType input_dtype = DType::kFloat32;
  // Without the batch dim when max_batch_size > 0; -1 = any size.
  Shape input_dims;
  // Without the batch dim when max_batch_size > 0; -1 where the size follows a free input
  // dim.
  Shape output_dims;
  // The output's class labels (its label_filename, one per line; set by the loader): class i
  // of a sample is labels[i] in classification replies. Empty: no labels.
  std::vector<std::string> output_labels;
  // > 0: requests carry a leading batch dim of 1..max_batch_size rows. 0: the model does
  // not batch; input_dims are the whole request shape (Triton's semantics).
  int64_t max_batch_size = 0;
  // num_threads = intra_op_threads. The Model must be loaded with these options (see
  // ModelOptionsFromConfig) for its plans to use that many threads.
  ModelOptions model_options;
  SchedulerOptions scheduler_options;
  VersionPolicy version_policy;
  // The server's, not the config's: set by the loader.
  RequestLimits limits;
  // Legal but doubtful settings (e.g. more worker threads than CPUs), for the caller to log.
  std::vector<std::string> warnings;
};

// The engine options a model with this (parsed, not yet completed) config is loaded with,
// so that the Model passed to CompleteModelConfig already compiles plans for the configured
// intra_op_threads and parameters "precision". INVALID_ARGUMENT for a negative
// intra_op_threads or one above `available_cpus` (cpu_budget.h), a precision other than
// "fp32", "bf16" or "int8", or a parameters key other than "precision".
absl::StatusOr<ModelOptions> ModelOptionsFromConfig(const inference::ModelConfig& config,
                                                    int available_cpus);

// Validates `config` against `model` and fills every default, with Triton's semantics
// wherever Triton has one:
//  - name: must equal `model_name` if given.
//  - no config.pbtxt (`config_file_present` false): max_batch_size 64 and dynamic batching
//    with max_queue_delay 0. A config.pbtxt without max_batch_size: 0, no batching; without
//    dynamic_batching: each request runs alone. dynamic_batching needs max_batch_size > 0.
//  - exactly one input and one output, named "input"/"output" by default. The input's
//    data_type is one model.InputDTypes() holds: TYPE_FP32 for a float model, TYPE_INT64 or
//    TYPE_INT32 for a model that takes ids (unset: TYPE_FP32, or TYPE_INT64 for ids); the
//    output's is TYPE_FP32. Input dims must agree with model.InputDims() (-1 matches
//    anything) or are inferred from it (with a leading -1 when max_batch_size is 0); output
//    dims come from the model's shape rule and must agree with any configured ones.
//  - batching (max_batch_size > 0) needs a model that keeps dim 0 as its output's dim 0 and
//    computes each slice along dim 0 on its own (model.MixesAlongDim0: a sequence-first
//    TransformerEncoder does not). Otherwise a load error; without config.pbtxt, the model
//    is served with max_batch_size 0 instead (a warning says why).
//  - preferred_batch_size in [1, max_batch_size]; queue policy REJECT only.
//  - parameters: only "adaptive_batching", "true" or "false", and only with dynamic_batching;
//    with dynamic_batching it is written in ("true" unless given) and sets the scheduler's
//    BatchPolicy::adaptive_window. "run_on_caller", "true" (the default) or "false": with
//    intra_op_threads 1, sets SchedulerOptions::caller_run_max_us (batches expected to take
//    at most 1 ms may run on the front end's thread that enqueued them), else 0.
//  - instance_group: KIND_CPU/KIND_AUTO, count >= 1 (unset: 1), groups summed; none:
//    max(1, available_cpus / intra_op_threads) workers. intra_op_threads: unset means 1, at
//    most `available_cpus`. Workers × intra_op_threads above MaxModelThreads(available_cpus)
//    is an error; more than `available_cpus` is kept, with a warning.
//  - version_policy: latest { num_versions: 1 } by default.
//  - parameters "precision": set to what model.precision() runs (fp32 by default, and on a
//    CPU without AVX512_BF16 even when bf16 was asked for).
// Errors are InvalidArgument, start with "config.pbtxt: " and name the offending values.
absl::StatusOr<ServingConfig> CompleteModelConfig(inference::ModelConfig config,
                                                  std::string_view model_name,
                                                  bool config_file_present, const Model& model,
                                                  int available_cpus);

}  // namespace seqserve
