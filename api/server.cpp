#include "api/server.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <future>
#include <thread>

#include "api/limits.hpp"
#include "api/partner_auth.hpp"
#include "api/reply.hpp"
#include "api/service.hpp"
#include "api/json_codec.hpp"
#include "ledger/log.hpp"

namespace loyalty::api {
namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;
using namespace asio::experimental::awaitable_operators;

namespace {

constexpr auto use_nothrow = asio::as_tuple(asio::use_awaitable);

// `target` is the request's target when its request line was read (empty otherwise: a header
// over the limit is refused before anything of it is parsed).
HttpResponse too_large(Service& service, unsigned version, std::string_view target,
                       const std::optional<std::string>& given_request_id) {
  HttpResponse response{http::status::payload_too_large, version};
  const std::string request_id = request_id_for(given_request_id);
  response.set("X-Request-Id", request_id);
  response.set(http::field::content_type, "application/problem+json");
  v1::Problem body;
  body.set_type("https://loyalty-ledger.dev/problems/payload_too_large");
  body.set_title("Payload Too Large");
  body.set_status(413);
  body.set_detail("the request's headers or body exceed the limit (body 1 MiB, headers 16 KiB)");
  body.set_code("payload_too_large");
  body.set_request_id(request_id);
  response.body() = to_json(body);
  // This answer bypasses Service::encode: sign it here when it is on the partner side.
  if (is_partner_path(target)) sign_partner_response(service, response);
  response.keep_alive(false);
  response.prepare_payload();
  return response;
}

// Waits, between two requests, until the peer sends something (true), or until the
// connection should close (false): the read timeout passed, or a graceful stop began and the
// idle grace passed. Slices of limits::drain_poll_interval let a stop that begins meanwhile be
// noticed without touching this connection from another thread.
asio::awaitable<bool> wait_for_request(beast::tcp_stream& stream, const beast::flat_buffer& buffer,
                                       const Server::Counters& counters) {
  if (buffer.size() > 0) co_return true;  // the next request's bytes are already here
  using Clock = std::chrono::steady_clock;
  asio::steady_timer timer{stream.get_executor()};
  const auto idle_deadline = Clock::now() + limits::read_timeout;
  std::optional<Clock::time_point> drain_deadline;
  while (true) {
    const auto now = Clock::now();
    if (counters.draining && !drain_deadline) drain_deadline = now + limits::drain_idle_grace;
    const auto deadline = drain_deadline ? std::min(idle_deadline, *drain_deadline) : idle_deadline;
    if (now >= deadline) {
      // A request that arrived just now is still answered rather than cut off.
      beast::error_code error;
      co_return stream.socket().available(error) > 0 && !error;
    }
    timer.expires_after(std::min<Clock::duration>(deadline - now, limits::drain_poll_interval));
    auto waited = co_await (stream.socket().async_wait(tcp::socket::wait_read, use_nothrow) ||
                            timer.async_wait(use_nothrow));
    if (waited.index() == 0) co_return !std::get<0>(std::get<0>(waited));
  }
}

asio::awaitable<void> serve_connection(Service& service, tcp::socket socket, Server::Counters& counters) {
  struct Count {
    std::atomic<std::size_t>& n;
    ~Count() { --n; }
  } count{counters.connections};
  beast::error_code ignored;
  const auto remote = socket.remote_endpoint(ignored);
  const std::string source = remote.address().to_string();
  beast::tcp_stream stream{std::move(socket)};
  beast::flat_buffer buffer;
  while (true) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(limits::header_bytes_max);
    parser.body_limit(limits::body_bytes_max);
    if (!co_await wait_for_request(stream, buffer, counters)) break;
    stream.expires_after(limits::read_timeout);
    auto [read_error, read_bytes] = co_await http::async_read(stream, buffer, parser, use_nothrow);
    (void)read_bytes;
    if (read_error == http::error::body_limit || read_error == http::error::header_limit) {
      const auto target = parser.get().target();
      const auto given = parser.get().find("X-Request-Id");
      const std::optional<std::string> given_id =
          given == parser.get().end() ? std::nullopt : std::optional<std::string>(given->value());
      auto response = too_large(service, parser.get().version(), std::string_view(target.data(), target.size()),
                                given_id);
      co_await http::async_write(stream, response, use_nothrow);
      break;
    }
    if (read_error) break;  // the peer closed, timed out, or sent something that is not HTTP
    HttpRequest request = parser.release();
    stream.expires_never();
    HttpResponse response = co_await service.handle(request, source);
    // While stopping, every answer closes its connection: the client knows to go elsewhere.
    response.keep_alive(request.keep_alive() && !counters.draining);
    auto [write_error, written] = co_await http::async_write(stream, response, use_nothrow);
    (void)written;
    if (write_error || !response.keep_alive()) break;
  }
  stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
}

asio::awaitable<void> accept_loop(Service& service, tcp::acceptor& acceptor, Server::Counters& counters) {
  auto& connections = counters.connections;
  while (acceptor.is_open()) {
    auto [error, socket] = co_await acceptor.async_accept(use_nothrow);
    if (error) {
      if (error == asio::error::operation_aborted) co_return;
      continue;
    }
    if (connections.load() >= limits::connections_max) continue;  // the socket closes here
    ++connections;
    socket.set_option(tcp::no_delay(true), error);
    auto executor = socket.get_executor();
    asio::co_spawn(executor, serve_connection(service, std::move(socket), counters), asio::detached);
  }
}

}  // namespace

Server::Server(Service& service, const std::string& address, unsigned short port, int io_threads)
    : service_(service), acceptor_(io_), io_threads_(io_threads) {
  const tcp::endpoint endpoint{asio::ip::make_address(address), port};
  acceptor_.open(endpoint.protocol());
  acceptor_.set_option(asio::socket_base::reuse_address(true));
  acceptor_.bind(endpoint);
  acceptor_.listen(asio::socket_base::max_listen_connections);
  port_ = acceptor_.local_endpoint().port();
}

Server::~Server() { stop(); }

void Server::start() {
  asio::co_spawn(io_, accept_loop(service_, acceptor_, counters_), asio::detached);
  for (int i = 0; i < io_threads_; ++i) threads_.emplace_back([this] { io_.run(); });
}

bool Server::drain(std::chrono::steady_clock::time_point deadline) {
  if (threads_.empty()) return true;
  // The listener closes first, and only then do answers say `Connection: close`: a client told
  // to reconnect finds the port closed (refused at once) rather than a dying listener.
  std::promise<void> listener_closed;
  asio::post(io_, [this, &listener_closed] {
    beast::error_code error;
    acceptor_.cancel(error);  // accept_loop ends
    // Connections the kernel completed that nobody accepted yet would be reset by close():
    // take them and answer them like the others.
    acceptor_.non_blocking(true, error);
    while (!error) {
      tcp::socket socket{io_};
      acceptor_.accept(socket, error);
      if (error) break;
      ++counters_.connections;
      auto executor = socket.get_executor();
      asio::co_spawn(executor, serve_connection(service_, std::move(socket), counters_), asio::detached);
    }
    acceptor_.close(error);
    listener_closed.set_value();
  });
  listener_closed.get_future().wait();
  counters_.draining = true;
  while (counters_.connections.load() > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  const bool drained = counters_.connections.load() == 0;
  stop();
  return drained;
}

void Server::stop() {
  if (threads_.empty()) return;
  asio::post(io_, [this] {
    beast::error_code ignored;
    acceptor_.close(ignored);
  });
  io_.stop();
  for (auto& thread : threads_) thread.join();
  threads_.clear();
}

}  // namespace loyalty::api
