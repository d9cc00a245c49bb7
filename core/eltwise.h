// Elementwise operations as oneDNN expresses them (algorithm, alpha, beta). An activation
// that is a chain of these runs as eltwise primitives or fuses into a Conv/Linear as
// post-ops. Plain data; thread-safe.
#pragma once

#include <vector>

#include "dnnl.hpp"

namespace seqserve {

struct EltwiseOp {
  dnnl::algorithm algorithm;
  float alpha = 0.f;
  float beta = 0.f;
};

// The post_ops attribute for a chain (each with scale 1).
dnnl::post_ops MakePostOps(const std::vector<EltwiseOp>& ops);

// max(x, 0) as PyTorch computes it: NaN stays NaN, -Inf gives 0. oneDNN 2.6's eltwise_relu
// with alpha 0 is a max instruction that turns NaN into 0, standalone and as a post-op (and
// so do clip, clip_v2 and binary max); elu with alpha 0 keeps NaN (x > 0 ? x : 0 * (e^x - 1),
// a -0 for x <= 0), and linear(1, 0) then turns -0 into +0.
std::vector<EltwiseOp> ReluOps();

// max(x, 0) as one cheap post-op (oneDNN's eltwise_relu with alpha 0): the same as ReluOps
// on every input but NaN, which it turns into 0. The compiler uses it only in a plan whose
// input is checked first (Plan::input_guard): an input that passes cannot make a NaN reach it.
std::vector<EltwiseOp> FastReluOps();

// Whether `ops` is FastReluOps.
bool IsFastRelu(const std::vector<EltwiseOp>& ops);

// Whether `ops` is one or more ReLUs (ReluOps or FastReluOps chains): activations that never
// grow a magnitude.
bool IsReluChain(const std::vector<EltwiseOp>& ops);

}  // namespace seqserve
