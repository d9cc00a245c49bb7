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

std::vector<EltwiseOp> FastReluOps() { return {{dnnl::algorithm::eltwise_relu, 0.f, 0.f}}; }

bool IsFastRelu(const std::vector<EltwiseOp>& ops) {
  const EltwiseOp fast = FastReluOps()[0];
  return ops.size() == 1 && ops[0].algorithm == fast.algorithm && ops[0].alpha == fast.alpha &&
         ops[0].beta == fast.beta;
}

bool IsReluChain(const std::vector<EltwiseOp>& ops) {
  auto same = [](const EltwiseOp& a, const EltwiseOp& b) {
    return a.algorithm == b.algorithm && a.alpha == b.alpha && a.beta == b.beta;
  };
  const std::vector<EltwiseOp> exact = ReluOps();
  const EltwiseOp fast = FastReluOps()[0];
  if (ops.empty()) return false;
  for (size_t i = 0; i < ops.size();) {
    if (same(ops[i], fast)) {
      ++i;
    } else if (i + exact.size() <= ops.size() && same(ops[i], exact[0]) &&
               same(ops[i + 1], exact[1])) {
      i += exact.size();
    } else {
      return false;
    }
  }
  return true;
}

}  // namespace seqserve
