#include "server/grpc/grpc_infer_task.h"

#include <algorithm>
#include <chrono>
#include <exception>
#include <utility>

#include "server/grpc/grpc_codec.h"
#include "server/scheduling/clock.h"

namespace seqserve {

float* GrpcInferTask::MutableOutput(const Shape& shape) {
  try {
    return AddOutput(shape, servable_->config, response());
  } catch (const std::exception&) {
    return nullptr;
  }
}

void GrpcInferTask::Accept(PreparedRequest prepared) {
  deadline_us = prepared.deadline_us;
  input_ = std::move(prepared.input);
  servable_ = std::move(prepared.servable);
}

int64_t ClientDeadlineMicros(const grpc::CallbackServerContext& context) {
  const std::chrono::system_clock::time_point deadline = context.deadline();
  const std::chrono::system_clock::time_point now = std::chrono::system_clock::now();
  // gRPC reports "no deadline" as time_point::max(); anything a century away means the same
  // and would overflow the subtraction below.
  if (deadline >= now + std::chrono::hours(24 * 365 * 100)) return 0;
  const int64_t remaining_us =
      std::chrono::duration_cast<std::chrono::microseconds>(deadline - now).count();
  // A deadline already passed stays in the past, so the queue drops the request at once.
  return SteadyClock::Get()->NowMicros() + std::max<int64_t>(remaining_us, 0);
}

}  // namespace seqserve
