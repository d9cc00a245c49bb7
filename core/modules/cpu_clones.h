// SEQSERVE_CPU_CLONES: a function compiled once per instruction set (GCC's target_clones:
// AVX-512, AVX2 and baseline x86-64), the CPU's best chosen at load time, as oneDNN's own
// kernels are. For our hand-vectorised loops; the build itself targets baseline x86-64.
//
// Not under ThreadSanitizer: the clones' ifunc resolvers run while the dynamic loader
// relocates, before TSan's runtime is set up, and crash the process at start. The TSan
// build (scripts/tsan.sh, which defines SEQSERVE_TSAN) checks threads, not speed, so it gets
// the baseline code only.
#pragma once

#if defined(SEQSERVE_TSAN)
#define SEQSERVE_CPU_CLONES
#else
#define SEQSERVE_CPU_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#endif
