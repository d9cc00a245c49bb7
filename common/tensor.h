// Shapes and dense float32 tensors: the currency between the parser, the weight loader,
// the modules and the tools. A Tensor owns its data; it is a plain value type and is not
// synchronised (share it read-only or copy it).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace seqserve {

// Dimensions in PyTorch order (row-major, last dimension contiguous).
using Shape = std::vector<int64_t>;

// Product of the dimensions (1 for a scalar shape).
int64_t NumElements(const Shape& shape);

// "[1, 3, 28, 28]", as PyTorch prints a torch.Size.
std::string ShapeToString(const Shape& shape);

// Wraps a (possibly negative) PyTorch dimension index into [0, rank). Returns -1 when it
// is out of range.
int WrapDim(int64_t dim, int rank);

struct Tensor {
  Shape shape;
  std::vector<float> data;  // NumElements(shape) values, row-major

  Tensor() = default;
  explicit Tensor(Shape s) : shape(std::move(s)), data(static_cast<size_t>(NumElements(shape))) {}
  Tensor(Shape s, std::vector<float> d) : shape(std::move(s)), data(std::move(d)) {}

  int64_t numel() const { return static_cast<int64_t>(data.size()); }
};

}  // namespace seqserve
