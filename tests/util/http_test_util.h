// What the REST and metrics tests add to server_test_util.h: a repository of the bundled
// models plus a held and a broken one, server options with every port picked freely, row
// slices and PyTorch's tolerance, and small cpp-httplib helpers that return the status and
// the parsed JSON body.
#pragma once

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "httplib.h"
#include "nlohmann/json.hpp"
#include "server/server.h"
#include "tests/util/server_test_util.h"

namespace seqserve::testing {

// A repository of lenet, mlp, seed, "held" (lenet, kHeldConfig) and "broken" (fails to load).
inline void MakeRepository(const fs::path& root) {
  for (const char* model : {"lenet", "mlp", "seed"}) CopyModel(root, model, model);
  CopyModel(root, "lenet", "held", kHeldConfig);
  WriteFile(root / "broken" / "1" / "model.seq", "nn.Sequential(nn.Linear(4, 2), nn.Bogus())\n");
}

inline ServerOptions LocalOptions(const fs::path& repository) {
  ServerOptions options;
  options.model_repositories = {repository};
  options.address = "127.0.0.1";
  options.grpc_port = 0;
  options.http_port = 0;
  options.metrics_port = 0;
  options.control_mode = ModelControlMode::kExplicit;
  options.startup_models = {"*"};
  options.available_cpus = 2;
  options.exit_timeout_secs = 30;
  return options;
}

// Rows [first, first + count) of `tensor`.
inline Tensor Rows(const Tensor& tensor, int64_t first, int64_t count) {
  const int64_t row = tensor.numel() / tensor.shape[0];
  Shape shape = tensor.shape;
  shape[0] = count;
  return Tensor(shape, std::vector<float>(tensor.data.begin() + first * row,
                                          tensor.data.begin() + (first + count) * row));
}

// `got` must equal `want` within 1e-4 relative (absolute below 1): PyTorch's tolerance.
inline void ExpectClose(const std::vector<float>& got, const std::vector<float>& want) {
  ASSERT_EQ(got.size(), want.size());
  int mismatches = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    if (std::fabs(got[i] - want[i]) > 1e-4f * std::max(1.0f, std::fabs(want[i])) &&
        ++mismatches <= 3) {
      ADD_FAILURE() << "element " << i << ": got " << got[i] << ", PyTorch " << want[i];
    }
  }
  EXPECT_EQ(mismatches, 0);
}

// ---- HTTP -------------------------------------------------------------------------------

struct HttpReply {
  int status = 0;  // 0: no response (connection failed)
  std::string body;
  httplib::Headers headers;
  // The body as JSON (discarded when it is not JSON).
  nlohmann::json json() const { return nlohmann::json::parse(body, nullptr, false); }
};

inline HttpReply ToReply(const httplib::Result& result) {
  HttpReply reply;
  if (!result) return reply;
  reply.status = result->status;
  reply.body = result->body;
  reply.headers = result->headers;
  return reply;
}

inline HttpReply HttpGet(int port, const std::string& path) {
  httplib::Client client("127.0.0.1", port);
  client.set_read_timeout(60);
  return ToReply(client.Get(path));
}

inline HttpReply HttpPost(int port, const std::string& path, const std::string& body,
                          const httplib::Headers& headers = {},
                          const std::string& content_type = "application/json") {
  httplib::Client client("127.0.0.1", port);
  client.set_read_timeout(60);
  client.set_write_timeout(60);
  return ToReply(client.Post(path, headers, body, content_type));
}

// A KServe v2 JSON request for `input`, its data flat or nested to the tensor's shape.
inline nlohmann::json InferJson(const Tensor& input, bool nested, const std::string& id = "") {
  nlohmann::json data;
  if (!nested) {
    data = input.data;
  } else {
    // Builds the nested arrays dim by dim, from the innermost.
    std::vector<nlohmann::json> level(input.data.begin(), input.data.end());
    for (size_t d = input.shape.size(); d-- > 1;) {
      const size_t size = static_cast<size_t>(input.shape[d]);
      std::vector<nlohmann::json> outer;
      for (size_t i = 0; i < level.size(); i += size) {
        outer.emplace_back(nlohmann::json(std::vector<nlohmann::json>(
            level.begin() + static_cast<long>(i), level.begin() + static_cast<long>(i + size))));
      }
      level = std::move(outer);
    }
    data = level;
  }
  nlohmann::json request = {
      {"inputs",
       {{{"name", "input"}, {"shape", input.shape}, {"datatype", "FP32"}, {"data", data}}}}};
  if (!id.empty()) request["id"] = id;
  return request;
}

// The floats of a JSON reply's first output.
inline std::vector<float> JsonOutput(const nlohmann::json& reply) {
  std::vector<float> values;
  for (const nlohmann::json& value : reply["outputs"][0]["data"]) {
    values.push_back(value.get<float>());
  }
  return values;
}

}  // namespace seqserve::testing
