// libFuzzer target: safetensors parsing from memory (core/safetensors.h ParseSafetensors,
// what LoadSafetensors runs on the mapped file), with and without a budget on the float32
// bytes. Every tensor returned holds NumElements(shape) floats.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "core/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace seqserve;
  std::span<const uint8_t> bytes(data, size);
  for (uint64_t budget : {uint64_t{1} << 20, uint64_t{64}}) {
    TensorBudget limits;
    limits.max_float32_bytes = budget;
    limits.what = "the fuzzer's budget";
    auto tensors = ParseSafetensors(bytes, "fuzz.safetensors", limits);
    if (!tensors.ok()) continue;
    uint64_t total = 0;
    for (const auto& [name, tensor] : *tensors) {
      if (tensor.data.size() != static_cast<size_t>(NumElements(tensor.shape))) std::abort();
      total += tensor.data.size() * sizeof(float);
    }
    if (total > budget) std::abort();
  }
  return 0;
}
