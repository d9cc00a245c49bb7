#include "common/tensor.h"

namespace seqserve {

int64_t NumElements(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::string ShapeToString(const Shape& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

const char* DTypeName(DType dtype) {
  switch (dtype) {
    case DType::kFloat32: return "float32";
    case DType::kInt64: return "int64";
    case DType::kInt32: return "int32";
  }
  return "?";
}

size_t DTypeSize(DType dtype) {
  switch (dtype) {
    case DType::kFloat32: return 4;
    case DType::kInt64: return 8;
    case DType::kInt32: return 4;
  }
  return 0;
}

TensorView View(const Tensor& tensor) {
  return TensorView{DType::kFloat32, tensor.shape, tensor.data.data()};
}

int WrapDim(int64_t dim, int rank) {
  if (dim < -rank || dim >= rank) return -1;
  return static_cast<int>(dim < 0 ? dim + rank : dim);
}

}  // namespace seqserve
