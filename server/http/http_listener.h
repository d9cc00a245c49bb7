// Runs a configured cpp-httplib server on a thread of its own: binds (port 0 picks a free
// one), serves on the server's bounded thread pool, and stops — no new connections, the
// requests in progress finish, keep-alive connections close after their current request —
// and joins. Shared by the REST front end and the metrics exporter.
// Thread-safe: Stop may be called from any thread, any number of times.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace httplib {
class Server;
}  // namespace httplib

namespace seqserve {

class HttpListener {
 public:
  // `what` names the server in errors ("HTTP", "metrics"). UNAVAILABLE when the address
  // cannot be bound.
  static absl::StatusOr<std::unique_ptr<HttpListener>> Start(
      std::unique_ptr<httplib::Server> server, const std::string& address, int port,
      const std::string& what);
  ~HttpListener();  // Stop()s

  HttpListener(const HttpListener&) = delete;
  HttpListener& operator=(const HttpListener&) = delete;

  int port() const { return port_; }

  // Stops accepting and returns once every request in progress has been answered.
  void Stop();

 private:
  HttpListener() = default;

  std::unique_ptr<httplib::Server> server_;
  int port_ = 0;
  std::atomic<bool> listen_returned_{false};
  std::thread thread_;
  absl::Mutex stop_mu_;  // serialises Stop
};

}  // namespace seqserve
