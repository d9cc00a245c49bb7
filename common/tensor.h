// Shapes and dense float32 tensors: the currency between the parser, the weight loader,
// the modules and the tools. A Tensor owns its data; it is a plain value type and is not
// synchronised (share it read-only or copy it). Models compute in float32; only a model's
// input may hold integer ids (for Embedding), which TensorView and TypedTensor carry.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
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

// Element types of a model's input: float32, or the integer ids Embedding takes.
enum class DType { kFloat32, kInt64, kInt32 };

// NumPy's name: "float32", "int64", "int32".
const char* DTypeName(DType dtype);
size_t DTypeSize(DType dtype);

// A read-only view of a dense row-major tensor of any DType, in native byte order. Borrows
// the shape and the data, which must outlive the view.
struct TensorView {
  DType dtype = DType::kFloat32;
  std::span<const int64_t> shape;
  const void* data = nullptr;
};

// The view of a float32 Tensor.
TensorView View(const Tensor& tensor);

// A dense row-major tensor of any DType that owns its bytes (native byte order).
struct TypedTensor {
  DType dtype = DType::kFloat32;
  Shape shape;
  std::vector<uint8_t> bytes;  // NumElements(shape) * DTypeSize(dtype)

  TensorView view() const { return TensorView{dtype, shape, bytes.data()}; }
};

}  // namespace seqserve
