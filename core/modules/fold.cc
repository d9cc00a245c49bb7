#include "core/modules/fold.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/module_args.h"
#include "core/parallel.h"
#include "common/status_macros.h"

namespace seqserve {
namespace {

using Pair = std::array<int64_t, 2>;

std::string PairRepr(const Pair& p) { return absl::StrCat("(", p[0], ", ", p[1], ")"); }

// Floor division, also for a negative numerator (PyTorch's div_rtn).
int64_t FloorDiv(int64_t num, int64_t den) {
  return num >= 0 ? num / den : -((-num + den - 1) / den);
}

// The sliding blocks of Unfold and Fold over an image of size `image` (height, width).
struct BlockGeometry {
  Pair kernel{1, 1};
  Pair dilation{1, 1};
  Pair padding{0, 0};
  Pair stride{1, 1};

  // Blocks along each axis (may be < 1 for an image too small).
  Pair Blocks(const Pair& image) const {
    Pair blocks;
    for (int a = 0; a < 2; ++a) {
      blocks[a] = FloorDiv(image[a] + 2 * padding[a] - dilation[a] * (kernel[a] - 1) - 1,
                           stride[a]) + 1;
    }
    return blocks;
  }

  // For the kernel tap `k` along axis `a`: the image coordinate of block b is
  // b * stride + offset, and blocks [lo, hi) land inside [0, size).
  int64_t Offset(int a, int64_t k) const { return k * dilation[a] - padding[a]; }
  void InsideRange(int a, int64_t k, int64_t size, int64_t blocks, int64_t* lo,
                   int64_t* hi) const {
    const int64_t offset = Offset(a, k);
    *lo = std::clamp<int64_t>(FloorDiv(-offset + stride[a] - 1, stride[a]), 0, blocks);
    *hi = std::clamp<int64_t>(FloorDiv(size - 1 - offset, stride[a]) + 1, *lo, blocks);
  }
};

absl::StatusOr<Pair> ReadPair(const ModuleArgs& args, std::string_view name) {
  SEQ_ASSIGN_OR_RETURN(std::vector<int64_t> v, args.IntTuple(name, 2));
  return Pair{v[0], v[1]};
}

// kernel_size, dilation, padding and stride with im2col/col2im's checks, in their order.
absl::StatusOr<BlockGeometry> ReadGeometry(const ModuleArgs& args) {
  BlockGeometry g;
  SEQ_ASSIGN_OR_RETURN(g.kernel, ReadPair(args, "kernel_size"));
  SEQ_ASSIGN_OR_RETURN(g.dilation, ReadPair(args, "dilation"));
  SEQ_ASSIGN_OR_RETURN(g.padding, ReadPair(args, "padding"));
  SEQ_ASSIGN_OR_RETURN(g.stride, ReadPair(args, "stride"));
  auto hw = [](const std::string& what, const Pair& p) {
    return absl::StrCat(what, "_height: ", p[0], " ", what, "_width: ", p[1]);
  };
  if (g.kernel[0] <= 0 || g.kernel[1] <= 0) {
    return args.Error("kernel_size", absl::StrCat("kernel size should be greater than zero, but got ",
                                                  hw("kernel", g.kernel)));
  }
  if (g.dilation[0] <= 0 || g.dilation[1] <= 0) {
    return args.Error("dilation", absl::StrCat("dilation should be greater than zero, but got ",
                                               hw("dilation", g.dilation)));
  }
  if (g.padding[0] < 0 || g.padding[1] < 0) {
    return args.Error("padding", absl::StrCat("padding should be non-negative, but got ",
                                              hw("pad", g.padding)));
  }
  if (g.stride[0] <= 0 || g.stride[1] <= 0) {
    return args.Error("stride", absl::StrCat("stride should be greater than zero, but got ",
                                             hw("stride", g.stride)));
  }
  return g;
}

// im2col: row (c, ki, kj) of `planes` * C rows holds, for every block (by, bx), the image
// element under tap (ki, kj), or 0 in the padding.
struct UnfoldKernel {
  BlockGeometry g;
  int64_t planes = 0;  // N * C
  Pair image{0, 0};
  Pair blocks{0, 0};

  void operator()(const float* src, float* dst, int num_threads) const {
    const int64_t taps = g.kernel[0] * g.kernel[1];
    const int64_t length = blocks[0] * blocks[1];
    ParallelFor(
        planes * taps, num_threads,
        [&](int64_t begin, int64_t end) {
          for (int64_t row = begin; row < end; ++row) {
            const int64_t plane = row / taps;
            const int64_t ki = (row % taps) / g.kernel[1];
            const int64_t kj = row % g.kernel[1];
            const float* x = src + plane * image[0] * image[1];
            float* y = dst + row * length;
            int64_t lo = 0, hi = 0;
            g.InsideRange(1, kj, image[1], blocks[1], &lo, &hi);
            const int64_t col_offset = g.Offset(1, kj);
            for (int64_t by = 0; by < blocks[0]; ++by) {
              float* out = y + by * blocks[1];
              const int64_t iy = by * g.stride[0] + g.Offset(0, ki);
              if (iy < 0 || iy >= image[0]) {
                std::fill(out, out + blocks[1], 0.f);
                continue;
              }
              const float* in = x + iy * image[1];
              std::fill(out, out + lo, 0.f);
              if (g.stride[1] == 1) {
                std::copy(in + lo + col_offset, in + hi + col_offset, out + lo);
              } else {
                for (int64_t bx = lo; bx < hi; ++bx) out[bx] = in[bx * g.stride[1] + col_offset];
              }
              std::fill(out + hi, out + blocks[1], 0.f);
            }
          }
        },
        std::max<int64_t>(1, 4096 / std::max<int64_t>(1, length)));
  }
};

// col2im: each output plane sums its C * kh * kw input rows, tap by tap in PyTorch's order
// (so the sums round as PyTorch's do). Threads own whole planes: no two write one element.
struct FoldKernel {
  BlockGeometry g;
  int64_t planes = 0;  // N * C_out
  Pair image{0, 0};
  Pair blocks{0, 0};

  void operator()(const float* src, float* dst, int num_threads) const {
    const int64_t taps = g.kernel[0] * g.kernel[1];
    const int64_t length = blocks[0] * blocks[1];
    const int64_t pixels = image[0] * image[1];
    ParallelFor(
        planes, num_threads,
        [&](int64_t begin, int64_t end) {
          for (int64_t plane = begin; plane < end; ++plane) {
            float* y = dst + plane * pixels;
            std::fill(y, y + pixels, 0.f);
            for (int64_t tap = 0; tap < taps; ++tap) {
              const int64_t ki = tap / g.kernel[1];
              const int64_t kj = tap % g.kernel[1];
              const float* x = src + (plane * taps + tap) * length;
              int64_t lo = 0, hi = 0;
              g.InsideRange(1, kj, image[1], blocks[1], &lo, &hi);
              const int64_t col_offset = g.Offset(1, kj);
              for (int64_t by = 0; by < blocks[0]; ++by) {
                const int64_t iy = by * g.stride[0] + g.Offset(0, ki);
                if (iy < 0 || iy >= image[0]) continue;
                float* out = y + iy * image[1];
                const float* in = x + by * blocks[1];
                if (g.stride[1] == 1) {
                  float* shifted = out + lo + col_offset;
                  for (int64_t bx = 0; bx < hi - lo; ++bx) shifted[bx] += in[lo + bx];
                } else {
                  for (int64_t bx = lo; bx < hi; ++bx) out[bx * g.stride[1] + col_offset] += in[bx];
                }
              }
            }
          }
        },
        std::max<int64_t>(1, 4096 / std::max<int64_t>(1, taps * length)));
  }
};

std::string GeometryRepr(const BlockGeometry& g) {
  return absl::StrCat("kernel_size=", PairRepr(g.kernel), ", dilation=", PairRepr(g.dilation),
                      ", padding=", PairRepr(g.padding), ", stride=", PairRepr(g.stride));
}

class Unfold : public Module {
 public:
  explicit Unfold(BlockGeometry g) : g_(g) {}

  std::string_view type() const override { return "Unfold"; }

  absl::StatusOr<Shape> OutputShape(const Shape& in) const override {
    const bool batched = in.size() == 4;
    bool ok = in.size() == 3 || batched;
    for (size_t d = batched ? 1 : 0; ok && d < in.size(); ++d) ok = in[d] != 0;
    if (!ok) {
      return absl::InvalidArgumentError(absl::StrCat(
          "expected 3D (C, H, W) or 4D (N, C, H, W) input with non-zero C, H and W, got ",
          ShapeToString(in)));
    }
    const Pair image{in[in.size() - 2], in[in.size() - 1]};
    const Pair blocks = g_.Blocks(image);
    if (blocks[0] < 1 || blocks[1] < 1) {
      return absl::InvalidArgumentError(absl::StrCat(
          "expected an input with at least one sliding block, got ", ShapeToString(in),
          " (spatial size ", PairRepr(image), ", ", GeometryRepr(g_),
          ": calculated shape of the array of sliding blocks ", PairRepr(blocks), ")"));
    }
    Shape out = batched ? Shape{in[0]} : Shape{};
    out.push_back(in[in.size() - 3] * g_.kernel[0] * g_.kernel[1]);
    out.push_back(blocks[0] * blocks[1]);
    return out;
  }

  // Pure data movement.
  int64_t Flops(const Shape& /*in*/) const override { return 0; }

  std::optional<Shape> InputDims() const override { return Shape{-1, -1, -1}; }

  absl::StatusOr<PlanValue> Compile(PlanBuilder& builder, const PlanValue& in,
                                    const Fusion& /*fusion*/) const override {
    SEQ_ASSIGN_OR_RETURN(Shape out_shape, OutputShape(in.shape));
    const size_t rank = in.shape.size();
    UnfoldKernel kernel;
    kernel.g = g_;
    kernel.image = {in.shape[rank - 2], in.shape[rank - 1]};
    kernel.blocks = g_.Blocks(kernel.image);
    kernel.planes = NumElements(in.shape) / (kernel.image[0] * kernel.image[1]);
    PlanValue src = builder.Plain(in);
    PlanValue dst = builder.NewValue(out_shape, PlainDesc(out_shape));
    builder.AddKernel(std::move(kernel), src, dst);
    return dst;
  }

 private:
  BlockGeometry g_;
};

class Fold : public Module {
 public:
  Fold(Pair output_size, BlockGeometry g)
      : output_size_(output_size), g_(g), blocks_(g.Blocks(output_size)) {}

  std::string_view type() const override { return "Fold"; }

  absl::StatusOr<Shape> OutputShape(const Shape& in) const override {
    const bool batched = in.size() == 3;
    bool ok = in.size() == 2 || batched;
    for (size_t d = batched ? 1 : 0; ok && d < in.size(); ++d) ok = in[d] != 0;
    if (!ok) {
      return absl::InvalidArgumentError(absl::StrCat(
          "expected 2D (C * kh * kw, L) or 3D (N, C * kh * kw, L) input with non-zero sizes "
          "(but the batch), got ",
          ShapeToString(in)));
    }
    const int64_t taps = g_.kernel[0] * g_.kernel[1];
    const int64_t channels = in[in.size() - 2];
    if (channels % taps != 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "expected the size of dimension ", in.size() - 2,
          " to be divisible by the product of kernel_size ", PairRepr(g_.kernel), " (", taps,
          "), got ", ShapeToString(in)));
    }
    const int64_t length = blocks_[0] * blocks_[1];
    if (in.back() != length) {
      return absl::InvalidArgumentError(absl::StrCat(
          "expected the size of dimension ", in.size() - 1, " to be the number of sliding blocks ",
          blocks_[0], " * ", blocks_[1], " = ", length, " (output_size=", PairRepr(output_size_),
          ", ", GeometryRepr(g_), "), got ", ShapeToString(in)));
    }
    Shape out = batched ? Shape{in[0]} : Shape{};
    out.push_back(channels / taps);
    out.push_back(output_size_[0]);
    out.push_back(output_size_[1]);
    return out;
  }

  // One add per input element.
  int64_t Flops(const Shape& in) const override { return NumElements(in); }

  std::optional<Shape> InputDims() const override {
    return Shape{-1, blocks_[0] * blocks_[1]};
  }

  absl::StatusOr<PlanValue> Compile(PlanBuilder& builder, const PlanValue& in,
                                    const Fusion& /*fusion*/) const override {
    SEQ_ASSIGN_OR_RETURN(Shape out_shape, OutputShape(in.shape));
    FoldKernel kernel;
    kernel.g = g_;
    kernel.image = output_size_;
    kernel.blocks = blocks_;
    kernel.planes = NumElements(out_shape) / (output_size_[0] * output_size_[1]);
    PlanValue src = builder.Plain(in);
    PlanValue dst = builder.NewValue(out_shape, PlainDesc(out_shape));
    builder.AddKernel(std::move(kernel), src, dst);
    return dst;
  }

 private:
  Pair output_size_;
  BlockGeometry g_;
  Pair blocks_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Module>> MakeUnfold(const SeqCall& call, std::string_view file) {
  SEQ_ASSIGN_OR_RETURN(ModuleArgs args,
                       ModuleArgs::Bind(call, "Unfold",
                                        {Required("kernel_size"), Default("dilation", 1),
                                         Default("padding", 0), Default("stride", 1)},
                                        file));
  SEQ_ASSIGN_OR_RETURN(BlockGeometry g, ReadGeometry(args));
  return std::make_unique<Unfold>(g);
}

absl::StatusOr<std::unique_ptr<Module>> MakeFold(const SeqCall& call, std::string_view file) {
  SEQ_ASSIGN_OR_RETURN(
      ModuleArgs args,
      ModuleArgs::Bind(call, "Fold",
                       {Required("output_size"), Required("kernel_size"), Default("dilation", 1),
                        Default("padding", 0), Default("stride", 1)},
                       file));
  SEQ_ASSIGN_OR_RETURN(Pair output_size, ReadPair(args, "output_size"));
  if (output_size[0] <= 0 || output_size[1] <= 0) {
    return args.Error("output_size",
                      absl::StrCat("Expected output spatial size to be positive, but got: "
                                   "output_size=",
                                   PairRepr(output_size), "."));
  }
  SEQ_ASSIGN_OR_RETURN(BlockGeometry g, ReadGeometry(args));
  const Pair blocks = g.Blocks(output_size);
  if (blocks[0] < 1 || blocks[1] < 1) {
    // Every input would fail PyTorch's forward: a load error here.
    return args.CallError(absl::StrCat("Given output_size=", PairRepr(output_size), ", ",
                                       GeometryRepr(g),
                                       ", calculated shape of the array of sliding blocks as ",
                                       PairRepr(blocks), ", which is too small (non-positive)"));
  }
  return std::make_unique<Fold>(output_size, g);
}

}  // namespace seqserve
