#include "core/modules/pixel_shuffle.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"
#include "core/module_args.h"
#include "core/modules/float4.h"
#include "core/parallel.h"
#include "common/status_macros.h"

namespace seqserve {
namespace {

using vec::Float4;

// out[w * r + j] = in_j[w] for j < r, w < width: r rows interleaved into one.
void Interleave(const float* const* in, float* out, int64_t r, int64_t width) {
  int64_t w = 0;
  if (r == 2) {
    for (; w + vec::kLanes <= width; w += vec::kLanes) {
      const Float4 a = vec::Load(in[0] + w);
      const Float4 b = vec::Load(in[1] + w);
      vec::Store(out + 2 * w, __builtin_shufflevector(a, b, 0, 4, 1, 5));
      vec::Store(out + 2 * w + 4, __builtin_shufflevector(a, b, 2, 6, 3, 7));
    }
  }
  for (; w < width; ++w) {
    for (int64_t j = 0; j < r; ++j) out[w * r + j] = in[j][w];
  }
}

// out_j[w] = in[w * r + j]: one row split into r.
void Deinterleave(const float* in, float* const* out, int64_t r, int64_t width) {
  int64_t w = 0;
  if (r == 2) {
    for (; w + vec::kLanes <= width; w += vec::kLanes) {
      const Float4 a = vec::Load(in + 2 * w);
      const Float4 b = vec::Load(in + 2 * w + 4);
      vec::Store(out[0] + w, __builtin_shufflevector(a, b, 0, 2, 4, 6));
      vec::Store(out[1] + w, __builtin_shufflevector(a, b, 1, 3, 5, 7));
    }
  }
  for (; w < width; ++w) {
    for (int64_t j = 0; j < r; ++j) out[j][w] = in[w * r + j];
  }
}

// PixelShuffle (`unshuffle` false) or PixelUnshuffle with factor r.
class PixelShuffle : public Module {
 public:
  PixelShuffle(bool unshuffle, int64_t factor) : unshuffle_(unshuffle), r_(factor) {}

  std::string_view type() const override { return unshuffle_ ? "PixelUnshuffle" : "PixelShuffle"; }

  absl::StatusOr<Shape> OutputShape(const Shape& in) const override {
    const std::string op = unshuffle_ ? "pixel_unshuffle" : "pixel_shuffle";
    const int rank = static_cast<int>(in.size());
    if (rank < 3) {
      return absl::InvalidArgumentError(absl::StrCat(
          op, " expects input to have at least 3 dimensions, but got input with ", rank,
          " dimension(s) (input of shape ", ShapeToString(in), ")"));
    }
    Shape out = in;
    const int64_t c = in[rank - 3], h = in[rank - 2], w = in[rank - 1];
    if (!unshuffle_) {
      if (c % (r_ * r_) != 0) {
        return absl::InvalidArgumentError(absl::StrCat(
            "pixel_shuffle expects its input's 'channel' dimension to be divisible by the square "
            "of upscale_factor, but input.size(-3)=",
            c, " is not divisible by ", r_ * r_, " (input of shape ", ShapeToString(in), ")"));
      }
      out[rank - 3] = c / (r_ * r_);
      out[rank - 2] = h * r_;
      out[rank - 1] = w * r_;
      return out;
    }
    if (h % r_ != 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "pixel_unshuffle expects height to be divisible by downscale_factor, but input.size(-2)=",
          h, " is not divisible by ", r_, " (input of shape ", ShapeToString(in), ")"));
    }
    if (w % r_ != 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "pixel_unshuffle expects width to be divisible by downscale_factor, but input.size(-1)=",
          w, " is not divisible by ", r_, " (input of shape ", ShapeToString(in), ")"));
    }
    out[rank - 3] = c * r_ * r_;
    out[rank - 2] = h / r_;
    out[rank - 1] = w / r_;
    return out;
  }

  absl::StatusOr<PlanValue> Compile(PlanBuilder& builder, const PlanValue& in,
                                    const Fusion& /*fusion*/) const override {
    SEQ_ASSIGN_OR_RETURN(Shape out_shape, OutputShape(in.shape));
    if (r_ == 1) return builder.Reshape(in, out_shape);  // the identity permutation
    PlanValue src = builder.Plain(in);
    PlanValue dst = builder.NewValue(out_shape, PlainDesc(out_shape));
    if (NumElements(out_shape) == 0) return dst;
    const int rank = static_cast<int>(in.shape.size());
    // The small side: (batch, channels, height, width) of the shuffled (low-resolution) image.
    const Shape& small = unshuffle_ ? out_shape : in.shape;
    const int64_t batch = NumElements(Shape(small.begin(), small.end() - 3));
    const int64_t channels = small[rank - 3] / (r_ * r_);  // of the high-resolution image
    const int64_t height = small[rank - 2];
    const int64_t width = small[rank - 1];
    const int64_t r = r_;
    const bool unshuffle = unshuffle_;
    // One item per high-resolution row (b, c, h, i): width * r floats, fed by (or feeding) r
    // low-resolution rows (b, c r^2 + i r + j, h), j < r.
    const int64_t items = batch * channels * height * r;
    const int64_t min_items = std::max<int64_t>(1, 4096 / std::max<int64_t>(width * r, 1));
    builder.AddKernel(
        [=](const float* x, float* y, int threads) {
          ParallelFor(
              items, threads,
              [&](int64_t begin, int64_t end) {
                const float* low_in[16];
                float* low_out[16];
                std::vector<const float*> many_in;
                std::vector<float*> many_out;
                const float** in_rows = low_in;
                float** out_rows = low_out;
                if (r > 16) {
                  many_in.resize(r);
                  many_out.resize(r);
                  in_rows = many_in.data();
                  out_rows = many_out.data();
                }
                for (int64_t item = begin; item < end; ++item) {
                  const int64_t i = item % r;
                  const int64_t h = item / r % height;
                  const int64_t bc = item / (r * height);  // b * channels + c
                  const int64_t high_row = (bc * height * r + h * r + i) * width * r;
                  for (int64_t j = 0; j < r; ++j) {
                    const int64_t low_row = ((bc * r * r + i * r + j) * height + h) * width;
                    if (unshuffle) {
                      out_rows[j] = y + low_row;
                    } else {
                      in_rows[j] = x + low_row;
                    }
                  }
                  if (unshuffle) {
                    Deinterleave(x + high_row, out_rows, r, width);
                  } else {
                    Interleave(in_rows, y + high_row, r, width);
                  }
                }
              },
              min_items);
        },
        src, dst);
    return dst;
  }

 private:
  bool unshuffle_;
  int64_t r_;
};

class ChannelShuffle : public Module {
 public:
  explicit ChannelShuffle(int64_t groups) : groups_(groups) {}

  std::string_view type() const override { return "ChannelShuffle"; }

  absl::StatusOr<Shape> OutputShape(const Shape& in) const override {
    if (in.size() < 3) {
      return absl::InvalidArgumentError(absl::StrCat(
          "channel_shuffle expects input with > 2 dims, but got input with sizes ",
          ShapeToString(in)));
    }
    if (in[1] % groups_ != 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "Number of channels must be divisible by groups. Got ", in[1], " channels and ",
          groups_, " groups. (input of shape ", ShapeToString(in), ")"));
    }
    return in;
  }

  absl::StatusOr<PlanValue> Compile(PlanBuilder& builder, const PlanValue& in,
                                    const Fusion& /*fusion*/) const override {
    SEQ_RETURN_IF_ERROR(OutputShape(in.shape).status());
    const int64_t channels = in.shape[1];
    if (groups_ == 1 || groups_ == channels || NumElements(in.shape) == 0) {
      return in;  // the identity permutation
    }
    PlanValue src = builder.Plain(in);
    PlanValue dst = builder.NewValue(in.shape, PlainDesc(in.shape));
    const int64_t batch = in.shape[0];
    const int64_t positions = NumElements(Shape(in.shape.begin() + 2, in.shape.end()));
    const int64_t groups = groups_;
    const int64_t per_group = channels / groups;
    const int64_t min_rows = std::max<int64_t>(1, 4096 / std::max<int64_t>(positions, 1));
    builder.AddKernel(
        [=](const float* x, float* y, int threads) {
          ParallelFor(
              batch * channels, threads,
              [&](int64_t begin, int64_t end) {
                for (int64_t row = begin; row < end; ++row) {
                  // Output channel k * groups + g reads input channel g * per_group + k.
                  const int64_t n = row / channels;
                  const int64_t c = row % channels;
                  const int64_t from = n * channels + c % groups * per_group + c / groups;
                  std::memcpy(y + row * positions, x + from * positions,
                              static_cast<size_t>(positions) * sizeof(float));
                }
              },
              min_rows);
        },
        src, dst);
    return dst;
  }

 private:
  int64_t groups_;
};

absl::StatusOr<int64_t> PositiveFactor(const ModuleArgs& args, std::string_view name,
                                       std::string_view op) {
  SEQ_ASSIGN_OR_RETURN(int64_t factor, args.Int(name));
  if (factor <= 0) {
    // PyTorch builds the module but every forward fails with this.
    return args.Error(name, absl::StrCat(std::string(op), " expects a positive ", std::string(name),
                                         ", but got ", factor));
  }
  return factor;
}

}  // namespace

// PyTorch 2.x: PixelShuffle(upscale_factor).
absl::StatusOr<std::unique_ptr<Module>> MakePixelShuffle(const SeqCall& call,
                                                         std::string_view file) {
  SEQ_ASSIGN_OR_RETURN(ModuleArgs args, ModuleArgs::Bind(call, "PixelShuffle",
                                                         {Required("upscale_factor")}, file));
  SEQ_ASSIGN_OR_RETURN(int64_t factor, PositiveFactor(args, "upscale_factor", "pixel_shuffle"));
  return std::make_unique<PixelShuffle>(/*unshuffle=*/false, factor);
}

// PyTorch 2.x: PixelUnshuffle(downscale_factor).
absl::StatusOr<std::unique_ptr<Module>> MakePixelUnshuffle(const SeqCall& call,
                                                           std::string_view file) {
  SEQ_ASSIGN_OR_RETURN(ModuleArgs args, ModuleArgs::Bind(call, "PixelUnshuffle",
                                                         {Required("downscale_factor")}, file));
  SEQ_ASSIGN_OR_RETURN(int64_t factor,
                       PositiveFactor(args, "downscale_factor", "pixel_unshuffle"));
  return std::make_unique<PixelShuffle>(/*unshuffle=*/true, factor);
}

// PyTorch 2.x: ChannelShuffle(groups).
absl::StatusOr<std::unique_ptr<Module>> MakeChannelShuffle(const SeqCall& call,
                                                           std::string_view file) {
  SEQ_ASSIGN_OR_RETURN(ModuleArgs args,
                       ModuleArgs::Bind(call, "ChannelShuffle", {Required("groups")}, file));
  SEQ_ASSIGN_OR_RETURN(int64_t groups, args.Int("groups"));
  if (groups <= 0) {
    return args.Error("groups", absl::StrCat("Number of groups to divide channels in must be "
                                             "positive. Value of groups:",
                                             groups));
  }
  return std::make_unique<ChannelShuffle>(groups);
}

}  // namespace seqserve
