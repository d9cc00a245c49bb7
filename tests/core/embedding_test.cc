// Embedding and EmbeddingBag: integer inputs through Model and Executor, PyTorch's
// constructor checks (messages from torch 1.13's sparse.py / functional.py where it has
// them), the arguments a served model refuses and why, shape rules, and ids out of range.
// Hand-derivable numerics use a weight table whose row r is (r, r + 0.5). The comparisons
// with real PyTorch are the embedding* goldens run by golden_test.cc.
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "core/engine.h"
#include "core/executor.h"
#include "core/model.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace seqserve {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Row r of the table is (r, r + 0.5): every looked-up value names its row.
TensorMap RowTable(const std::string& key, int64_t rows) {
  Tensor w({rows, 2});
  for (int64_t r = 0; r < rows; ++r) {
    w.data[2 * r] = static_cast<float>(r);
    w.data[2 * r + 1] = static_cast<float>(r) + 0.5f;
  }
  return {{key, w}};
}

absl::StatusOr<std::shared_ptr<Model>> Load(const std::string& seq, const TensorMap* weights,
                                            int num_threads = 1) {
  ModelOptions options;
  options.num_threads = num_threads;
  return Model::FromSource(seq, "model.seq", weights, "model.safetensors", options);
}

std::string LoadError(const std::string& module) {
  auto model = Load("nn.Sequential(" + module + ")", nullptr);
  EXPECT_FALSE(model.ok()) << module << " loaded";
  return model.ok() ? "" : std::string(model.status().message());
}

template <typename Id>
TypedTensor Ids(Shape shape, const std::vector<Id>& ids) {
  TypedTensor t{sizeof(Id) == 8 ? DType::kInt64 : DType::kInt32, std::move(shape), {}};
  t.bytes.resize(ids.size() * sizeof(Id));
  std::memcpy(t.bytes.data(), ids.data(), t.bytes.size());
  return t;
}

absl::StatusOr<Tensor> RunIds(Model& model, const TypedTensor& input) {
  Executor executor(CpuEngine());
  return model.Run(executor, input.view());
}

TEST(Embedding, LooksUpRowsForInt64AndInt32IdsOfAnyShape) {
  const TensorMap weights = RowTable("0.weight", 10);
  auto model = Load("nn.Sequential(nn.Embedding(10, 2))", &weights);
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_THAT((*model)->InputDTypes(), ElementsAre(DType::kInt64, DType::kInt32));
  EXPECT_EQ((*model)->InputDims(), Shape{-1});

  auto out = RunIds(**model, Ids<int64_t>({2, 2}, {3, 0, 9, 3}));
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->shape, (Shape{2, 2, 2}));
  EXPECT_THAT(out->data, ElementsAre(3, 3.5, 0, 0.5, 9, 9.5, 3, 3.5));

  out = RunIds(**model, Ids<int32_t>({}, {7}));  // a scalar id
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->shape, (Shape{2}));
  EXPECT_THAT(out->data, ElementsAre(7, 7.5));
}

TEST(Embedding, RejectsIdsOutOfRangeNamingValuePositionAndSize) {
  const TensorMap weights = RowTable("0.weight", 50);
  auto model = Load("nn.Sequential(nn.Embedding(50, 2))", &weights);
  ASSERT_TRUE(model.ok()) << model.status();
  auto out = RunIds(**model, Ids<int64_t>({2, 3}, {1, 2, 3, 4, 5, 50}));
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(out.status().message(),
            "0 (Embedding): id 50 at position [1, 2] of the input is out of range: "
            "num_embeddings is 50, so ids must be in [0, 49]");
  out = RunIds(**model, Ids<int32_t>({3}, {0, -1, 99}));
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().message(),
            "0 (Embedding): id -1 at position [1] of the input is out of range: "
            "num_embeddings is 50, so ids must be in [0, 49]");
  // Ids far beyond 32 bits are caught too, not truncated into range.
  out = RunIds(**model, Ids<int64_t>({1}, {int64_t{1} << 33}));
  ASSERT_FALSE(out.ok());
  EXPECT_THAT(out.status().message(), HasSubstr("id 8589934592 at position [0]"));
}

TEST(Embedding, ReportsTheFirstBadIdWhateverTheThreadCount) {
  const TensorMap weights = RowTable("0.weight", 4);
  auto model = Load("nn.Sequential(nn.Embedding(4, 2))", &weights, /*num_threads=*/2);
  ASSERT_TRUE(model.ok()) << model.status();
  // 40000 ids, so the gather runs on two threads; bad ids at 20001 (second half) and 19999.
  std::vector<int64_t> ids(40000, 1);
  ids[20001] = 4;
  ids[19999] = -7;
  auto out = RunIds(**model, Ids<int64_t>({40000}, ids));
  ASSERT_FALSE(out.ok());
  EXPECT_THAT(out.status().message(), HasSubstr("id -7 at position [19999]"));
}

TEST(Embedding, TheModelTakesIdsOnlyAndFloatModelsTakeFloatsOnly) {
  const TensorMap weights = RowTable("0.weight", 5);
  auto model = Load("nn.Sequential(nn.Embedding(5, 2), nn.ReLU())", &weights);
  ASSERT_TRUE(model.ok()) << model.status();
  Executor executor(CpuEngine());
  auto out = (*model)->Run(executor, Tensor({2}, {1, 2}));
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(out.status().message(),
            "the model takes int64 or int32 input, as its first module 0 (Embedding) does; got "
            "float32");

  const TensorMap linear_weights = {{"0.weight", Tensor({2, 2})}};
  auto linear = Load("nn.Sequential(nn.Linear(2, 2, bias=False))", &linear_weights);
  ASSERT_TRUE(linear.ok()) << linear.status();
  EXPECT_THAT((*linear)->InputDTypes(), ElementsAre(DType::kFloat32));
  out = RunIds(**linear, Ids<int64_t>({1, 2}, {1, 2}));
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().message(),
            "the model takes float32 input, as its first module 0 (Linear) does; got int64");
}

TEST(Embedding, ExecutorRefusesAnInputThatIsNotThePlans) {
  const TensorMap weights = RowTable("0.weight", 5);
  auto model = Load("nn.Sequential(nn.Embedding(5, 2))", &weights);
  ASSERT_TRUE(model.ok()) << model.status();
  auto plan = (*model)->GetPlan({3}, DType::kInt32);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ((*plan)->input_dtype(), DType::kInt32);
  Executor executor(CpuEngine());
  const TypedTensor ids = Ids<int64_t>({3}, {1, 2, 3});
  std::vector<float> out(6);
  absl::Status status = executor.Run(**plan, ids.view(), out.data());
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(), "input is int64 [3], but the plan was compiled for int32 [3]");
  const TypedTensor right = Ids<int32_t>({3}, {1, 2, 3});
  ASSERT_TRUE(executor.Run(**plan, right.view(), out.data()).ok());
  EXPECT_THAT(out, ElementsAre(1, 1.5, 2, 2.5, 3, 3.5));
}

TEST(Embedding, MustBeTheFirstModule) {
  const TensorMap weights = {{"0.weight", Tensor({2, 2})},
                             {"0.bias", Tensor({2})},
                             {"1.0.weight", Tensor({5, 2})}};
  auto model = Load("nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.Embedding(5, 2)))", &weights);
  ASSERT_FALSE(model.ok());
  EXPECT_EQ(model.status().message(),
            "model.seq: 1.0 (Embedding) takes integer ids, so it must be the model's first "
            "module; here it follows 0 (Linear), whose output is float32");
  // Identity and dropout in front compute nothing, so the Embedding still sees the ids.
  const TensorMap table = RowTable("2.weight", 5);
  model = Load("nn.Sequential(nn.Identity(), nn.Dropout(), nn.Embedding(5, 2))", &table);
  ASSERT_TRUE(model.ok()) << model.status();
  auto out = RunIds(**model, Ids<int64_t>({1}, {4}));
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_THAT(out->data, ElementsAre(4, 4.5));
}

TEST(EmbeddingBag, ReducesEachRowLeavingPaddingOut) {
  // Hand-derived: rows (r, r + 0.5); padding_idx 2 is skipped; [2, 2] has nothing left.
  const TypedTensor ids = Ids<int64_t>({3, 2}, {1, 2, 2, 2, 0, 3});
  for (const auto& [mode, expected] :
       std::vector<std::pair<std::string, std::vector<float>>>{
           {"sum", {1, 1.5, 0, 0, 3, 4}},
           {"mean", {1, 1.5, 0, 0, 1.5, 2}},
           {"max", {1, 1.5, 0, 0, 3, 3.5}}}) {
    const TensorMap weights = RowTable("0.weight", 4);
    auto model = Load("nn.Sequential(nn.EmbeddingBag(4, 2, mode='" + mode + "', padding_idx=2))",
                      &weights);
    ASSERT_TRUE(model.ok()) << model.status();
    auto out = RunIds(**model, ids);
    ASSERT_TRUE(out.ok()) << out.status();
    EXPECT_EQ(out->shape, (Shape{3, 2}));
    EXPECT_EQ(out->data, expected) << mode;
  }
}

TEST(EmbeddingBag, RejectsIdsOutOfRangeAndShapesOtherThan2D) {
  const TensorMap weights = RowTable("0.weight", 4);
  auto model = Load("nn.Sequential(nn.EmbeddingBag(4, 2, mode='sum'))", &weights);
  ASSERT_TRUE(model.ok()) << model.status();
  auto out = RunIds(**model, Ids<int32_t>({2, 2}, {0, 1, 4, 1}));
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().message(),
            "0 (EmbeddingBag): id 4 at position [1, 0] of the input is out of range: "
            "num_embeddings is 4, so ids must be in [0, 3]");
  EXPECT_EQ((*model)->OutputShape({5}).status().message(),
            "0 (EmbeddingBag): expected 2-D input (B, N), B bags of N ids, got [5]: 1-D input "
            "needs offsets, which a Sequential cannot pass");
  EXPECT_EQ((*model)->OutputShape({2, 2, 2}).status().message(),
            "0 (EmbeddingBag): expected 2-D input (B, N), B bags of N ids, got [2, 2, 2]");
  EXPECT_EQ((*model)->OutputShape({2, 0}).status().message(),
            "0 (EmbeddingBag): expected bags of at least one id, got input of shape [2, 0]");
  EXPECT_EQ(*(*model)->OutputShape({0, 3}), (Shape{0, 2}));
}

TEST(Embedding, ChecksArgumentsAsPyTorch) {
  EXPECT_EQ(LoadError("nn.Embedding(10, 3, padding_idx=10)"),
            "model.seq:1:35: Embedding: argument 'padding_idx': Padding_idx must be within "
            "num_embeddings");
  EXPECT_EQ(LoadError("nn.Embedding(10, 3, padding_idx=-11)"),
            "model.seq:1:35: Embedding: argument 'padding_idx': Padding_idx must be within "
            "num_embeddings");
  EXPECT_EQ(LoadError("nn.EmbeddingBag(10, 3, padding_idx=10)"),
            "model.seq:1:38: EmbeddingBag: argument 'padding_idx': padding_idx must be within "
            "num_embeddings");
  EXPECT_EQ(LoadError("nn.Embedding(-1, 3)"),
            "model.seq:1:28: Embedding: argument 'num_embeddings': Trying to create tensor with "
            "negative dimension -1: [-1, 3]");
  EXPECT_EQ(LoadError("nn.Embedding(4, 3.0)"),
            "model.seq:1:31: Embedding: argument 'embedding_dim': expected int, got float (3.0)");
  EXPECT_EQ(LoadError("nn.EmbeddingBag(4, 3, mode='min')"),
            "model.seq:1:37: EmbeddingBag: argument 'mode': mode has to be one of sum, mean or "
            "max");
  EXPECT_EQ(LoadError("nn.EmbeddingBag(4, 3, mode='max', sparse=True)"),
            "model.seq:1:49: EmbeddingBag: argument 'sparse': max mode does not support sparse "
            "weights");
  EXPECT_EQ(LoadError("nn.EmbeddingBag(4, 3, mode='max', scale_grad_by_freq=True)"),
            "model.seq:1:49: EmbeddingBag: argument 'scale_grad_by_freq': max mode does not "
            "support scaling the gradient by the frequency");
}

TEST(Embedding, RefusesWhatAServedModelCannotHonourSayingWhy) {
  EXPECT_EQ(LoadError("nn.Embedding(10, 3, max_norm=1.0)"),
            "model.seq:1:35: Embedding: argument 'max_norm': is not supported: PyTorch "
            "renormalises the looked-up rows of the weight in place during forward, so an answer "
            "would depend on earlier requests");
  EXPECT_THAT(LoadError("nn.EmbeddingBag(10, 3, max_norm=2)"), HasSubstr("max_norm"));
  EXPECT_THAT(LoadError("nn.Embedding(10, 3, _weight=torch.ones(10, 3))"),
              HasSubstr("argument '_weight': is not supported: the weight comes from "
                        "model.safetensors"));
  EXPECT_THAT(LoadError("nn.EmbeddingBag(10, 3, include_last_offset=True)"),
              HasSubstr("argument 'include_last_offset': True is not supported: on 2-D input "
                        "PyTorch then takes the start of the last bag as the end of the one "
                        "before"));
  // Training-only arguments are accepted (and ignored).
  const TensorMap weights = {{"0.weight", Tensor({10, 3})}};
  auto model = Load("nn.Sequential(nn.Embedding(10, 3, padding_idx=0, norm_type=1.0, "
                    "scale_grad_by_freq=True, sparse=True, _freeze=True, device='cpu', "
                    "dtype=None))",
                    &weights);
  EXPECT_TRUE(model.ok()) << model.status();
}

TEST(Embedding, StateDictAndFlops) {
  const TensorMap weights = {{"0.weight", Tensor({7, 3})}};
  auto model = Load("nn.Sequential(nn.EmbeddingBag(7, 3, mode='mean'))", &weights);
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ((*model)->NumParams(), 21);
  // Per bag of 4: 4 adds and a divide per element: 2 * 3 * 5.
  EXPECT_EQ((*model)->layers()[0].module->Flops({2, 4}), 30);
  auto missing = Load("nn.Sequential(nn.Embedding(7, 3))", nullptr);
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(missing.status().message(), HasSubstr("'0.weight' of shape [7, 3]"));
}

}  // namespace
}  // namespace seqserve
