// The numeric precision a model computes in, chosen per model (config.pbtxt's "precision"
// parameter, --precision of the offline commands): its names, and whether this CPU can run
// it fast. Inputs and outputs stay float32 whatever the precision; only the inside of the
// chain changes (core/compiler.h decides which layers compute in it). Thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace seqserve {

enum class Precision {
  kFp32,  // float32 everywhere: the default
  kBf16,  // Conv/Linear on bfloat16 activations and weights, accumulating in float32
};

// "fp32", "bf16".
std::string_view PrecisionName(Precision precision);

// The precision named `name`. INVALID_ARGUMENT naming it otherwise: "int8" (which SPEC §4
// names) says it is not supported yet, any other name lists the supported ones.
absl::StatusOr<Precision> ParsePrecision(std::string_view name);

// The precision a model asking for `requested` runs in on this CPU, and why it differs.
struct EffectivePrecision {
  Precision precision = Precision::kFp32;
  // Empty when precision == requested; else why not, for the load log ("the CPU (oneDNN ISA
  // avx2) lacks AVX512_BF16 ...").
  std::string fallback_reason;
};

// bf16 needs oneDNN's effective ISA to include AVX512_BF16 (avx512_core_bf16 or AMX): there
// oneDNN runs native bf16 kernels. Without it oneDNN would either emulate bf16 (slower than
// fp32) or have no kernel at all, so the model runs fp32 instead, never an illegal
// instruction. The effective ISA is oneDNN's (cpuid, capped by DNNL_MAX_CPU_ISA), so a
// test can force the fallback with DNNL_MAX_CPU_ISA=AVX512_CORE.
EffectivePrecision ResolvePrecision(Precision requested);

// Whether the CPU runs bf16 natively (see ResolvePrecision).
bool CpuHasBf16();

}  // namespace seqserve
