// Reader for the safetensors format (8-byte little-endian header length, JSON header,
// raw little-endian tensor bytes). The file is memory-mapped and every header field is
// validated before a byte of tensor data is read: header length, JSON, dtype, shape
// against byte size (without overflow), offsets inside the data area, no overlaps.
// F32, F16, BF16 and F64 are converted to float32. Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "common/tensor.h"

namespace seqserve {

using TensorMap = std::map<std::string, Tensor>;

// Reads every tensor of the file. Keys ending in "num_batches_tracked" (an integer
// counter PyTorch keeps in BatchNorm's state_dict) are skipped whatever their dtype.
absl::StatusOr<TensorMap> LoadSafetensors(const std::filesystem::path& path);

// Same, from bytes in memory; `name` is used in error messages.
absl::StatusOr<TensorMap> ParseSafetensors(std::span<const uint8_t> bytes, std::string_view name);

}  // namespace seqserve
