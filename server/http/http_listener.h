// An event-driven HTTP/1.1 server (Boost.Beast on Asio), shared by the REST front end and the
// metrics exporter: binds (port 0 picks a free one), accepts on a few event-loop threads, and
// hands each complete request to one handler together with an HttpResponder, through which
// the answer goes back from any thread whenever it is ready. No thread waits on a connection:
// an idle keep-alive connection costs its socket and a few KiB, and a slow client only its
// own connection.
//
// Per connection, one request at a time (HTTP/1.1; pipelined requests wait their turn):
//   idle        waiting for a request's first byte: at most idle_timeout_ms, then closed
//   headers     first byte to the end of the headers: at most header_timeout_ms in all (a
//               deadline, not a per-read timeout: trickling bytes does not extend it), at
//               most max_header_bytes and max_header_count fields (431 beyond)
//   body        end of headers to the end of the body: at most body_timeout_ms in all, at
//               most max_body_bytes (a larger or negative Content-Length is answered 413 /
//               400 as soon as the headers are in; a chunked body is counted as it comes).
//               A request with neither Content-Length nor Transfer-Encoding has no body
//               (RFC 9112 §6.3) and is handed over at once. "Expect: 100-continue" is
//               answered before the body is read.
//   handling    the handler has the request; nothing is read until it answers
//   writing     the response, within body_timeout_ms; then idle again (keep-alive) or closed
// A deadline that passes is answered 408 and the connection closed; so are malformed
// requests (400). The server's own errors carry {"error": "..."} like the handlers' do.
//
// TLS (optional): the certificate chain and key in PEM; with a root certificate and
// `mutual`, clients must present a certificate it signed. The handshake counts against the
// header deadline.
//
// Thread-safe: handlers run on the event-loop threads and must not block; an HttpResponder
// may be used (once) from any thread. Stop may be called from any thread, repeatedly.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace seqserve {

using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string target;  // as sent: path and query
  std::string path;    // the target's path, percent-decoded
  HttpHeaders headers;
  std::string body;
  std::string peer;  // "address:port" of the client
  int64_t received_ns = 0;  // when its first byte arrived: steady clock, nanoseconds

  // The first header named `name` (case-insensitive); null when absent.
  const std::string* Header(std::string_view name) const;
};

struct HttpResponse {
  int status = 200;
  HttpHeaders headers;
  std::string body;
  // What the access log names besides the request line (set by handlers that know them).
  std::string log_model;
  std::string log_version;
  std::string log_request_id;
  // Called on the event loop once the response has been written (or failed to be), when set:
  // a traced request's HTTP_SEND_END.
  std::function<void()> on_written;

  // A response of `status` with a JSON body.
  static HttpResponse Json(int status, std::string body);
  // {"error": message} with `status`.
  static HttpResponse Error(int status, std::string_view message);
};

namespace http_internal {
class Exchange;
class ListenerCore;
}  // namespace http_internal

// The answer channel of one request. Send (or SendFrom) exactly once, from any thread; a
// responder dropped without an answer answers 500, so a request is never left hanging.
class HttpResponder {
 public:
  explicit HttpResponder(std::shared_ptr<http_internal::Exchange> exchange);
  HttpResponder(HttpResponder&&) noexcept;
  HttpResponder& operator=(HttpResponder&&) noexcept;
  ~HttpResponder();

  void Send(HttpResponse response);
  // `make` runs on the connection's event-loop thread, and its response is sent: for
  // answers whose encoding should not run where the answer became known (a model worker).
  void SendFrom(std::function<HttpResponse()> make);

 private:
  std::shared_ptr<http_internal::Exchange> exchange_;
};

using HttpHandler = std::function<void(HttpRequest request, HttpResponder responder)>;

// One request and its answer, for an access log.
struct HttpExchangeRecord {
  const HttpRequest& request;    // without its body (the handler had it)
  const HttpResponse& response;  // likewise
  int64_t response_body_bytes = 0;
  double duration_ms = 0;  // from the request's first byte to the end of the response
};

struct HttpTlsOptions {
  std::string cert_file;       // server certificate chain, PEM
  std::string key_file;        // its private key, PEM
  std::string root_cert_file;  // CA certificates that sign client certificates, PEM
  bool mutual = false;         // require a client certificate signed by root_cert_file
};

struct HttpListenerOptions {
  std::string what = "HTTP";  // names the server in errors and logs
  std::string address = "0.0.0.0";
  int port = 0;  // 0 picks a free port
  // Event-loop threads (each serves any number of connections).
  int threads = 1;
  int64_t max_body_bytes = 64 * 1024 * 1024;
  int64_t max_header_bytes = 16 * 1024;  // request line and fields together
  int max_header_count = 100;
  int64_t header_timeout_ms = 30'000;
  int64_t body_timeout_ms = 120'000;  // also the time a response may take to be written
  int64_t idle_timeout_ms = 60'000;
  // Named in the 413 message ("--http-max-body-bytes"), when set.
  std::string max_body_flag;
  std::optional<HttpTlsOptions> tls;
  // Called once per response written (or that failed to write), on the event loop, when set.
  std::function<void(const HttpExchangeRecord& record)> on_response;
};

class HttpListener {
 public:
  // INVALID_ARGUMENT for options out of range or TLS files that cannot be used (naming the
  // file), UNAVAILABLE when the address cannot be bound.
  static absl::StatusOr<std::unique_ptr<HttpListener>> Start(const HttpListenerOptions& options,
                                                             HttpHandler handler);
  ~HttpListener();  // Stop()s

  HttpListener(const HttpListener&) = delete;
  HttpListener& operator=(const HttpListener&) = delete;

  int port() const;

  // Stops accepting, closes connections that wait for a request (or are still sending
  // one), lets those whose request is being handled answer it and then close, and returns
  // once every connection is closed and the threads have joined.
  void Stop();

  // Connections open now (for tests and the startup log).
  int64_t connections() const;

 private:
  explicit HttpListener(std::unique_ptr<http_internal::ListenerCore> core);
  std::unique_ptr<http_internal::ListenerCore> impl_;
};

}  // namespace seqserve
