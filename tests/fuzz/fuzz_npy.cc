// libFuzzer target: .npy parsing (common/npy.h) of arbitrary bytes, both the typed reader
// (every dtype the server reads) and the float32 one. A parsed tensor holds exactly
// NumElements(shape) elements and reads back the same after EncodeNpy; anything else is an
// error, never a crash.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string>

#include "common/npy.h"

namespace {
std::span<const uint8_t> Bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace seqserve;
  std::span<const uint8_t> bytes(data, size);
  if (auto typed = ParseTypedNpy(bytes, "fuzz.npy"); typed.ok()) {
    const uint64_t want = static_cast<uint64_t>(NumElements(typed->shape)) * DTypeSize(typed->dtype);
    if (typed->bytes.size() != want) std::abort();
    const std::string encoded = EncodeNpy(*typed);
    auto again = ParseTypedNpy(Bytes(encoded), "again.npy");
    if (!again.ok() || again->shape != typed->shape || again->dtype != typed->dtype ||
        again->bytes != typed->bytes) {
      std::abort();
    }
  }
  if (auto tensor = ParseNpy(bytes, "fuzz.npy"); tensor.ok()) {
    if (tensor->data.size() != static_cast<size_t>(NumElements(tensor->shape))) std::abort();
  }
  return 0;
}
