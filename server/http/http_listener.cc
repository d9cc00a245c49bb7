#include "server/http/http_listener.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "httplib.h"

namespace seqserve {

absl::StatusOr<std::unique_ptr<HttpListener>> HttpListener::Start(
    std::unique_ptr<httplib::Server> server, const std::string& address, int port,
    const std::string& what) {
  std::unique_ptr<HttpListener> listener(new HttpListener());
  const int bound = port == 0 ? server->bind_to_any_port(address)
                              : (server->bind_to_port(address, port) ? port : -1);
  if (bound <= 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen for ", what, " on ", address, ":",
                                               port, " (address in use or not local?)"));
  }
  listener->port_ = bound;
  listener->server_ = std::move(server);
  HttpListener* self = listener.get();
  listener->thread_ = std::thread([self] {
    self->server_->listen_after_bind();
    self->listen_returned_.store(true, std::memory_order_release);
  });
  // httplib's stop() only takes effect once the accept loop runs; waiting for it here (a
  // few microseconds) makes a Stop right after Start safe.
  while (!listener->server_->is_running() &&
         !listener->listen_returned_.load(std::memory_order_acquire)) {
    std::this_thread::yield();
  }
  return listener;
}

HttpListener::~HttpListener() { Stop(); }

void HttpListener::Stop() {
  absl::MutexLock lock(&stop_mu_);
  if (!thread_.joinable()) return;
  // Closes the listening socket; listen_after_bind then waits for the thread pool, whose
  // threads finish the requests they hold and leave keep-alive connections.
  if (server_->is_running()) server_->stop();
  thread_.join();
}

}  // namespace seqserve
