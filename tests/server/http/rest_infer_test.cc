// REST's codec (server/http/rest_infer.h) on its own: floats written as the shortest text
// that reads back bit for bit (and NaN/Infinity as Python's json module writes them), and a
// request decoded into a view that points into its own storage.
#include "server/http/rest_infer.h"

#include <cmath>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace seqserve {
namespace {

using json = nlohmann::json;
using ::testing::HasSubstr;

TEST(RestInferCodec, FloatsRoundTripThroughJson) {
  // Shortest round-trip text: every float comes back bit for bit.
  RestInferRequest request;
  const std::vector<float> values = {0.1f,       -3.4028235e38f, 1.17549435e-38f, 1e-45f,
                                     123456.79f, 0.0f,           -0.0f,           16777216.0f};
  const RestInferResponse reply = EncodeRestInferResponse(
      "m", 2, request, "output", {static_cast<int64_t>(values.size())}, values);
  const json body = json::parse(reply.body);
  EXPECT_EQ(body["model_version"], "2");
  std::vector<float> decoded;
  for (const json& value : body["outputs"][0]["data"]) decoded.push_back(value.get<float>());
  ASSERT_EQ(decoded.size(), values.size());
  for (size_t i = 0; i < values.size(); ++i) {
    EXPECT_EQ(std::memcmp(&decoded[i], &values[i], sizeof(float)), 0) << values[i];
  }
  // Non-finite values as Python's json module writes them.
  const std::vector<float> special = {std::nanf(""), INFINITY, -INFINITY};
  EXPECT_THAT(EncodeRestInferResponse("m", 1, request, "o", {3}, special).body,
              HasSubstr("\"data\":[NaN,Infinity,-Infinity]"));
}

TEST(RestInferCodec, DecodesNestedDataAndKeepsViewsValid) {
  absl::StatusOr<std::unique_ptr<RestInferRequest>> request = DecodeRestInferRequest(
      R"({"id":"a\"b","inputs":[{"name":"in","shape":[2,2],"datatype":"FP32",)"
      R"("data":[[1,2.5],[-3e2,4]]}],"outputs":[{"name":"out"}],"parameters":{"timeout":7}})",
      std::nullopt);
  ASSERT_TRUE(request.ok()) << request.status();
  const InferRequestView& view = (*request)->view;
  EXPECT_EQ((*request)->id, "a\"b");
  ASSERT_EQ(view.inputs.size(), 1u);
  EXPECT_EQ(view.inputs[0].name, "in");
  EXPECT_EQ(view.inputs[0].datatype, "FP32");
  EXPECT_EQ(std::vector<int64_t>(view.inputs[0].shape.begin(), view.inputs[0].shape.end()),
            (std::vector<int64_t>{2, 2}));
  const std::span<const std::byte> bytes = view.inputs[0].values;
  std::vector<float> values(bytes.size() / sizeof(float));
  std::memcpy(values.data(), bytes.data(), bytes.size());
  EXPECT_EQ(values, (std::vector<float>{1.0f, 2.5f, -300.0f, 4.0f}));
  ASSERT_EQ(view.outputs.size(), 1u);
  EXPECT_EQ(view.outputs[0], "out");
  EXPECT_EQ(*view.timeout_us, 7);
  EXPECT_FALSE((*request)->binary_output);
}

}  // namespace
}  // namespace seqserve
