#include "core/eltwise.h"

namespace seqserve {

dnnl::post_ops MakePostOps(const std::vector<EltwiseOp>& ops) {
  dnnl::post_ops post_ops;
  for (const EltwiseOp& op : ops) post_ops.append_eltwise(1.f, op.algorithm, op.alpha, op.beta);
  return post_ops;
}

std::vector<EltwiseOp> ReluOps() {
  return {{dnnl::algorithm::eltwise_elu, 0.f, 0.f}, {dnnl::algorithm::eltwise_linear, 1.f, 0.f}};
}

}  // namespace seqserve
