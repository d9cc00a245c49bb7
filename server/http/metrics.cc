#include "server/http/metrics.h"

#include <sys/resource.h>
#include <unistd.h>

#include <charconv>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/precision.h"
#include "server/scheduling/model_stats.h"

namespace seqserve {
namespace {

// A label value with backslash, double quote and newline escaped (the text format's rule).
std::string EscapeLabel(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (const char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

// A sample value: integers as integers, others in the shortest form that reads back.
std::string FormatDouble(double value) {
  char buffer[32];
  const std::to_chars_result result = std::to_chars(buffer, buffer + sizeof(buffer), value);
  return std::string(buffer, result.ptr);
}

// A bucket bound in plain decimals ("0.00005", "2.5", "10"), as people read them in queries.
std::string FormatBound(double value) {
  char buffer[32];
  const std::to_chars_result result =
      std::to_chars(buffer, buffer + sizeof(buffer), value, std::chars_format::fixed);
  return std::string(buffer, result.ptr);
}

// One model version's state at scrape time.
struct VersionSample {
  std::string labels;  // model="...",version="..."
  bool ready = false;
  std::shared_ptr<ServableModel> servable;  // null unless READY
};

class Writer {
 public:
  void Family(std::string_view name, std::string_view type, std::string_view help) {
    absl::StrAppend(&out_, "# HELP ", std::string(name), " ", std::string(help), "\n# TYPE ",
                    std::string(name), " ", std::string(type), "\n");
  }
  void Sample(std::string_view name, std::string_view labels, std::string_view value) {
    absl::StrAppend(&out_, std::string(name));
    if (!labels.empty()) absl::StrAppend(&out_, "{", std::string(labels), "}");
    absl::StrAppend(&out_, " ", std::string(value), "\n");
  }
  void Sample(std::string_view name, std::string_view labels, uint64_t value) {
    Sample(name, labels, std::to_string(value));
  }

  // A histogram's buckets (cumulative), sum and count. Observations divided by `divisor` are
  // in the family's unit (1e9 for nanoseconds to seconds; dividing by a power of ten
  // exactly representable keeps "5e-05" from printing as "5.0000000000000002e-05").
  void Histogram(std::string_view name, const std::string& labels, const seqserve::Histogram& h,
                 double divisor) {
    const seqserve::Histogram::Snapshot snapshot = h.Read();
    const std::span<const uint64_t> bounds = h.upper_bounds();
    const std::string bucket = absl::StrCat(std::string(name), "_bucket");
    for (size_t i = 0; i < bounds.size(); ++i) {
      Sample(bucket,
             absl::StrCat(labels, ",le=\"", FormatBound(static_cast<double>(bounds[i]) / divisor),
                          "\""),
             snapshot.cumulative[i]);
    }
    Sample(bucket, absl::StrCat(labels, ",le=\"+Inf\""), snapshot.count);
    Sample(absl::StrCat(std::string(name), "_sum"), labels,
           FormatDouble(static_cast<double>(snapshot.sum) / divisor));
    Sample(absl::StrCat(std::string(name), "_count"), labels, snapshot.count);
  }

  std::string Take() { return std::move(out_); }

 private:
  std::string out_;
};

// Fields of /proc/self/stat after the command (which may contain spaces): field 3 on.
std::vector<std::string> ProcSelfStat() {
  std::ifstream file("/proc/self/stat");
  std::string line;
  std::getline(file, line);
  std::vector<std::string> fields;
  const size_t close = line.rfind(')');
  if (close == std::string::npos) return fields;
  std::istringstream rest(line.substr(close + 2));
  for (std::string field; rest >> field;) fields.push_back(field);
  return fields;
}

void WriteProcessMetrics(Writer& writer) {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  const double cpu_seconds =
      static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
      static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
  writer.Family("process_cpu_seconds_total", "counter",
                "Total user and system CPU time spent in seconds.");
  writer.Sample("process_cpu_seconds_total", "", FormatDouble(cpu_seconds));

  const uint64_t page_bytes = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  uint64_t virtual_pages = 0, resident_pages = 0;
  std::ifstream("/proc/self/statm") >> virtual_pages >> resident_pages;
  writer.Family("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
  writer.Sample("process_resident_memory_bytes", "", resident_pages * page_bytes);
  writer.Family("process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.");
  writer.Sample("process_virtual_memory_bytes", "", virtual_pages * page_bytes);

  // Start time: boot time (/proc/stat btime) + the process's start in clock ticks (field 22
  // of /proc/self/stat, index 19 after the command).
  const std::vector<std::string> stat = ProcSelfStat();
  uint64_t boot_seconds = 0;
  {
    std::ifstream proc_stat("/proc/stat");
    for (std::string key; proc_stat >> key;) {
      if (key == "btime") {
        proc_stat >> boot_seconds;
        break;
      }
    }
  }
  if (stat.size() > 19 && boot_seconds > 0) {
    const double start = static_cast<double>(boot_seconds) +
                         std::stod(stat[19]) / static_cast<double>(sysconf(_SC_CLK_TCK));
    writer.Family("process_start_time_seconds", "gauge",
                  "Start time of the process since unix epoch in seconds.");
    writer.Sample("process_start_time_seconds", "", FormatDouble(start));
  }

  std::error_code error;
  uint64_t open_fds = 0;
  for (std::filesystem::directory_iterator it("/proc/self/fd", error), end; !error && it != end;
       it.increment(error)) {
    ++open_fds;
  }
  writer.Family("process_open_fds", "gauge", "Number of open file descriptors.");
  writer.Sample("process_open_fds", "", open_fds);
  rlimit files{};
  if (getrlimit(RLIMIT_NOFILE, &files) == 0) {
    writer.Family("process_max_fds", "gauge", "Maximum number of open file descriptors.");
    writer.Sample("process_max_fds", "", static_cast<uint64_t>(files.rlim_cur));
  }
}

}  // namespace

std::string RenderMetrics(const ModelRepository& repository) {
  std::vector<VersionSample> versions;
  for (const ModelVersionStatus& status : repository.Index()) {
    VersionSample& sample = versions.emplace_back();
    sample.labels =
        absl::StrCat("model=\"", EscapeLabel(status.name), "\",version=\"",
                     status.version > 0 ? std::to_string(status.version) : std::string(), "\"");
    sample.ready = status.state == ModelState::kReady;
    if (sample.ready) {
      absl::StatusOr<std::shared_ptr<ServableModel>> servable =
          repository.Get(status.name, status.version);
      if (servable.ok()) sample.servable = std::move(*servable);
    }
  }

  Writer writer;
  auto each_loaded = [&](auto&& write) {
    for (const VersionSample& sample : versions) {
      if (sample.servable != nullptr) {
        write(sample.labels, sample.servable->stats);
      }
    }
  };
  writer.Family("seqserve_inference_request_success_total", "counter",
                "Inference requests answered successfully.");
  each_loaded([&](const std::string& labels, const ModelStats& stats) {
    writer.Sample("seqserve_inference_request_success_total", labels,
                  stats.success.count.load(std::memory_order_relaxed));
  });
  writer.Family("seqserve_inference_request_failure_total", "counter",
                "Inference requests that failed after reaching a model version, by reason "
                "(the status code).");
  each_loaded([&](const std::string& labels, const ModelStats& stats) {
    for (const auto& [reason, count] : stats.FailuresByReason()) {
      writer.Sample("seqserve_inference_request_failure_total",
                    absl::StrCat(labels, ",reason=\"", reason, "\""), count);
    }
  });
  writer.Family("seqserve_inference_count_total", "counter",
                "Samples inferred: the rows (batch dim) of successful requests.");
  each_loaded([&](const std::string& labels, const ModelStats& stats) {
    writer.Sample("seqserve_inference_count_total", labels,
                  stats.inference_count.load(std::memory_order_relaxed));
  });
  writer.Family("seqserve_inference_exec_count_total", "counter",
                "Batched executions of the model.");
  each_loaded([&](const std::string& labels, const ModelStats& stats) {
    writer.Sample("seqserve_inference_exec_count_total", labels,
                  stats.execution_count.load(std::memory_order_relaxed));
  });

  constexpr double kNanosPerSecond = 1e9;
  writer.Family("seqserve_request_duration_seconds", "histogram",
                "Successful inference requests from enqueue to answer, in seconds.");
  each_loaded([&](const std::string& labels, const ModelStats& stats) {
    writer.Histogram("seqserve_request_duration_seconds", labels, stats.success.histogram,
                     kNanosPerSecond);
  });
  writer.Family("seqserve_queue_duration_seconds", "histogram",
                "Time successful inference requests waited in the queue, in seconds.");
  each_loaded([&](const std::string& labels, const ModelStats& stats) {
    writer.Histogram("seqserve_queue_duration_seconds", labels, stats.queue.histogram,
                     kNanosPerSecond);
  });
  writer.Family("seqserve_compute_duration_seconds", "histogram",
                "Compute time of each batched execution (gather, run, scatter), in seconds.");
  each_loaded([&](const std::string& labels, const ModelStats& stats) {
    writer.Histogram("seqserve_compute_duration_seconds", labels, stats.compute_duration,
                     kNanosPerSecond);
  });
  writer.Family("seqserve_batch_size", "histogram", "Rows per batched execution.");
  each_loaded([&](const std::string& labels, const ModelStats& stats) {
    writer.Histogram("seqserve_batch_size", labels, stats.batch_size, 1.0);
  });

  writer.Family("seqserve_queue_depth", "gauge", "Inference requests waiting in the queue.");
  for (const VersionSample& sample : versions) {
    if (sample.servable == nullptr) continue;
    writer.Sample("seqserve_queue_depth", sample.labels,
                  static_cast<uint64_t>(sample.servable->scheduler->QueueDepth()));
  }
  writer.Family("seqserve_model_ready", "gauge",
                "1 when the model version is ready to serve, 0 otherwise.");
  for (const VersionSample& sample : versions) {
    writer.Sample("seqserve_model_ready", sample.labels, sample.ready ? "1" : "0");
  }
  // An info metric (Prometheus's idiom for facts as labels): always 1, its label says the
  // precision the loaded version computes in (fp32 where the CPU cannot run what
  // config.pbtxt asked for).
  writer.Family("seqserve_model_precision_info", "gauge",
                "Always 1 for a loaded model version; label precision: the precision it "
                "computes in (fp32, bf16, int8).");
  for (const VersionSample& sample : versions) {
    if (sample.servable == nullptr) continue;
    writer.Sample("seqserve_model_precision_info",
                  absl::StrCat(sample.labels, ",precision=\"",
                               std::string(PrecisionName(sample.servable->model->precision())),
                               "\""),
                  "1");
  }
  WriteProcessMetrics(writer);
  return writer.Take();
}

absl::StatusOr<std::unique_ptr<MetricsService>> MetricsService::Start(
    const MetricsOptions& options, const ModelRepository& repository) {
  HttpListenerOptions listen;
  listen.what = "metrics";
  listen.address = options.address;
  listen.port = options.port;
  listen.threads = 1;  // scrapes are rare and cheap; slow clients cost no thread
  listen.max_body_bytes = 64 * 1024;  // GET only
  absl::StatusOr<std::unique_ptr<HttpListener>> listener = HttpListener::Start(
      listen, [&repository](HttpRequest request, HttpResponder responder) {
        if (request.path != "/metrics" || (request.method != "GET" && request.method != "HEAD")) {
          return responder.Send(HttpResponse::Error(
              404, absl::StrCat("no endpoint ", request.method, " ", request.path,
                                " (the metrics are at GET /metrics)")));
        }
        HttpResponse response;
        response.body = RenderMetrics(repository);
        response.headers.emplace_back("Content-Type", "text/plain; version=0.0.4; charset=utf-8");
        responder.Send(std::move(response));
      });
  if (!listener.ok()) return listener.status();
  std::unique_ptr<MetricsService> service(new MetricsService());
  service->listener_ = std::move(*listener);
  return service;
}

}  // namespace seqserve
