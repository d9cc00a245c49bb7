// config.pbtxt completion against real models: every validation rule with its message, the
// defaults with and without a file, dims inference, and the bundled models/ repository.
#include "server/config/model_config.h"

#include <filesystem>
#include <initializer_list>
#include <string>
#include <utility>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/config/config_parser.h"
#include "tests/util/module_test_util.h"

namespace seqserve {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using testing::MustLoadWithWeights;

// A model from model.seq text with zero-filled parameters of the given shapes: shapes are
// all these tests look at.
std::shared_ptr<Model> MakeModel(std::string_view seq,
                                 std::initializer_list<std::pair<std::string, Shape>> params,
                                 const ModelOptions& options = {}) {
  TensorMap weights;
  for (const auto& [name, shape] : params) weights[name] = Tensor(shape);
  auto model = Model::FromSource(seq, "model.seq", &weights, "model.safetensors", options);
  EXPECT_TRUE(model.ok()) << model.status();
  return model.ok() ? *model : nullptr;
}

std::shared_ptr<Model> Linear784() {
  return MakeModel("nn.Sequential(nn.Linear(784, 10))",
                   {{"0.weight", {10, 784}}, {"0.bias", {10}}});
}

// The seed example: Conv2d(1,20,5), ReLU, Conv2d(20,64,5), ReLU.
std::shared_ptr<Model> Seed() {
  return MakeModel("nn.Sequential(nn.Conv2d(1,20,5), nn.ReLU(), nn.Conv2d(20,64,5), nn.ReLU())",
                   {{"0.weight", {20, 1, 5, 5}},
                    {"0.bias", {20}},
                    {"2.weight", {64, 20, 5, 5}},
                    {"2.bias", {64}}});
}

// Parses `text` as the model's config.pbtxt and completes it for a model named "m".
absl::StatusOr<ServingConfig> Complete(std::string_view text, const Model& model, int cpus = 4) {
  absl::StatusOr<inference::ModelConfig> config = ParseModelConfigText(text, "config.pbtxt");
  EXPECT_TRUE(config.ok()) << config.status();
  if (!config.ok()) return config.status();
  return CompleteModelConfig(*config, "m", /*config_file_present=*/true, model, cpus);
}

std::string ErrorOf(const absl::StatusOr<ServingConfig>& serving) {
  EXPECT_FALSE(serving.ok());
  return serving.ok() ? "" : std::string(serving.status().message());
}

Shape Dims(const google::protobuf::RepeatedField<int64_t>& dims) {
  return Shape(dims.begin(), dims.end());
}

// ---- Defaults ----------------------------------------------------------------------------

TEST(CompleteModelConfig, WithoutAFileBatchesWithoutDelayOnEveryCpu) {
  auto model = Linear784();
  auto serving = CompleteModelConfig({}, "mnist", /*config_file_present=*/false, *model, 4);
  ASSERT_TRUE(serving.ok()) << serving.status();
  EXPECT_EQ(serving->max_batch_size, 64);
  EXPECT_EQ(serving->input_name, "input");
  EXPECT_EQ(serving->output_name, "output");
  EXPECT_EQ(serving->input_dims, (Shape{784}));
  EXPECT_EQ(serving->output_dims, (Shape{10}));
  EXPECT_EQ(serving->model_options.num_threads, 1);
  EXPECT_EQ(serving->scheduler_options.instance_count, 4);
  EXPECT_EQ(serving->scheduler_options.batching.max_batch_size, 64);
  EXPECT_EQ(serving->scheduler_options.batching.max_queue_delay_us, 0);
  EXPECT_THAT(serving->scheduler_options.batching.preferred_batch_sizes, IsEmpty());
  EXPECT_EQ(serving->scheduler_options.batching.max_queue_size, 0u);
  EXPECT_EQ(serving->scheduler_options.default_timeout_us, 0);
  EXPECT_EQ(serving->version_policy.kind, VersionPolicy::Kind::kLatest);
  EXPECT_EQ(serving->version_policy.num_versions, 1);
  EXPECT_THAT(serving->warnings, IsEmpty());

  // The effective values are written back, for the ModelConfig RPC.
  const inference::ModelConfig& config = serving->config;
  EXPECT_EQ(config.name(), "mnist");
  EXPECT_EQ(config.max_batch_size(), 64);
  EXPECT_TRUE(config.has_dynamic_batching());
  EXPECT_EQ(config.input(0).name(), "input");
  EXPECT_EQ(config.input(0).data_type(), inference::TYPE_FP32);
  EXPECT_EQ(Dims(config.input(0).dims()), (Shape{784}));
  EXPECT_EQ(config.output(0).name(), "output");
  EXPECT_EQ(config.output(0).data_type(), inference::TYPE_FP32);
  EXPECT_EQ(Dims(config.output(0).dims()), (Shape{10}));
  ASSERT_EQ(config.instance_group_size(), 1);
  EXPECT_EQ(config.instance_group(0).name(), "mnist_0");
  EXPECT_EQ(config.instance_group(0).kind(), inference::ModelInstanceGroup::KIND_CPU);
  EXPECT_EQ(config.instance_group(0).count(), 4);
  EXPECT_EQ(config.intra_op_threads(), 1);
  EXPECT_EQ(config.version_policy().latest().num_versions(), 1u);
}

TEST(CompleteModelConfig, DefaultPoolNeverOversubscribes) {
  auto model = Linear784();
  auto one_cpu = CompleteModelConfig({}, "m", false, *model, 1);
  ASSERT_TRUE(one_cpu.ok()) << one_cpu.status();
  EXPECT_EQ(one_cpu->scheduler_options.instance_count, 1);
  auto no_cpu_known = CompleteModelConfig({}, "m", false, *model, 0);
  ASSERT_TRUE(no_cpu_known.ok()) << no_cpu_known.status();
  EXPECT_EQ(no_cpu_known->scheduler_options.instance_count, 1);

  // Wider workers, fewer of them: 2 threads each on 5 CPUs -> 2 workers.
  auto threaded =
      MakeModel("nn.Sequential(nn.Linear(784, 10))", {{"0.weight", {10, 784}}, {"0.bias", {10}}},
                ModelOptions{.num_threads = 2});
  auto wide = Complete("intra_op_threads: 2", *threaded, 5);
  ASSERT_TRUE(wide.ok()) << wide.status();
  EXPECT_EQ(wide->model_options.num_threads, 2);
  EXPECT_EQ(wide->scheduler_options.instance_count, 2);
  EXPECT_EQ(wide->config.intra_op_threads(), 2);
  EXPECT_THAT(wide->warnings, IsEmpty());
}

TEST(CompleteModelConfig, AFileWithoutMaxBatchSizeDoesNotBatch) {
  auto model = Linear784();
  auto serving = Complete("", *model);
  ASSERT_TRUE(serving.ok()) << serving.status();
  EXPECT_EQ(serving->max_batch_size, 0);
  EXPECT_FALSE(serving->config.has_dynamic_batching());
  EXPECT_EQ(serving->scheduler_options.batching.max_batch_size, 0);
  // No batch dim is added, so the inferred dims let the request carry its own.
  EXPECT_EQ(serving->input_dims, (Shape{-1, 784}));
  EXPECT_EQ(serving->output_dims, (Shape{-1, 10}));
}

TEST(CompleteModelConfig, WithoutDynamicBatchingEachRequestRunsAlone) {
  auto model = Linear784();
  auto serving = Complete("max_batch_size: 8", *model);
  ASSERT_TRUE(serving.ok()) << serving.status();
  EXPECT_EQ(serving->max_batch_size, 8);  // a request may still carry 8 rows
  EXPECT_EQ(serving->scheduler_options.batching.max_batch_size, 0);
  EXPECT_EQ(serving->input_dims, (Shape{784}));
}

TEST(CompleteModelConfig, NameMustMatchTheDirectory) {
  auto model = Linear784();
  EXPECT_EQ(ErrorOf(Complete("name: \"other\"", *model)),
            "config.pbtxt: name \"other\" does not match the model's directory name \"m\"");
  auto same = Complete("name: \"m\"", *model);
  ASSERT_TRUE(same.ok()) << same.status();
  EXPECT_EQ(same->config.name(), "m");
}

// ---- Inputs and outputs ------------------------------------------------------------------

TEST(CompleteModelConfig, ASequentialHasOneInputAndOneOutput) {
  auto model = Linear784();
  EXPECT_EQ(ErrorOf(Complete("input [ { name: \"a\" }, { name: \"b\" } ]", *model)),
            "config.pbtxt: a Sequential has exactly one input, but 2 are configured: 'a', 'b'");
  EXPECT_EQ(ErrorOf(Complete("output [ { name: \"y\" }, { name: \"z\" } ]", *model)),
            "config.pbtxt: a Sequential has exactly one output, but 2 are configured: 'y', 'z'");
}

TEST(CompleteModelConfig, InputDataTypeIsTheOneTheModelTakes) {
  auto floats = Linear784();
  auto fp32 = Complete("", *floats);
  ASSERT_TRUE(fp32.ok()) << fp32.status();
  EXPECT_EQ(fp32->input_dtype, DType::kFloat32);
  EXPECT_EQ(fp32->config.input(0).data_type(), inference::TYPE_FP32);
  EXPECT_EQ(ErrorOf(Complete("input [ { name: \"x\" data_type: TYPE_INT64 } ]", *floats)),
            "config.pbtxt: input 'x' has data_type TYPE_INT64, but the model takes float32 "
            "input (its first module, Linear, computes in float32): use TYPE_FP32");
  EXPECT_EQ(ErrorOf(Complete("input [ { data_type: TYPE_FP16 } ]", *floats)),
            "config.pbtxt: input 'input' has data_type TYPE_FP16, but the model takes float32 "
            "input (its first module, Linear, computes in float32): use TYPE_FP32");

  // A model that starts with Embedding takes ids: INT64 unless INT32 is configured.
  auto ids = MustLoadWithWeights("nn.Sequential(nn.Embedding(10, 4), nn.Flatten())");
  auto int64 = Complete("", *ids);
  ASSERT_TRUE(int64.ok()) << int64.status();
  EXPECT_EQ(int64->input_dtype, DType::kInt64);
  EXPECT_EQ(int64->config.input(0).data_type(), inference::TYPE_INT64);
  EXPECT_EQ(int64->config.output(0).data_type(), inference::TYPE_FP32);
  auto int32 = Complete("input [ { data_type: TYPE_INT32 dims: [ 3 ] } ]", *ids);
  ASSERT_TRUE(int32.ok()) << int32.status();
  EXPECT_EQ(int32->input_dtype, DType::kInt32);
  EXPECT_EQ(int32->output_dims, (Shape{3, 4}));  // no batching: dims are the whole shape
  EXPECT_EQ(ErrorOf(Complete("input [ { data_type: TYPE_FP32 } ]", *ids)),
            "config.pbtxt: input 'input' has data_type TYPE_FP32, but the model takes integer "
            "ids (its first module, Embedding, looks up rows by id): use TYPE_INT64 or "
            "TYPE_INT32");
  EXPECT_EQ(ErrorOf(Complete("input [ { data_type: TYPE_UINT8 } ]", *ids)),
            "config.pbtxt: input 'input' has data_type TYPE_UINT8, but the model takes integer "
            "ids (its first module, Embedding, looks up rows by id): use TYPE_INT64 or "
            "TYPE_INT32");
  auto ids_without_file = CompleteModelConfig({}, "m", /*config_file_present=*/false, *ids, 4);
  ASSERT_TRUE(ids_without_file.ok()) << ids_without_file.status();
  EXPECT_EQ(ids_without_file->input_dtype, DType::kInt64);
  EXPECT_EQ(ids_without_file->max_batch_size, 64);

  // Outputs are float32 whatever the input.
  EXPECT_EQ(ErrorOf(Complete("output [ { data_type: TYPE_FP16 } ]", *floats)),
            "config.pbtxt: output 'output' has data_type TYPE_FP16, but seqserve models compute "
            "in float32: use TYPE_FP32");
  EXPECT_EQ(ErrorOf(Complete("output [ { data_type: TYPE_INT64 } ]", *ids)),
            "config.pbtxt: output 'output' has data_type TYPE_INT64, but seqserve models compute "
            "in float32: use TYPE_FP32");
}

TEST(CompleteModelConfig, CustomTensorNamesAreKept) {
  auto model = Linear784();
  auto serving = Complete("input [ { name: \"pixels\" } ] output [ { name: \"logits\" } ]", *model);
  ASSERT_TRUE(serving.ok()) << serving.status();
  EXPECT_EQ(serving->input_name, "pixels");
  EXPECT_EQ(serving->output_name, "logits");
}

TEST(CompleteModelConfig, InputDimsMustAgreeWithTheFirstModule) {
  auto model = Linear784();
  EXPECT_EQ(ErrorOf(Complete("max_batch_size: 8 input [ { dims: [ 100 ] } ]", *model)),
            "config.pbtxt: input 'input' dims [100] do not match the dims [784] the first "
            "module (Linear) implies");
  auto free = Complete("max_batch_size: 8 input [ { dims: [ -1 ] } ]", *model);
  ASSERT_TRUE(free.ok()) << free.status();
  EXPECT_EQ(free->input_dims, (Shape{784}));  // the model knows better than "any"

  auto seed = Seed();
  EXPECT_EQ(ErrorOf(Complete("max_batch_size: 8 input [ { dims: [ 1, 28 ] } ]", *seed)),
            "config.pbtxt: input 'input' dims [1, 28] have 2 dims, but the first module "
            "(Conv2d) takes 3: [1, -1, -1] (the batch dim is not part of dims when "
            "max_batch_size > 0)");
  EXPECT_THAT(ErrorOf(Complete("max_batch_size: 8 input [ { dims: [ 3, 28, 28 ] } ]", *seed)),
              HasSubstr("dims [3, 28, 28] do not match the dims [1, -1, -1]"));
  auto refined = Complete("max_batch_size: 8 input [ { dims: [ -1, 28, 28 ] } ]", *seed);
  ASSERT_TRUE(refined.ok()) << refined.status();
  EXPECT_EQ(refined->input_dims, (Shape{1, 28, 28}));
  EXPECT_EQ(refined->output_dims, (Shape{64, 20, 20}));
}

TEST(CompleteModelConfig, WithoutBatchingDimsMayCarryALeadingBatchDim) {
  auto seed = Seed();
  auto serving = Complete("input [ { dims: [ -1, 1, 28, 28 ] } ]", *seed);
  ASSERT_TRUE(serving.ok()) << serving.status();
  EXPECT_EQ(serving->input_dims, (Shape{-1, 1, 28, 28}));
  EXPECT_EQ(serving->output_dims, (Shape{-1, 64, 20, 20}));
  auto unbatched = Complete("input [ { dims: [ 1, 28, 28 ] } ]", *seed);
  ASSERT_TRUE(unbatched.ok()) << unbatched.status();
  EXPECT_EQ(unbatched->output_dims, (Shape{64, 20, 20}));
}

TEST(CompleteModelConfig, InputDimsAreInferredFromTheFirstModule) {
  auto seed = Seed();
  auto serving = CompleteModelConfig({}, "seed", false, *seed, 2);
  ASSERT_TRUE(serving.ok()) << serving.status();
  EXPECT_EQ(serving->input_dims, (Shape{1, -1, -1}));
  // The spatial dims follow the free input size; the channels do not.
  EXPECT_EQ(serving->output_dims, (Shape{64, -1, -1}));
  EXPECT_EQ(Dims(serving->config.output(0).dims()), (Shape{64, -1, -1}));
}

TEST(CompleteModelConfig, OutputDimsAreFixedWhenThePoolingMakesThemSo) {
  auto model = MakeModel(
      "nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.MaxPool2d(2), "
      "nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4))",
      {{"0.weight", {8, 3, 3, 3}}, {"0.bias", {8}}, {"5.weight", {4, 8}}, {"5.bias", {4}}});
  auto serving = CompleteModelConfig({}, "m", false, *model, 2);
  ASSERT_TRUE(serving.ok()) << serving.status();
  EXPECT_EQ(serving->input_dims, (Shape{3, -1, -1}));
  EXPECT_EQ(serving->output_dims, (Shape{4}));
}

TEST(CompleteModelConfig, InputDimsAreRequiredWhenTheModelImpliesNone) {
  auto relu = MakeModel("nn.Sequential(nn.ReLU())", {});
  EXPECT_EQ(ErrorOf(CompleteModelConfig({}, "m", false, *relu, 2)),
            "config.pbtxt: input dims are required because the first module (ReLU) does not "
            "imply an input shape");
  auto dropout_first = MakeModel("nn.Sequential(nn.Dropout(), nn.Flatten())", {});
  EXPECT_THAT(ErrorOf(Complete("max_batch_size: 4", *dropout_first)),
              HasSubstr("because the first module (Flatten) does not imply"));
  auto given = Complete("max_batch_size: 4 input [ { dims: [ 8 ] } ]", *relu);
  ASSERT_TRUE(given.ok()) << given.status();
  EXPECT_EQ(given->output_dims, (Shape{8}));
}

TEST(CompleteModelConfig, ConcreteDimsMustFitEveryModule) {
  auto seed = Seed();
  std::string error = ErrorOf(Complete("max_batch_size: 2 input [ { dims: [ 1, 6, 6 ] } ]", *seed));
  EXPECT_THAT(error, HasSubstr("config.pbtxt: input 'input' dims [1, 6, 6] do not fit the "
                               "model: "));
  EXPECT_THAT(error, HasSubstr("(Conv2d)"));  // the engine names the module
}

TEST(CompleteModelConfig, FreeDimsThatNoSizeFitsNeedConcreteDims) {
  // LeNet's Linear(400) takes only 28x28 images, which the Conv2d in front does not imply.
  auto lenet = Model::Load(fs::path(SEQSERVE_SOURCE_DIR) / "models/lenet/1");
  ASSERT_TRUE(lenet.ok()) << lenet.status();
  EXPECT_THAT(ErrorOf(CompleteModelConfig({}, "lenet", false, **lenet, 2)),
              HasSubstr("config.pbtxt: input 'input' dims [1, -1, -1] leave sizes free (-1), "
                        "but at most one of the sizes from 32 to 512 tried there fits the "
                        "model (7 (Linear): expected"));
}

TEST(CompleteModelConfig, DimsMustBePositiveOrFree) {
  auto model = Linear784();
  EXPECT_EQ(ErrorOf(Complete("input [ { dims: [ 0, 784 ] } ]", *model)),
            "config.pbtxt: input 'input' dims [0, 784] may hold only positive sizes and -1 "
            "(any size)");
  EXPECT_THAT(ErrorOf(Complete("input [ { dims: [ -2, 784 ] } ]", *model)),
              HasSubstr("may hold only positive sizes"));
}

TEST(CompleteModelConfig, OutputDimsMustAgreeWithTheModel) {
  auto model = Linear784();
  EXPECT_EQ(ErrorOf(Complete("max_batch_size: 4 output [ { dims: [ 20 ] } ]", *model)),
            "config.pbtxt: output 'output' dims [20] do not match the model's output dims [10] "
            "for input dims [784]");
  EXPECT_THAT(ErrorOf(Complete("max_batch_size: 4 output [ { dims: [ 1, 10 ] } ]", *model)),
              HasSubstr("dims [1, 10] do not match the model's output dims [10]"));
  auto free = Complete("max_batch_size: 4 output [ { dims: [ -1 ] } ]", *model);
  ASSERT_TRUE(free.ok()) << free.status();
  EXPECT_EQ(Dims(free->config.output(0).dims()), (Shape{10}));
}

TEST(CompleteModelConfig, BatchingNeedsTheBatchDimToSurvive) {
  // Flatten(0) folds the batch into the features: rows of different requests would mix.
  auto model = MakeModel("nn.Sequential(nn.Flatten(0), nn.Linear(784, 10))",
                         {{"1.weight", {10, 784}}, {"1.bias", {10}}});
  EXPECT_THAT(ErrorOf(Complete("max_batch_size: 4 input [ { dims: [ 784 ] } ]", *model)),
              HasSubstr("max_batch_size is 4, so dim 0 of input 'input' is the batch dim, but "
                        "the model does not keep it as dim 0 of its output"));
  auto unbatched = Complete("input [ { dims: [ 784 ] } ]", *model);
  EXPECT_TRUE(unbatched.ok()) << unbatched.status();
}

// A sequence-first TransformerEncoder attends across dim 0 (its batch is dim 1): stacking
// requests along dim 0 would let them attend to each other.
TEST(CompleteModelConfig, AModelThatMixesDim0CannotBatch) {
  const std::string seq_first =
      "nn.Sequential(nn.Embedding(50, 8), nn.TransformerEncoderLayer(8, 2, 16))";
  auto model = MustLoadWithWeights(seq_first);
  // Its output keeps dim 0, so only the mixing rule can tell.
  EXPECT_EQ(*model->OutputShape({3, 5}), (Shape{3, 5, 8}));
  EXPECT_EQ(ErrorOf(Complete("max_batch_size: 8 input [ { dims: [ -1 ] } ]", *model)),
            "config.pbtxt: max_batch_size is 8, so dim 0 of input 'input' is the batch dim and "
            "requests are stacked along it, but the model mixes dim 0: 1 "
            "(TransformerEncoderLayer): with batch_first=False its input is (S, N, E): the "
            "batch is dim 1 and attention runs across dim 0, the sequence; set "
            "max_batch_size: 0 (no dynamic batching: each request runs alone and its shape is "
            "the model's whole input)");

  // Without config.pbtxt it serves unbatched: a request is (S, N) ids, whole.
  auto unbatched = CompleteModelConfig({}, "m", /*config_file_present=*/false, *model, 4);
  ASSERT_TRUE(unbatched.ok()) << unbatched.status();
  EXPECT_EQ(unbatched->max_batch_size, 0);
  EXPECT_FALSE(unbatched->config.has_dynamic_batching());
  EXPECT_EQ(unbatched->scheduler_options.batching.max_batch_size, 0);
  EXPECT_EQ(unbatched->input_dims, (Shape{-1, -1}));
  EXPECT_EQ(unbatched->output_dims, (Shape{-1, -1, 8}));
  EXPECT_EQ(unbatched->input_dtype, DType::kInt64);
  ASSERT_THAT(unbatched->warnings,
              ElementsAre(HasSubstr("served without dynamic batching (max_batch_size 0): the "
                                    "model mixes dim 0 (1 (TransformerEncoderLayer): with "
                                    "batch_first=False")));
  // max_batch_size 0 in a file is fine too.
  auto configured = Complete("max_batch_size: 0 input [ { dims: [ -1, 2 ] } ]", *model);
  ASSERT_TRUE(configured.ok()) << configured.status();
  EXPECT_EQ(configured->output_dims, (Shape{-1, 2, 8}));

  // Starting with the Transformer itself, it implies no dims: they must be configured.
  auto first = MustLoadWithWeights("nn.Sequential(nn.TransformerEncoderLayer(8, 2, 16))");
  EXPECT_EQ(ErrorOf(CompleteModelConfig({}, "m", false, *first, 4)),
            "config.pbtxt: input dims are required because the first module "
            "(TransformerEncoderLayer) does not imply an input shape");
  EXPECT_THAT(ErrorOf(Complete("max_batch_size: 4 input [ { dims: [ 3, 8 ] } ]", *first)),
              HasSubstr("the model mixes dim 0: 0 (TransformerEncoderLayer): with "
                        "batch_first=False"));
  auto whole = Complete("input [ { dims: [ 5, -1, 8 ] } ]", *first);
  ASSERT_TRUE(whole.ok()) << whole.status();
  EXPECT_EQ(whole->output_dims, (Shape{5, -1, 8}));

  // batch_first=True batches as usual.
  auto batch_first =
      MustLoadWithWeights("nn.Sequential(nn.TransformerEncoderLayer(8, 2, 16, batch_first=True))");
  auto batched = CompleteModelConfig({}, "m", false, *batch_first, 4);
  ASSERT_TRUE(batched.ok()) << batched.status();
  EXPECT_EQ(batched->max_batch_size, 64);
  EXPECT_EQ(batched->input_dims, (Shape{-1, 8}));

  // Softmax over dim 0 mixes the requests' rows as well.
  auto softmax = MustLoadWithWeights("nn.Sequential(nn.Linear(4, 3), nn.Softmax(dim=0))");
  EXPECT_THAT(ErrorOf(Complete("max_batch_size: 8", *softmax)),
              HasSubstr("the model mixes dim 0: 1 (Softmax): it normalises across dim 0 of its "
                        "input [1, 3]"));
  EXPECT_TRUE(Complete("max_batch_size: 8",
                       *MustLoadWithWeights("nn.Sequential(nn.Linear(4, 3), nn.Softmax(1))"))
                  .ok());
}

TEST(CompleteModelConfig, ImageFormats) {
  auto seed = Seed();
  EXPECT_THAT(
      ErrorOf(Complete("max_batch_size: 2 input [ { format: FORMAT_NHWC dims: [ 1, -1, -1 ] } ]",
                       *seed)),
      HasSubstr("input 'input' has format FORMAT_NHWC, but PyTorch modules take channels first"));
  EXPECT_TRUE(Complete("max_batch_size: 2 input [ { format: FORMAT_NCHW } ]", *seed).ok());
  auto model = Linear784();
  EXPECT_THAT(ErrorOf(Complete("max_batch_size: 2 input [ { format: FORMAT_NCHW } ]", *model)),
              HasSubstr("has format FORMAT_NCHW, which needs dims (C, H, W), but its dims are "
                        "[784]"));
}

// ---- Batching and queueing ---------------------------------------------------------------

TEST(CompleteModelConfig, DynamicBatchingNeedsABatchDim) {
  auto model = Linear784();
  EXPECT_THAT(ErrorOf(Complete("dynamic_batching { }", *model)),
              HasSubstr("config.pbtxt: dynamic_batching needs max_batch_size > 0"));
  EXPECT_EQ(ErrorOf(Complete("max_batch_size: -1", *model)),
            "config.pbtxt: max_batch_size must be >= 0, got -1");
}

TEST(CompleteModelConfig, DynamicBatchingMapsToTheScheduler) {
  auto model = Linear784();
  auto serving = Complete(R"(
    max_batch_size: 64
    dynamic_batching {
      max_queue_delay_microseconds: 200
      preferred_batch_size: [ 32, 16, 16 ]
      default_queue_policy { max_queue_size: 1024 default_timeout_microseconds: 5000 }
    })",
                          *model);
  ASSERT_TRUE(serving.ok()) << serving.status();
  const BatchPolicy& batching = serving->scheduler_options.batching;
  EXPECT_EQ(batching.max_batch_size, 64);
  EXPECT_EQ(batching.max_queue_delay_us, 200);
  EXPECT_THAT(batching.preferred_batch_sizes, ElementsAre(16, 32));
  EXPECT_EQ(batching.max_queue_size, 1024u);
  EXPECT_EQ(serving->scheduler_options.default_timeout_us, 5000);
  EXPECT_THAT(serving->config.dynamic_batching().preferred_batch_size(), ElementsAre(16, 32));
  EXPECT_TRUE(serving->config.dynamic_batching().default_queue_policy().allow_timeout_override());
}

TEST(CompleteModelConfig, AdaptiveBatchingIsOnByDefaultAndAParameterTurnsItOff) {
  auto model = Linear784();
  auto adaptive = Complete("max_batch_size: 8 dynamic_batching { }", *model);
  ASSERT_TRUE(adaptive.ok()) << adaptive.status();
  EXPECT_TRUE(adaptive->scheduler_options.batching.adaptive_window);
  // Written into the completed config, so the ModelConfig RPC shows what is in effect.
  EXPECT_EQ(adaptive->config.parameters().at("adaptive_batching").string_value(), "true");

  auto fixed = Complete(R"(
    max_batch_size: 8
    dynamic_batching { max_queue_delay_microseconds: 300 }
    parameters { key: "adaptive_batching" value: { string_value: "false" } })",
                        *model);
  ASSERT_TRUE(fixed.ok()) << fixed.status();
  EXPECT_FALSE(fixed->scheduler_options.batching.adaptive_window);
  EXPECT_EQ(fixed->scheduler_options.batching.max_queue_delay_us, 300);
  EXPECT_EQ(fixed->config.parameters().at("adaptive_batching").string_value(), "false");

  // Without dynamic_batching there is no window, and nothing is written in about it.
  auto alone = Complete("max_batch_size: 8", *model);
  ASSERT_TRUE(alone.ok()) << alone.status();
  EXPECT_FALSE(alone->scheduler_options.batching.adaptive_window);
  EXPECT_EQ(alone->config.parameters().count("adaptive_batching"), 0u);
}

// Short batches of a one-thread model run on the front end's thread unless the parameter
// says "false"; a model with wider workers never does (a caller's thread has no OpenMP
// team of the plan's width).
TEST(CompleteModelConfig, RunOnCallerIsOnForOneThreadModelsAndAParameterTurnsItOff) {
  auto model = Linear784();
  auto one_thread = Complete("max_batch_size: 8", *model);
  ASSERT_TRUE(one_thread.ok()) << one_thread.status();
  EXPECT_EQ(one_thread->scheduler_options.caller_run_max_us, 1000);

  auto off = Complete("parameters { key: \"run_on_caller\" value: { string_value: \"false\" } }",
                      *model);
  ASSERT_TRUE(off.ok()) << off.status();
  EXPECT_EQ(off->scheduler_options.caller_run_max_us, 0);

  auto threaded =
      MakeModel("nn.Sequential(nn.Linear(784, 10))", {{"0.weight", {10, 784}}, {"0.bias", {10}}},
                ModelOptions{.num_threads = 2});
  auto wide = Complete(
      "intra_op_threads: 2 parameters { key: \"run_on_caller\" value: { string_value: \"true\" } }",
      *threaded);
  ASSERT_TRUE(wide.ok()) << wide.status();
  EXPECT_EQ(wide->scheduler_options.caller_run_max_us, 0);

  EXPECT_EQ(ErrorOf(Complete(
                "parameters { key: \"run_on_caller\" value: { string_value: \"yes\" } }", *model)),
            "config.pbtxt: parameters run_on_caller must be \"true\" or \"false\", got \"yes\"");
}

TEST(CompleteModelConfig, ParametersNameWhatIsWrong) {
  auto model = Linear784();
  EXPECT_EQ(ErrorOf(Complete("max_batch_size: 8 dynamic_batching { } "
                             "parameters { key: \"adaptive\" value: { string_value: \"true\" } }",
                             *model)),
            "config.pbtxt: parameters key 'adaptive' is not supported by seqserve (it knows "
            "\"adaptive_batching\", \"precision\" and \"run_on_caller\")");
  EXPECT_EQ(ErrorOf(Complete("max_batch_size: 8 dynamic_batching { } parameters { key: "
                             "\"adaptive_batching\" value: { string_value: \"off\" } }",
                             *model)),
            "config.pbtxt: parameters adaptive_batching must be \"true\" or \"false\", got "
            "\"off\"");
  EXPECT_THAT(ErrorOf(Complete("max_batch_size: 8 parameters { key: \"adaptive_batching\" "
                               "value: { string_value: \"false\" } }",
                               *model)),
              HasSubstr("config.pbtxt: parameters adaptive_batching needs dynamic_batching"));
}

TEST(CompleteModelConfig, PreferredBatchSizesLieWithinMaxBatchSize) {
  auto model = Linear784();
  EXPECT_EQ(
      ErrorOf(Complete("max_batch_size: 8 dynamic_batching { preferred_batch_size: 16 }", *model)),
      "config.pbtxt: dynamic_batching preferred_batch_size 16 is outside [1, "
      "max_batch_size 8]");
  EXPECT_THAT(
      ErrorOf(Complete("max_batch_size: 8 dynamic_batching { preferred_batch_size: 0 }", *model)),
      HasSubstr("preferred_batch_size 0 is outside [1, max_batch_size 8]"));
  EXPECT_THAT(
      ErrorOf(Complete("max_batch_size: 8 dynamic_batching { preferred_batch_size: -4 }", *model)),
      HasSubstr("preferred_batch_size -4 is outside"));
}

TEST(CompleteModelConfig, QueuePolicyLimits) {
  auto model = Linear784();
  EXPECT_THAT(ErrorOf(Complete("max_batch_size: 8 dynamic_batching { "
                               "max_queue_delay_microseconds: 18446744073709551615 }",
                               *model)),
              HasSubstr("max_queue_delay_microseconds 18446744073709551615 is beyond"));
  EXPECT_THAT(ErrorOf(Complete("max_batch_size: 8 dynamic_batching { default_queue_policy { "
                               "timeout_action: DELAY } }",
                               *model)),
              HasSubstr("timeout_action DELAY is not supported by seqserve"));
  EXPECT_THAT(ErrorOf(Complete("max_batch_size: 8 dynamic_batching { default_queue_policy { "
                               "allow_timeout_override: false } }",
                               *model)),
              HasSubstr("allow_timeout_override: false is not supported by seqserve"));
  EXPECT_TRUE(Complete("max_batch_size: 8 dynamic_batching { default_queue_policy { "
                       "timeout_action: REJECT allow_timeout_override: true } }",
                       *model)
                  .ok());
}

// ---- Workers -----------------------------------------------------------------------------

TEST(CompleteModelConfig, InstanceGroupsRunOnTheCpu) {
  auto model = Linear784();
  EXPECT_EQ(ErrorOf(Complete("instance_group [ { name: \"g\" kind: KIND_GPU } ]", *model)),
            "config.pbtxt: instance_group 'g' has kind KIND_GPU, but seqserve runs models on the "
            "CPU only: use KIND_CPU");
  EXPECT_THAT(ErrorOf(Complete("instance_group [ { kind: KIND_MODEL } ]", *model)),
              HasSubstr("instance_group 'm_0' has kind KIND_MODEL"));
  EXPECT_EQ(ErrorOf(Complete("instance_group [ { count: -1 } ]", *model)),
            "config.pbtxt: instance_group 'm_0' count must be >= 1, got -1");
}

TEST(CompleteModelConfig, InstanceGroupCountsAddUp) {
  auto model = Linear784();
  auto serving =
      Complete("instance_group [ { count: 2 kind: KIND_CPU }, { kind: KIND_AUTO } ]", *model, 8);
  ASSERT_TRUE(serving.ok()) << serving.status();
  EXPECT_EQ(serving->scheduler_options.instance_count, 3);  // a group without count has 1
  EXPECT_EQ(serving->config.instance_group(0).name(), "m_0");
  EXPECT_EQ(serving->config.instance_group(1).name(), "m_1");
  EXPECT_EQ(serving->config.instance_group(1).count(), 1);
  EXPECT_EQ(serving->config.instance_group(1).kind(), inference::ModelInstanceGroup::KIND_CPU);
  EXPECT_THAT(serving->warnings, IsEmpty());

  EXPECT_EQ(ErrorOf(Complete("instance_group [ { count: 5000 } ]", *model)),
            "config.pbtxt: instance_group counts add up to 5000 workers; at most 4096 are "
            "allowed");
}

TEST(CompleteModelConfig, OversubscriptionIsKeptButWarned) {
  auto model =
      MakeModel("nn.Sequential(nn.Linear(784, 10))", {{"0.weight", {10, 784}}, {"0.bias", {10}}},
                ModelOptions{.num_threads = 2});
  auto serving = Complete("intra_op_threads: 2 instance_group [ { count: 8 } ]", *model, 4);
  ASSERT_TRUE(serving.ok()) << serving.status();
  EXPECT_EQ(serving->scheduler_options.instance_count, 8);
  EXPECT_THAT(serving->warnings,
              ElementsAre("8 workers x 2 intra_op_threads = 16 threads exceed the 4 CPUs this "
                          "process may use; they will contend for cores"));
}

// Before: intra_op_threads: 100000 loaded, and the OpenMP team of the load (or of the first
// request) ended the process with libgomp's "Thread creation failed" or a segfault.
TEST(ModelOptionsFromConfig, IntraOpThreadsAboveTheCpuBudgetIsALoadErrorNamingTheLimit) {
  inference::ModelConfig config;
  config.set_intra_op_threads(100000);
  auto options = ModelOptionsFromConfig(config, 2);
  ASSERT_FALSE(options.ok());
  EXPECT_EQ(options.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(options.status().message(),
            "config.pbtxt: intra_op_threads 100000 is more than the 2 CPUs this process may use "
            "(the CPU budget); at most 2");
  config.set_intra_op_threads(2);
  EXPECT_TRUE(ModelOptionsFromConfig(config, 2).ok());
  EXPECT_EQ(ModelOptionsFromConfig(config, 1).status().message(),
            "config.pbtxt: intra_op_threads 2 is more than the 1 CPU this process may use (the "
            "CPU budget); at most 1");
  auto model = Linear784();
  EXPECT_EQ(ErrorOf(Complete("intra_op_threads: 30000", *model, 2)),
            "config.pbtxt: intra_op_threads 30000 is more than the 2 CPUs this process may use "
            "(the CPU budget); at most 2");
}

// Before: instance_group { count: 4096 } loaded with 4,132 threads on a 2-CPU machine.
TEST(CompleteModelConfig, WorkerThreadsBeyondTheModelsShareOfTheCpuBudgetAreALoadError) {
  auto model = Linear784();
  EXPECT_EQ(ErrorOf(Complete("instance_group [ { count: 4096 } ]", *model, 2)),
            "config.pbtxt: instance_group count 4096 x intra_op_threads 1 = 4096 worker "
            "threads; the CPU budget of 2 CPUs allows at most 8 per model (4 per CPU)");
  auto wide = MakeModel("nn.Sequential(nn.Linear(784, 10))",
                        {{"0.weight", {10, 784}}, {"0.bias", {10}}},
                        ModelOptions{.num_threads = 2});
  EXPECT_EQ(ErrorOf(Complete("intra_op_threads: 2 instance_group [ { count: 3 } ]", *wide, 1)),
            "config.pbtxt: intra_op_threads 2 is more than the 1 CPU this process may use (the "
            "CPU budget); at most 1");
  EXPECT_EQ(ErrorOf(Complete("intra_op_threads: 2 instance_group [ { count: 5 } ]", *wide, 2)),
            "config.pbtxt: instance_group count 5 x intra_op_threads 2 = 10 worker threads; the "
            "CPU budget of 2 CPUs allows at most 8 per model (4 per CPU)");
  // Exactly at the cap: kept, with the oversubscription warning.
  auto at_cap = Complete("intra_op_threads: 2 instance_group [ { count: 4 } ]", *wide, 2);
  ASSERT_TRUE(at_cap.ok()) << at_cap.status();
  EXPECT_EQ(at_cap->scheduler_options.instance_count, 4);
  EXPECT_EQ(at_cap->warnings.size(), 1u);
}

TEST(CompleteModelConfig, IntraOpThreads) {
  auto model = Linear784();
  EXPECT_EQ(ErrorOf(Complete("intra_op_threads: -1", *model)),
            "config.pbtxt: intra_op_threads must be >= 1, got -1");
  // A model loaded with other thread settings than the config's is an integration slip.
  auto mismatched = Complete("intra_op_threads: 3", *model, 8);
  ASSERT_TRUE(mismatched.ok()) << mismatched.status();
  EXPECT_THAT(mismatched->warnings,
              ElementsAre(HasSubstr("the model was loaded with 1 threads per execution, but "
                                    "intra_op_threads is 3")));
  inference::ModelConfig three_threads;
  three_threads.set_intra_op_threads(3);
  auto options = ModelOptionsFromConfig(three_threads, 8);
  ASSERT_TRUE(options.ok());
  EXPECT_EQ(options->num_threads, 3);
  EXPECT_EQ(ModelOptionsFromConfig({}, 1)->num_threads, 1);
}

// ---- Versions ----------------------------------------------------------------------------

TEST(CompleteModelConfig, VersionPolicies) {
  auto model = Linear784();
  auto latest = Complete("version_policy { latest { num_versions: 2 } }", *model);
  ASSERT_TRUE(latest.ok()) << latest.status();
  EXPECT_EQ(latest->version_policy.kind, VersionPolicy::Kind::kLatest);
  EXPECT_EQ(latest->version_policy.num_versions, 2);
  auto all = Complete("version_policy { all { } }", *model);
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_EQ(all->version_policy.kind, VersionPolicy::Kind::kAll);
  auto specific = Complete("version_policy { specific { versions: [ 3, 1, 3 ] } }", *model);
  ASSERT_TRUE(specific.ok()) << specific.status();
  EXPECT_EQ(specific->version_policy.kind, VersionPolicy::Kind::kSpecific);
  EXPECT_THAT(specific->version_policy.versions, ElementsAre(1, 3));
  EXPECT_THAT(specific->config.version_policy().specific().versions(), ElementsAre(1, 3));

  EXPECT_EQ(ErrorOf(Complete("version_policy { latest { } }", *model)),
            "config.pbtxt: version_policy latest needs num_versions >= 1");
  EXPECT_EQ(ErrorOf(Complete("version_policy { specific { } }", *model)),
            "config.pbtxt: version_policy specific lists no versions");
  EXPECT_THAT(ErrorOf(Complete("version_policy { specific { versions: 0 } }", *model)),
              HasSubstr("specific version 0 is not a version"));
}

// ---- The bundled repository --------------------------------------------------------------

struct Bundled {
  std::string name;
  int64_t max_batch_size;
  Shape input_dims;
  Shape output_dims;
};

TEST(CompleteModelConfig, BundledModelsParseAndComplete) {
  for (const Bundled& expected : {
           Bundled{"lenet", 64, {1, 28, 28}, {10}},
           Bundled{"mlp", 128, {1, 28, 28}, {10}},
           Bundled{"seed", 32, {1, -1, -1}, {64, -1, -1}},
           Bundled{"superres", 8, {1, -1, -1}, {1, -1, -1}},
           Bundled{"textclass", 32, {128}, {4}},
       }) {
    SCOPED_TRACE(expected.name);
    const fs::path dir = fs::path(SEQSERVE_SOURCE_DIR) / "models" / expected.name;
    auto config = ParseModelConfig(dir / "config.pbtxt");
    ASSERT_TRUE(config.ok()) << config.status();
    auto options = ModelOptionsFromConfig(*config, 2);
    ASSERT_TRUE(options.ok()) << options.status();
    auto model = Model::Load(dir / "1", *options);
    ASSERT_TRUE(model.ok()) << model.status();
    auto serving = CompleteModelConfig(*config, expected.name, true, **model, 2);
    ASSERT_TRUE(serving.ok()) << serving.status();
    EXPECT_EQ(serving->max_batch_size, expected.max_batch_size);
    EXPECT_EQ(serving->input_dims, expected.input_dims);
    EXPECT_EQ(serving->output_dims, expected.output_dims);
    EXPECT_TRUE(serving->config.has_dynamic_batching());
    EXPECT_GT(serving->scheduler_options.batching.max_queue_delay_us, 0);
    EXPECT_EQ(serving->scheduler_options.instance_count, 2);
    EXPECT_THAT(serving->warnings, IsEmpty());
  }
}

// ---- parameters "precision" ---------------------------------------------------------------

absl::StatusOr<ModelOptions> OptionsFrom(std::string_view text) {
  absl::StatusOr<inference::ModelConfig> config = ParseModelConfigText(text, "config.pbtxt");
  EXPECT_TRUE(config.ok()) << config.status();
  if (!config.ok()) return config.status();
  return ModelOptionsFromConfig(*config, 4);
}

TEST(ModelOptionsFromConfig, PrecisionParameterSetsTheModelsPrecision) {
  auto fp32 = OptionsFrom("max_batch_size: 8");
  ASSERT_TRUE(fp32.ok()) << fp32.status();
  EXPECT_EQ(fp32->precision, Precision::kFp32);
  auto bf16 = OptionsFrom("parameters { key: \"precision\" value: { string_value: \"bf16\" } }");
  ASSERT_TRUE(bf16.ok()) << bf16.status();
  EXPECT_EQ(bf16->precision, Precision::kBf16);
  auto explicit_fp32 =
      OptionsFrom("parameters { key: \"precision\" value: { string_value: \"fp32\" } }");
  ASSERT_TRUE(explicit_fp32.ok()) << explicit_fp32.status();
  EXPECT_EQ(explicit_fp32->precision, Precision::kFp32);
}

TEST(ModelOptionsFromConfig, AnUnknownPrecisionOrParameterIsALoadErrorNamingIt) {
  EXPECT_EQ(OptionsFrom("parameters { key: \"precision\" value: { string_value: \"fp16\" } }")
                .status()
                .message(),
            "config.pbtxt: parameters key \"precision\" value \"fp16\": unknown precision "
            "'fp16' (supported: fp32, bf16, int8)");
  absl::StatusOr<ModelOptions> int8 =
      OptionsFrom("parameters { key: \"precision\" value: { string_value: \"int8\" } }");
  ASSERT_TRUE(int8.ok()) << int8.status();
  EXPECT_EQ(int8->precision, Precision::kInt8);
  EXPECT_EQ(OptionsFrom("parameters { key: \"precison\" value: { string_value: \"bf16\" } }")
                .status()
                .message(),
            "config.pbtxt: parameters key 'precison' is not supported by seqserve (it knows "
            "\"adaptive_batching\", \"precision\" and \"run_on_caller\")");
}

// The completed config (the ModelConfig RPC's reply) holds the precision the model runs in:
// fp32 by default, bf16 when asked for on a CPU with AVX512_BF16, fp32 on one without.
TEST(CompleteModelConfig, ParametersHoldThePrecisionTheModelRuns) {
  auto fp32 = Complete("max_batch_size: 8", *Linear784());
  ASSERT_TRUE(fp32.ok()) << fp32.status();
  EXPECT_EQ(fp32->config.parameters().at("precision").string_value(), "fp32");

  const std::string text =
      "max_batch_size: 8\nparameters { key: \"precision\" value: { string_value: \"bf16\" } }";
  absl::StatusOr<ModelOptions> options = OptionsFrom(text);
  ASSERT_TRUE(options.ok()) << options.status();
  auto model = MakeModel("nn.Sequential(nn.Linear(784, 10))",
                         {{"0.weight", {10, 784}}, {"0.bias", {10}}}, *options);
  auto bf16 = Complete(text, *model);
  ASSERT_TRUE(bf16.ok()) << bf16.status();
  EXPECT_EQ(bf16->config.parameters().at("precision").string_value(),
            CpuHasBf16() ? "bf16" : "fp32");
  EXPECT_EQ(bf16->model_options.precision, Precision::kBf16);  // what was asked for
  EXPECT_THAT(bf16->warnings, IsEmpty());

  // A model loaded without the config's precision is flagged, as for intra_op_threads.
  auto mismatched = Complete(text, *Linear784());
  ASSERT_TRUE(mismatched.ok()) << mismatched.status();
  EXPECT_THAT(mismatched->warnings,
              ElementsAre(HasSubstr("loaded with precision fp32, but parameters \"precision\" "
                                    "is bf16")));
}

}  // namespace
}  // namespace seqserve
