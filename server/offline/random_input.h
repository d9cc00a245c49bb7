// Random model inputs for the offline subcommands (`bench` times the model on one, `check
// --precision` compares precisions on several): reproducible from a seed.
// Thread-safe: a free function over values.
#pragma once

#include <cstdint>

#include "common/tensor.h"
#include "core/model.h"

namespace seqserve {

// A random input of `shape` and `dtype` for `model`, from `seed`: standard normal floats,
// or ids uniform over [0, NumInputIds()).
TypedTensor RandomInput(const Model& model, const Shape& shape, DType dtype, uint32_t seed);

}  // namespace seqserve
