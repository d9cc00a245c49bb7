#include "core/modules/spatial_pad.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/parallel.h"

namespace seqserve {
namespace {

// The index of the input element that F.pad copies to position `i` of a dim of size `n`
// (i in [-pad_before, n + pad_after)).
int64_t SourceIndex(int64_t i, int64_t n, PadMode mode) {
  if (i >= 0 && i < n) return i;
  switch (mode) {
    case PadMode::kReflect: return i < 0 ? -i : 2 * (n - 1) - i;
    case PadMode::kReplicate: return i < 0 ? 0 : n - 1;
    case PadMode::kCircular: return i < 0 ? i + n : i - n;
    case PadMode::kZeros: break;
  }
  return 0;
}

// Pads planes of (in_h, in_w) floats into (out_h, out_w): every output row is a gathered
// left margin, a contiguous copy of one input row, and a gathered right margin. Works on
// output rows, so threads split the work evenly whatever the shape.
struct PadKernel {
  int64_t planes = 0;
  int64_t in_h = 0;
  int64_t in_w = 0;
  int64_t out_h = 0;
  int64_t out_w = 0;
  std::vector<int64_t> rows;        // out_h entries: the input row of each output row
  std::vector<int64_t> left_cols;   // the input column of each left margin column
  std::vector<int64_t> right_cols;  // the same for the right margin

  void operator()(const float* src, float* dst, int num_threads) const {
    const int64_t left = static_cast<int64_t>(left_cols.size());
    ParallelFor(
        planes * out_h, num_threads,
        [&](int64_t begin, int64_t end) {
          for (int64_t r = begin; r < end; ++r) {
            const int64_t plane = r / out_h;
            const float* s = src + (plane * in_h + rows[r - plane * out_h]) * in_w;
            float* d = dst + r * out_w;
            for (int64_t j = 0; j < left; ++j) d[j] = s[left_cols[j]];
            std::copy(s, s + in_w, d + left);
            float* tail = d + left + in_w;
            for (size_t j = 0; j < right_cols.size(); ++j) tail[j] = s[right_cols[j]];
          }
        },
        std::max<int64_t>(1, 4096 / out_w));
  }
};

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
    case PadMode::kZeros: return "zeros";
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
    const int64_t n = in[first + i];
    const int64_t pad = std::max(pad_before[i], pad_after[i]);
    const std::string pads = absl::StrCat("(", pad_before[i], ", ", pad_after[i], ")");
    if (mode == PadMode::kReflect && pad >= n) {
      return absl::InvalidArgumentError(absl::StrCat(
          "expected padding ", pads, " smaller than the input size ", n, " of dimension ",
          first + i, " for padding_mode='reflect', got ", ShapeToString(in)));
    }
    if (mode == PadMode::kCircular && pad > n) {
      return absl::InvalidArgumentError(absl::StrCat(
          "expected padding ", pads, " at most the input size ", n, " of dimension ", first + i,
          " for padding_mode='circular' (padding may wrap around only once), got ",
          ShapeToString(in)));
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
                        const std::vector<int64_t>& pad_after) {
  const size_t rank = in.shape.size();
  const bool two_d = pad_before.size() == 2;
  PadKernel kernel;
  kernel.in_w = in.shape[rank - 1];
  kernel.in_h = two_d ? in.shape[rank - 2] : 1;
  const int64_t top = two_d ? pad_before[0] : 0;
  const int64_t bottom = two_d ? pad_after[0] : 0;
  const int64_t left = pad_before.back();
  const int64_t right = pad_after.back();
  kernel.out_h = kernel.in_h + top + bottom;
  kernel.out_w = kernel.in_w + left + right;
  kernel.planes = NumElements(in.shape) / (kernel.in_h * kernel.in_w);
  for (int64_t y = 0; y < kernel.out_h; ++y) {
    kernel.rows.push_back(SourceIndex(y - top, kernel.in_h, mode));
  }
  for (int64_t x = 0; x < left; ++x) {
    kernel.left_cols.push_back(SourceIndex(x - left, kernel.in_w, mode));
  }
  for (int64_t x = 0; x < right; ++x) {
    kernel.right_cols.push_back(SourceIndex(kernel.in_w + x, kernel.in_w, mode));
  }

  PlanValue src = builder.Plain(in);
  Shape padded = PaddedShape(in.shape, pad_before, pad_after);
  PlanValue dst = builder.NewValue(padded, PlainDesc(padded));
  builder.AddKernel(std::move(kernel), src, dst);
  return dst;
}

}  // namespace seqserve
