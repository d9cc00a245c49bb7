#include "server/grpc/grpc_infer_task.h"

#include <algorithm>
#include <chrono>
#include <exception>
#include <utility>

#include "server/frontend/classification.h"
#include "server/grpc/grpc_codec.h"
#include "server/scheduling/clock.h"

namespace seqserve {

float* GrpcInferTask::MutableOutput(const Shape& shape) {
  try {
    if (input_.output_block.has_value()) {
      output_shape_ = shape;
      return SharedMemoryOutput(*input_.output_block, shape, staged_);
    }
    if (input_.class_count > 0) {
      scores_shape_ = shape;
      scores_.resize(static_cast<size_t>(NumElements(shape)));
      return scores_.data();
    }
    return AddOutput(shape, servable_->config, response());
  } catch (const std::exception&) {
    return nullptr;
  }
}

void GrpcInferTask::Finish(const absl::Status& status) {
  if (status.ok() && input_.output_block.has_value()) {
    if (absl::Status written =
            FinishSharedMemoryOutput(servable_->config.output_name, *input_.output_block, staged_);
        !written.ok()) {
      return Answer(written);
    }
    try {
      AddSharedMemoryOutput(output_shape_, servable_->config, *input_.output_block, response());
    } catch (const std::exception&) {
      return Answer(absl::ResourceExhaustedError("cannot allocate the reply"));
    }
    return Answer(status);
  }
  if (!status.ok() || input_.class_count == 0) return Answer(status);
  const ServingConfig& config = servable_->config;
  absl::StatusOr<Classification> classes =
      Classify(config.output_name, scores_shape_, scores_, config.max_batch_size > 0,
               input_.class_count, config.output_labels);
  if (!classes.ok()) return Answer(classes.status());
  try {
    AddBytesOutput(classes->shape, config, EncodeBytesElements(classes->items), response());
  } catch (const std::exception&) {
    return Answer(absl::ResourceExhaustedError("cannot allocate the classification reply"));
  }
  Answer(absl::OkStatus());
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
