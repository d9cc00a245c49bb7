// The Prometheus endpoint end to end: a Server in-process on 127.0.0.1 (port 0) driven over
// gRPC (the real client library) and REST; /metrics parsed and checked for the text
// format's rules and for counters that move by exactly the requests sent; Debian's
// `promtool check metrics` must find nothing; and a real Prometheus server started on
// loopback scrapes seqserve and answers a query with the right number. The last two are
// skipped when the binaries are missing (scripts/setup.sh installs them, so CI has them).
#include "server/http/metrics.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/util/http_test_util.h"
#include "tests/util/run_command.h"

extern char** environ;

namespace seqserve {
namespace {

using ::testing::HasSubstr;
using client::Client;
using namespace seqserve::testing;  // NOLINT: the shared test helpers
using json = nlohmann::json;

// ---- The text format ----------------------------------------------------------------------

struct Sample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

struct Family {
  std::string help;
  std::string type;
  std::vector<Sample> samples;
};

// Parses the exposition text, failing the test on anything the format does not allow: a
// sample outside the family its # TYPE line opened, a family without HELP or TYPE, a
// malformed line.
std::map<std::string, Family> ParseMetrics(const std::string& text) {
  std::map<std::string, Family> families;
  std::string current;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (line.empty()) continue;
    if (line.rfind("# HELP ", 0) == 0) {
      const size_t space = line.find(' ', 7);
      current = line.substr(7, space - 7);
      EXPECT_FALSE(families.count(current)) << "family " << current << " appears twice";
      families[current].help = space == std::string::npos ? "" : line.substr(space + 1);
      continue;
    }
    if (line.rfind("# TYPE ", 0) == 0) {
      const size_t space = line.find(' ', 7);
      EXPECT_EQ(line.substr(7, space - 7), current) << "TYPE without HELP: " << line;
      families[current].type = line.substr(space + 1);
      continue;
    }
    EXPECT_NE(line[0], '#') << line;
    Sample sample;
    const size_t brace = line.find('{');
    const size_t value_start = line.rfind(' ');
    EXPECT_NE(value_start, std::string::npos) << line;
    sample.name = line.substr(0, std::min(brace, value_start));
    if (brace != std::string::npos) {
      // k="v",k="v"} (values have no escapes in these tests)
      size_t pos = brace + 1;
      while (line[pos] != '}') {
        const size_t eq = line.find("=\"", pos);
        const size_t close = line.find('"', eq + 2);
        sample.labels[line.substr(pos, eq - pos)] = line.substr(eq + 2, close - eq - 2);
        pos = close + 1;
        if (line[pos] == ',') ++pos;
      }
    }
    sample.value = std::stod(line.substr(value_start + 1));
    const Family& family = families[current];
    const bool belongs = sample.name == current ||
                         (family.type == "histogram" &&
                          (sample.name == current + "_bucket" || sample.name == current + "_sum" ||
                           sample.name == current + "_count"));
    EXPECT_TRUE(belongs) << sample.name << " under # TYPE " << current;
    families[current].samples.push_back(std::move(sample));
  }
  for (const auto& [name, family] : families) {
    EXPECT_FALSE(family.help.empty()) << name << " has no HELP text";
    EXPECT_THAT(family.type, ::testing::AnyOf("counter", "gauge", "histogram")) << name;
  }
  return families;
}

// The value of `name` with exactly `labels` (0 when absent).
double Value(const std::map<std::string, Family>& families, const std::string& family,
             const std::string& name, const std::map<std::string, std::string>& labels) {
  const auto it = families.find(family);
  if (it == families.end()) return 0;
  for (const Sample& sample : it->second.samples) {
    if (sample.name == name && sample.labels == labels) return sample.value;
  }
  return 0;
}

double Counter(const std::map<std::string, Family>& families, const std::string& name,
               const std::string& model, const std::string& reason = "") {
  std::map<std::string, std::string> labels = {{"model", model}, {"version", "1"}};
  if (!reason.empty()) labels["reason"] = reason;
  return Value(families, name, name, labels);
}

double HistogramPart(const std::map<std::string, Family>& families, const std::string& name,
                     const std::string& part, const std::string& model) {
  return Value(families, name, name + part, {{"model", model}, {"version", "1"}});
}

// ---- Fixture ------------------------------------------------------------------------------

class MetricsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    repository_dir_ = new TempDir("seqserve_metrics");
    MakeRepository(repository_dir_->path());
    absl::StatusOr<std::unique_ptr<Server>> server =
        Server::Start(HttpServerOptions(repository_dir_->path()));
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = server->release();
    absl::StatusOr<std::unique_ptr<Client>> client =
        Client::Create(absl::StrCat("127.0.0.1:", server_->grpc_port()));
    ASSERT_TRUE(client.ok()) << client.status();
    client_ = client->release();
  }
  static void TearDownTestSuite() {
    delete client_;
    delete server_;
    delete repository_dir_;
  }
  void SetUp() override { ASSERT_NE(server_, nullptr); }

  static std::string Scrape() {
    const HttpReply reply = HttpGet(server_->metrics_port(), "/metrics");
    EXPECT_EQ(reply.status, 200);
    const auto type = reply.headers.find("Content-Type");
    EXPECT_TRUE(type != reply.headers.end() &&
                type->second.rfind("text/plain; version=0.0.4", 0) == 0);
    return reply.body;
  }

  static TempDir* repository_dir_;
  static Server* server_;
  static Client* client_;
};

TempDir* MetricsTest::repository_dir_ = nullptr;
Server* MetricsTest::server_ = nullptr;
Client* MetricsTest::client_ = nullptr;

TEST_F(MetricsTest, EveryFamilyHasHelpTypeAndModelLabels) {
  ASSERT_TRUE(client_->Infer("lenet", Rows(LoadNpy("lenet", "input"), 0, 1)).ok());
  const std::map<std::string, Family> families = ParseMetrics(Scrape());
  const std::map<std::string, std::string> expected = {
      {"seqserve_inference_request_success_total", "counter"},
      {"seqserve_inference_request_failure_total", "counter"},
      {"seqserve_inference_count_total", "counter"},
      {"seqserve_inference_exec_count_total", "counter"},
      {"seqserve_request_duration_seconds", "histogram"},
      {"seqserve_queue_duration_seconds", "histogram"},
      {"seqserve_compute_duration_seconds", "histogram"},
      {"seqserve_batch_size", "histogram"},
      {"seqserve_queue_depth", "gauge"},
      {"seqserve_model_ready", "gauge"},
      {"seqserve_model_precision_info", "gauge"},
      {"process_cpu_seconds_total", "counter"},
      {"process_resident_memory_bytes", "gauge"},
  };
  for (const auto& [name, type] : expected) {
    ASSERT_TRUE(families.count(name)) << name;
    EXPECT_EQ(families.at(name).type, type) << name;
  }
  for (const auto& [name, family] : families) {
    if (name.rfind("seqserve_", 0) != 0) continue;
    for (const Sample& sample : family.samples) {
      EXPECT_TRUE(sample.labels.count("model") && sample.labels.count("version")) << sample.name;
    }
  }
  // Every loaded version is listed; the broken model is listed as not ready.
  EXPECT_EQ(Value(families, "seqserve_model_ready", "seqserve_model_ready",
                  {{"model", "lenet"}, {"version", "1"}}),
            1);
  EXPECT_EQ(Value(families, "seqserve_model_ready", "seqserve_model_ready",
                  {{"model", "broken"}, {"version", "1"}}),
            0);
  // lenet's config.pbtxt sets no precision: fp32.
  EXPECT_EQ(Value(families, "seqserve_model_precision_info", "seqserve_model_precision_info",
                  {{"model", "lenet"}, {"version", "1"}, {"precision", "fp32"}}),
            1);
  EXPECT_EQ(Value(families, "seqserve_queue_depth", "seqserve_queue_depth",
                  {{"model", "lenet"}, {"version", "1"}}),
            0);
  EXPECT_GT(Value(families, "process_resident_memory_bytes", "process_resident_memory_bytes", {}),
            1e6);
  EXPECT_GT(Value(families, "process_cpu_seconds_total", "process_cpu_seconds_total", {}), 0);
}

TEST_F(MetricsTest, HistogramsAreCumulativeAndAgreeWithCounters) {
  ASSERT_TRUE(client_->Infer("seed", Rows(LoadNpy("seed", "input"), 0, 3)).ok());
  ASSERT_TRUE(client_->Infer("lenet", Rows(LoadNpy("lenet", "input"), 1, 2)).ok());
  const std::map<std::string, Family> families = ParseMetrics(Scrape());
  for (const char* name : {"seqserve_request_duration_seconds", "seqserve_queue_duration_seconds",
                           "seqserve_compute_duration_seconds", "seqserve_batch_size"}) {
    SCOPED_TRACE(name);
    const Family& family = families.at(name);
    // Per series (model, version): le ascending, counts non-decreasing, +Inf = _count.
    std::map<std::string, std::vector<std::pair<std::string, double>>> buckets;
    for (const Sample& sample : family.samples) {
      if (sample.name != std::string(name) + "_bucket") continue;
      buckets[sample.labels.at("model")].emplace_back(sample.labels.at("le"), sample.value);
    }
    ASSERT_FALSE(buckets.empty());
    for (const auto& [model, series] : buckets) {
      SCOPED_TRACE(model);
      ASSERT_GE(series.size(), 2u);
      EXPECT_EQ(series.back().first, "+Inf");
      for (size_t i = 1; i < series.size(); ++i) {
        EXPECT_LE(series[i - 1].second, series[i].second);
        if (i + 1 < series.size()) {
          EXPECT_LT(std::stod(series[i - 1].first), std::stod(series[i].first));
        }
      }
      EXPECT_EQ(series.back().second, HistogramPart(families, name, "_count", model));
      EXPECT_GE(HistogramPart(families, name, "_sum", model), 0);
    }
  }
  // Durations resolve 50 µs to 10 s.
  std::set<std::string> bounds;
  for (const Sample& sample : families.at("seqserve_request_duration_seconds").samples) {
    if (sample.labels.count("le")) bounds.insert(sample.labels.at("le"));
  }
  EXPECT_TRUE(bounds.count("0.00005") && bounds.count("10") && bounds.count("+Inf"));
  // The histograms count what the counters count.
  for (const std::string model : {"seed", "lenet"}) {
    SCOPED_TRACE(model);
    const double successes = Counter(families, "seqserve_inference_request_success_total", model);
    EXPECT_GT(successes, 0);
    EXPECT_EQ(HistogramPart(families, "seqserve_request_duration_seconds", "_count", model),
              successes);
    EXPECT_EQ(HistogramPart(families, "seqserve_queue_duration_seconds", "_count", model),
              successes);
    EXPECT_EQ(HistogramPart(families, "seqserve_batch_size", "_count", model),
              Counter(families, "seqserve_inference_exec_count_total", model));
    EXPECT_EQ(HistogramPart(families, "seqserve_batch_size", "_sum", model),
              Counter(families, "seqserve_inference_count_total", model));
    EXPECT_EQ(HistogramPart(families, "seqserve_compute_duration_seconds", "_count", model),
              Counter(families, "seqserve_inference_exec_count_total", model));
  }
}

TEST_F(MetricsTest, CountersMoveByExactlyTheRequestsSentOverGrpcAndRest) {
  const Tensor input = LoadNpy("mlp", "input");
  const std::map<std::string, Family> before = ParseMetrics(Scrape());
  // 3 gRPC requests of 2 rows, 2 REST requests of 1 row, one after another (so each is a
  // batch of its own), then one malformed request each way.
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(client_->Infer("mlp", Rows(input, i, 2)).ok());
  for (int i = 0; i < 2; ++i) {
    const HttpReply reply = HttpPost(server_->http_port(), "/v2/models/mlp/infer",
                                     InferJson(Rows(input, i, 1), false).dump());
    ASSERT_EQ(reply.status, 200) << reply.body;
  }
  EXPECT_EQ(client_->Infer("mlp", Tensor({1, 1, 27, 28})).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(HttpPost(server_->http_port(), "/v2/models/mlp/infer",
                     InferJson(Tensor({1, 1, 27, 28}), false).dump())
                .status,
            400);
  const std::map<std::string, Family> after = ParseMetrics(Scrape());

  const auto delta = [&](const std::string& name, const std::string& reason = "") {
    return Counter(after, name, "mlp", reason) - Counter(before, name, "mlp", reason);
  };
  EXPECT_EQ(delta("seqserve_inference_request_success_total"), 5);
  EXPECT_EQ(delta("seqserve_inference_count_total"), 3 * 2 + 2 * 1);
  EXPECT_EQ(delta("seqserve_inference_exec_count_total"), 5);
  EXPECT_EQ(delta("seqserve_inference_request_failure_total", "INVALID_ARGUMENT"), 2);
  EXPECT_EQ(HistogramPart(after, "seqserve_request_duration_seconds", "_count", "mlp") -
                HistogramPart(before, "seqserve_request_duration_seconds", "_count", "mlp"),
            5);
  EXPECT_EQ(HistogramPart(after, "seqserve_batch_size", "_sum", "mlp") -
                HistogramPart(before, "seqserve_batch_size", "_sum", "mlp"),
            8);

  // ModelStatistics reads the same counters.
  absl::StatusOr<inference::ModelStatisticsResponse> statistics = client_->ModelStatistics("mlp");
  ASSERT_TRUE(statistics.ok()) << statistics.status();
  const inference::ModelStatistics& stats = statistics->model_stats(0);
  EXPECT_EQ(static_cast<double>(stats.inference_stats().success().count()),
            Counter(after, "seqserve_inference_request_success_total", "mlp"));
  EXPECT_EQ(static_cast<double>(stats.inference_count()),
            Counter(after, "seqserve_inference_count_total", "mlp"));
  EXPECT_EQ(static_cast<double>(stats.inference_stats().fail().count()),
            Counter(after, "seqserve_inference_request_failure_total", "mlp", "INVALID_ARGUMENT"));
  EXPECT_NEAR(static_cast<double>(stats.inference_stats().success().ns()) / 1e9,
              HistogramPart(after, "seqserve_request_duration_seconds", "_sum", "mlp"), 1e-6);
}

TEST_F(MetricsTest, QueueFullIsCountedByReason) {
  std::shared_ptr<Gate> gate = HoldWorker(*server_, "held");
  GateOpener opener(gate);
  const Tensor input = Rows(LoadNpy("lenet", "input"), 0, 1);
  const std::map<std::string, Family> before = ParseMetrics(Scrape());
  std::thread queued([&] { EXPECT_TRUE(client_->Infer("held", input).ok()); });
  ASSERT_TRUE(WaitForQueueDepth(*server_, "held", 1));
  const std::map<std::string, Family> during = ParseMetrics(Scrape());
  EXPECT_EQ(Value(during, "seqserve_queue_depth", "seqserve_queue_depth",
                  {{"model", "held"}, {"version", "1"}}),
            1);
  EXPECT_EQ(client_->Infer("held", input).status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(HttpPost(server_->http_port(), "/v2/models/held/infer", InferJson(input, false).dump())
                .status,
            429);
  gate->release.Notify();
  queued.join();
  const std::map<std::string, Family> after = ParseMetrics(Scrape());
  EXPECT_EQ(
      Counter(after, "seqserve_inference_request_failure_total", "held", "RESOURCE_EXHAUSTED") -
          Counter(before, "seqserve_inference_request_failure_total", "held", "RESOURCE_EXHAUSTED"),
      2);
}

// ---- External tools ---------------------------------------------------------------------

std::string FindBinary(const std::string& name) {
  for (const char* dir : {"/usr/bin", "/usr/local/bin", "/bin"}) {
    const std::string path = absl::StrCat(dir, "/", name);
    if (access(path.c_str(), X_OK) == 0) return path;
  }
  return "";
}

TEST_F(MetricsTest, PromtoolCheckMetricsFindsNothing) {
  const std::string promtool = FindBinary("promtool");
  if (promtool.empty()) GTEST_SKIP() << "promtool not installed (scripts/setup.sh installs it)";
  // Traffic of every kind first, so every family has samples (failures included).
  ASSERT_TRUE(client_->Infer("lenet", Rows(LoadNpy("lenet", "input"), 0, 2)).ok());
  EXPECT_FALSE(client_->Infer("lenet", Tensor({1, 1, 2, 2})).ok());
  TempDir dir("seqserve_promtool");
  const fs::path file = dir.path() / "metrics.txt";
  WriteFile(file, Scrape());
  const auto [status, output] =
      RunCommand(absl::StrCat(promtool, " check metrics < ", file.string()));
  EXPECT_EQ(status, 0) << output;
  EXPECT_EQ(output, "") << "promtool check metrics complained";
}

int FreeLoopbackPort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  socklen_t length = sizeof(address);
  if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    close(fd);
    return 0;
  }
  close(fd);
  return ntohs(address.sin_port);
}

// A Prometheus server on loopback with its own temporary storage, stopped (SIGTERM, then
// waited for) when it goes out of scope.
class PrometheusProcess {
 public:
  PrometheusProcess(const std::string& binary, const fs::path& dir, int scrape_port) {
    port_ = FreeLoopbackPort();
    WriteFile(dir / "prometheus.yml",
              absl::StrCat("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                           "scrape_configs:\n  - job_name: seqserve\n    static_configs:\n"
                           "      - targets: ['127.0.0.1:",
                           scrape_port, "']\n"));
    log_ = (dir / "prometheus.log").string();
    const std::vector<std::string> args = {
        binary, absl::StrCat("--config.file=", (dir / "prometheus.yml").string()),
        absl::StrCat("--storage.tsdb.path=", (dir / "data").string()),
        absl::StrCat("--web.listen-address=127.0.0.1:", port_), "--log.level=warn"};
    std::vector<char*> argv;
    for (const std::string& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log_.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
    if (posix_spawn(&pid_, binary.c_str(), &actions, nullptr, argv.data(), environ) != 0) pid_ = 0;
    posix_spawn_file_actions_destroy(&actions);
  }
  ~PrometheusProcess() {
    if (pid_ <= 0) return;
    kill(pid_, SIGTERM);
    int status = 0;
    waitpid(pid_, &status, 0);
  }
  bool started() const { return pid_ > 0 && port_ > 0; }
  int port() const { return port_; }
  std::string Log() const {
    std::ifstream file(log_);
    return std::string(std::istreambuf_iterator<char>(file), {});
  }

 private:
  pid_t pid_ = 0;
  int port_ = 0;
  std::string log_;
};

TEST_F(MetricsTest, RealPrometheusScrapesTheRightCount) {
  const std::string binary = FindBinary("prometheus");
  if (binary.empty()) GTEST_SKIP() << "prometheus not installed (scripts/setup.sh installs it)";
  // The number Prometheus must report: seed's samples after these requests, as /metrics
  // says now (earlier tests may have sent some) — nothing else sends to seed meanwhile.
  const Tensor input = LoadNpy("seed", "input");
  for (int rows = 1; rows <= 3; ++rows)
    ASSERT_TRUE(client_->Infer("seed", Rows(input, 0, rows)).ok());
  const double expected = Counter(ParseMetrics(Scrape()), "seqserve_inference_count_total", "seed");
  ASSERT_GE(expected, 6);

  TempDir dir("seqserve_prometheus");
  PrometheusProcess prometheus(binary, dir.path(), server_->metrics_port());
  ASSERT_TRUE(prometheus.started());
  httplib::Client api("127.0.0.1", prometheus.port());
  api.set_connection_timeout(2);
  const httplib::Params query = {{"query", "seqserve_inference_count_total{model=\"seed\"}"}};
  // Waiting on an external process: poll its query API until the first scrape shows up,
  // bounded; each poll is an HTTP round trip.
  const absl::Time deadline = absl::Now() + absl::Seconds(90);
  double seen = -1;
  std::string last;
  while (absl::Now() < deadline) {
    const httplib::Result result = api.Get("/api/v1/query", query, httplib::Headers());
    if (result && result->status == 200) {
      last = result->body;
      const json answer = json::parse(result->body, nullptr, false);
      if (answer.is_object() && answer["status"] == "success" &&
          !answer["data"]["result"].empty()) {
        const json& series = answer["data"]["result"][0];
        EXPECT_EQ(series["metric"]["job"], "seqserve");
        EXPECT_EQ(series["metric"]["version"], "1");
        seen = std::stod(series["value"][1].get<std::string>());
        break;
      }
    }
    absl::SleepFor(absl::Milliseconds(200));
  }
  EXPECT_EQ(seen, expected) << "last answer: " << last << "\nprometheus log:\n" << prometheus.Log();
}

}  // namespace
}  // namespace seqserve
