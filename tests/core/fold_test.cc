// Unfold and Fold: PyTorch's argument checks and messages, shapes and errors (including
// Fold's block count), FLOPs, input dims, hand-derivable values (blocks of a ramp, the
// coverage counts Fold sums), and the same answer on one thread as on two. The PyTorch
// comparisons at many shapes are the unfold_*/fold_* goldens.
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/util/run_module.h"

namespace seqserve {
namespace {

using test::Contains;
using test::ExpectValues;
using test::LoadError;
using test::MustLoad;
using test::RunModule;
using test::ShapeOf;

std::vector<float> Ramp(int n) {
  std::vector<float> v(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) v[static_cast<size_t>(i)] = static_cast<float>(i);
  return v;
}

TEST(Fold, AcceptsPyTorchSignatures) {
  for (const char* module : {
           "nn.Unfold(3)", "nn.Unfold(kernel_size=(2, 3), dilation=(1, 2), padding=1, stride=(2, 1))",
           "nn.Unfold(2, 1, 0, 1)", "nn.Fold((4, 5), 2)",
           "nn.Fold(output_size=9, kernel_size=3, dilation=1, padding=1, stride=2)",
           "nn.Fold([7, 5], [3, 2], [1, 2], [1, 0], [2, 1])",
       }) {
    std::shared_ptr<Model> model = MustLoad(module);
    if (model != nullptr) {
      EXPECT_EQ(model->NumParams(), 0) << module;
    }
  }
}

TEST(Fold, RejectsWhatPyTorchRejects) {
  EXPECT_TRUE(Contains(LoadError("nn.Unfold(0)"),
                       "model.seq:1:25: Unfold: argument 'kernel_size': kernel size should be "
                       "greater than zero, but got kernel_height: 0 kernel_width: 0"));
  EXPECT_TRUE(Contains(LoadError("nn.Unfold(2, dilation=0)"),
                       "Unfold: argument 'dilation': dilation should be greater than zero, but "
                       "got dilation_height: 0 dilation_width: 0"));
  EXPECT_TRUE(Contains(LoadError("nn.Unfold(2, padding=-1)"),
                       "Unfold: argument 'padding': padding should be non-negative, but got "
                       "pad_height: -1 pad_width: -1"));
  EXPECT_TRUE(Contains(LoadError("nn.Fold(4, 2, stride=(1, 0))"),
                       "Fold: argument 'stride': stride should be greater than zero, but got "
                       "stride_height: 1 stride_width: 0"));
  EXPECT_TRUE(Contains(LoadError("nn.Unfold((2,))"), "Unfold: argument 'kernel_size': expected an "
                                                     "int or a tuple of 2 ints"));
  EXPECT_TRUE(Contains(LoadError("nn.Fold(0, 1)"),
                       "Fold: argument 'output_size': Expected output spatial size to be "
                       "positive, but got: output_size=(0, 0)."));
  // No input could ever fit: a load error rather than one per request.
  EXPECT_TRUE(Contains(LoadError("nn.Fold(3, 4)"),
                       "Fold: Given output_size=(3, 3), kernel_size=(4, 4), dilation=(1, 1), "
                       "padding=(0, 0), stride=(1, 1), calculated shape of the array of sliding "
                       "blocks as (0, 0), which is too small (non-positive)"));
  EXPECT_TRUE(Contains(LoadError("nn.Fold(3)"), "Fold: missing required argument 'kernel_size'"));
}

TEST(Fold, ShapesFollowPyTorch) {
  EXPECT_EQ(ShapeOf("nn.Unfold(2)", {3, 5, 6}), "[12, 20]");
  EXPECT_EQ(ShapeOf("nn.Unfold(3)", {1, 2, 5, 6}), "[1, 18, 12]");
  EXPECT_EQ(ShapeOf("nn.Unfold((3, 2), 2, (2, 1), 3)", {0, 2, 9, 7}), "[0, 12, 9]");
  EXPECT_EQ(ShapeOf("nn.Fold((5, 6), 2)", {2, 12, 20}), "[2, 3, 5, 6]");
  EXPECT_EQ(ShapeOf("nn.Fold((5, 6), 2)", {8, 20}), "[2, 5, 6]");
}

TEST(Fold, ShapeErrorsNameExpectedAndActual) {
  EXPECT_EQ(ShapeOf("nn.Unfold(2)", {3, 5}),
            "0 (Unfold): expected 3D (C, H, W) or 4D (N, C, H, W) input with non-zero C, H and W, "
            "got [3, 5]");
  EXPECT_EQ(ShapeOf("nn.Unfold(2)", {2, 0, 5, 6}),
            "0 (Unfold): expected 3D (C, H, W) or 4D (N, C, H, W) input with non-zero C, H and W, "
            "got [2, 0, 5, 6]");
  EXPECT_EQ(ShapeOf("nn.Unfold(7)", {1, 3, 5, 6}),
            "0 (Unfold): expected an input with at least one sliding block, got [1, 3, 5, 6] "
            "(spatial size (5, 6), kernel_size=(7, 7), dilation=(1, 1), padding=(0, 0), "
            "stride=(1, 1): calculated shape of the array of sliding blocks (-1, 0))");
  EXPECT_EQ(ShapeOf("nn.Fold((4, 5), 2)", {2, 7, 12}),
            "0 (Fold): expected the size of dimension 1 to be divisible by the product of "
            "kernel_size (2, 2) (4), got [2, 7, 12]");
  EXPECT_EQ(ShapeOf("nn.Fold((4, 5), 2)", {2, 8, 11}),
            "0 (Fold): expected the size of dimension 2 to be the number of sliding blocks 3 * 4 "
            "= 12 (output_size=(4, 5), kernel_size=(2, 2), dilation=(1, 1), padding=(0, 0), "
            "stride=(1, 1)), got [2, 8, 11]");
  EXPECT_EQ(ShapeOf("nn.Fold((4, 5), 2)", {1, 4, 4, 1}),
            "0 (Fold): expected 2D (C * kh * kw, L) or 3D (N, C * kh * kw, L) input with non-zero "
            "sizes (but the batch), got [1, 4, 4, 1]");
}

TEST(Fold, FlopsAndInputDims) {
  EXPECT_EQ(MustLoad("nn.Unfold(2)")->root().Flops({1, 3, 5, 6}), 0);
  EXPECT_EQ(MustLoad("nn.Fold((5, 6), 2)")->root().Flops({2, 12, 20}), 2 * 12 * 20);
  EXPECT_EQ(MustLoad("nn.Unfold(2)")->InputDims(), (Shape{-1, -1, -1}));
  // Fold's output size fixes the number of blocks.
  EXPECT_EQ(MustLoad("nn.Fold((5, 6), 2)")->InputDims(), (Shape{-1, 20}));
}

TEST(Fold, UnfoldCopiesEveryBlock) {
  // A 3x3 ramp, 2x2 blocks: row (ki, kj) holds tap (ki, kj) of the blocks at (0, 0), (0, 1),
  // (1, 0), (1, 1).
  ExpectValues(RunModule("nn.Unfold(2)", {1, 1, 3, 3}, Ramp(9)).data,
               {0, 1, 3, 4, 1, 2, 4, 5, 3, 4, 6, 7, 4, 5, 7, 8});
  // Padding 1, stride 2: blocks start at rows and columns -1 and 1; padding reads 0.
  ExpectValues(RunModule("nn.Unfold(2, padding=1, stride=2)", {1, 3, 3}, Ramp(9)).data,
               {0, 0, 0, 4, 0, 0, 3, 5, 0, 1, 0, 7, 0, 2, 6, 8});
}

TEST(Fold, FoldSumsOverlappingBlocks) {
  // Folding the blocks of x gives x times the number of blocks covering each pixel.
  ExpectValues(RunModule("nn.Unfold(2), nn.Fold(3, 2)", {1, 1, 3, 3}, Ramp(9)).data,
               {0, 2, 2, 6, 16, 10, 6, 14, 8});
  ExpectValues(RunModule("nn.Fold((2, 3), (1, 2), dilation=(1, 2), padding=(0, 1))", {2, 6},
                         std::vector<float>(12, 1.f))
                   .data,
               // Blocks start at columns -1, 0 and 1 with their two taps 2 apart: column 1
               // is covered twice, columns 0 and 2 once.
               {1, 2, 1, 1, 2, 1});
}

TEST(Fold, TwoThreadsGiveTheSameAnswerAsOne) {
  const std::string seq =
      "nn.Sequential(nn.Unfold((3, 2), dilation=(1, 2), padding=1, stride=(1, 2)), "
      "nn.Fold((20, 31), (3, 2), dilation=(1, 2), padding=1, stride=(1, 2)))";
  Tensor input({3, 5, 20, 31});
  for (int64_t i = 0; i < input.numel(); ++i) input.data[i] = static_cast<float>(i % 97) * 0.25f;
  std::vector<Tensor> outputs;
  for (int threads : {1, 2}) {
    ModelOptions options;
    options.num_threads = threads;
    auto model = Model::FromSource(seq, "model.seq", nullptr, "model.safetensors", options);
    ASSERT_TRUE(model.ok()) << model.status();
    outputs.push_back(test::Run(**model, input));
  }
  test::ExpectSame(outputs[0], outputs[1], "1 vs 2 threads");
}

}  // namespace
}  // namespace seqserve
