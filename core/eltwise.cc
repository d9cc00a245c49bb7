#include "core/eltwise.h"

namespace seqserve {

dnnl::post_ops MakePostOps(const std::vector<EltwiseOp>& ops) {
  dnnl::post_ops post_ops;
  for (const EltwiseOp& op : ops) post_ops.append_eltwise(1.f, op.algorithm, op.alpha, op.beta);
  return post_ops;
}

}  // namespace seqserve
