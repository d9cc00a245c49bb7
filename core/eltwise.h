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

}  // namespace seqserve
