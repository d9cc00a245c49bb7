// NumPy .npy files (format versions 1.0-3.0) for tools and tests: float32 in C order is
// read as is, float64 is converted to float32, and the typed readers also take int64 and
// int32 (ids for Embedding models); any other dtype, Fortran order or a truncated file is
// an error naming the file. Writes float32, int64 or int32, C order, version 1.0, byte for
// byte as np.save does. Thread-safe.
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/tensor.h"

namespace seqserve {

absl::StatusOr<Tensor> ReadNpy(const std::filesystem::path& path);
absl::StatusOr<Tensor> ParseNpy(std::span<const uint8_t> bytes, std::string_view name);

// Any supported dtype: float32 (float64 converted), int64 or int32.
absl::StatusOr<TypedTensor> ReadTypedNpy(const std::filesystem::path& path);
absl::StatusOr<TypedTensor> ParseTypedNpy(std::span<const uint8_t> bytes, std::string_view name);

absl::Status WriteNpy(const std::filesystem::path& path, const Tensor& tensor);
absl::Status WriteNpy(const std::filesystem::path& path, const TypedTensor& tensor);
std::string EncodeNpy(const Tensor& tensor);
std::string EncodeNpy(const TypedTensor& tensor);

}  // namespace seqserve
