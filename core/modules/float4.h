// Four-float vectors (GCC/Clang vector extensions: one SSE register on baseline x86-64) and
// the vector math our kernels share. Hand-vectorised because, without -fno-trapping-math,
// GCC will not if-convert, and so not vectorise, a scalar exp's range clamp.
// Pure inline functions in namespace seqserve::vec (short names: Load, Max, ...); thread-safe.
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>

namespace seqserve::vec {

using Float4 = float __attribute__((vector_size(16)));
using Int4 = int32_t __attribute__((vector_size(16)));
inline constexpr int kLanes = 4;

inline Float4 Broadcast(float v) { return Float4{} + v; }
inline Float4 Load(const float* p) {
  Float4 v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}
inline void Store(float* p, Float4 v) { std::memcpy(p, &v, sizeof(v)); }
// The first `count` (< kLanes) lanes; the others are 0.
inline Float4 LoadPartial(const float* p, int count) {
  Float4 v{};
  for (int j = 0; j < count; ++j) v[j] = p[j];
  return v;
}
inline void StorePartial(float* p, Float4 v, int count) {
  for (int j = 0; j < count; ++j) p[j] = v[j];
}
// NaN in `a` gives b.
inline Float4 Max(Float4 a, Float4 b) { return a > b ? a : b; }
inline Float4 Abs(Float4 v) {
  return std::bit_cast<Float4>(std::bit_cast<Int4>(v) & 0x7fffffff);
}

// exp(x) for x <= 0 (Cephes' expf: x = n ln2 + r with |r| <= ln2 / 2, a degree-7 polynomial
// for exp(r), 2^n from the exponent bits); accurate to ~1.5 ulp. Below -87 it returns
// exp(-87) ~ 1.6e-38 instead of underflowing, which a sum holding exp(0) = 1 cannot notice.
// NaN stays NaN.
inline Float4 ExpNonPositive(Float4 x) {
  x = x < -87.f ? Broadcast(-87.f) : x;
  const Int4 n = __builtin_convertvector(x * 1.44269504088896341f - 0.5f, Int4);  // round
  const Float4 nf = __builtin_convertvector(n, Float4);
  const Float4 r = (x - nf * 0.693359375f) - nf * -2.12194440e-4f;  // ln2 split in hi + lo
  Float4 p = Broadcast(1.9875691500e-4f);
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.f;
  return p * std::bit_cast<Float4>((n + 127) << 23);
}

// As ExpNonPositive, but 0 below -87 (exp(-Inf) is exactly 0).
inline Float4 ExpNonPositiveOrZero(Float4 x) {
  const Float4 e = ExpNonPositive(x);
  return x < -87.f ? Float4{} : e;
}

// 1 / (1 + exp(-x)) without overflow: exp of -|x| only. NaN stays NaN, sigmoid(+-Inf) is 1, 0.
inline Float4 Sigmoid(Float4 x) {
  const Float4 e = ExpNonPositiveOrZero(-Abs(x));
  const Float4 inverse = Broadcast(1.f) / (1.f + e);
  return x >= 0.f ? inverse : e * inverse;
}

}  // namespace seqserve::vec
