#include "core/precision.h"

#include "absl/strings/str_cat.h"
#include "dnnl.hpp"

namespace seqserve {
namespace {

std::string_view IsaName(dnnl::cpu_isa isa) {
  switch (isa) {
    case dnnl::cpu_isa::sse41:
      return "sse41";
    case dnnl::cpu_isa::avx:
      return "avx";
    case dnnl::cpu_isa::avx2:
      return "avx2";
    case dnnl::cpu_isa::avx2_vnni:
      return "avx2_vnni";
    case dnnl::cpu_isa::avx512_mic:
      return "avx512_mic";
    case dnnl::cpu_isa::avx512_mic_4ops:
      return "avx512_mic_4ops";
    case dnnl::cpu_isa::avx512_core:
      return "avx512_core";
    case dnnl::cpu_isa::avx512_core_vnni:
      return "avx512_core_vnni";
    case dnnl::cpu_isa::avx512_core_bf16:
      return "avx512_core_bf16";
    case dnnl::cpu_isa::avx512_core_amx:
      return "avx512_core_amx";
    default:
      return "unknown";
  }
}

}  // namespace

std::string_view PrecisionName(Precision precision) {
  switch (precision) {
    case Precision::kFp32:
      return "fp32";
    case Precision::kBf16:
      return "bf16";
    case Precision::kInt8:
      return "int8";
  }
  return "fp32";
}

absl::StatusOr<Precision> ParsePrecision(std::string_view name) {
  if (name == "fp32") return Precision::kFp32;
  if (name == "bf16") return Precision::kBf16;
  if (name == "int8") return Precision::kInt8;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown precision '", std::string(name), "' (supported: fp32, bf16, int8)"));
}

bool CpuHasBf16() {
  // oneDNN's cpu_isa values are bit sets of features (AMX's includes AVX512_BF16's), not
  // an order: avx2_vnni is numerically above avx512_core.
  const auto isa = static_cast<unsigned>(dnnl::get_effective_cpu_isa());
  const auto bf16 = static_cast<unsigned>(dnnl_cpu_isa_avx512_core_bf16);
  return (isa & bf16) == bf16;
}

bool CpuHasVnni() {
  const auto isa = static_cast<unsigned>(dnnl::get_effective_cpu_isa());
  auto has = [&](dnnl_cpu_isa_t bits) {
    return (isa & static_cast<unsigned>(bits)) == static_cast<unsigned>(bits);
  };
  return has(dnnl_cpu_isa_avx512_core_vnni) || has(dnnl_cpu_isa_avx2_vnni);
}

EffectivePrecision ResolvePrecision(Precision requested) {
  if (requested == Precision::kInt8 && !CpuHasVnni()) {
    return {Precision::kFp32,
            absl::StrCat("precision int8 needs a CPU with AVX512_VNNI or AVX_VNNI, and oneDNN's "
                         "ISA here is ",
                         std::string(IsaName(dnnl::get_effective_cpu_isa())),
                         "; the model runs in fp32 (same results as without the setting)")};
  }
  if (requested == Precision::kBf16 && !CpuHasBf16()) {
    return {Precision::kFp32,
            absl::StrCat("precision bf16 needs a CPU with AVX512_BF16, and oneDNN's ISA here is ",
                         std::string(IsaName(dnnl::get_effective_cpu_isa())),
                         "; the model runs in fp32 (same results as without the setting)")};
  }
  return {requested, ""};
}

}  // namespace seqserve
