// Four-float vectors (GCC/Clang vector extensions: one SSE register on baseline x86-64) and
// the vector math our kernels share. Hand-vectorised because, without -fno-trapping-math,
// GCC will not if-convert, and so not vectorise, a scalar exp's range clamp. The math is
// written once for any width: Float16 is one AVX-512 register in a function compiled for
// AVX-512 (target_clones), two AVX2 registers in its AVX2 clone, four SSE registers in the
// baseline one.
// Pure inline functions in namespace seqserve::vec (short names: Load, Max, ...); thread-safe.
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>

// GCC notes that 16-float vectors passed by value would change the calling convention of a
// function compiled without AVX-512. The functions here are always inlined into their
// callers (the target_clones of one file), so no such call exists.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpsabi"

namespace seqserve::vec {

using Float4 = float __attribute__((vector_size(16)));
using Int4 = int32_t __attribute__((vector_size(16)));
inline constexpr int kLanes = 4;
using Float16 = float __attribute__((vector_size(64)));

// The lanes of a float vector type, and its int32 vector of the same width.
template <typename V>
inline constexpr int kLanesOf = static_cast<int>(sizeof(V) / sizeof(float));
template <typename V>
using IntOf = decltype(V{} < V{});

template <typename V>
[[gnu::always_inline]] inline V Splat(float v) {
  return V{} + v;
}
template <typename V>
[[gnu::always_inline]] inline V LoadAs(const float* p) {
  V v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}
// The first `count` (< its lanes) lanes; the others are 0.
template <typename V>
[[gnu::always_inline]] inline V LoadPartialAs(const float* p, int count) {
  V v{};
  for (int j = 0; j < count; ++j) v[j] = p[j];
  return v;
}

inline Float4 Broadcast(float v) { return Float4{} + v; }
inline Float4 Load(const float* p) {
  Float4 v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}
template <typename V>
[[gnu::always_inline]] inline void Store(float* p, V v) {
  std::memcpy(p, &v, sizeof(v));
}
// The first `count` (< kLanes) lanes; the others are 0.
inline Float4 LoadPartial(const float* p, int count) {
  Float4 v{};
  for (int j = 0; j < count; ++j) v[j] = p[j];
  return v;
}
template <typename V>
[[gnu::always_inline]] inline void StorePartial(float* p, V v, int count) {
  for (int j = 0; j < count; ++j) p[j] = v[j];
}
// NaN in `a` gives b.
template <typename V>
[[gnu::always_inline]] inline V Max(V a, V b) {
  return a > b ? a : b;
}
template <typename V>
[[gnu::always_inline]] inline V Abs(V v) {
  return std::bit_cast<V>(std::bit_cast<IntOf<V>>(v) & 0x7fffffff);
}

// exp(x) for x in [-87, 88] (Cephes' expf: x = n ln2 + r with |r| <= ln2 / 2, a degree-7
// polynomial for exp(r), 2^n from the exponent bits, valid for n in [-126, 127]); accurate to
// ~1.5 ulp. NaN stays NaN.
template <typename V>
[[gnu::always_inline]] inline V ExpInRange(V x) {
  using I = IntOf<V>;
  const I n = __builtin_convertvector(
      x * 1.44269504088896341f + (x < 0.f ? Splat<V>(-0.5f) : Splat<V>(0.5f)),
      I);  // round half away from zero
  const V nf = __builtin_convertvector(n, V);
  const V r = (x - nf * 0.693359375f) - nf * -2.12194440e-4f;  // ln2 split in hi + lo
  V p = Splat<V>(1.9875691500e-4f);
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.f;
  return p * std::bit_cast<V>((n + 127) << 23);
}

// exp(x) for x <= 0, the terms of a max-subtracted sum. Below -87 it returns exp(-87) ~
// 1.6e-38 instead of underflowing, which a sum holding exp(0) = 1 cannot notice.
template <typename V>
[[gnu::always_inline]] inline V ExpNonPositive(V x) {
  return ExpInRange(x < -87.f ? Splat<V>(-87.f) : x);
}

// As ExpNonPositive, but 0 below -87 (exp(-Inf) is exactly 0).
template <typename V>
[[gnu::always_inline]] inline V ExpNonPositiveOrZero(V x) {
  const V e = ExpNonPositive(x);
  return x < -87.f ? V{} : e;
}

// 1 / (1 + exp(-x)) without overflow: exp of -|x| only. NaN stays NaN, sigmoid(+-Inf) is 1, 0.
inline Float4 Sigmoid(Float4 x) {
  const Float4 e = ExpNonPositiveOrZero(-Abs(x));
  const Float4 inverse = Broadcast(1.f) / (1.f + e);
  return x >= 0.f ? inverse : e * inverse;
}

// log(x) for positive normal finite x (Cephes' logf: x = m 2^e with m in [sqrt(1/2), sqrt(2)),
// a degree-9 polynomial for log(m), e ln2 in hi + lo parts); accurate to ~1 ulp.
inline Float4 LogPositive(Float4 x) {
  const Int4 bits = std::bit_cast<Int4>(x);
  Int4 e = (bits >> 23) - 126;  // x = m 2^e with m in [0.5, 1)
  Float4 m = std::bit_cast<Float4>((bits & 0x007fffff) | 0x3f000000);
  const Int4 small = m < 0.707106781186547524f;  // all ones where true
  e += small;
  m = (small ? m + m : m) - 1.f;
  const Float4 z = m * m;
  Float4 y = Broadcast(7.0376836292e-2f);
  y = y * m - 1.1514610310e-1f;
  y = y * m + 1.1676998740e-1f;
  y = y * m - 1.2420140846e-1f;
  y = y * m + 1.4249322787e-1f;
  y = y * m - 1.6668057665e-1f;
  y = y * m + 2.0000714765e-1f;
  y = y * m - 2.4999993993e-1f;
  y = y * m + 3.3333331174e-1f;
  y = y * m * z;
  const Float4 ef = __builtin_convertvector(e, Float4);
  y += ef * -2.12194440e-4f;
  y -= 0.5f * z;
  return (m + y) + ef * 0.693359375f;
}

}  // namespace seqserve::vec

#pragma GCC diagnostic pop
