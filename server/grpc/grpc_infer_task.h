// What the unary and the streaming ModelInfer share as an InferTask: the request and the
// response message the reply is written straight into (AddOutput hands the worker the
// response's own storage), the validated input, and the model version's handle — held until
// the task is destroyed, so the version cannot be retired under it. Subclasses say where the
// request and response live and how an answer is sent (a reactor's Finish, a stream write).
// Not thread-safe, as every InferTask: one thread touches it at a time (the gRPC thread that
// prepares it, then the scheduler).
#pragma once

#include <cstdint>
#include <memory>

#include "absl/status/status.h"
#include "common/tensor.h"
#include "grpcpp/server_context.h"
#include "proto/grpc_service.pb.h"
#include "server/frontend/infer_request.h"
#include "server/repository/servable_model.h"
#include "server/scheduling/infer_task.h"

namespace seqserve {

class GrpcInferTask : public InferTask {
 public:
  // `client_deadline_us`: the client's gRPC deadline on the steady clock, 0 = none.
  explicit GrpcInferTask(int64_t client_deadline_us) : client_deadline_us_(client_deadline_us) {}

  const Shape& input_shape() const override { return input_.shape; }
  DType input_dtype() const override { return input_.dtype; }
  const void* input_data() const override { return input_.bytes.data(); }
  // The output tensor appended to response() (or, for a classification request, a buffer of
  // the task's own that Finish turns into the top classes; for an output in shared memory,
  // the region's block); nullptr (the batch runner then
  // fails the task with INTERNAL) when it cannot be allocated.
  float* MutableOutput(const Shape& shape) override;
  void Finish(const absl::Status& status) override;

  virtual const inference::ModelInferRequest& request() const = 0;
  virtual inference::ModelInferResponse& response() = 0;
  // Sends the reply (the response as filled) or the error. Called exactly once.
  virtual void Answer(const absl::Status& status) = 0;

  int64_t client_deadline_us() const { return client_deadline_us_; }

  // Takes the validated request: the version's handle, the input and the deadline.
  void Accept(PreparedRequest prepared);
  // The version serving the task; null until Accept.
  const ServableModel* servable() const { return servable_.get(); }
  const std::shared_ptr<ServableModel>& shared_servable() const { return servable_; }

 private:
  const int64_t client_deadline_us_;
  std::shared_ptr<ServableModel> servable_;
  InferInput input_;
  // The output's scores when the request asked for its top classes instead.
  Shape scores_shape_;
  std::vector<float> scores_;
  // An output in shared memory: its shape, and where it was computed when the block is not
  // aligned for floats (copied into the block by Finish).
  Shape output_shape_;
  std::vector<float> staged_;
};

// The client's gRPC deadline on the scheduler's (steady) clock; 0 when there is none.
int64_t ClientDeadlineMicros(const grpc::CallbackServerContext& context);

}  // namespace seqserve
