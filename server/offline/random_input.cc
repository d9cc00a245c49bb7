#include "server/offline/random_input.h"

#include <algorithm>
#include <random>

namespace seqserve {

TypedTensor RandomInput(const Model& model, const Shape& shape, DType dtype, uint32_t seed) {
  TypedTensor input{dtype, shape, {}};
  const int64_t n = NumElements(shape);
  input.bytes.resize(static_cast<size_t>(n) * DTypeSize(dtype));
  std::mt19937 rng(seed);
  if (dtype == DType::kFloat32) {
    std::normal_distribution<float> normal;
    auto* values = reinterpret_cast<float*>(input.bytes.data());
    for (int64_t i = 0; i < n; ++i) values[i] = normal(rng);
    return input;
  }
  std::uniform_int_distribution<int64_t> id(
      0, std::max<int64_t>(1, model.NumInputIds().value_or(1)) - 1);
  for (int64_t i = 0; i < n; ++i) {
    if (dtype == DType::kInt64) {
      reinterpret_cast<int64_t*>(input.bytes.data())[i] = id(rng);
    } else {
      reinterpret_cast<int32_t*>(input.bytes.data())[i] = static_cast<int32_t>(id(rng));
    }
  }
  return input;
}

}  // namespace seqserve
