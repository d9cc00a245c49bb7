// Reader for the safetensors format (8-byte little-endian header length, JSON header,
// raw little-endian tensor bytes). The file is memory-mapped and every header field is
// validated before a byte of tensor data is read: header length, JSON, dtype, shape
// against byte size (without overflow), offsets inside the data area, no overlaps.
// F32, F16, BF16 and F64 are converted to float32. Nothing is allocated for the tensors
// before the whole header is checked, including the total they take as float32 against the
// caller's budget. Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <limits>
#include <map>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "common/safe_file.h"
#include "common/tensor.h"

namespace seqserve {

using TensorMap = std::map<std::string, Tensor>;

// Checks made once the header is validated and before anything is allocated for the tensors.
struct TensorBudget {
  // Called with every tensor's name and shape (skipped keys left out): a loader checks the
  // state_dict here, so a file that does not match its model fails with the keys that differ
  // and never gets what its header claims allocated.
  std::function<absl::Status(const std::map<std::string, Shape>& shapes)> check_shapes;
  // What the tensors may take once converted to float32, and why (for the error: "the
  // 40.0 kB of parameters model.seq declares").
  uint64_t max_float32_bytes = std::numeric_limits<uint64_t>::max();
  std::string what;
};

// Reads every tensor of the file. Keys ending in "num_batches_tracked" (an integer
// counter PyTorch keeps in BatchNorm's state_dict) are skipped whatever their dtype. The
// file is opened as `file` says (a regular file, its size and where symlinks may lead:
// common/safe_file.h).
absl::StatusOr<TensorMap> LoadSafetensors(const std::filesystem::path& path,
                                          const FilePolicy& file = {},
                                          const TensorBudget& budget = {});

// Same, from a file already opened (OpenRegularFile); `name` is used in error messages.
absl::StatusOr<TensorMap> LoadSafetensors(const OpenedFile& file, std::string_view name,
                                          const TensorBudget& budget = {});

// Same, from bytes in memory; `name` is used in error messages.
absl::StatusOr<TensorMap> ParseSafetensors(std::span<const uint8_t> bytes, std::string_view name,
                                           const TensorBudget& budget = {});

}  // namespace seqserve
