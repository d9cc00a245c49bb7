// PixelShuffle, PixelUnshuffle, ChannelShuffle, Upsample, UpsamplingNearest2d and
// UpsamplingBilinear2d: PyTorch's argument checks and messages (load errors naming
// file:line:col, module and argument), F.interpolate's shape rules and errors, empty inputs,
// hand-derivable values, and work split over threads. The comparisons with real PyTorch are
// the vis_* goldens run by golden_test.cc.
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/util/module_test_util.h"

namespace seqserve {
namespace {

using testing::Contains;
using testing::LoadError;
using testing::MustLoad;
using testing::Ramp;
using testing::RunModel;
using testing::SameFloats;
using testing::ShapeOrError;

std::string Shape1(const std::string& module, const Shape& in) {
  auto model = MustLoad("nn.Sequential(" + module + ")");
  return model == nullptr ? "" : ShapeOrError(*model, in);
}

TEST(PixelShuffle, RejectsWhatPyTorchRejects) {
  EXPECT_EQ(LoadError("nn.PixelShuffle(0)"),
            "model.seq:1:31: PixelShuffle: argument 'upscale_factor': pixel_shuffle expects a "
            "positive upscale_factor, but got 0");
  EXPECT_EQ(LoadError("nn.PixelUnshuffle(downscale_factor=-1)"),
            "model.seq:1:33: PixelUnshuffle: argument 'downscale_factor': pixel_unshuffle "
            "expects a positive downscale_factor, but got -1");
  EXPECT_EQ(LoadError("nn.ChannelShuffle(0)"),
            "model.seq:1:33: ChannelShuffle: argument 'groups': Number of groups to divide "
            "channels in must be positive. Value of groups:0");
  EXPECT_EQ(LoadError("nn.PixelShuffle(2.0)"),
            "model.seq:1:31: PixelShuffle: argument 'upscale_factor': expected int, got float "
            "(2.0)");
  EXPECT_TRUE(Contains(LoadError("nn.PixelShuffle()"),
                       "PixelShuffle: missing required argument 'upscale_factor'"));
  EXPECT_TRUE(Contains(LoadError("nn.ChannelShuffle(groups=2, g=1)"),
                       "ChannelShuffle: unexpected keyword argument 'g'"));
}

TEST(PixelShuffle, ShapesAsPyTorch) {
  EXPECT_EQ(Shape1("nn.PixelShuffle(2)", {2, 8, 3, 4}), "[2, 2, 6, 8]");
  EXPECT_EQ(Shape1("nn.PixelShuffle(2)", {8, 3, 4}), "[2, 6, 8]");
  EXPECT_EQ(Shape1("nn.PixelShuffle(3)", {2, 5, 18, 1, 2}), "[2, 5, 2, 3, 6]");
  EXPECT_EQ(Shape1("nn.PixelShuffle(2)", {2, 3, 4}),
            "0 (PixelShuffle): pixel_shuffle expects its input's 'channel' dimension to be "
            "divisible by the square of upscale_factor, but input.size(-3)=2 is not divisible by "
            "4 (input of shape [2, 3, 4])");
  EXPECT_EQ(Shape1("nn.PixelShuffle(2)", {4, 4}),
            "0 (PixelShuffle): pixel_shuffle expects input to have at least 3 dimensions, but "
            "got input with 2 dimension(s) (input of shape [4, 4])");
  EXPECT_EQ(Shape1("nn.PixelUnshuffle(2)", {1, 3, 4, 6}), "[1, 12, 2, 3]");
  EXPECT_EQ(Shape1("nn.PixelUnshuffle(2)", {2, 3, 5}),
            "0 (PixelUnshuffle): pixel_unshuffle expects height to be divisible by "
            "downscale_factor, but input.size(-2)=3 is not divisible by 2 (input of shape "
            "[2, 3, 5])");
  EXPECT_EQ(Shape1("nn.PixelUnshuffle(2)", {2, 4, 3}),
            "0 (PixelUnshuffle): pixel_unshuffle expects width to be divisible by "
            "downscale_factor, but input.size(-1)=3 is not divisible by 2 (input of shape "
            "[2, 4, 3])");
  EXPECT_EQ(Shape1("nn.ChannelShuffle(2)", {1, 4, 2, 2, 2}), "[1, 4, 2, 2, 2]");
  EXPECT_EQ(Shape1("nn.ChannelShuffle(2)", {2, 3, 4}),
            "0 (ChannelShuffle): Number of channels must be divisible by groups. Got 3 channels "
            "and 2 groups. (input of shape [2, 3, 4])");
  EXPECT_EQ(Shape1("nn.ChannelShuffle(2)", {4, 4}),
            "0 (ChannelShuffle): channel_shuffle expects input with > 2 dims, but got input with "
            "sizes [4, 4]");
}

// The permutations by hand: sub-pixel (i, j) of channel c comes from channel c r^2 + i r + j.
TEST(PixelShuffle, PermutesAsDefined) {
  Tensor x({1, 8, 1, 5});
  for (int64_t i = 0; i < x.numel(); ++i) x.data[i] = static_cast<float>(i);
  const Tensor y = RunModel(*MustLoad("nn.Sequential(nn.PixelShuffle(2))"), x);
  ASSERT_EQ(y.shape, (Shape{1, 2, 2, 10}));
  // Channel 0, row 0 interleaves input channels 0 and 1; row 1 channels 2 and 3.
  EXPECT_TRUE(SameFloats(std::vector<float>(y.data.begin(), y.data.begin() + 20),
                         {0, 5, 1, 6, 2, 7, 3, 8, 4, 9, 10, 15, 11, 16, 12, 17, 13, 18, 14, 19}));
  const Tensor back = RunModel(*MustLoad("nn.Sequential(nn.PixelUnshuffle(2))"), y);
  EXPECT_TRUE(SameFloats(back.data, x.data));
  // ChannelShuffle(2) on 4 channels: 0, 2, 1, 3 (PyTorch's documented example).
  const Tensor c = RunModel(*MustLoad("nn.Sequential(nn.ChannelShuffle(2))"),
                            Tensor({1, 4, 1}, {10, 11, 12, 13}));
  EXPECT_TRUE(SameFloats(c.data, {10, 12, 11, 13}));
}

TEST(Upsample, RejectsWhatPyTorchRejectsForEveryInput) {
  EXPECT_EQ(LoadError("nn.Upsample(scale_factor=2, mode='cubic')"),
            "model.seq:1:43: Upsample: argument 'mode': unknown mode 'cubic'; PyTorch supports "
            "nearest | linear | bilinear | bicubic | trilinear | area | nearest-exact");
  EXPECT_EQ(LoadError("nn.Upsample(scale_factor=2, align_corners=True)"),
            "model.seq:1:43: Upsample: argument 'align_corners': align_corners option can only be "
            "set with the interpolating modes: linear | bilinear | bicubic | trilinear");
  EXPECT_EQ(LoadError("nn.Upsample(size=4, scale_factor=2)"),
            "model.seq:1:15: Upsample: only one of size or scale_factor should be defined");
  EXPECT_EQ(LoadError("nn.Upsample()"),
            "model.seq:1:15: Upsample: either size or scale_factor should be defined");
  // Upsample keeps `float(scale_factor) if scale_factor else None`: 0 means None.
  EXPECT_EQ(LoadError("nn.Upsample(scale_factor=0)"),
            "model.seq:1:15: Upsample: either size or scale_factor should be defined");
  EXPECT_EQ(LoadError("nn.Upsample(size=4, recompute_scale_factor=True)"),
            "model.seq:1:35: Upsample: argument 'recompute_scale_factor': recompute_scale_factor "
            "is not meaningful with an explicit size.");
  EXPECT_EQ(LoadError("nn.Upsample(scale_factor=[2, 2])"),
            "model.seq:1:27: Upsample: argument 'scale_factor': float() argument must be a "
            "string or a real number, not list");
  EXPECT_EQ(LoadError("nn.Upsample(size=2.0)"),
            "model.seq:1:27: Upsample: argument 'size': expected size to be one of int or "
            "Tuple[int] or Tuple[int, int] or Tuple[int, int, int], got float");
  EXPECT_EQ(LoadError("nn.Upsample(size=(2, 0))"),
            "model.seq:1:27: Upsample: argument 'size': Input and output sizes should be greater "
            "than 0, but got size 0");
  EXPECT_EQ(LoadError("nn.Upsample(scale_factor=-1.5)"),
            "model.seq:1:27: Upsample: argument 'scale_factor': must be positive (the output "
            "would be empty for every input), got -1.5");
  EXPECT_EQ(LoadError("nn.UpsamplingBilinear2d(scale_factor=2, mode='nearest')"),
            "model.seq:1:55: UpsamplingBilinear2d: unexpected keyword argument 'mode'");
  EXPECT_EQ(LoadError("nn.Upsample(scale_factor=2, mode='bilinear', align_corners=1.0)"),
            "model.seq:1:60: Upsample: argument 'align_corners': expected bool, got float (1.0)");
}

TEST(Upsample, AcceptsPyTorchSignatures) {
  for (const char* module :
       {"nn.Upsample(4)", "nn.Upsample(None, 2.5)", "nn.Upsample((4, 5), None, 'bilinear', True)",
        "nn.Upsample(scale_factor=(2, 3), mode='nearest-exact', align_corners=None, "
        "recompute_scale_factor=False)",
        "nn.Upsample(size=[3, 4, 5], mode='trilinear', align_corners=False)",
        "nn.UpsamplingNearest2d(8)", "nn.UpsamplingNearest2d(scale_factor=2)",
        "nn.UpsamplingBilinear2d(None, 2)"}) {
    EXPECT_NE(MustLoad(std::string("nn.Sequential(") + module + ")"), nullptr) << module;
  }
}

TEST(Upsample, ShapesAndErrorsAsFInterpolate) {
  // A scale factor truncates in * scale; a single size or factor applies to every spatial dim.
  EXPECT_EQ(Shape1("nn.Upsample(scale_factor=1.5)", {2, 3, 5, 7}), "[2, 3, 7, 10]");
  EXPECT_EQ(Shape1("nn.Upsample(scale_factor=1.5)", {2, 3, 5}), "[2, 3, 7]");
  EXPECT_EQ(Shape1("nn.Upsample(size=4)", {1, 2, 3, 3, 3}), "[1, 2, 4, 4, 4]");
  EXPECT_EQ(Shape1("nn.Upsample(scale_factor=(2, 0.5), mode='bilinear')", {1, 2, 3, 8}),
            "[1, 2, 6, 4]");
  EXPECT_EQ(Shape1("nn.Upsample(size=(2, 3))", {1, 2, 3, 3, 3}),
            "0 (Upsample): Input and output must have the same number of spatial dimensions, but "
            "got input with spatial dimensions of [3, 3, 3] and output size of (2, 3). Please "
            "provide input tensor in (N, C, d1, d2, ...,dK) format and output size in (o1, o2, "
            "...,oK) format.");
  EXPECT_EQ(Shape1("nn.Upsample(scale_factor=(2, 3))", {1, 2, 3}),
            "0 (Upsample): Input and scale_factor must have the same number of spatial "
            "dimensions, but got input with spatial dimensions of [3] and scale_factor of shape "
            "(2.0, 3.0). Please provide input tensor in (N, C, d1, d2, ...,dK) format and "
            "scale_factor in (s1, s2, ...,sK) format.");
  EXPECT_EQ(Shape1("nn.Upsample(scale_factor=2, mode='bilinear')", {1, 2, 3}),
            "0 (Upsample): Got 3D input, but bilinear mode needs 4D input");
  EXPECT_EQ(Shape1("nn.Upsample(scale_factor=2, mode='linear')", {1, 2, 3, 3, 3}),
            "0 (Upsample): Got 5D input, but linear mode needs 3D input");
  EXPECT_EQ(Shape1("nn.Upsample(scale_factor=2, mode='trilinear')", {1, 2, 3, 3}),
            "0 (Upsample): Got 4D input, but trilinear mode needs 5D input");
  EXPECT_EQ(Shape1("nn.Upsample(scale_factor=2, mode='bicubic')", {1, 2, 3}),
            "0 (Upsample): Input Error: Only 3D, 4D and 5D input Tensors supported (got 3D) for "
            "the modes: nearest | linear | bilinear | bicubic | trilinear | area | nearest-exact "
            "(got bicubic)");
  EXPECT_EQ(Shape1("nn.Upsample(scale_factor=2)", {2, 3}),
            "0 (Upsample): Input Error: Only 3D, 4D and 5D input Tensors supported (got 2D) for "
            "the modes: nearest | linear | bilinear | bicubic | trilinear | area | nearest-exact "
            "(got nearest)");
  EXPECT_EQ(Shape1("nn.Upsample(scale_factor=0.2)", {1, 2, 3, 9}),
            "0 (Upsample): Input and output sizes should be greater than 0, but got input (H: 3, "
            "W: 9) output (H: 0, W: 1)");
  EXPECT_EQ(Shape1("nn.Upsample(scale_factor=0.2)", {1, 2, 3}),
            "0 (Upsample): Input and output sizes should be greater than 0, but got input (W: 3) "
            "and output (W: 0)");
  EXPECT_EQ(Shape1("nn.Upsample(scale_factor=2)", {1, 0, 3, 3}),
            "0 (Upsample): Non-empty 4D data tensor expected but got a tensor with sizes "
            "[1, 0, 3, 3]");
  // 'area' is adaptive pooling: an empty output is fine, an empty input dim is not.
  EXPECT_EQ(Shape1("nn.Upsample(scale_factor=0.2, mode='area')", {1, 2, 3, 9}), "[1, 2, 0, 1]");
  EXPECT_EQ(Shape1("nn.Upsample(size=2, mode='area')", {1, 2, 0, 9}),
            "0 (Upsample): adaptive_avg_pool2d(): Expected input to have non-zero size for "
            "non-batch dimensions, but input has sizes [1, 2, 0, 9] with dimension 2 being empty");
}

TEST(Upsample, AnEmptyBatchGivesAnEmptyOutput) {
  for (const char* mode : {"nearest", "bilinear", "area"}) {
    auto model = MustLoad(std::string("nn.Sequential(nn.Upsample(scale_factor=2, mode='") + mode +
                          "'), nn.ReLU())");
    ASSERT_NE(model, nullptr);
    const Tensor y = RunModel(*model, Tensor({0, 2, 3, 3}));
    EXPECT_EQ(y.shape, (Shape{0, 2, 6, 6})) << mode;
  }
}

// By hand: linear with align_corners=True puts the ends on the ends; area averages windows.
TEST(Upsample, ComputesHandDerivableValues) {
  const Tensor x({1, 1, 3}, {0, 10, 40});
  EXPECT_TRUE(SameFloats(
      RunModel(*MustLoad("nn.Sequential(nn.Upsample(size=5, mode='linear', align_corners=True))"),
               x).data,
      {0, 5, 10, 25, 40}));
  EXPECT_TRUE(SameFloats(
      RunModel(*MustLoad("nn.Sequential(nn.Upsample(scale_factor=2))"), x).data,
      {0, 0, 10, 10, 40, 40}));
  // Area to 2 of 3: windows [0, 2) and [1, 3).
  EXPECT_TRUE(SameFloats(
      RunModel(*MustLoad("nn.Sequential(nn.Upsample(size=2, mode='area'))"), x).data, {5, 25}));
  // UpsamplingBilinear2d aligns corners: 2 to 3 columns puts one halfway.
  EXPECT_TRUE(SameFloats(
      RunModel(*MustLoad("nn.Sequential(nn.UpsamplingBilinear2d(size=(1, 3)))"),
               Tensor({1, 1, 1, 2}, {0, 8})).data,
      {0, 4, 8}));
}

TEST(Vision, ThreadsSplitTheWorkWithoutChangingResults) {
  const Tensor x = Ramp({2, 16, 24, 20}, 3.f);
  for (const char* module : {"nn.Upsample(scale_factor=2, mode='bilinear')",
                             "nn.Upsample(scale_factor=1.7, mode='bicubic', align_corners=True)",
                             "nn.Upsample(scale_factor=(1.5, 3))", "nn.Upsample(size=(7, 9), mode='area')",
                             "nn.PixelShuffle(2)", "nn.PixelUnshuffle(2)", "nn.ChannelShuffle(4)"}) {
    const std::string seq = std::string("nn.Sequential(") + module + ")";
    auto serial = MustLoad(seq, nullptr, true, 1);
    auto parallel = MustLoad(seq, nullptr, true, 2);
    ASSERT_TRUE(serial != nullptr && parallel != nullptr);
    EXPECT_TRUE(SameFloats(RunModel(*parallel, x).data, RunModel(*serial, x).data)) << module;
  }
}

}  // namespace
}  // namespace seqserve
