// Vectorised softmax and log-softmax kernels, PyTorch's formula: max-subtracted, so large
// logits do not overflow; softmax = exp(x - max) * (1 / sum), log_softmax = (x - max) -
// log(sum). NaN and Inf behave as in PyTorch: a NaN or +Inf in a row makes the whole row NaN,
// -Inf is a zero probability, a row of -Inf is NaN. (oneDNN 2.6's softmax turns NaN rows into
// zeros, and its softmax_log is off by up to ~1.5e-6 absolute: a dominant class comes out as
// a log-probability of +1.4e-6.) `sign` multiplies the input first: -1 for Softmin.
// The kernels are pure functions of their arguments; thread-safe.
#pragma once

#include <cstdint>

#include "core/plan.h"

namespace seqserve {

// Over the middle dim of a plain (outer, n, inner) tensor.
KernelFn SoftmaxKernel(bool log, float sign, int64_t outer, int64_t n, int64_t inner);

// Over the channels of a (batch, channels, positions) value laid out channel-blocked as a
// Conv leaves it (nCw16c, nChw8c, ...: blocks of `block` channels, a multiple of 4, the last
// block zero-padded). Padding stays zero.
KernelFn BlockedChannelSoftmaxKernel(bool log, float sign, int64_t batch, int64_t channels,
                                     int64_t block, int64_t positions);

}  // namespace seqserve
