// libFuzzer target: model.seq text → ParseModelSeq → BuildSequential (core/seq_parser.h,
// core/sequential_builder.h), then the built tree's shape rules: InputDims, and OutputShape
// and Flops for that input with free dims set to 3 and a batch of 2 (pure arithmetic on
// declared sizes, where an overflow would be UB). No weights are read, no plan compiled.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/seq_parser.h"
#include "core/sequential_builder.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace seqserve;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto ast = ParseModelSeq(text, "model.seq");
  if (!ast.ok()) return 0;
  auto root = BuildSequential(*ast, "model.seq");
  if (!root.ok()) return 0;
  (void)(*root)->Flatten();
  (void)(*root)->NumInputIds();
  const auto dims = (*root)->InputDims();
  if (!dims) return 0;
  Shape input{2};
  for (int64_t d : *dims) input.push_back(d < 0 ? 3 : d);
  if (auto out = (*root)->OutputShape(input); out.ok()) (void)(*root)->Flops(input);
  return 0;
}
