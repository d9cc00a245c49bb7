// The one translation unit that includes Boost.Beast and Asio (they are header-only and slow
// to compile): everything else sees http_listener.h's plain structs.
//
// Each connection is a Connection<Stream> (plain TCP or TLS) whose operations run on a strand
// of its own, so one connection's handlers never run at once even with several event-loop
// threads; answers from other threads are posted to that strand. Deadlines are one timer per
// connection, set at the start of a phase and covering every read of the phase, which is what
// makes them deadlines rather than per-read timeouts.
#include "server/http/http_listener.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <exception>
#include <thread>
#include <unordered_map>
#include <utility>  // before Boost: Asio 1.74's awaitable.hpp uses std::exchange without it

#include "absl/base/thread_annotations.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "boost/asio/ip/tcp.hpp"
#include "boost/asio/post.hpp"
#include "boost/asio/ssl.hpp"
#include "boost/asio/steady_timer.hpp"
#include "boost/asio/strand.hpp"
#include "boost/asio/write.hpp"
#include "boost/beast/core.hpp"
#include "boost/beast/http.hpp"
#include "boost/beast/ssl.hpp"
#include "server/logging/json_text.h"
#include "server/logging/named_logger.h"

namespace seqserve {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

spdlog::logger& Log() {
  static const std::shared_ptr<spdlog::logger> logger = NamedLogger("http");
  return *logger;
}

// A closing connection reads (and drops) what the client still sends for this long, so
// that a reply sent before the body was read (413) is not lost to a TCP reset.
constexpr auto kLingerTime = std::chrono::seconds(2);
constexpr size_t kReadChunkBytes = 16 * 1024;

// Percent-decodes a target's path ("%20" → " "); false on a malformed escape.
bool DecodePath(std::string_view target, std::string& path) {
  const size_t query = target.find('?');
  if (query != std::string_view::npos) target = target.substr(0, query);
  path.clear();
  path.reserve(target.size());
  for (size_t i = 0; i < target.size(); ++i) {
    if (target[i] != '%') {
      path += target[i];
      continue;
    }
    if (i + 2 >= target.size() || !absl::ascii_isxdigit(target[i + 1]) ||
        !absl::ascii_isxdigit(target[i + 2])) {
      return false;
    }
    const auto hex = [](char c) {
      return absl::ascii_isdigit(c) ? c - '0' : absl::ascii_tolower(c) - 'a' + 10;
    };
    path += static_cast<char>(hex(target[i + 1]) * 16 + hex(target[i + 2]));
    i += 2;
  }
  return true;
}

// A request body in a std::string that grows as bytes arrive. (Beast's string_body reserves
// the whole announced Content-Length up front, so a client that announces 64 MiB and sends
// nothing would pin that much per connection.)
struct GrowingStringBody {
  using value_type = std::string;
  static constexpr uint64_t kMaxReserveBytes = 1 << 20;

  class reader {
   public:
    template <bool kIsRequest, class Fields>
    reader(bhttp::header<kIsRequest, Fields>&, value_type& body) : body_(body) {}
    void init(const boost::optional<uint64_t>& length, beast::error_code& error) {
      if (length) body_.reserve(static_cast<size_t>(std::min(*length, kMaxReserveBytes)));
      error = {};
    }
    template <class ConstBuffers>
    size_t put(const ConstBuffers& buffers, beast::error_code& error) {
      size_t bytes = 0;
      for (const asio::const_buffer buffer : beast::buffers_range_ref(buffers)) {
        body_.append(static_cast<const char*>(buffer.data()), buffer.size());
        bytes += buffer.size();
      }
      error = {};
      return bytes;
    }
    void finish(beast::error_code& error) { error = {}; }

   private:
    value_type& body_;
  };
};
using RequestParser = bhttp::request_parser<GrowingStringBody>;

std::string Seconds(int64_t ms) {
  return ms % 1000 == 0 ? absl::StrCat(ms / 1000, " s") : absl::StrCat(ms, " ms");
}

}  // namespace

const std::string* HttpRequest::Header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (absl::EqualsIgnoreCase(key, absl::string_view(name.data(), name.size()))) return &value;
  }
  return nullptr;
}

HttpResponse HttpResponse::Json(int status, std::string body) {
  HttpResponse response;
  response.status = status;
  response.body = std::move(body);
  response.headers.emplace_back("Content-Type", "application/json");
  return response;
}

HttpResponse HttpResponse::Error(int status, std::string_view message) {
  return Json(status, absl::StrCat("{\"error\":", JsonQuote(message), "}"));
}

namespace http_internal {

// What a responder talks to: the connection whose request it answers.
class Exchange {
 public:
  virtual ~Exchange() = default;
  virtual void Answer(std::function<HttpResponse()> make) = 0;
};

}  // namespace http_internal

HttpResponder::HttpResponder(std::shared_ptr<http_internal::Exchange> exchange)
    : exchange_(std::move(exchange)) {}
HttpResponder::HttpResponder(HttpResponder&&) noexcept = default;
HttpResponder& HttpResponder::operator=(HttpResponder&& other) noexcept {
  if (this != &other) {
    if (exchange_ != nullptr) Send(HttpResponse::Error(500, "the request was not answered"));
    exchange_ = std::move(other.exchange_);
  }
  return *this;
}
HttpResponder::~HttpResponder() {
  if (exchange_ != nullptr) Send(HttpResponse::Error(500, "the request was not answered"));
}

void HttpResponder::Send(HttpResponse response) {
  SendFrom([response = std::move(response)]() mutable { return std::move(response); });
}

void HttpResponder::SendFrom(std::function<HttpResponse()> make) {
  if (exchange_ == nullptr) {
    Log().error("an HTTP request was answered twice; the second answer is dropped");
    return;
  }
  std::shared_ptr<http_internal::Exchange> exchange = std::move(exchange_);
  exchange->Answer(std::move(make));
}

// ---- the server ----------------------------------------------------------------------

namespace http_internal {

class ConnectionBase : public Exchange {
 public:
  // On the connection's strand: the listener is stopping.
  virtual void OnStop() = 0;
  virtual void PostStop() = 0;
};

class ListenerCore {
 public:
  ListenerCore(const HttpListenerOptions& options, HttpHandler handler)
      : options_(options),
        handler_(std::move(handler)),
        io_(std::max(1, options.threads)),
        work_(asio::make_work_guard(io_)),
        acceptor_(asio::make_strand(io_)),
        accept_retry_(acceptor_.get_executor()) {}

  absl::Status Configure();
  absl::Status Bind();
  void Run();
  void Stop();

  int port() const { return port_; }
  int64_t connections() const {
    absl::MutexLock lock(&mu_);
    return static_cast<int64_t>(connections_.size());
  }

  const HttpListenerOptions& options() const { return options_; }
  const HttpHandler& handler() const { return handler_; }
  bool stopping() const { return stopping_.load(std::memory_order_acquire); }
  asio::ssl::context* tls() { return tls_.get(); }

  void Register(ConnectionBase* connection, std::weak_ptr<ConnectionBase> weak) {
    absl::MutexLock lock(&mu_);
    connections_.emplace(connection, std::move(weak));
  }
  void Unregister(ConnectionBase* connection) {
    absl::MutexLock lock(&mu_);
    connections_.erase(connection);
  }

 private:
  void Accept();
  void OnAccept(const beast::error_code& error, tcp::socket socket);

  const HttpListenerOptions options_;
  const HttpHandler handler_;
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  tcp::acceptor acceptor_;
  asio::steady_timer accept_retry_;
  std::unique_ptr<asio::ssl::context> tls_;
  int port_ = 0;
  std::vector<std::thread> threads_;
  std::atomic<bool> stopping_{false};
  int64_t accept_errors_logged_ = 0;  // on the acceptor's strand

  mutable absl::Mutex mu_;
  std::unordered_map<ConnectionBase*, std::weak_ptr<ConnectionBase>> connections_
      ABSL_GUARDED_BY(mu_);
  absl::Mutex stop_mu_;   // serialises Stop
  bool stopped_ = false;  // guarded by stop_mu_
};

}  // namespace http_internal

using http_internal::ConnectionBase;

namespace {

template <class Stream>
constexpr bool kIsTls = !std::is_same_v<Stream, beast::tcp_stream>;

template <class Stream>
class Connection final : public ConnectionBase,
                         public std::enable_shared_from_this<Connection<Stream>> {
 public:
  template <class... StreamArgs>
  Connection(http_internal::ListenerCore& server, std::string peer, StreamArgs&&... stream_args)
      : server_(server),
        options_(server.options()),
        stream_(std::forward<StreamArgs>(stream_args)...),
        peer_(std::move(peer)) {}
  ~Connection() override { server_.Unregister(this); }

  void Start() {
    if constexpr (kIsTls<Stream>) {
      SetDeadline(std::chrono::milliseconds(options_.header_timeout_ms));
      stream_.async_handshake(asio::ssl::stream_base::server, [self = this->shared_from_this()](
                                                                  const beast::error_code& error) {
        if (error) {
          Log().debug("TLS handshake with {} failed: {}", self->peer_, error.message());
          return self->Close();
        }
        self->WaitForRequest();
      });
    } else {
      WaitForRequest();
    }
  }

  void Answer(std::function<HttpResponse()> make) override {
    asio::post(stream_.get_executor(),
               [self = this->shared_from_this(), make = std::move(make)]() mutable {
                 HttpResponse response;
                 try {
                   response = make();
                 } catch (const std::exception& e) {
                   response = HttpResponse::Error(
                       500, absl::StrCat(self->request_.method, " ", self->request_.path,
                                         ": unexpected error: ", e.what()));
                 }
                 self->Respond(std::move(response));
               });
  }

  void PostStop() override {
    asio::post(stream_.get_executor(), [self = this->shared_from_this()] { self->OnStop(); });
  }

  void OnStop() override {
    // Waiting for, or still receiving, a request: nobody has it yet, so it is dropped.
    // Otherwise the answer in progress is written and then the connection closes.
    if (phase_ == Phase::kIdle || phase_ == Phase::kReading || phase_ == Phase::kLingering) {
      Close();
    }
  }

 private:
  enum class Phase { kIdle, kReading, kHandling, kWriting, kLingering, kClosed };

  beast::tcp_stream& Lowest() { return beast::get_lowest_layer(stream_); }

  // A deadline for everything until the next SetDeadline or ClearDeadline: when it passes,
  // the pending operations are cancelled and timed_out_ tells their handlers why. (Beast's
  // own stream timeouts close the socket, which would leave no way to answer 408.)
  template <class Duration>
  void SetDeadline(Duration duration) {
    timed_out_ = false;
    const uint64_t generation = ++deadline_generation_;
    deadline_.expires_after(duration);
    deadline_.async_wait(
        [self = this->shared_from_this(), generation](const beast::error_code& error) {
          if (error || generation != self->deadline_generation_) return;
          self->timed_out_ = true;
          beast::error_code ignored;
          self->Lowest().socket().cancel(ignored);
        });
  }
  void ClearDeadline() {
    ++deadline_generation_;
    deadline_.cancel();
  }

  void WaitForRequest() {
    if (server_.stopping()) return Close();
    phase_ = Phase::kIdle;
    if (buffer_.size() > 0) return ReadHeader();  // pipelined: already here
    // An idle connection keeps no buffer: it waits for readability, not for bytes.
    buffer_.shrink_to_fit();
    SetDeadline(std::chrono::milliseconds(options_.idle_timeout_ms));
    if constexpr (kIsTls<Stream>) {
      // TLS may hold decrypted bytes the socket no longer shows: read one (the rest of the
      // record stays in the TLS engine until the headers are read).
      stream_.async_read_some(
          buffer_.prepare(1),
          [self = this->shared_from_this()](const beast::error_code& error, size_t bytes) {
            if (error) return self->Close();  // idle timeout, the client left, or Stop
            self->buffer_.commit(bytes);
            self->ReadHeader();
          });
    } else {
      Lowest().socket().async_wait(tcp::socket::wait_read, [self = this->shared_from_this()](
                                                               const beast::error_code& error) {
        if (error) return self->Close();  // idle timeout or Stop
        self->ReadHeader();               // a client that left is seen there (end of stream)
      });
    }
  }

  void ReadHeader() {
    phase_ = Phase::kReading;
    start_ = Clock::now();
    request_ = HttpRequest();
    request_.peer = peer_;
    request_.received_ns =
        std::chrono::duration_cast<std::chrono::nanoseconds>(start_.time_since_epoch()).count();
    parser_.emplace();
    parser_->header_limit(static_cast<uint32_t>(options_.max_header_bytes));
    parser_->body_limit(static_cast<uint64_t>(options_.max_body_bytes));
    SetDeadline(std::chrono::milliseconds(options_.header_timeout_ms));
    bhttp::async_read_header(stream_, buffer_, *parser_,
                             [self = this->shared_from_this()](const beast::error_code& error,
                                                               size_t) { self->OnHeader(error); });
  }

  // The request line and fields parsed so far, for the reply and the access log.
  void TakeHead() {
    const bhttp::request<GrowingStringBody>& message = parser_->get();
    request_.method = std::string(message.method_string());
    request_.target = std::string(message.target());
    if (!DecodePath(request_.target, request_.path)) request_.path = request_.target;
    request_.headers.clear();
    for (const auto& field : message) {
      request_.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
    }
  }

  void OnHeader(const beast::error_code& error) {
    if (error) {
      TakeHead();
      return OnReadError(error, "headers");
    }
    TakeHead();
    if (static_cast<int64_t>(request_.headers.size()) > options_.max_header_count) {
      return Fail(
          431, absl::StrCat("the request has ", request_.headers.size(), " header fields; at most ",
                            options_.max_header_count, " are accepted"));
    }
    if (!DecodePath(request_.target, request_.path)) {
      return Fail(400, absl::StrCat("malformed percent-escape in the request target '",
                                    request_.target, "'"));
    }
    keep_alive_ = parser_->get().keep_alive();
    if (parser_->is_done()) return Dispatch();
    SetDeadline(std::chrono::milliseconds(options_.body_timeout_ms));
    const std::string* expect = request_.Header("Expect");
    if (expect != nullptr && absl::EqualsIgnoreCase(*expect, "100-continue")) {
      static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      asio::async_write(stream_, asio::buffer(kContinue.data(), kContinue.size()),
                        [self = this->shared_from_this()](const beast::error_code& e, size_t) {
                          if (e) return self->Close();
                          self->ReadBody();
                        });
      return;
    }
    ReadBody();
  }

  void ReadBody() {
    bhttp::async_read(stream_, buffer_, *parser_,
                      [self = this->shared_from_this()](const beast::error_code& error, size_t) {
                        if (error) return self->OnReadError(error, "body");
                        self->Dispatch();
                      });
  }

  void OnReadError(const beast::error_code& error, std::string_view part) {
    if (timed_out_ && error == asio::error::operation_aborted) {
      const int64_t ms = part == "body" ? options_.body_timeout_ms : options_.header_timeout_ms;
      return Fail(408, absl::StrCat("the request's ", std::string(part), " did not arrive within ",
                                    Seconds(ms)));
    }
    if (error == bhttp::error::body_limit) {
      const std::string* length = request_.Header("Content-Length");
      return Fail(413,
                  absl::StrCat("request body", length != nullptr ? " of " : "",
                               length != nullptr ? *length : "", length != nullptr ? " bytes" : "",
                               " exceeds the limit of ", options_.max_body_bytes, " bytes",
                               options_.max_body_flag.empty() ? "" : " (", options_.max_body_flag,
                               options_.max_body_flag.empty() ? "" : ")"));
    }
    if (error == bhttp::error::header_limit) {
      return Fail(
          431, absl::StrCat("the request's headers exceed ", options_.max_header_bytes, " bytes"));
    }
    if (error.category() == make_error_code(bhttp::error::bad_target).category() &&
        error != bhttp::error::end_of_stream && error != bhttp::error::partial_message) {
      std::string what = error.message();
      if (error == bhttp::error::bad_content_length) {
        what = "bad Content-Length (a decimal number of bytes is expected)";
      }
      return Fail(400, absl::StrCat("malformed HTTP request: ", what));
    }
    Close();  // the client left (or Stop closed the socket)
  }

  void Dispatch() {
    phase_ = Phase::kHandling;
    ClearDeadline();
    head_ = request_.method == "HEAD";
    HttpRequest handed = request_;
    handed.body = std::move(parser_->get().body());
    parser_.reset();
    try {
      server_.handler()(std::move(handed),
                        HttpResponder(std::static_pointer_cast<http_internal::Exchange>(
                            this->shared_from_this())));
    } catch (const std::exception& e) {
      // The responder was destroyed on the way out and answered 500.
      Log().error("{} {}: unexpected error: {}", request_.method, request_.path, e.what());
    }
  }

  // A request the server answers itself; the connection closes after it.
  void Fail(int status, const std::string& message) {
    keep_alive_ = false;
    phase_ = Phase::kHandling;
    Log().debug("{} {} from {}: {} {}", request_.method, request_.target, peer_, status, message);
    Respond(HttpResponse::Error(status, message));
  }

  void Respond(HttpResponse response) {
    if (phase_ != Phase::kHandling) return;  // closed while the handler worked
    phase_ = Phase::kWriting;
    on_written_ = std::move(response.on_written);
    response_.emplace();
    bhttp::response<bhttp::string_body>& out = *response_;
    out.version(11);
    out.result(static_cast<unsigned>(response.status));
    if (response.status == 499) out.reason("Client Closed Request");
    for (const auto& [name, value] : response.headers) out.insert(name, value);
    out.body() = std::move(response.body);
    const bool keep_alive = keep_alive_ && !server_.stopping();
    out.keep_alive(keep_alive);
    out.prepare_payload();
    if (head_) out.body().clear();  // Content-Length stays that of the GET
    if (options_.on_response) {
      logged_ = std::move(response);
      logged_.body.clear();
      body_bytes_ = static_cast<int64_t>(out.body().size());
    }
    SetDeadline(std::chrono::milliseconds(options_.body_timeout_ms));
    bhttp::async_write(
        stream_, *response_,
        [self = this->shared_from_this(), keep_alive](const beast::error_code& error, size_t) {
          self->OnWritten(error, keep_alive);
        });
  }

  void OnWritten(const beast::error_code& error, bool keep_alive) {
    response_.reset();
    if (on_written_) {
      std::function<void()> written = std::move(on_written_);
      on_written_ = nullptr;
      written();
    }
    if (options_.on_response) {
      const double ms = std::chrono::duration<double, std::milli>(Clock::now() - start_).count();
      options_.on_response(HttpExchangeRecord{request_, logged_, body_bytes_, ms});
    }
    if (error) return Close();
    if (keep_alive) return WaitForRequest();
    Linger();
  }

  // Ends the connection after a response: no more sending, and what the client still sends
  // is read and dropped until it closes (or kLingerTime passes), so that it reads the
  // response before any reset.
  void Linger() {
    if (server_.stopping()) return Close();
    if constexpr (kIsTls<Stream>) {
      phase_ = Phase::kLingering;
      SetDeadline(kLingerTime);
      stream_.async_shutdown(
          [self = this->shared_from_this()](const beast::error_code&) { self->Close(); });
    } else {
      phase_ = Phase::kLingering;
      beast::error_code ignored;
      Lowest().socket().shutdown(tcp::socket::shutdown_send, ignored);
      SetDeadline(kLingerTime);
      Drain();
    }
  }

  void Drain() {
    buffer_.clear();
    Lowest().async_read_some(
        buffer_.prepare(kReadChunkBytes),
        [self = this->shared_from_this()](const beast::error_code& error, size_t) {
          if (error) return self->Close();
          self->Drain();
        });
  }

  void Close() {
    if (phase_ == Phase::kClosed) return;
    phase_ = Phase::kClosed;
    ClearDeadline();
    beast::error_code ignored;
    Lowest().socket().shutdown(tcp::socket::shutdown_both, ignored);
    Lowest().close();
  }

  http_internal::ListenerCore& server_;
  const HttpListenerOptions& options_;  // the server's, which outlives its connections
  Stream stream_;
  asio::steady_timer deadline_{stream_.get_executor()};
  uint64_t deadline_generation_ = 0;
  bool timed_out_ = false;
  const std::string peer_;
  beast::flat_buffer buffer_;
  std::optional<RequestParser> parser_;
  HttpRequest request_;  // the current request's head (its body goes to the handler)
  Clock::time_point start_;
  Phase phase_ = Phase::kIdle;
  bool keep_alive_ = false;
  bool head_ = false;
  std::optional<bhttp::response<bhttp::string_body>> response_;  // being written
  HttpResponse logged_;  // the response's status and notes, for on_response
  std::function<void()> on_written_;  // the response's own, while it is written
  int64_t body_bytes_ = 0;
};

}  // namespace

absl::Status http_internal::ListenerCore::Configure() {
  const HttpListenerOptions& o = options_;
  if (o.port < 0 || o.port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat(o.what, " port must be in [0, 65535], got ", o.port));
  }
  if (o.threads < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat(o.what, " threads must be at least 1, got ", o.threads));
  }
  if (o.max_body_bytes < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("max ", o.what, " body size must be at least 1 byte, got ", o.max_body_bytes));
  }
  if (o.max_header_bytes < 256 || o.max_header_bytes > (int64_t{1} << 30)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "max ", o.what, " header size must be in [256, 2^30] bytes, got ", o.max_header_bytes));
  }
  if (o.max_header_count < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("max ", o.what, " header count must be at least 1, got ", o.max_header_count));
  }
  for (const auto& [name, ms] :
       {std::pair{"header", o.header_timeout_ms}, std::pair{"body", o.body_timeout_ms},
        std::pair{"idle", o.idle_timeout_ms}}) {
    if (ms < 1) {
      return absl::InvalidArgumentError(
          absl::StrCat(o.what, " ", name, " timeout must be at least 1 ms, got ", ms));
    }
  }
  if (!o.tls.has_value()) return absl::OkStatus();

  const HttpTlsOptions& t = *o.tls;
  tls_ = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
  tls_->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                    asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                    asio::ssl::context::no_tlsv1_1 | asio::ssl::context::single_dh_use);
  const auto use = [&](const std::string& what, const std::string& file,
                       auto&& load) -> absl::Status {
    if (file.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(o.what, " TLS needs a ", what, " file"));
    }
    beast::error_code error;
    load(file, error);
    if (error) {
      return absl::InvalidArgumentError(
          absl::StrCat(o.what, " TLS ", what, " '", file, "' cannot be used: ", error.message()));
    }
    return absl::OkStatus();
  };
  absl::Status status = use(
      "server certificate", t.cert_file,
      [&](const std::string& f, beast::error_code& e) { tls_->use_certificate_chain_file(f, e); });
  if (!status.ok()) return status;
  status = use("server key", t.key_file, [&](const std::string& f, beast::error_code& e) {
    tls_->use_private_key_file(f, asio::ssl::context::pem, e);
  });
  if (!status.ok()) return status;
  if (t.mutual || !t.root_cert_file.empty()) {
    status = use("root certificate", t.root_cert_file,
                 [&](const std::string& f, beast::error_code& e) { tls_->load_verify_file(f, e); });
    if (!status.ok()) return status;
  }
  if (t.mutual) {
    tls_->set_verify_mode(asio::ssl::verify_peer | asio::ssl::verify_fail_if_no_peer_cert);
  }
  return absl::OkStatus();
}

absl::Status http_internal::ListenerCore::Bind() {
  const auto unavailable = [&](const std::string& why) {
    return absl::UnavailableError(absl::StrCat("cannot listen for ", options_.what, " on ",
                                               options_.address, ":", options_.port, " (", why,
                                               ")"));
  };
  beast::error_code error;
  tcp::resolver resolver(io_);
  const tcp::resolver::results_type endpoints =
      resolver.resolve(options_.address, std::to_string(options_.port),
                       tcp::resolver::passive | tcp::resolver::numeric_service, error);
  if (error || endpoints.empty()) return unavailable(error ? error.message() : "no address");
  const tcp::endpoint endpoint = endpoints.begin()->endpoint();
  acceptor_.open(endpoint.protocol(), error);
  if (!error) acceptor_.set_option(asio::socket_base::reuse_address(true), error);
  if (!error) acceptor_.bind(endpoint, error);
  if (!error) acceptor_.listen(asio::socket_base::max_listen_connections, error);
  if (error) return unavailable(absl::StrCat(error.message(), "; address in use or not local?"));
  port_ = acceptor_.local_endpoint().port();
  return absl::OkStatus();
}

void http_internal::ListenerCore::Run() {
  asio::post(acceptor_.get_executor(), [this] { Accept(); });
  for (int i = 0; i < options_.threads; ++i) {
    threads_.emplace_back([this] { io_.run(); });
  }
}

void http_internal::ListenerCore::Accept() {
  acceptor_.async_accept(asio::make_strand(io_),
                         [this](const beast::error_code& error, tcp::socket socket) {
                           OnAccept(error, std::move(socket));
                         });
}

void http_internal::ListenerCore::OnAccept(const beast::error_code& error, tcp::socket socket) {
  if (stopping() || error == asio::error::operation_aborted) return;
  if (error) {
    // Out of file descriptors (or a similar passing condition): wait a little instead of
    // spinning, and say so (once per 1,000 failures).
    if (accept_errors_logged_++ % 1000 == 0) {
      Log().warn("{}: cannot accept a connection: {} ({} open)", options_.what, error.message(),
                 connections());
    }
    accept_retry_.expires_after(std::chrono::milliseconds(50));
    accept_retry_.async_wait([this](const beast::error_code& e) {
      if (!e && !stopping()) Accept();
    });
    return;
  }
  beast::error_code ignored;
  socket.set_option(tcp::no_delay(true), ignored);  // small replies must not wait for Nagle
  const tcp::endpoint remote = socket.remote_endpoint(ignored);
  std::string peer = remote.address().is_v6()
                         ? absl::StrCat("[", remote.address().to_string(), "]:", remote.port())
                         : absl::StrCat(remote.address().to_string(), ":", remote.port());
  std::shared_ptr<ConnectionBase> connection;
  if (tls_ != nullptr) {
    auto c = std::make_shared<Connection<beast::ssl_stream<beast::tcp_stream>>>(
        *this, std::move(peer), std::move(socket), *tls_);
    connection = c;
    Register(c.get(), c);
    c->Start();
  } else {
    auto c =
        std::make_shared<Connection<beast::tcp_stream>>(*this, std::move(peer), std::move(socket));
    connection = c;
    Register(c.get(), c);
    c->Start();
  }
  Accept();
}

void http_internal::ListenerCore::Stop() {
  absl::MutexLock stop_lock(&stop_mu_);
  if (stopped_) return;
  stopped_ = true;
  stopping_.store(true, std::memory_order_release);
  // On the acceptor's strand, and waited for: once Stop returns the port refuses connections.
  absl::Notification closed;
  asio::post(acceptor_.get_executor(), [this, &closed] {
    beast::error_code ignored;
    acceptor_.close(ignored);
    accept_retry_.cancel();
    closed.Notify();
  });
  closed.WaitForNotification();
  std::vector<std::shared_ptr<ConnectionBase>> open;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [raw, weak] : connections_) {
      if (std::shared_ptr<ConnectionBase> connection = weak.lock()) {
        open.push_back(std::move(connection));
      }
    }
  }
  for (const std::shared_ptr<ConnectionBase>& connection : open) connection->PostStop();
  open.clear();
  {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(
        +[](std::unordered_map<ConnectionBase*, std::weak_ptr<ConnectionBase>>* c) {
          return c->empty();
        },
        &connections_));
  }
  work_.reset();
  io_.stop();
  for (std::thread& thread : threads_) thread.join();
  threads_.clear();
}

absl::StatusOr<std::unique_ptr<HttpListener>> HttpListener::Start(
    const HttpListenerOptions& options, HttpHandler handler) {
  auto impl = std::make_unique<http_internal::ListenerCore>(options, std::move(handler));
  if (absl::Status status = impl->Configure(); !status.ok()) return status;
  if (absl::Status status = impl->Bind(); !status.ok()) return status;
  impl->Run();
  return std::unique_ptr<HttpListener>(new HttpListener(std::move(impl)));
}

HttpListener::HttpListener(std::unique_ptr<http_internal::ListenerCore> impl)
    : impl_(std::move(impl)) {}

HttpListener::~HttpListener() { Stop(); }

int HttpListener::port() const { return impl_->port(); }

int64_t HttpListener::connections() const { return impl_->connections(); }

void HttpListener::Stop() { impl_->Stop(); }

}  // namespace seqserve
