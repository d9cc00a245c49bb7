// What the REST and metrics tests add to server_test_util.h: a repository of the bundled
// models plus a held and a broken one, server options with every port picked freely, and
// small cpp-httplib helpers that return the status and the parsed JSON body.
#pragma once

#include <string>
#include <vector>

#include "httplib.h"
#include "nlohmann/json.hpp"
#include "server/server.h"
#include "tests/util/server_test_util.h"

namespace seqserve::testing {

// A repository of lenet, mlp, seed, textclass, "held" (lenet, kHeldConfig) and "broken"
// (fails to load).
inline void MakeRepository(const fs::path& root) {
  for (const char* model : {"lenet", "mlp", "seed", "textclass"}) CopyModel(root, model, model);
  CopyModel(root, "lenet", "held", kHeldConfig);
  WriteBrokenModel(root);
}

// LocalOptions with REST and metrics on free ports too, every model loaded at start in
// explicit mode.
inline ServerOptions HttpServerOptions(const fs::path& repository) {
  ServerOptions options = LocalOptions(repository);
  options.http_port = 0;
  options.metrics_port = 0;
  options.control_mode = ModelControlMode::kExplicit;
  options.startup_models = {"*"};
  return options;
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
