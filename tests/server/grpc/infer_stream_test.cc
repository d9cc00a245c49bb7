// The ModelStreamInfer reactor (server/grpc/infer_stream.h) end to end, on the suite server
// of tests/util/grpc_test_util.h: every request answered with its id (errors as the
// response's error_message, the stream staying open), and a stream without requests.
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "proto/grpc_service.grpc.pb.h"
#include "tests/util/grpc_test_util.h"

namespace seqserve {
namespace {

using inference::ModelInferRequest;
using inference::ModelInferResponse;
using inference::ModelStreamInferResponse;
using namespace seqserve::testing;  // NOLINT: the shared test helpers

TEST_F(GrpcServerTest, StreamAnswersEveryRequestWithItsId) {
  const Tensor input = LoadNpy("lenet", "input");
  const Tensor expected = LoadNpy("lenet", "expected");
  grpc::ClientContext context;
  auto stream = client_->stub->ModelStreamInfer(&context);
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(
        stream->Write(MakeRequest("lenet", input, {i}, i % 2 == 0, absl::StrCat("ok-", i))));
  }
  ModelInferRequest bad = MakeRequest("lenet", input, {0}, true, "bad-input");
  bad.mutable_inputs(0)->set_name("x");
  ASSERT_TRUE(stream->Write(bad));
  ASSERT_TRUE(stream->Write(MakeRequest("nope", input, {0}, true, "bad-model")));
  ASSERT_TRUE(stream->WritesDone());

  std::map<std::string, ModelStreamInferResponse> answers;
  ModelStreamInferResponse answer;
  while (stream->Read(&answer)) answers[answer.infer_response().id()] = answer;
  const grpc::Status status = stream->Finish();
  ASSERT_TRUE(status.ok()) << status.error_message();

  ASSERT_EQ(answers.size(), 6u);
  for (int i = 0; i < 4; ++i) {
    const ModelStreamInferResponse& ok = answers[absl::StrCat("ok-", i)];
    EXPECT_EQ(ok.error_message(), "");
    EXPECT_EQ(ok.infer_response().model_version(), "1");
    ExpectRows(OutputValues(ok.infer_response()), expected, {i});
  }
  EXPECT_EQ(answers["bad-input"].error_message(),
            "INVALID_ARGUMENT: unknown input 'x': model 'lenet' has one input, 'input'");
  EXPECT_EQ(answers["bad-input"].infer_response().outputs_size(), 0);
  EXPECT_EQ(answers["bad-model"].error_message(), "NOT_FOUND: unknown model 'nope'");
}

TEST_F(GrpcServerTest, StreamWithoutRequestsFinishesCleanly) {
  grpc::ClientContext context;
  auto stream = client_->stub->ModelStreamInfer(&context);
  ASSERT_TRUE(stream->WritesDone());
  ModelStreamInferResponse answer;
  EXPECT_FALSE(stream->Read(&answer));
  EXPECT_TRUE(stream->Finish().ok());
}
}  // namespace
}  // namespace seqserve
