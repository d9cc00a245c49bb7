#include "core/modules/softmax_kernels.h"

#include <algorithm>
#include <cmath>

#include "core/modules/float4.h"
#include "core/parallel.h"

namespace seqserve {
namespace {

using namespace vec;  // NOLINT(build/namespaces): the kernels' vector vocabulary

// Parallel chunks of at least ~16K elements: below that threads cost more than they save.
constexpr int64_t kMinChunkElements = 16384;

float MaxOfLanes(Float4 v, float max) {
  for (int j = 0; j < kLanes; ++j) max = std::max(max, v[j]);
  return max;
}
float SumOfLanes(Float4 v) { return (v[0] + v[1]) + (v[2] + v[3]); }

float ExpNonPositiveOrZeroScalar(float x) { return ExpNonPositiveOrZero(Broadcast(x))[0]; }

// (log_)softmax of sign * x over one contiguous row of n elements; y may equal x.
template <bool kLog>
void SoftmaxRow(const float* x, float* y, int64_t n, float sign) {
  const int64_t full = n - n % kLanes;
  const int rest = static_cast<int>(n - full);
  Float4 vmax = Broadcast(-INFINITY);
  for (int64_t k = 0; k < full; k += kLanes) vmax = Max(Load(x + k) * sign, vmax);
  float max = MaxOfLanes(vmax, -INFINITY);
  for (int64_t k = full; k < n; ++k) max = std::max(max, x[k] * sign);
  Float4 vsum{};
  for (int64_t k = 0; k < full; k += kLanes) {
    const Float4 e = ExpNonPositiveOrZero(Load(x + k) * sign - max);
    if (!kLog) Store(y + k, e);
    vsum += e;
  }
  float sum = SumOfLanes(vsum);
  if (rest > 0) {
    const Float4 e = ExpNonPositiveOrZero(LoadPartial(x + full, rest) * sign - max);
    if (!kLog) StorePartial(y + full, e, rest);
    for (int j = 0; j < rest; ++j) sum += e[j];
  }
  if (kLog) {
    const float log_sum = std::log(sum);
    for (int64_t k = 0; k < full; k += kLanes) Store(y + k, (Load(x + k) * sign - max) - log_sum);
    for (int64_t k = full; k < n; ++k) y[k] = (x[k] * sign - max) - log_sum;
  } else {
    const float inverse = 1.f / sum;
    for (int64_t k = 0; k < full; k += kLanes) Store(y + k, Load(y + k) * inverse);
    for (int64_t k = full; k < n; ++k) y[k] *= inverse;
  }
}

// (log_)softmax over k of sign * x[k * inner + j] for the lanes j < count (kLanes when kFull),
// one independent softmax per lane; y may equal x.
template <bool kLog, bool kFull>
void SoftmaxColumns(const float* x, float* y, int64_t n, int64_t inner, int count, float sign) {
  auto load = [count](const float* p) { return kFull ? Load(p) : LoadPartial(p, count); };
  auto store = [count](float* p, Float4 v) {
    if (kFull) {
      Store(p, v);
    } else {
      StorePartial(p, v, count);
    }
  };
  Float4 max = Broadcast(-INFINITY);
  for (int64_t k = 0; k < n; ++k) max = Max(load(x + k * inner) * sign, max);
  Float4 sum{};
  for (int64_t k = 0; k < n; ++k) {
    const Float4 e = ExpNonPositiveOrZero(load(x + k * inner) * sign - max);
    if (!kLog) store(y + k * inner, e);
    sum += e;
  }
  if (kLog) {
    Float4 log_sum{};
    for (int j = 0; j < count; ++j) log_sum[j] = std::log(sum[j]);
    for (int64_t k = 0; k < n; ++k) {
      store(y + k * inner, (load(x + k * inner) * sign - max) - log_sum);
    }
  } else {
    const Float4 inverse = Broadcast(1.f) / sum;
    for (int64_t k = 0; k < n; ++k) store(y + k * inner, load(y + k * inner) * inverse);
  }
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
            for (int64_t o = begin; o < end; ++o) SoftmaxRow<kLog>(x + o * n, y + o * n, n, sign);
          },
          min_rows);
    };
  }
  // Work items: kLanes-wide column groups of each outer slice, the last one maybe partial.
  const int64_t groups = (inner + kLanes - 1) / kLanes;
  const int64_t min_items =
      std::max<int64_t>(1, kMinChunkElements / std::max<int64_t>(n * kLanes, 1));
  return [sign, outer, n, inner, groups, min_items](const float* x, float* y, int threads) {
    ParallelFor(
        outer * groups, threads,
        [&](int64_t begin, int64_t end) {
          for (int64_t item = begin; item < end; ++item) {
            const int64_t o = item / groups;
            const int64_t j = item % groups * kLanes;
            const int64_t offset = o * n * inner + j;
            if (j + kLanes <= inner) {
              SoftmaxColumns<kLog, true>(x + offset, y + offset, n, inner, kLanes, sign);
            } else {
              SoftmaxColumns<kLog, false>(x + offset, y + offset, n, inner,
                                          static_cast<int>(inner - j), sign);
            }
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
