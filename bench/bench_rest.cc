// bench_rest: the costs issue 5 set targets for, measured three ways.
//
//   bench_rest codec [--shape 1,3,224,224]     REST JSON decode + encode of one tensor, and the
//                                              binary extension's, in-process (no sockets)
//   bench_rest stats                           the per-request statistics update (counters +
//                                              histograms), histograms on and off, 1-2 threads
//   bench_rest load --url 127.0.0.1:8000 -m M  closed-loop REST load (keep-alive connections,
//        [--shape 3,224,224] [--binary]        one per concurrent request): throughput, p50/p90/
//        [--concurrency 16] [--seconds 10]     p99 latency; --binary uses Triton's binary
//        [--new-connection]                    tensor extension both ways, else JSON;
//                                              --new-connection opens a connection per
//                                              request (Connection: close) instead
//
// Timings are wall-clock medians over repetitions; the numbers go to bench/RESULTS.md.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "server/scheduling/model_stats.h"
#include "server/http/rest_infer.h"

namespace {

using Clock = std::chrono::steady_clock;

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

double Median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

double Percentile(std::vector<double>& sorted, double p) {
  const size_t index = std::min(sorted.size() - 1, static_cast<size_t>(p * sorted.size()));
  return sorted[index];
}

seqserve::Shape ParseShape(const std::string& text) {
  seqserve::Shape shape;
  for (const absl::string_view dim : absl::StrSplit(text, ',')) {
    int64_t value = 0;
    if (!absl::SimpleAtoi(dim, &value) || value < 1) {
      std::fprintf(stderr, "bad shape '%s'\n", text.c_str());
      std::exit(2);
    }
    shape.push_back(value);
  }
  return shape;
}

std::vector<float> RandomValues(int64_t n) {
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  std::vector<float> values(static_cast<size_t>(n));
  for (float& v : values) v = uniform(rng);
  return values;
}

// A client's JSON request body for `values` of `shape` (flat data, shortest floats).
std::string JsonRequest(const seqserve::Shape& shape, const std::vector<float>& values) {
  // The reply encoder writes exactly the "data" array a client would send.
  seqserve::RestInferRequest no_options;
  const std::string reply =
      seqserve::EncodeRestInferResponse("m", 1, no_options, "input", shape, values).body;
  const size_t data = reply.find("\"data\":");
  return absl::StrCat("{\"inputs\":[{\"name\":\"input\",\"datatype\":\"FP32\",\"shape\":[",
                      absl::StrJoin(shape, ","), "],", reply.substr(data, reply.size() - data - 2),
                      "]}");
}

std::string BinaryRequest(const seqserve::Shape& shape, const std::vector<float>& values,
                          size_t* json_length) {
  const std::string header = absl::StrCat(
      "{\"inputs\":[{\"name\":\"input\",\"datatype\":\"FP32\",\"shape\":[",
      absl::StrJoin(shape, ","),
      "],\"parameters\":{\"binary_data_size\":", values.size() * sizeof(float),
      "}}],\"outputs\":[{\"name\":\"output\",\"parameters\":{\"binary_data\":true}}]}");
  *json_length = header.size();
  return header +
         std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float));
}

int Codec(const std::string& shape_text, int repetitions) {
  const seqserve::Shape shape = ParseShape(shape_text);
  const std::vector<float> values = RandomValues(seqserve::NumElements(shape));
  const std::string json = JsonRequest(shape, values);
  size_t json_length = 0;
  const std::string binary = BinaryRequest(shape, values, &json_length);

  std::vector<double> decode_ms, encode_ms, binary_decode_ms, binary_encode_ms;
  size_t reply_bytes = 0;
  for (int i = 0; i < repetitions; ++i) {
    Clock::time_point start = Clock::now();
    auto request = seqserve::DecodeRestInferRequest(json, std::nullopt);
    decode_ms.push_back(Ms(Clock::now() - start));
    if (!request.ok() ||
        (*request)->view.inputs[0].values.size() != values.size() * sizeof(float)) {
      std::fprintf(stderr, "decode failed\n");
      return 1;
    }
    start = Clock::now();
    const std::string reply =
        seqserve::EncodeRestInferResponse("m", 1, **request, "output", shape, values).body;
    encode_ms.push_back(Ms(Clock::now() - start));
    reply_bytes = reply.size();

    start = Clock::now();
    auto binary_request = seqserve::DecodeRestInferRequest(binary, json_length);
    binary_decode_ms.push_back(Ms(Clock::now() - start));
    if (!binary_request.ok()) return 1;
    start = Clock::now();
    const auto binary_reply =
        seqserve::EncodeRestInferResponse("m", 1, **binary_request, "output", shape, values);
    binary_encode_ms.push_back(Ms(Clock::now() - start));
  }
  std::printf("tensor %s float32 (%zu values): JSON request %.2f MB, reply %.2f MB\n",
              shape_text.c_str(), values.size(), json.size() / 1e6, reply_bytes / 1e6);
  std::printf("JSON   decode %.3f ms  encode %.3f ms  total %.3f ms (medians of %d)\n",
              Median(decode_ms), Median(encode_ms), Median(decode_ms) + Median(encode_ms),
              repetitions);
  std::printf("binary decode %.3f ms  encode %.3f ms  total %.3f ms\n", Median(binary_decode_ms),
              Median(binary_encode_ms), Median(binary_decode_ms) + Median(binary_encode_ms));
  return 0;
}

// What the batch runner records for one request that ran alone (a batch of one).
void RecordRequest(seqserve::ModelStats& stats, uint64_t i) {
  const uint64_t ns = 20'000 + (i * 7919) % 5'000'000;  // spread over the buckets
  stats.AddExecution(1, ns / 10, ns, ns / 20);
  stats.queue.Add(ns / 3);
  stats.compute_input.Add(ns / 10);
  stats.compute_infer.Add(ns);
  stats.compute_output.Add(ns / 20);
  stats.success.Add(ns + ns / 3);
}

int Stats(int iterations) {
  for (const bool histograms : {false, true}) {
    seqserve::SetHistogramsEnabled(histograms);
    for (const int threads : {1, 2}) {
      seqserve::ModelStats stats;
      std::vector<double> ns_per_request;
      for (int repetition = 0; repetition < 5; ++repetition) {
        const Clock::time_point start = Clock::now();
        std::vector<std::thread> workers;
        for (int t = 0; t < threads; ++t) {
          workers.emplace_back([&stats, iterations, t] {
            for (int i = 0; i < iterations; ++i) RecordRequest(stats, static_cast<uint64_t>(i + t));
          });
        }
        for (std::thread& worker : workers) worker.join();
        ns_per_request.push_back(
            std::chrono::duration<double, std::nano>(Clock::now() - start).count() / iterations);
      }
      std::printf(
          "histograms %-3s, %d thread%s on one model: %.0f ns per request (wall, per "
          "thread's request)\n",
          histograms ? "on" : "off", threads, threads == 1 ? "" : "s", Median(ns_per_request));
    }
  }
  return 0;
}

// A minimal HTTP/1.1 keep-alive client on a plain socket: the request goes out in one send,
// the reply is read with large recv calls. (cpp-httplib's client reads in 4 KiB steps with a
// poll before each, which for a 600 KB reply costs as much as the server's whole work; the
// load generator should measure the server, as seqperf's gRPC client does.)
class RawHttpClient {
 public:
  // `new_connection`: every request on a connection of its own (the request should say
  // "Connection: close").
  RawHttpClient(const std::string& host, int port, bool new_connection = false)
      : host_(host), port_(port), new_connection_(new_connection) {
    Connect();
  }
  ~RawHttpClient() {
    if (fd_ >= 0) close(fd_);
  }
  bool connected() const { return fd_ >= 0; }

  // Sends `request` (complete, with headers) and returns the reply's status (0 on error);
  // the body is in body(). A connection the server closed (it ends keep-alive connections
  // after 1000 requests, saying "Connection: close") is reopened.
  int RoundTrip(const std::string& request) {
    if (close_next_ || (new_connection_ && used_)) {
      close(fd_);
      Connect();
      if (fd_ < 0) return 0;
    }
    used_ = true;
    return Exchange(request);
  }
  std::string_view body() const { return body_; }

  // From another thread: unblocks a send or recv in progress (it fails).
  void Abort() {
    const int fd = fd_.load();
    if (fd >= 0) shutdown(fd, SHUT_RDWR);
  }

 private:
  void Connect() {
    close_next_ = false;
    used_ = false;
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    const std::string& host = host_;
    const int port = port_;
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<uint16_t>(port));
    inet_pton(AF_INET, host == "localhost" ? "127.0.0.1" : host.c_str(), &address.sin_addr);
    if (connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
      close(fd_);
      fd_ = -1;
    }
    const int one = 1;
    if (fd_ >= 0) setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    buffer_.resize(1 << 20);
  }

  int Exchange(const std::string& request) {
    for (size_t sent = 0; sent < request.size();) {
      const ssize_t n = send(fd_, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return 0;
      sent += static_cast<size_t>(n);
    }
    size_t have = 0, header_end = std::string::npos;
    while (header_end == std::string::npos) {
      const ssize_t n = recv(fd_, buffer_.data() + have, buffer_.size() - have, 0);
      if (n <= 0) return 0;
      have += static_cast<size_t>(n);
      header_end = std::string_view(buffer_.data(), have).find("\r\n\r\n");
    }
    const std::string_view head(buffer_.data(), header_end);
    const size_t length_at = [&] {
      // At a line start: Inference-Header-Content-Length ends the same way.
      for (const char* name : {"\r\nContent-Length: ", "\r\ncontent-length: "}) {
        const size_t at = head.find(name);
        if (at != std::string_view::npos) return at + 18;
      }
      return std::string_view::npos;
    }();
    if (head.size() < 12 || length_at == std::string_view::npos) return 0;
    const size_t length = std::strtoul(head.data() + length_at, nullptr, 10);
    const int status = std::atoi(head.data() + 9);
    const size_t total = header_end + 4 + length;
    if (buffer_.size() < total) buffer_.resize(total);
    while (have < total) {
      const ssize_t n = recv(fd_, buffer_.data() + have, total - have, 0);
      if (n <= 0) return 0;
      have += static_cast<size_t>(n);
    }
    body_ = std::string_view(buffer_.data() + header_end + 4, length);
    close_next_ = head.find("\r\nConnection: close") != std::string_view::npos;
    return status;
  }

  const std::string host_;
  const int port_;
  const bool new_connection_;
  bool close_next_ = false;
  bool used_ = false;  // a request went over the open connection
  std::atomic<int> fd_{-1};  // Abort reads it from another thread
  std::string buffer_;
  std::string_view body_;
};

int Load(const std::string& url, const std::string& model, const std::string& shape_text,
         bool binary, int concurrency, double seconds, bool new_connection) {
  const size_t colon = url.rfind(':');
  const std::string host = url.substr(0, colon);
  const int port = std::stoi(url.substr(colon + 1));
  seqserve::Shape shape = ParseShape(shape_text);
  shape.insert(shape.begin(), 1);
  const std::vector<float> values = RandomValues(seqserve::NumElements(shape));
  size_t json_length = 0;
  const std::string body =
      binary ? BinaryRequest(shape, values, &json_length) : JsonRequest(shape, values);
  const std::string request = absl::StrCat(
      "POST /v2/models/", model, "/infer HTTP/1.1\r\nHost: ", host,
      "\r\nContent-Type: application/json\r\nContent-Length: ", body.size(), "\r\n",
      new_connection ? "Connection: close\r\n" : "",
      binary ? absl::StrCat("Inference-Header-Content-Length: ", json_length, "\r\n") : "", "\r\n",
      body);

  std::atomic<bool> measuring{false}, stop{false};
  std::atomic<int> errors{0};
  std::vector<std::vector<double>> latencies(static_cast<size_t>(concurrency));
  std::vector<std::thread> clients;
  // Each client thread's client, for Abort once the window is over: a server that never
  // answers some connections would otherwise keep their threads waiting.
  std::vector<std::atomic<RawHttpClient*>> running(static_cast<size_t>(concurrency));
  std::mutex running_mu;
  for (int c = 0; c < concurrency; ++c) {
    clients.emplace_back([&, c] {
      RawHttpClient client(host, port, new_connection);
      running[static_cast<size_t>(c)].store(&client);
      struct Unregister {
        std::atomic<RawHttpClient*>& slot;
        std::mutex& mu;
        ~Unregister() {
          std::lock_guard<std::mutex> lock(mu);
          slot.store(nullptr);
        }
      } unregister{running[static_cast<size_t>(c)], running_mu};
      if (!client.connected()) {
        errors.fetch_add(1);
        return;
      }
      while (!stop.load()) {
        const Clock::time_point start = Clock::now();
        const int status = client.RoundTrip(request);
        const double ms = Ms(Clock::now() - start);
        if (status != 200) {
          if (stop.load()) return;  // aborted after the window
          if (errors.fetch_add(1) < 3) {
            std::fprintf(stderr, "error %d: %s\n", status,
                         std::string(client.body().substr(0, 200)).c_str());
          }
          if (status == 0) return;  // the connection is gone
          continue;
        }
        if (measuring.load()) latencies[static_cast<size_t>(c)].push_back(ms);
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::seconds(1));  // warm-up
  measuring = true;
  const Clock::time_point start = Clock::now();
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  measuring = false;
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  stop = true;
  {
    std::lock_guard<std::mutex> lock(running_mu);
    for (std::atomic<RawHttpClient*>& client : running) {
      if (RawHttpClient* waiting = client.load()) waiting->Abort();
    }
  }
  for (std::thread& client : clients) client.join();

  std::vector<double> all;
  // Clients that got no answer in the whole window: a server that serves a fixed number of
  // connections at a time leaves the others waiting, which the latencies cannot show.
  int starved = 0;
  for (const std::vector<double>& l : latencies) {
    all.insert(all.end(), l.begin(), l.end());
    starved += l.empty() ? 1 : 0;
  }
  std::sort(all.begin(), all.end());
  if (all.empty()) {
    std::fprintf(stderr, "no successful requests\n");
    return 1;
  }
  std::printf(
      "REST %s%s %s x%d: %.1f infer/s, p50 %.3f ms, p90 %.3f ms, p99 %.3f ms, max %.3f ms"
      " (%zu requests, %d errors, %d clients unanswered)\n",
      binary ? "binary" : "JSON", new_connection ? " new-connection" : "", shape_text.c_str(),
      concurrency, all.size() / elapsed,
      Percentile(all, 0.5), Percentile(all, 0.9), Percentile(all, 0.99), all.back(), all.size(),
      errors.load(), starved);
  return errors.load() > 0 ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"bench_rest: REST codec, statistics-update and REST load benchmarks"};
  app.require_subcommand(1);
  std::string shape = "1,3,224,224";
  int repetitions = 30;
  CLI::App* codec = app.add_subcommand("codec", "JSON decode + encode of one tensor");
  codec->add_option("--shape", shape, "tensor shape")->capture_default_str();
  codec->add_option("--repetitions", repetitions)->capture_default_str();
  int iterations = 2'000'000;
  CLI::App* stats = app.add_subcommand("stats", "per-request statistics update cost");
  stats->add_option("--iterations", iterations)->capture_default_str();
  std::string url = "127.0.0.1:8000", model, load_shape = "3,224,224";
  bool binary = false;
  int concurrency = 16;
  double seconds = 10;
  CLI::App* load = app.add_subcommand("load", "closed-loop REST inference load");
  load->add_option("--url", url)->capture_default_str();
  load->add_option("-m,--model", model)->required();
  load->add_option("--shape", load_shape, "one sample's shape (batch 1 is added)")
      ->capture_default_str();
  load->add_flag("--binary", binary, "binary tensor extension both ways (else JSON)");
  load->add_option("--concurrency", concurrency)->capture_default_str();
  load->add_option("--seconds", seconds)->capture_default_str();
  bool new_connection = false;
  load->add_flag("--new-connection", new_connection,
                 "a new connection per request (Connection: close), else keep-alive");
  CLI11_PARSE(app, argc, argv);
  if (codec->parsed()) return Codec(shape, repetitions);
  if (stats->parsed()) return Stats(iterations);
  return Load(url, model, load_shape, binary, concurrency, seconds, new_connection);
}
