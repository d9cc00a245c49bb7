// The KServe v2 datatypes a request's tensor may arrive in ("FP32", "INT64", "FP16", "BOOL",
// ...) and their conversion to the model's input type (float32, or int64/int32 ids), for
// both front ends.
//
// A model has one input type (ServingConfig::input_dtype, from config.pbtxt's data_type).
// A request in exactly that datatype is not converted at all: it is used where it lies (ids
// are only range-checked). Any other datatype is converted when every value converts
// exactly, and refused otherwise:
//   - to FP32: FP16 and BF16 always; FP64 when the value is a float32 (it reads back the
//     same; NaN and infinities included); INT8...INT64 and UINT8...UINT64 when |v| <= 2^24
//     (every integer there is a float32); BOOL as 0 and 1.
//   - to INT64 or INT32 ids: INT8...INT64 and UINT8...UINT64 when the value fits the type;
//     floating-point and BOOL never (PyTorch's Embedding takes only integer tensors).
//   - BYTES (and any unknown name) never.
// For a model that takes ids, every id must also lie in [0, num_embeddings).
//
// Errors are INVALID_ARGUMENT and name the tensor, the datatype, the first value that does
// not convert and its index in the client's tensor ("[0, 5]"), or for ids the embedding
// size. Thread-safe: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "common/tensor.h"

namespace seqserve {

// Bytes per element of a KServe v2 datatype ("FP32": 4, "INT64": 8, "BOOL": 1, ...); 0 for a
// name that is not one (and for "BYTES", whose elements have no fixed size).
size_t DatatypeBytes(std::string_view datatype);

// The KServe v2 datatype of a model input type: "FP32", "INT64", "INT32".
std::string_view DatatypeName(DType dtype);

// Element `index` of a row-major tensor of `shape`, as an index per dim: "[0, 5]".
std::string ElementIndex(int64_t index, std::span<const int64_t> shape);

// Whether `datatype` can be converted to `to` at all (the values decide the rest): OK, or
// INVALID_ARGUMENT naming `tensor`, the datatype and the model's type.
absl::Status CheckConvertible(std::string_view tensor, std::string_view datatype, DType to);

// A request's values in memory, before conversion.
struct RequestValues {
  // The request's datatype.
  std::string_view datatype;
  // The datatype whose elements are in memory: `datatype`, or a wider one for gRPC's typed
  // contents (int_contents holds INT8 and INT16 values as INT32, uint_contents UINT8 and
  // UINT16 as UINT32). A value outside `datatype`'s range is then an error.
  std::string_view storage;
  // Where the values came from, for that error ("contents.int_contents").
  std::string_view field;
  // NumElements(shape) elements of `storage` in native byte order, at any alignment.
  const std::byte* data = nullptr;
  std::span<const int64_t> shape;
};

// Writes every value of `values` as `to` at `out` (NumElements(shape) * DTypeSize(to) bytes,
// aligned for `to`); `num_ids`: for ids, their count (each id must be in [0, *num_ids)).
// Call CheckConvertible first: here a datatype it refuses is an INTERNAL error.
absl::Status ConvertValues(std::string_view tensor, const RequestValues& values, DType to,
                           std::optional<int64_t> num_ids, void* out);

// Every id of `ids` (NumElements(shape) int64 or int32 values, aligned) lies in
// [0, num_ids), or INVALID_ARGUMENT naming `tensor`, the first id that does not, its index
// and the embedding size.
absl::Status CheckIds(std::string_view tensor, DType dtype, const void* ids,
                      std::span<const int64_t> shape, int64_t num_ids);

}  // namespace seqserve
