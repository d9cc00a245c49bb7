// Strict state_dict matching, as torch.nn.Module.load_state_dict(strict=True): every
// expected key present with exactly the expected shape, no unexpected keys. Thread-safe.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "core/safetensors.h"
#include "common/tensor.h"

namespace seqserve {

struct ExpectedParam {
  std::string key;  // full state_dict key, e.g. "features.0.weight"
  Shape shape;
};

// Errors name the key and, for a shape mismatch, both shapes; `file` names the weights file.
absl::Status CheckStateDict(const std::vector<ExpectedParam>& expected, const TensorMap& loaded,
                            std::string_view file);
// The same on the shapes a file's header declares, before its tensors are read.
absl::Status CheckStateDictShapes(const std::vector<ExpectedParam>& expected,
                                  const std::map<std::string, Shape>& loaded,
                                  std::string_view file);

}  // namespace seqserve
