#include "core/modules/spatial_pad.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/modules/channel_blocks.h"
#include "core/parallel.h"

namespace seqserve {
namespace {

// The input index that F.pad copies to output index `j` of a dim of size `n` padded by
// (before, after), or -1 where it fills with the constant. Reflect and replicate index the
// whole input even where the other side is cropped; circular wraps within what is left
// after cropping (PyTorch fills the margins from the padded output's own interior).
int64_t SourceIndex(int64_t j, int64_t n, int64_t before, int64_t after, PadMode mode) {
  const int64_t x = j - before;
  const int64_t lo = std::max<int64_t>(0, -before);
  const int64_t hi = n - std::max<int64_t>(0, -after);
  if (x >= lo && x < hi) return x;
  switch (mode) {
    case PadMode::kReflect: return x < 0 ? -x : 2 * (n - 1) - x;
    case PadMode::kReplicate: return x < 0 ? 0 : n - 1;
    case PadMode::kCircular: return x < lo ? x + (hi - lo) : x - (hi - lo);
    case PadMode::kZeros:
    case PadMode::kConstant: break;
  }
  return -1;
}

// Pads `planes` planes of the last `in.size()` dims, whose elements are `block` contiguous
// floats. Every output row (one index of each padded dim but the last) is either the
// constant, or gathered left margin columns, a contiguous copy of part of one input row,
// and gathered right margin columns. Threads split the output rows evenly.
struct PadKernel {
  int64_t planes = 0;
  int64_t block = 1;
  std::vector<int64_t> in;                // padded dims' input sizes
  std::vector<int64_t> out;               // and output sizes
  std::vector<std::vector<int64_t>> src;  // per padded dim and output index: input index or -1
  int64_t copy_begin = 0;                 // output columns [copy_begin, copy_end) copy input
  int64_t copy_end = 0;                   // columns from copy_from on
  int64_t copy_from = 0;
  float value = 0.f;

  void operator()(const float* x, float* y, int num_threads) const {
    const size_t dims = in.size();
    int64_t out_rows = planes;
    for (size_t a = 0; a + 1 < dims; ++a) out_rows *= out[a];
    const int64_t row_floats = out[dims - 1] * block;
    const int64_t in_row_floats = in[dims - 1] * block;
    ParallelFor(
        out_rows, num_threads,
        [&](int64_t begin, int64_t end) {
          for (int64_t r = begin; r < end; ++r) {
            float* row = y + r * row_floats;
            // The input row: decompose r into (plane, index per outer padded dim).
            int64_t rest = r, in_row = 0, in_stride = 1;
            bool fill = false;
            for (size_t a = dims - 1; a-- > 0;) {
              const int64_t s = src[a][rest % out[a]];
              rest /= out[a];
              fill = fill || s < 0;
              in_row += s * in_stride;
              in_stride *= in[a];
            }
            if (fill) {
              std::fill(row, row + row_floats, value);
              continue;
            }
            const float* from = x + (rest * in_stride + in_row) * in_row_floats;
            const std::vector<int64_t>& cols = src[dims - 1];
            auto gather = [&](int64_t first, int64_t last) {
              for (int64_t j = first; j < last; ++j) {
                float* e = row + j * block;
                if (cols[j] < 0) {
                  std::fill(e, e + block, value);
                } else {
                  std::memcpy(e, from + cols[j] * block, static_cast<size_t>(block) * sizeof(float));
                }
              }
            };
            gather(0, copy_begin);
            if (copy_end > copy_begin) {
              std::memcpy(row + copy_begin * block, from + copy_from * block,
                          static_cast<size_t>((copy_end - copy_begin) * block) * sizeof(float));
            }
            gather(copy_end, out[dims - 1]);
          }
        },
        std::max<int64_t>(1, 4096 / std::max<int64_t>(1, row_floats)));
  }
};

std::string Pads(int64_t before, int64_t after) { return absl::StrCat("(", before, ", ", after, ")"); }

}  // namespace

std::optional<PadMode> ParsePadMode(std::string_view name) {
  if (name == "zeros") return PadMode::kZeros;
  if (name == "reflect") return PadMode::kReflect;
  if (name == "replicate") return PadMode::kReplicate;
  if (name == "circular") return PadMode::kCircular;
  return std::nullopt;
}

std::string_view PadModeName(PadMode mode) {
  switch (mode) {
    case PadMode::kZeros:
    case PadMode::kConstant: return "constant";
    case PadMode::kReflect: return "reflect";
    case PadMode::kReplicate: return "replicate";
    case PadMode::kCircular: return "circular";
  }
  return "?";
}

absl::Status CheckSpatialPad(const Shape& in, PadMode mode, const std::vector<int64_t>& pad_before,
                             const std::vector<int64_t>& pad_after) {
  const size_t first = in.size() - pad_before.size();
  for (size_t i = 0; i < pad_before.size(); ++i) {
    const size_t dim = first + i;
    const int64_t n = in[dim];
    const int64_t before = pad_before[i], after = pad_after[i];
    const int64_t out = n + before + after;
    const int64_t left = n - std::max<int64_t>(0, -before) - std::max<int64_t>(0, -after);
    if (mode == PadMode::kReflect && std::max(before, after) >= n) {
      return absl::InvalidArgumentError(absl::StrCat(
          "expected padding ", Pads(before, after), " smaller than the input size ", n,
          " of dimension ", dim, " for padding_mode='reflect', got ", ShapeToString(in)));
    }
    if (mode == PadMode::kCircular && std::max(before, after) > left && left >= 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "expected padding ", Pads(before, after), " at most the input size ", left,
          left < n ? " left after cropping" : "", " of dimension ", dim,
          " for padding_mode='circular' (padding may wrap around only once), got ",
          ShapeToString(in)));
    }
    if (left < 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "expected negative padding ", Pads(before, after), " to crop at most the size ", n,
          " of dimension ", dim, ", got ", ShapeToString(in)));
    }
    const bool need_one = mode == PadMode::kReflect || mode == PadMode::kReplicate;
    if (out < (need_one ? 1 : 0)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "expected padding ", Pads(before, after), " to leave ",
          need_one ? "at least one element" : "a size of at least 0", " of dimension ", dim,
          " (size ", n, ") for padding_mode='", std::string(PadModeName(mode)), "', got ", ShapeToString(in),
          " (padded size ", out, ")"));
    }
  }
  return absl::OkStatus();
}

Shape PaddedShape(const Shape& in, const std::vector<int64_t>& pad_before,
                  const std::vector<int64_t>& pad_after) {
  Shape out = in;
  const size_t first = in.size() - pad_before.size();
  for (size_t i = 0; i < pad_before.size(); ++i) out[first + i] += pad_before[i] + pad_after[i];
  return out;
}

PlanValue AddSpatialPad(PlanBuilder& builder, const PlanValue& in, PadMode mode,
                        const std::vector<int64_t>& pad_before,
                        const std::vector<int64_t>& pad_after, float value) {
  const size_t dims = pad_before.size();
  const Shape padded = PaddedShape(in.shape, pad_before, pad_after);

  // The channel-blocked layout holds as long as the padded dims are its spatial dims, and
  // the fill value leaves the padded channels of the last block zero, as oneDNN keeps them.
  std::optional<ChannelBlocks> blocks;
  if (in.md.dims().size() == dims + 2) blocks = FindChannelBlocks(in.md);
  if (blocks && value != 0.f && in.md.dims()[1] % blocks->block != 0) blocks.reset();

  PadKernel kernel;
  kernel.value = value;
  kernel.block = blocks ? blocks->block : 1;
  const size_t rank = in.shape.size();
  kernel.planes = 1;
  for (size_t d = 0; d < rank - dims; ++d) kernel.planes *= in.shape[d];
  if (blocks) kernel.planes = blocks->planes;
  for (size_t i = 0; i < dims; ++i) {
    const int64_t n = in.shape[rank - dims + i];
    kernel.in.push_back(n);
    kernel.out.push_back(padded[rank - dims + i]);
    std::vector<int64_t>& table = kernel.src.emplace_back();
    for (int64_t j = 0; j < kernel.out.back(); ++j) {
      table.push_back(SourceIndex(j, n, pad_before[i], pad_after[i], mode));
    }
  }
  // The columns that copy input columns in order: [max(before, 0), before + kept end).
  const int64_t before = pad_before.back();
  const int64_t width = kernel.out.back();
  const int64_t kept_end = before + kernel.in.back() + std::min<int64_t>(0, pad_after.back());
  kernel.copy_begin = std::min(std::max<int64_t>(0, before), width);
  kernel.copy_end = std::max(kernel.copy_begin, std::min(width, kept_end));
  kernel.copy_from = kernel.copy_begin - before;

  PlanValue src = blocks ? in : builder.Plain(in);
  PlanValue dst;
  if (blocks) {
    dnnl::memory::dims out_dims = in.md.dims();
    std::copy(padded.end() - static_cast<int64_t>(dims), padded.end(), out_dims.end() - dims);
    dst = builder.NewValue(padded, ChannelBlockedDesc(out_dims, *blocks));
  } else {
    dst = builder.NewValue(padded, PlainDesc(padded));
  }
  builder.AddKernel(std::move(kernel), src, dst);
  return dst;
}

}  // namespace seqserve
