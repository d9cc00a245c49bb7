// Mean and variance of a contiguous run of floats, for the LayerNorm and GroupNorm kernels.
// PyTorch's statistics stay accurate when the data has a large common offset (a mean far
// from zero relative to the spread) or many elements; a naive float sum does not.
// Pure functions; thread-safe.
#pragma once

#include <algorithm>
#include <cstdint>

namespace seqserve {

struct Moments {
  double mean = 0;
  double variance = 0;  // population variance (divides by n), as normalisation uses
};

// One pass in double, shifted by the first element so that a large offset cancels before
// squaring. `n` == 0 gives zeros (there is nothing to normalise).
inline Moments ComputeMoments(const float* x, int64_t n) {
  if (n <= 0) return {};
  const double shift = x[0];
  double sum = 0;
  double sum_sq = 0;
#pragma omp simd reduction(+ : sum, sum_sq)
  for (int64_t i = 0; i < n; ++i) {
    const double d = static_cast<double>(x[i]) - shift;
    sum += d;
    sum_sq += d * d;
  }
  const double mean = sum / static_cast<double>(n);
  // Rounding can make the variance slightly negative; NaN (from NaN or Inf inputs) must stay
  // NaN, so that the whole row becomes NaN as in PyTorch (std::max(0.0, NaN) would be 0).
  const double variance = sum_sq / static_cast<double>(n) - mean * mean;
  return {shift + mean, variance < 0 ? 0.0 : variance};
}

// Rows per parallel chunk so that a chunk holds at least ~4096 elements.
inline int64_t RowsPerChunk(int64_t row_elements) {
  constexpr int64_t kMinChunkElements = 4096;
  return std::max<int64_t>(
      1, (kMinChunkElements + row_elements - 1) / std::max<int64_t>(row_elements, 1));
}

}  // namespace seqserve
