// The smallest keep-alive HTTP/1.1 server on Boost.Beast (one reply for every request), to
// compare the library with libevent's evhttp (evhttp_min.c) before choosing the HTTP front
// end's transport (bench/RESULTS.md §6). Not part of the build:
//   g++ -O2 -std=c++20 bench/http_libs/beast_min.cc -o /tmp/beast_min -lpthread
//   /tmp/beast_min PORT [THREADS]
#include <utility>
#include <boost/asio.hpp>
#include <boost/beast.hpp>
#include <memory>
#include <thread>
#include <vector>
namespace asio = boost::asio; namespace beast = boost::beast; namespace http = beast::http;
using tcp = asio::ip::tcp;
struct Session : std::enable_shared_from_this<Session> {
  beast::tcp_stream stream; beast::flat_buffer buffer; http::request<http::string_body> req;
  http::response<http::string_body> res;
  explicit Session(tcp::socket s) : stream(std::move(s)) {}
  void Read() { req = {}; http::async_read(stream, buffer, req, [self = shared_from_this()](beast::error_code ec, size_t) { if (ec) return; self->Reply(); }); }
  void Reply() {
    res = http::response<http::string_body>(http::status::ok, 11); res.set(http::field::content_type, "application/json");
    res.body() = R"({"live":true})"; res.keep_alive(req.keep_alive()); res.prepare_payload();
    http::async_write(stream, res, [self = shared_from_this()](beast::error_code ec, size_t) { if (ec || !self->res.keep_alive()) { beast::error_code e; self->stream.socket().shutdown(tcp::socket::shutdown_send, e); return; } self->Read(); });
  }
};
void Accept(tcp::acceptor& a) { a.async_accept([&a](beast::error_code ec, tcp::socket s) { if (!ec) { s.set_option(tcp::no_delay(true)); std::make_shared<Session>(std::move(s))->Read(); } Accept(a); }); }
int main(int argc, char** argv) {
  int threads = argc > 2 ? atoi(argv[2]) : 1;
  asio::io_context io(threads); tcp::acceptor a(io, {asio::ip::make_address("127.0.0.1"), (unsigned short)atoi(argv[1])});
  a.listen(4096);
  Accept(a); std::vector<std::thread> t; for (int i = 1; i < threads; ++i) t.emplace_back([&] { io.run(); }); io.run();
}
