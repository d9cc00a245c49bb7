// Triton's classification extension end to end, over gRPC and REST: a request that asks
// for an output's top k classes gets "score:index[:label]" BYTES strings instead of the
// tensor. The expected classes and scores are PyTorch's: the top k of each row of the
// bundled goldens (tests/data/bundled/<model>/expected.npy), sorted here.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/util/grpc_requests.h"
#include "tests/util/grpc_test_util.h"
#include "tests/util/http_test_util.h"

namespace seqserve {
namespace {

using ::testing::HasSubstr;
using namespace seqserve::testing;  // NOLINT: the shared test helpers

const std::vector<std::string> kDigits = {"zero", "one", "two",   "three", "four",
                                          "five", "six", "seven", "eight", "nine"};

std::string LabelledConfig(const std::string& label_file) {
  return absl::StrCat(
      "max_batch_size: 64\n"
      "input [ { name: \"input\" data_type: TYPE_FP32 dims: [ 1, 28, 28 ] } ]\n"
      "output [ { name: \"output\" data_type: TYPE_FP32 dims: [ 10 ] label_filename: \"",
      label_file, "\" } ]\n");
}

class ClassificationTest : public SuiteServerTest {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir("seqserve_classification");
    const fs::path& root = dir_->path();
    CopyModel(root, "lenet", "digits", LabelledConfig("digits.txt"));
    // One label per line; the last line without its newline, one with a Windows ending.
    WriteFile(root / "digits" / "digits.txt",
              "zero\none\ntwo\r\nthree\nfour\nfive\nsix\nseven\neight\nnine");
    CopyModel(root, "mlp", "mlp");
    CopyModel(root, "lenet", "fewlabels", LabelledConfig("few.txt"));
    WriteFile(root / "fewlabels" / "few.txt", "a\nb\nc\n");
    CopyModel(root, "lenet", "outside", LabelledConfig("../digits/digits.txt"));
    CopyModel(root, "lenet", "nolabels", LabelledConfig("missing.txt"));
    // The seed model's output [64, H-8, W-8] has free dims: 64 labels fit a 9x9 input only.
    CopyModel(root, "seed", "seedlabels",
              "max_batch_size: 4\n"
              "input [ { name: \"input\" data_type: TYPE_FP32 dims: [ 1, -1, -1 ] } ]\n"
              "output [ { name: \"output\" data_type: TYPE_FP32 dims: [ 64, -1, -1 ] "
              "label_filename: \"channels.txt\" } ]\n");
    std::string channels;
    for (int c = 0; c < 64; ++c) channels += absl::StrCat("channel", c, "\n");
    WriteFile(root / "seedlabels" / "channels.txt", channels);
    StartSuiteServer(HttpServerOptions(root));
  }

  // The top `k` classes of PyTorch's output row `row` for `model`, highest first.
  static std::vector<int64_t> TopClasses(const std::string& model, int row, int64_t k) {
    const std::vector<float> scores = RowValues(LoadNpy(model, "expected"), {row});
    std::vector<int64_t> order(scores.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(),
                     [&](int64_t a, int64_t b) { return scores[a] > scores[b]; });
    order.resize(static_cast<size_t>(k));
    return order;
  }

  // Checks "score:index[:label]" items against PyTorch's top classes of `rows`.
  static void ExpectTopClasses(const std::vector<std::string>& items, const std::string& model,
                               const std::vector<int>& rows, int64_t k, bool labelled) {
    ASSERT_EQ(items.size(), rows.size() * static_cast<size_t>(k));
    for (size_t r = 0; r < rows.size(); ++r) {
      const std::vector<float> scores = RowValues(LoadNpy(model, "expected"), {rows[r]});
      const std::vector<int64_t> top = TopClasses(model, rows[r], k);
      for (int64_t i = 0; i < k; ++i) {
        const std::string& item = items[r * static_cast<size_t>(k) + static_cast<size_t>(i)];
        const std::vector<std::string> parts = absl::StrSplit(item, ':');
        ASSERT_EQ(parts.size(), labelled ? 3u : 2u) << item;
        float score = 0;
        int64_t index = -1;
        ASSERT_TRUE(absl::SimpleAtof(parts[0], &score)) << item;
        ASSERT_TRUE(absl::SimpleAtoi(parts[1], &index)) << item;
        EXPECT_EQ(index, top[static_cast<size_t>(i)]) << item;
        EXPECT_NEAR(score, scores[static_cast<size_t>(index)],
                    1e-4 * std::max(1.0f, std::abs(scores[static_cast<size_t>(index)])))
            << item;
        if (labelled) {
          EXPECT_EQ(parts[2], kDigits[static_cast<size_t>(index)]) << item;
        }
      }
    }
  }

  static std::vector<std::string> DecodeBytes(const std::string& raw) {
    std::vector<std::string> items;
    size_t at = 0;
    while (at + 4 <= raw.size()) {
      uint32_t length = 0;
      for (int b = 0; b < 4; ++b) length |= static_cast<uint32_t>(static_cast<uint8_t>(raw[at + b])) << (8 * b);
      at += 4;
      EXPECT_LE(at + length, raw.size());
      items.push_back(raw.substr(at, length));
      at += length;
    }
    EXPECT_EQ(at, raw.size());
    return items;
  }

  // A request to `model` (a copy of bundled model `golden`) for the top `k` classes of
  // rows `rows` of the golden input.
  static inference::ModelInferRequest Classifying(const std::string& model,
                                                  const std::string& golden,
                                                  const std::vector<int>& rows, int64_t k) {
    inference::ModelInferRequest request =
        MakeRequest(model, LoadNpy(golden, "input"), rows, true);
    inference::ModelInferRequest::InferRequestedOutputTensor* output = request.add_outputs();
    output->set_name("output");
    (*output->mutable_parameters())["classification"].set_int64_param(k);
    return request;
  }

};

TEST_F(ClassificationTest, GrpcRepliesTheTopClassesWithLabels) {
  inference::ModelInferResponse response;
  const grpc::Status status = client_->Infer(Classifying("digits", "lenet", {0, 3, 1}, 3), &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(response.outputs_size(), 1);
  EXPECT_EQ(response.outputs(0).name(), "output");
  EXPECT_EQ(response.outputs(0).datatype(), "BYTES");
  EXPECT_THAT(response.outputs(0).shape(), ::testing::ElementsAre(3, 3));
  ASSERT_EQ(response.raw_output_contents_size(), 1);
  ExpectTopClasses(DecodeBytes(response.raw_output_contents(0)), "lenet", {0, 3, 1}, 3, true);
}

TEST_F(ClassificationTest, GrpcWithoutLabelsRepliesScoreAndIndex) {
  inference::ModelInferResponse response;
  const grpc::Status status = client_->Infer(Classifying("mlp", "mlp", {1, 2}, 2), &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_THAT(response.outputs(0).shape(), ::testing::ElementsAre(2, 2));
  ExpectTopClasses(DecodeBytes(response.raw_output_contents(0)), "mlp", {1, 2}, 2, false);
}

TEST_F(ClassificationTest, GrpcCountZeroRepliesTheTensorAndANegativeCountIsRefused) {
  inference::ModelInferResponse response;
  ASSERT_TRUE(client_->Infer(Classifying("digits", "lenet", {2}, 0), &response).ok());
  EXPECT_EQ(response.outputs(0).datatype(), "FP32");
  ExpectRows(OutputValues(response), LoadNpy("lenet", "expected"), {2});

  const grpc::Status negative = client_->Infer(Classifying("digits", "lenet", {2}, -2), &response);
  EXPECT_EQ(negative.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(negative.error_message(), HasSubstr("'classification' must be >= 0, got -2"));

  inference::ModelInferRequest typed = Classifying("digits", "lenet", {2}, 1);
  (*typed.mutable_outputs(0)->mutable_parameters())["classification"].set_string_param("1");
  const grpc::Status wrong_type = client_->Infer(typed, &response);
  EXPECT_EQ(wrong_type.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(wrong_type.error_message(), HasSubstr("must be an int64_param"));
}

TEST_F(ClassificationTest, AFreeDimOutputWithMoreClassesThanLabelsIsRefusedBeforeCompute) {
  const auto request = [](int64_t side) {
    Tensor input;
    input.shape = {1, 1, side, side};
    input.data.assign(static_cast<size_t>(side * side), 0.5f);
    inference::ModelInferRequest classify = MakeRequest("seedlabels", input, {0}, true);
    inference::ModelInferRequest::InferRequestedOutputTensor* output = classify.add_outputs();
    output->set_name("output");
    (*output->mutable_parameters())["classification"].set_int64_param(2);
    return classify;
  };
  const inference::ModelStatistics before = client_->Statistics("seedlabels");
  inference::ModelInferResponse response;
  // 9x9: 64 classes (derivable: two 5x5 convolutions take 8 off each side), all labelled.
  const grpc::Status fits = client_->Infer(request(9), &response);
  ASSERT_TRUE(fits.ok()) << fits.error_message();
  const std::vector<std::string> items = DecodeBytes(response.raw_output_contents(0));
  ASSERT_EQ(items.size(), 2u);
  EXPECT_THAT(items[0], ::testing::MatchesRegex("[-0-9.]+:[0-9]+:channel[0-9]+"));
  // 10x10: 256 classes for 64 labels, refused before it is queued and counted as a failure.
  const grpc::Status refused = client_->Infer(request(10), &response);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(refused.error_message(),
              HasSubstr("output 'output' has 256 classes for input 'input' of shape "
                        "[1, 1, 10, 10], but its label file names only 64"));
  const inference::ModelStatistics after = client_->Statistics("seedlabels");
  EXPECT_EQ(after.inference_stats().success().count() - before.inference_stats().success().count(),
            1u);
  EXPECT_EQ(after.inference_stats().fail().count() - before.inference_stats().fail().count(), 1u);
}

TEST_F(ClassificationTest, RestJsonAndBinaryReplies) {
  const Tensor input = LoadNpy("lenet", "input");
  nlohmann::json request = InferJson(Rows(input, 2, 2), false);
  request["outputs"] = {{{"name", "output"}, {"parameters", {{"classification", 4}}}}};
  HttpReply json_reply =
      HttpPost(server_->http_port(), "/v2/models/digits/infer", request.dump());
  ASSERT_EQ(json_reply.status, 200) << json_reply.body;
  const nlohmann::json output = json_reply.json()["outputs"][0];
  EXPECT_EQ(output["datatype"], "BYTES");
  EXPECT_EQ(output["shape"], nlohmann::json({2, 4}));
  ExpectTopClasses(output["data"].get<std::vector<std::string>>(), "lenet", {2, 3}, 4, true);

  request["outputs"][0]["parameters"]["binary_data"] = true;
  HttpReply binary_reply =
      HttpPost(server_->http_port(), "/v2/models/digits/infer", request.dump());
  ASSERT_EQ(binary_reply.status, 200) << binary_reply.body;
  const auto header = binary_reply.headers.find("Inference-Header-Content-Length");
  ASSERT_NE(header, binary_reply.headers.end());
  const size_t json_length = std::stoul(header->second);
  const nlohmann::json head = nlohmann::json::parse(binary_reply.body.substr(0, json_length));
  const std::string data = binary_reply.body.substr(json_length);
  EXPECT_EQ(head["outputs"][0]["parameters"]["binary_data_size"], data.size());
  ExpectTopClasses(DecodeBytes(data), "lenet", {2, 3}, 4, true);
}

TEST_F(ClassificationTest, RestBadCountIsA400) {
  nlohmann::json request = InferJson(Rows(LoadNpy("lenet", "input"), 0, 1), false);
  request["outputs"] = {{{"name", "output"}, {"parameters", {{"classification", -1}}}}};
  HttpReply reply = HttpPost(server_->http_port(), "/v2/models/digits/infer", request.dump());
  EXPECT_EQ(reply.status, 400);
  EXPECT_THAT(reply.body, HasSubstr("'classification' must be >= 0"));
  request["outputs"][0]["parameters"]["classification"] = "three";
  reply = HttpPost(server_->http_port(), "/v2/models/digits/infer", request.dump());
  EXPECT_EQ(reply.status, 400);
  EXPECT_THAT(reply.body, HasSubstr("classification"));
}

TEST_F(ClassificationTest, BadLabelFilesAreLoadErrorsNamingTheFile) {
  std::map<std::string, std::string> reasons;
  for (const auto& model : client_->Index(false)) reasons[model.name()] = model.reason();
  EXPECT_THAT(reasons["fewlabels"], HasSubstr("label_filename 'few.txt' has 3 labels"));
  EXPECT_THAT(reasons["fewlabels"], HasSubstr("10 classes"));
  EXPECT_THAT(reasons["outside"], HasSubstr("must be the name of a file in the model directory"));
  EXPECT_THAT(reasons["nolabels"], HasSubstr("label_filename 'missing.txt'"));
  EXPECT_EQ(reasons["digits"], "");
  bool ready = false;
  ASSERT_TRUE(client_->ModelReady("digits", "", &ready).ok());
  EXPECT_TRUE(ready);
}

}  // namespace
}  // namespace seqserve
