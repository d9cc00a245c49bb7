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
  // Conv/Linear on 8-bit activations (u8 where calibration saw no negative input, else s8)
  // and s8 weights scaled per output channel, accumulating in int32; needs calibration
  // (core/int8_calibration.h).
  kInt8,
};

// "fp32", "bf16", "int8".
std::string_view PrecisionName(Precision precision);

// The precision named `name`. INVALID_ARGUMENT naming it and listing the supported ones
// otherwise.
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

// int8 needs VNNI (AVX512_VNNI or AVX_VNNI: vpdpbusd, four 8-bit products summed into
// int32 per lane). Without it oneDNN's int8 kernels fall back to vpmaddubsw, whose 16-bit
// intermediate sums can saturate, and gain little over fp32: the model runs fp32 instead.
//
// Whether the CPU runs bf16 natively (see ResolvePrecision).
bool CpuHasBf16();
// Whether the CPU has VNNI (oneDNN's effective ISA includes avx512_core_vnni or avx2_vnni).
bool CpuHasVnni();

}  // namespace seqserve
