#include "core/modules/softmax_kernels.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/modules/cpu_clones.h"
#include "core/modules/float4.h"
#include "core/parallel.h"

namespace seqserve {
namespace {

using namespace vec;  // NOLINT(build/namespaces): the kernels' vector vocabulary

// Parallel chunks of at least ~16K elements: below that threads cost more than they save.
constexpr int64_t kMinChunkElements = 16384;

// The row and column kernels below, compiled once per instruction set (target_clones) on
// 16-float vectors: one AVX-512 register, two AVX2 ones, four SSE ones; the CPU's best runs.
// Their helpers are always inlined into the clones, so GCC's note that passing such vectors
// by value to a function compiled without AVX-512 changes the ABI does not apply.
#pragma GCC diagnostic ignored "-Wpsabi"

template <typename V>
[[gnu::always_inline]] inline float MaxOfLanes(V v, float max) {
  for (int j = 0; j < kLanesOf<V>; ++j) max = std::max(max, v[j]);
  return max;
}
// A fixed pairwise order, so that the sum does not depend on the instruction set.
template <typename V>
[[gnu::always_inline]] inline float SumOfLanes(V v) {
  float lanes[kLanesOf<V>];
  std::memcpy(lanes, &v, sizeof(v));
  for (int width = kLanesOf<V> / 2; width > 0; width /= 2) {
    for (int j = 0; j < width; ++j) lanes[j] += lanes[j + width];
  }
  return lanes[0];
}

float ExpNonPositiveOrZeroScalar(float x) { return ExpNonPositiveOrZero(Broadcast(x))[0]; }

// (log_)softmax of sign * x over one contiguous row of n elements; y may equal x.
template <bool kLog, typename V>
[[gnu::always_inline]] inline void SoftmaxRow(const float* x, float* y, int64_t n, float sign) {
  constexpr int kWidth = kLanesOf<V>;
  const int64_t full = n - n % kWidth;
  const int rest = static_cast<int>(n - full);
  V vmax = Splat<V>(-INFINITY);
  for (int64_t k = 0; k < full; k += kWidth) vmax = Max(LoadAs<V>(x + k) * sign, vmax);
  float max = MaxOfLanes(vmax, -INFINITY);
  for (int64_t k = full; k < n; ++k) max = std::max(max, x[k] * sign);
  V vsum{};
  for (int64_t k = 0; k < full; k += kWidth) {
    const V e = ExpNonPositiveOrZero(LoadAs<V>(x + k) * sign - max);
    if (!kLog) Store(y + k, e);
    vsum += e;
  }
  float sum = SumOfLanes(vsum);
  if (rest > 0) {
    const V e = ExpNonPositiveOrZero(LoadPartialAs<V>(x + full, rest) * sign - max);
    if (!kLog) StorePartial(y + full, e, rest);
    for (int j = 0; j < rest; ++j) sum += e[j];
  }
  if (kLog) {
    const float log_sum = std::log(sum);
    for (int64_t k = 0; k < full; k += kWidth) {
      Store(y + k, (LoadAs<V>(x + k) * sign - max) - log_sum);
    }
    for (int64_t k = full; k < n; ++k) y[k] = (x[k] * sign - max) - log_sum;
  } else {
    const float inverse = 1.f / sum;
    for (int64_t k = 0; k < full; k += kWidth) Store(y + k, LoadAs<V>(y + k) * inverse);
    for (int64_t k = full; k < n; ++k) y[k] *= inverse;
  }
}

// Rows [begin, end) of a plain (rows, n) tensor.
SEQSERVE_CPU_CLONES void SoftmaxRows(const float* x, float* y, int64_t begin, int64_t end,
                                     int64_t n, float sign) {
  for (int64_t o = begin; o < end; ++o) SoftmaxRow<false, Float16>(x + o * n, y + o * n, n, sign);
}
SEQSERVE_CPU_CLONES void LogSoftmaxRows(const float* x, float* y, int64_t begin, int64_t end,
                                        int64_t n, float sign) {
  for (int64_t o = begin; o < end; ++o) SoftmaxRow<true, Float16>(x + o * n, y + o * n, n, sign);
}

// (log_)softmax over k of sign * x[k * inner + j] for the lanes j < count (all of V's when
// kFull), one independent softmax per lane; y may equal x.
template <bool kFull, typename V>
[[gnu::always_inline]] inline V LoadColumns(const float* p, int count) {
  return kFull ? LoadAs<V>(p) : LoadPartialAs<V>(p, count);
}
template <bool kFull, typename V>
[[gnu::always_inline]] inline void StoreColumns(float* p, V v, int count) {
  if (kFull) {
    Store(p, v);
  } else {
    StorePartial(p, v, count);
  }
}

template <bool kLog, bool kFull, typename V>
[[gnu::always_inline]] inline void SoftmaxColumns(const float* x, float* y, int64_t n,
                                                  int64_t inner, int count, float sign) {
  // (No lambdas here: they would be compiled for the baseline instruction set, outside the
  // clones, and pass 16-float vectors between the two.)
  V max = Splat<V>(-INFINITY);
  for (int64_t k = 0; k < n; ++k) {
    max = Max(LoadColumns<kFull, V>(x + k * inner, count) * sign, max);
  }
  V sum{};
  for (int64_t k = 0; k < n; ++k) {
    const V e = ExpNonPositiveOrZero(LoadColumns<kFull, V>(x + k * inner, count) * sign - max);
    if (!kLog) StoreColumns<kFull>(y + k * inner, e, count);
    sum += e;
  }
  if (kLog) {
    V log_sum{};
    for (int j = 0; j < count; ++j) log_sum[j] = std::log(sum[j]);
    for (int64_t k = 0; k < n; ++k) {
      const V v = LoadColumns<kFull, V>(x + k * inner, count);
      StoreColumns<kFull>(y + k * inner, (v * sign - max) - log_sum, count);
    }
  } else {
    const V inverse = Splat<V>(1.f) / sum;
    for (int64_t k = 0; k < n; ++k) {
      const V v = LoadColumns<kFull, V>(y + k * inner, count);
      StoreColumns<kFull>(y + k * inner, v * inverse, count);
    }
  }
}

// Work items [begin, end) of a plain (outer, n, inner) tensor: groups of kColumns columns
// of one outer slice, `groups` per slice, the last one maybe partial.
constexpr int64_t kColumns = kLanesOf<Float16>;

template <bool kLog>
[[gnu::always_inline]] inline void SoftmaxColumnItems(const float* x, float* y, int64_t begin,
                                                      int64_t end, int64_t n, int64_t inner,
                                                      int64_t groups, float sign) {
  for (int64_t item = begin; item < end; ++item) {
    const int64_t o = item / groups;
    const int64_t j = item % groups * kColumns;
    const int64_t offset = o * n * inner + j;
    if (j + kColumns <= inner) {
      SoftmaxColumns<kLog, true, Float16>(x + offset, y + offset, n, inner, kColumns, sign);
    } else {
      SoftmaxColumns<kLog, false, Float16>(x + offset, y + offset, n, inner,
                                           static_cast<int>(inner - j), sign);
    }
  }
}
SEQSERVE_CPU_CLONES void SoftmaxColumnRange(const float* x, float* y, int64_t begin,
                                            int64_t end, int64_t n, int64_t inner,
                                            int64_t groups, float sign) {
  SoftmaxColumnItems<false>(x, y, begin, end, n, inner, groups, sign);
}
SEQSERVE_CPU_CLONES void LogSoftmaxColumnRange(const float* x, float* y, int64_t begin,
                                               int64_t end, int64_t n, int64_t inner,
                                               int64_t groups, float sign) {
  SoftmaxColumnItems<true>(x, y, begin, end, n, inner, groups, sign);
}

// (log_)softmax over the channels at one position of a channel-blocked value: `blocks` blocks
// of `block` floats, `stride` apart, the last holding `last_count` real channels and zero
// padding, which stays zero; y may equal x.
template <bool kLog>
void SoftmaxBlockedPosition(const float* x, float* y, int64_t blocks, int block, int last_count,
                            int64_t stride, float sign) {
  // Calls four(offset) for each whole group of four real channels, one(offset) for the rest.
  auto for_each = [&](auto&& four, auto&& one) {
    for (int64_t b = 0; b < blocks; ++b) {
      const int count = b + 1 < blocks ? block : last_count;
      const int64_t base = b * stride;
      int j = 0;
      for (; j + kLanes <= count; j += kLanes) four(base + j);
      for (; j < count; ++j) one(base + j);
    }
  };
  Float4 vmax = Broadcast(-INFINITY);
  float max = -INFINITY;
  for_each([&](int64_t o) { vmax = Max(Load(x + o) * sign, vmax); },
           [&](int64_t o) { max = std::max(max, x[o] * sign); });
  max = MaxOfLanes(vmax, max);
  Float4 vsum{};
  float sum = 0;
  for_each(
      [&](int64_t o) {
        const Float4 e = ExpNonPositiveOrZero(Load(x + o) * sign - max);
        if (!kLog) Store(y + o, e);
        vsum += e;
      },
      [&](int64_t o) {
        const float e = ExpNonPositiveOrZeroScalar(x[o] * sign - max);
        if (!kLog) y[o] = e;
        sum += e;
      });
  sum += SumOfLanes(vsum);
  if (kLog) {
    const float log_sum = std::log(sum);
    for_each([&](int64_t o) { Store(y + o, (Load(x + o) * sign - max) - log_sum); },
             [&](int64_t o) { y[o] = (x[o] * sign - max) - log_sum; });
  } else {
    const float inverse = 1.f / sum;
    for_each([&](int64_t o) { Store(y + o, Load(y + o) * inverse); },
             [&](int64_t o) { y[o] *= inverse; });
  }
  float* padding = y + (blocks - 1) * stride;
  for (int j = last_count; j < block; ++j) padding[j] = 0.f;
}

template <bool kLog>
KernelFn MakeSoftmaxKernel(float sign, int64_t outer, int64_t n, int64_t inner) {
  if (inner == 1) {
    const int64_t min_rows = std::max<int64_t>(1, kMinChunkElements / std::max<int64_t>(n, 1));
    return [sign, outer, n, min_rows](const float* x, float* y, int threads) {
      ParallelFor(
          outer, threads,
          [&](int64_t begin, int64_t end) {
            if constexpr (kLog) {
              LogSoftmaxRows(x, y, begin, end, n, sign);
            } else {
              SoftmaxRows(x, y, begin, end, n, sign);
            }
          },
          min_rows);
    };
  }
  const int64_t groups = (inner + kColumns - 1) / kColumns;
  const int64_t min_items =
      std::max<int64_t>(1, kMinChunkElements / std::max<int64_t>(n * kColumns, 1));
  return [sign, outer, n, inner, groups, min_items](const float* x, float* y, int threads) {
    ParallelFor(
        outer * groups, threads,
        [&](int64_t begin, int64_t end) {
          if constexpr (kLog) {
            LogSoftmaxColumnRange(x, y, begin, end, n, inner, groups, sign);
          } else {
            SoftmaxColumnRange(x, y, begin, end, n, inner, groups, sign);
          }
        },
        min_items);
  };
}

template <bool kLog>
KernelFn MakeBlockedChannelSoftmaxKernel(float sign, int64_t batch, int64_t channels,
                                         int64_t block, int64_t positions) {
  const int64_t blocks = (channels + block - 1) / block;
  const int last_count = static_cast<int>(channels - (blocks - 1) * block);
  const int64_t min_items = std::max<int64_t>(1, kMinChunkElements / std::max<int64_t>(channels, 1));
  return [=](const float* x, float* y, int threads) {
    ParallelFor(
        batch * positions, threads,
        [&](int64_t begin, int64_t end) {
          for (int64_t item = begin; item < end; ++item) {
            const int64_t offset = item / positions * blocks * positions * block +
                                   item % positions * block;
            SoftmaxBlockedPosition<kLog>(x + offset, y + offset, blocks, static_cast<int>(block),
                                         last_count, positions * block, sign);
          }
        },
        min_items);
  };
}

}  // namespace

KernelFn SoftmaxKernel(bool log, float sign, int64_t outer, int64_t n, int64_t inner) {
  return log ? MakeSoftmaxKernel<true>(sign, outer, n, inner)
             : MakeSoftmaxKernel<false>(sign, outer, n, inner);
}

KernelFn BlockedChannelSoftmaxKernel(bool log, float sign, int64_t batch, int64_t channels,
                                     int64_t block, int64_t positions) {
  return log ? MakeBlockedChannelSoftmaxKernel<true>(sign, batch, channels, block, positions)
             : MakeBlockedChannelSoftmaxKernel<false>(sign, batch, channels, block, positions);
}

}  // namespace seqserve
