// Elementwise activations. Those oneDNN computes exactly as PyTorch does, NaN and Inf
// included (GELU, SiLU, LeakyReLU, ...), are expressed as eltwise op chains, which the
// compiler fuses into a preceding Conv/Linear as post-ops; ReLU fuses too (see ReluOps) but
// runs standalone as a one-pass kernel. The others run as vectorisable kernels
// (elementwise.h): those oneDNN lacks (Softplus with its threshold, Softsign, Tanhshrink,
// Hardshrink, Softshrink, Threshold) and the clamps (ReLU6, Hardtanh, Hardsigmoid), whose
// oneDNN ops turn NaN into a bound. Thread-safe after construction.
#pragma once

#include <memory>
#include <string_view>

#include "absl/status/statusor.h"
#include "core/module.h"
#include "core/seq_ast.h"

namespace seqserve {

absl::StatusOr<std::unique_ptr<Module>> MakeReLU(const SeqCall& call, std::string_view file);
absl::StatusOr<std::unique_ptr<Module>> MakeReLU6(const SeqCall& call, std::string_view file);
absl::StatusOr<std::unique_ptr<Module>> MakeLeakyReLU(const SeqCall& call, std::string_view file);
absl::StatusOr<std::unique_ptr<Module>> MakeELU(const SeqCall& call, std::string_view file);
absl::StatusOr<std::unique_ptr<Module>> MakeSELU(const SeqCall& call, std::string_view file);
absl::StatusOr<std::unique_ptr<Module>> MakeCELU(const SeqCall& call, std::string_view file);
absl::StatusOr<std::unique_ptr<Module>> MakeGELU(const SeqCall& call, std::string_view file);
absl::StatusOr<std::unique_ptr<Module>> MakeSiLU(const SeqCall& call, std::string_view file);
absl::StatusOr<std::unique_ptr<Module>> MakeMish(const SeqCall& call, std::string_view file);
absl::StatusOr<std::unique_ptr<Module>> MakeSigmoid(const SeqCall& call, std::string_view file);
absl::StatusOr<std::unique_ptr<Module>> MakeTanh(const SeqCall& call, std::string_view file);
absl::StatusOr<std::unique_ptr<Module>> MakeHardswish(const SeqCall& call, std::string_view file);
absl::StatusOr<std::unique_ptr<Module>> MakeHardsigmoid(const SeqCall& call,
                                                        std::string_view file);
absl::StatusOr<std::unique_ptr<Module>> MakeHardtanh(const SeqCall& call, std::string_view file);
absl::StatusOr<std::unique_ptr<Module>> MakeSoftplus(const SeqCall& call, std::string_view file);
absl::StatusOr<std::unique_ptr<Module>> MakeSoftsign(const SeqCall& call, std::string_view file);
absl::StatusOr<std::unique_ptr<Module>> MakeTanhshrink(const SeqCall& call, std::string_view file);
absl::StatusOr<std::unique_ptr<Module>> MakeLogSigmoid(const SeqCall& call, std::string_view file);
absl::StatusOr<std::unique_ptr<Module>> MakeRReLU(const SeqCall& call, std::string_view file);
absl::StatusOr<std::unique_ptr<Module>> MakeHardshrink(const SeqCall& call, std::string_view file);
absl::StatusOr<std::unique_ptr<Module>> MakeSoftshrink(const SeqCall& call, std::string_view file);
absl::StatusOr<std::unique_ptr<Module>> MakeThreshold(const SeqCall& call, std::string_view file);

}  // namespace seqserve
