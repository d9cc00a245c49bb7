// Triton's classification extension: a request that asks for an output with a class count k
// (gRPC: the requested output's parameter "classification", REST: its
// "parameters": {"classification": k}) gets, instead of the output tensor, the k highest
// classes of each sample as BYTES strings "score:index" — "score:index:label" when the
// output has a label_filename — highest score first (NaN above everything, as torch.topk;
// equal scores: the lower index first). The score is written as C's %f ("0.731059"), as
// Triton writes it. The reply's shape is [rows, k] when the model batches, else [k]; k is
// capped at the classes a sample has.
// Thread-safe: pure functions.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "common/tensor.h"

namespace seqserve {

struct Classification {
  Shape shape;
  std::vector<std::string> items;  // row-major, NumElements(shape) strings
};

// The top `class_count` (> 0) classes of each sample of `values` (an output of
// `output_shape`, whose dim 0 is the batch when `batching`). INVALID_ARGUMENT naming
// `output_name` when a chosen class has no line in `labels` (and `labels` is not empty).
absl::StatusOr<Classification> Classify(std::string_view output_name, const Shape& output_shape,
                                        std::span<const float> values, bool batching,
                                        int64_t class_count,
                                        const std::vector<std::string>& labels);

// Triton's raw layout of a BYTES tensor: each element as its 4-byte little-endian length,
// then its bytes.
std::string EncodeBytesElements(const std::vector<std::string>& items);

}  // namespace seqserve
