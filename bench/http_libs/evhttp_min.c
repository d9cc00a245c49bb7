/* The smallest HTTP server on libevent's evhttp (one reply for every request), beside
 * beast_min.cc (bench/RESULTS.md §6). Not part of the build (needs libevent-dev):
 *   gcc -O2 bench/http_libs/evhttp_min.c -o /tmp/evhttp_min -levent
 *   /tmp/evhttp_min PORT
 */
#include <event2/event.h>
#include <event2/http.h>
#include <event2/buffer.h>
#include <stdlib.h>
static void cb(struct evhttp_request* r, void* arg) {
  struct evbuffer* b = evbuffer_new(); evbuffer_add(b, "{\"live\":true}", 13);
  evhttp_add_header(evhttp_request_get_output_headers(r), "Content-Type", "application/json");
  evhttp_send_reply(r, 200, "OK", b); evbuffer_free(b);
}
int main(int argc, char** argv) {
  struct event_base* base = event_base_new(); struct evhttp* h = evhttp_new(base);
  evhttp_set_allowed_methods(h, EVHTTP_REQ_GET | EVHTTP_REQ_POST);
  evhttp_set_gencb(h, cb, NULL); evhttp_bind_socket(h, "127.0.0.1", atoi(argv[1]));
  event_base_dispatch(base);
}
