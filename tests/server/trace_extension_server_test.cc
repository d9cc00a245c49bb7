// Triton's trace extension end to end, over gRPC (TraceSetting, traced ModelInfer and
// ModelStreamInfer) and REST (/v2[/models/{m}]/trace/setting, traced /infer): the settings
// read and changed globally and per model (a model's own setting, and clearing it), errors
// that name the setting and change nothing, a client's trace_file refused, the trace files
// (Triton's JSON, stages named and in order), trace_rate and trace_count as Triton counts
// them, the restricted protocol "trace", and the extension absent without --trace-file.
// Traces are written once their calls are done; the tests read the files after Shutdown,
// which drains every call and writes what tracing still holds (no waiting on the clock).
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/util/grpc_test_util.h"
#include "tests/util/http_test_util.h"

namespace seqserve {
namespace {

using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;
using json = nlohmann::json;
using namespace seqserve::testing;  // NOLINT: the shared test helpers

// One trace read back from a file: its first object and its stages in file order.
struct Trace {
  json head;  // {"id","model_name","model_version"[,"request_id"]}
  std::vector<std::string> names;
  std::vector<int64_t> ns;
};

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// The traces of a trace file (a JSON array of Triton's objects), in the order they start.
std::vector<Trace> ReadTraces(const fs::path& path) {
  std::vector<Trace> traces;
  const json objects = json::parse(ReadFile(path), nullptr, false);
  if (!objects.is_array()) {
    ADD_FAILURE() << path << " is not a JSON array: '" << ReadFile(path) << "'";
    return traces;
  }
  std::map<uint64_t, size_t> by_id;
  for (const json& object : objects) {
    const uint64_t id = object.at("id").get<uint64_t>();
    if (object.contains("model_name")) {
      by_id[id] = traces.size();
      traces.push_back(Trace{object, {}, {}});
      continue;
    }
    if (by_id.count(id) == 0) {
      ADD_FAILURE() << "stage of trace " << id << " before its model: " << object.dump();
      continue;
    }
    Trace& trace = traces[by_id[id]];
    for (const json& stamp : object.at("timestamps")) {
      trace.names.push_back(stamp.at("name").get<std::string>());
      trace.ns.push_back(stamp.at("ns").get<int64_t>());
    }
  }
  return traces;
}

void ExpectInOrder(const Trace& trace) {
  for (size_t i = 1; i < trace.ns.size(); ++i) {
    EXPECT_LE(trace.ns[i - 1], trace.ns[i]) << trace.names[i - 1] << " after " << trace.names[i];
  }
  for (const int64_t ns : trace.ns) EXPECT_GT(ns, 0);
}

const std::vector<std::string> kComputeStages = {
    "QUEUE_START", "COMPUTE_START", "COMPUTE_INPUT_END", "COMPUTE_OUTPUT_START", "COMPUTE_END"};

std::vector<std::string> Stages(std::vector<std::string> front, std::vector<std::string> back) {
  std::vector<std::string> all = std::move(front);
  all.push_back("REQUEST_START");
  all.insert(all.end(), kComputeStages.begin(), kComputeStages.end());
  all.push_back("REQUEST_END");
  all.insert(all.end(), back.begin(), back.end());
  return all;
}

class TraceExtensionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    CopyModel(dir_.path(), "lenet", "lenet");
    CopyModel(dir_.path(), "mlp", "mlp");
    fs::create_directory(dir_.path() / "traces");
  }
  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown();
  }

  void Start(bool trace_file = true, std::vector<std::string> restricted = {}) {
    ServerOptions options = HttpServerOptions(dir_.path());
    if (trace_file) options.trace_file = file_;
    options.http_restricted_protocols = restricted;
    options.grpc_restricted_protocols = restricted;
    absl::StatusOr<std::unique_ptr<Server>> server = Server::Start(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    client_ = std::make_unique<StubClient>(server_->grpc_port());
  }

  grpc::Status TraceSetting(const inference::TraceSettingRequest& request,
                            inference::TraceSettingResponse* response,
                            const std::string& key = "") {
    grpc::ClientContext context;
    if (!key.empty()) context.AddMetadata("triton-grpc-protocol-trace-key", key);
    return client_->stub->TraceSetting(&context, request, response);
  }

  // The settings after a gRPC update of `model` ("" = global); each setting's values joined
  // by ",".
  std::map<std::string, std::string> GrpcSettings(
      const std::string& model,
      const std::vector<std::pair<std::string, std::vector<std::string>>>& changes = {}) {
    inference::TraceSettingRequest request;
    request.set_model_name(model);
    for (const auto& [name, values] : changes) {
      auto& value = (*request.mutable_settings())[name];
      for (const std::string& v : values) value.add_value(v);
    }
    inference::TraceSettingResponse response;
    const grpc::Status status = TraceSetting(request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    std::map<std::string, std::string> settings;
    for (const auto& [name, value] : response.settings()) {
      settings[name] = absl::StrJoin(value.value(), ",");
    }
    return settings;
  }

  // Sends `count` unary requests for one LeNet image, ids "<prefix>0", "<prefix>1", ...
  void InferGrpc(int count, const std::string& prefix = "r") {
    for (int i = 0; i < count; ++i) {
      inference::ModelInferResponse response;
      const grpc::Status status = client_->Infer(
          MakeRequest("lenet", LoadNpy("lenet", "input"), {0}, true, absl::StrCat(prefix, i)),
          &response);
      ASSERT_TRUE(status.ok()) << status.error_message();
    }
  }

  TempDir dir_{"seqserve_trace_extension"};
  fs::path file_ = dir_.path() / "traces" / "trace.json";
  std::unique_ptr<Server> server_;
  std::unique_ptr<StubClient> client_;
};

TEST_F(TraceExtensionTest, GrpcReadsAndChangesTheGlobalSettings) {
  Start();
  const std::map<std::string, std::string> defaults = {{"trace_level", "OFF"},
                                                       {"trace_rate", "1000"},
                                                       {"trace_count", "-1"},
                                                       {"log_frequency", "0"},
                                                       {"trace_file", file_.string()}};
  EXPECT_EQ(GrpcSettings(""), defaults);
  EXPECT_EQ(GrpcSettings("lenet"), defaults);
  std::map<std::string, std::string> changed =
      GrpcSettings("", {{"trace_level", {"TIMESTAMPS"}}, {"trace_rate", {"10"}}});
  EXPECT_EQ(changed["trace_level"], "TIMESTAMPS");
  EXPECT_EQ(changed["trace_rate"], "10");
  EXPECT_EQ(changed["trace_count"], "-1");
  EXPECT_EQ(GrpcSettings("mlp")["trace_rate"], "10");  // a model follows the global settings

  grpc::ClientContext context;
  inference::ServerMetadataResponse metadata;
  ASSERT_TRUE(client_->stub->ServerMetadata(&context, {}, &metadata).ok());
  EXPECT_THAT(metadata.extensions(), ::testing::Contains("trace"));
  EXPECT_THAT(HttpGet(server_->http_port(), "/v2").json()["extensions"],
              ::testing::Contains("trace"));
}

TEST_F(TraceExtensionTest, HttpSetsAModelsOwnSettingsAndClearsThem) {
  Start();
  const int port = server_->http_port();
  HttpReply global = HttpGet(port, "/v2/trace/setting");
  ASSERT_EQ(global.status, 200) << global.body;
  EXPECT_EQ(global.json(), json({{"trace_level", {"OFF"}},
                                 {"trace_rate", "1000"},
                                 {"trace_count", "-1"},
                                 {"log_frequency", "0"},
                                 {"trace_file", file_.string()}}));

  HttpReply own =
      HttpPost(port, "/v2/models/mlp/trace/setting", R"({"trace_rate": "5", "trace_count": 3})");
  ASSERT_EQ(own.status, 200) << own.body;
  EXPECT_EQ(own.json()["trace_rate"], "5");
  EXPECT_EQ(own.json()["trace_count"], "3");
  EXPECT_EQ(HttpGet(port, "/v2/trace/setting").json()["trace_rate"], "1000");
  EXPECT_EQ(HttpGet(port, "/v2/models/lenet/trace/setting").json()["trace_rate"], "1000");

  // A global change reaches the settings mlp does not set itself.
  ASSERT_EQ(HttpPost(port, "/v2/trace/setting", R"({"trace_level": ["TIMESTAMPS"]})").status, 200);
  HttpReply mlp = HttpGet(port, "/v2/models/mlp/trace/setting");
  EXPECT_EQ(mlp.json()["trace_level"], json({"TIMESTAMPS"}));
  EXPECT_EQ(mlp.json()["trace_rate"], "5");

  // null clears: mlp follows the global settings again.
  HttpReply cleared = HttpPost(port, "/v2/models/mlp/trace/setting",
                               R"({"trace_rate": null, "trace_count": null})");
  ASSERT_EQ(cleared.status, 200) << cleared.body;
  EXPECT_EQ(cleared.json(), HttpGet(port, "/v2/trace/setting").json());
  // gRPC sees the same settings.
  EXPECT_EQ(GrpcSettings("mlp")["trace_level"], "TIMESTAMPS");
}

TEST_F(TraceExtensionTest, BadUpdatesNameTheSettingAndChangeNothing) {
  Start();
  const int port = server_->http_port();
  const json before = HttpGet(port, "/v2/trace/setting").json();
  struct Case {
    const char* body;
    const char* message;
  };
  for (const Case& c : std::vector<Case>{
           {R"({"trace_level": ["TENSORS"]})", "'trace_level': seqserve does not trace tensors"},
           {R"({"trace_level": ["OFF", "TIMESTAMPS"]})", "OFF cannot be given together"},
           {R"({"trace_level": ["TIMESTAMPS"], "trace_rate": "0"})", "'trace_rate': expected"},
           {R"({"trace_count": "-5"})", "'trace_count': expected -1 (no limit)"},
           {R"({"log_frequency": ["1", "2"]})", "'log_frequency': expected one value, got 2"},
           {R"({"trace_rate": 1.5})", "'trace_rate': expected a string, a list of strings or null"},
           {R"({"trace_mode": "triton"})", "unknown trace setting 'trace_mode'"},
           {R"([1])", "must be a JSON object"},
       }) {
    HttpReply reply = HttpPost(port, "/v2/trace/setting", c.body);
    EXPECT_EQ(reply.status, 400) << c.body;
    EXPECT_THAT(reply.json()["error"].get<std::string>(), HasSubstr(c.message)) << c.body;
  }
  EXPECT_EQ(HttpGet(port, "/v2/trace/setting").json(), before);

  inference::TraceSettingRequest tensors;
  (*tensors.mutable_settings())["trace_level"].add_value("TENSORS");
  inference::TraceSettingResponse response;
  grpc::Status status = TraceSetting(tensors, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("'trace_level'"));

  // Unknown models: NOT_FOUND (SPEC §7), as for every request naming a model.
  inference::TraceSettingRequest unknown;
  unknown.set_model_name("nosuch");
  status = TraceSetting(unknown, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(status.error_message(), HasSubstr("nosuch"));
  EXPECT_EQ(HttpGet(port, "/v2/models/nosuch/trace/setting").status, 404);
  EXPECT_EQ(HttpPost(port, "/v2/models/nosuch/trace/setting", R"({"trace_rate":"1"})").status, 404);
  EXPECT_EQ(HttpGet(port, "/v2/trace").status, 404);
  EXPECT_EQ(GrpcSettings(""), GrpcSettings("lenet"));
}

TEST_F(TraceExtensionTest, AClientCannotPointTracesAtAnotherFile) {
  Start();
  const fs::path elsewhere = dir_.path() / "elsewhere.json";
  inference::TraceSettingRequest request;
  (*request.mutable_settings())["trace_file"].add_value(elsewhere.string());
  (*request.mutable_settings())["trace_level"].add_value("TIMESTAMPS");
  inference::TraceSettingResponse response;
  const grpc::Status status = TraceSetting(request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(),
              HasSubstr("'trace_file': traces go to the file the server was started with"));
  HttpReply reply = HttpPost(server_->http_port(), "/v2/models/lenet/trace/setting",
                             json({{"trace_file", elsewhere.string()},
                                   {"trace_level", {"TIMESTAMPS"}},
                                   {"log_frequency", "1"}})
                                 .dump());
  EXPECT_EQ(reply.status, 400);
  EXPECT_THAT(reply.body, HasSubstr("trace_file"));
  EXPECT_EQ(GrpcSettings("lenet")["trace_level"], "OFF");  // nothing changed
  InferGrpc(2);
  // Repeating the operator's own file is accepted (Triton's clients send settings back).
  EXPECT_EQ(GrpcSettings("", {{"trace_file", {file_.string()}}})["trace_file"], file_.string());
  server_->Shutdown();
  EXPECT_FALSE(fs::exists(elsewhere));
  EXPECT_FALSE(fs::exists(elsewhere.string() + ".0"));
  EXPECT_TRUE(fs::is_empty(dir_.path() / "traces"));  // tracing stayed OFF
}

TEST_F(TraceExtensionTest, ATracedGrpcInferenceWritesItsStagesInOrder) {
  Start();
  GrpcSettings("",
               {{"trace_level", {"TIMESTAMPS"}}, {"trace_rate", {"1"}}, {"log_frequency", {"1"}}});
  InferGrpc(1, "unary-");
  // A request for a model that does not exist is traced up to its refusal.
  inference::ModelInferResponse response;
  EXPECT_EQ(
      client_->Infer(MakeRequest("nosuch", LoadNpy("lenet", "input"), {0}, true, "lost"), &response)
          .error_code(),
      grpc::StatusCode::NOT_FOUND);
  server_->Shutdown();

  // One trace per file (log_frequency 1); which is written first is the calls' race: gRPC
  // finishes a call (GRPC_SEND_END) after its client has the reply.
  std::vector<Trace> unary = ReadTraces(fs::path(file_.string() + ".0"));
  std::vector<Trace> lost = ReadTraces(fs::path(file_.string() + ".1"));
  ASSERT_EQ(unary.size(), 1u);
  ASSERT_EQ(lost.size(), 1u);
  if (unary[0].head["model_name"] != "lenet") std::swap(unary, lost);
  EXPECT_EQ(unary[0].head["model_name"], "lenet");
  EXPECT_EQ(unary[0].head["model_version"], 1);
  EXPECT_EQ(unary[0].head["request_id"], "unary-0");
  EXPECT_THAT(unary[0].names, ElementsAreArray(Stages({}, {"GRPC_SEND_START", "GRPC_SEND_END"})));
  ExpectInOrder(unary[0]);

  EXPECT_EQ(lost[0].head["model_name"], "nosuch");
  EXPECT_EQ(lost[0].head["model_version"], -1);
  EXPECT_THAT(lost[0].names,
              ElementsAre("REQUEST_START", "REQUEST_END", "GRPC_SEND_START", "GRPC_SEND_END"));
  ExpectInOrder(lost[0]);
  EXPECT_FALSE(fs::exists(file_));  // every trace went to a numbered file
}

TEST_F(TraceExtensionTest, ATracedStreamRequestHasItsReadAndWriteStages) {
  Start();
  GrpcSettings("", {{"trace_level", {"TIMESTAMPS"}}, {"trace_rate", {"1"}}});
  {
    grpc::ClientContext context;
    auto stream = client_->stub->ModelStreamInfer(&context);
    for (int i = 0; i < 2; ++i) {
      ASSERT_TRUE(stream->Write(
          MakeRequest("lenet", LoadNpy("lenet", "input"), {i}, true, absl::StrCat("s", i))));
      inference::ModelStreamInferResponse answer;
      ASSERT_TRUE(stream->Read(&answer));
      EXPECT_EQ(answer.error_message(), "");
    }
    ASSERT_TRUE(stream->WritesDone());
    ASSERT_TRUE(stream->Finish().ok());
  }
  server_->Shutdown();  // log_frequency 0: written to the file itself at shutdown

  std::vector<Trace> traces = ReadTraces(file_);
  ASSERT_EQ(traces.size(), 2u);
  // In the file in the order they finished, which is gRPC's to decide.
  std::sort(traces.begin(), traces.end(), [](const Trace& a, const Trace& b) {
    return a.head["request_id"].get<std::string>() < b.head["request_id"].get<std::string>();
  });
  for (size_t i = 0; i < 2; ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(traces[i].head["request_id"], absl::StrCat("s", i));
    EXPECT_THAT(traces[i].names,
                ElementsAreArray(Stages({"GRPC_WAITREAD_START", "GRPC_WAITREAD_END"},
                                        {"GRPC_SEND_START", "GRPC_SEND_END"})));
    ExpectInOrder(traces[i]);
  }
  EXPECT_LT(traces[0].head["id"].get<uint64_t>(), traces[1].head["id"].get<uint64_t>());
}

TEST_F(TraceExtensionTest, ATracedHttpInferenceWritesItsStagesInOrder) {
  Start();
  const int port = server_->http_port();
  ASSERT_EQ(HttpPost(port, "/v2/models/lenet/trace/setting",
                     R"({"trace_level": ["TIMESTAMPS"], "trace_rate": "1"})")
                .status,
            200);
  const json request = InferJson(Rows(LoadNpy("lenet", "input"), 0, 1), false, "h1");
  HttpReply reply = HttpPost(port, "/v2/models/lenet/infer", request.dump());
  ASSERT_EQ(reply.status, 200) << reply.body;
  // mlp follows the global settings, which are OFF.
  ASSERT_EQ(HttpPost(port, "/v2/models/mlp/infer",
                     InferJson(Rows(LoadNpy("mlp", "input"), 0, 1), false, "m1").dump())
                .status,
            200);
  server_->Shutdown();

  const std::vector<Trace> traces = ReadTraces(file_);
  ASSERT_EQ(traces.size(), 1u);
  EXPECT_EQ(traces[0].head, json({{"id", traces[0].head["id"]},
                                  {"model_name", "lenet"},
                                  {"model_version", 1},
                                  {"request_id", "h1"}}));
  EXPECT_THAT(traces[0].names, ElementsAreArray(Stages({"HTTP_RECV_START", "HTTP_RECV_END"},
                                                       {"HTTP_SEND_START", "HTTP_SEND_END"})));
  ExpectInOrder(traces[0]);
}

TEST_F(TraceExtensionTest, TraceRateAndTraceCountAsTritonCountsThem) {
  Start();
  GrpcSettings("",
               {{"trace_level", {"TIMESTAMPS"}}, {"trace_rate", {"2"}}, {"trace_count", {"2"}}});
  InferGrpc(6);
  // Every second request until two were taken: r1 and r3.
  EXPECT_EQ(GrpcSettings("")["trace_count"], "0");
  server_->Shutdown();
  // The last traces of a count go to a numbered file of their own.
  std::vector<std::string> ids;
  for (const Trace& trace : ReadTraces(fs::path(file_.string() + ".0"))) {
    ids.push_back(trace.head["request_id"].get<std::string>());
  }
  EXPECT_THAT(ids, ::testing::UnorderedElementsAre("r1", "r3"));
  EXPECT_FALSE(fs::exists(file_));
  EXPECT_FALSE(fs::exists(file_.string() + ".1"));
}

TEST_F(TraceExtensionTest, NothingIsTracedByDefault) {
  Start();
  InferGrpc(3);
  ASSERT_EQ(HttpPost(server_->http_port(), "/v2/models/lenet/infer",
                     InferJson(Rows(LoadNpy("lenet", "input"), 0, 1), false).dump())
                .status,
            200);
  server_->Shutdown();
  EXPECT_TRUE(fs::is_empty(dir_.path() / "traces"));
}

TEST_F(TraceExtensionTest, WithoutTraceFileTheExtensionIsOff) {
  Start(/*trace_file=*/false);
  inference::TraceSettingResponse response;
  const grpc::Status status = TraceSetting({}, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNIMPLEMENTED);
  EXPECT_THAT(status.error_message(), HasSubstr("--trace-file"));
  HttpReply reply = HttpGet(server_->http_port(), "/v2/trace/setting");
  EXPECT_EQ(reply.status, 501);
  EXPECT_THAT(reply.body, HasSubstr("--trace-file"));
  grpc::ClientContext context;
  inference::ServerMetadataResponse metadata;
  ASSERT_TRUE(client_->stub->ServerMetadata(&context, {}, &metadata).ok());
  EXPECT_THAT(metadata.extensions(), ::testing::Not(::testing::Contains("trace")));
}

TEST_F(TraceExtensionTest, TheTraceProtocolCanBeRestricted) {
  Start(/*trace_file=*/true, {"trace:trace-key=s3cret"});
  const int port = server_->http_port();
  HttpReply denied = HttpPost(port, "/v2/trace/setting", R"({"trace_level": ["TIMESTAMPS"]})");
  EXPECT_EQ(denied.status, 403);
  EXPECT_THAT(denied.body, ::testing::Not(HasSubstr("s3cret")));
  HttpReply allowed =
      HttpPost(port, "/v2/trace/setting", R"({"trace_rate": "7"})", {{"trace-key", "s3cret"}});
  EXPECT_EQ(allowed.status, 200) << allowed.body;
  inference::TraceSettingResponse response;
  EXPECT_EQ(TraceSetting({}, &response).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  ASSERT_TRUE(TraceSetting({}, &response, "s3cret").ok());
  EXPECT_EQ(response.settings().at("trace_level").value(0), "OFF");
  EXPECT_EQ(response.settings().at("trace_rate").value(0), "7");
  // Inference stays open.
  InferGrpc(1);
}

}  // namespace
}  // namespace seqserve
