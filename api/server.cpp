#include "api/server.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <array>
#include <functional>
#include <future>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>

#include "api/json_codec.hpp"
#include "api/limits.hpp"
#include "api/partner_auth.hpp"
#include "api/reply.hpp"
#include "api/service.hpp"
#include "platform/log.hpp"

namespace loyalty::api {
namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;
using namespace asio::experimental::awaitable_operators;

// Open connections, in all and per remote address (I/O threads admit and release them).
class ConnectionTable {
 public:
  explicit ConnectionTable(ServerLimits limits) : limits_(limits) {}

  bool admit(const std::string& address) {
    std::lock_guard lock{mutex_};
    if (total_ >= limits_.connections_max) return false;
    std::size_t& mine = by_address_[address];
    if (mine >= limits_.connections_per_address_max) {
      if (mine == 0) by_address_.erase(address);
      return false;
    }
    ++mine;
    ++total_;
    return true;
  }
  // Counted but never refused: connections taken from the backlog during a graceful stop.
  void admit_anyway(const std::string& address) {
    std::lock_guard lock{mutex_};
    ++by_address_[address];
    ++total_;
  }
  void release(const std::string& address) {
    std::lock_guard lock{mutex_};
    --total_;
    const auto found = by_address_.find(address);
    if (found != by_address_.end() && --found->second == 0) by_address_.erase(found);
  }
  std::size_t open() {
    std::lock_guard lock{mutex_};
    return total_;
  }
  // Once a graceful stop began, every answer closes its connection.
  void start_draining() { draining_ = true; }
  bool draining() const { return draining_; }

 private:
  std::atomic<bool> draining_{false};
  const ServerLimits limits_;
  std::mutex mutex_;
  std::size_t total_ = 0;
  std::unordered_map<std::string, std::size_t> by_address_;
};

namespace {

constexpr auto use_nothrow = asio::as_tuple(asio::use_awaitable);

// An answer given before the request was read whole (it bypasses Service::handle).
struct EarlyRefusal {
  http::status status;
  const char* code;
  const char* title;
  const char* detail;
};

constexpr EarlyRefusal body_too_large{http::status::payload_too_large, "payload_too_large", "Payload Too Large",
                                      "the request's body exceeds the limit (1 MiB)"};
constexpr EarlyRefusal headers_too_large{http::status::request_header_fields_too_large,
                                         "request_header_fields_too_large", "Request Header Fields Too Large",
                                         "the request's headers exceed the limit (16 KiB)"};
constexpr EarlyRefusal not_http{http::status::bad_request, "malformed_request", "Bad Request",
                                "the request is not well-formed HTTP/1.1"};

// `target` is the request's target when its request line was read (empty otherwise).
HttpResponse early_response(Service& service, const EarlyRefusal& refusal,
                            const http::request_parser<http::string_body>& parser) {
  const auto& request = parser.get();
  const auto target = request.target();
  const auto given = request.find("X-Request-Id");
  const std::optional<std::string> given_id =
      given == request.end() ? std::nullopt : std::optional<std::string>(given->value());
  HttpResponse response{refusal.status, request.version() == 10 ? 10u : 11u};
  const std::string request_id = request_id_for(given_id);
  response.set("X-Request-Id", request_id);
  response.set(http::field::content_type, "application/problem+json");
  v1::Problem body;
  body.set_type(std::string("https://loyalty-ledger.dev/problems/") + refusal.code);
  body.set_title(refusal.title);
  body.set_status(static_cast<int>(refusal.status));
  body.set_detail(refusal.detail);
  body.set_code(refusal.code);
  body.set_request_id(request_id);
  response.body() = to_json(body);
  // This answer bypasses Service::encode: sign it here when it is on the partner side.
  if (is_partner_path(std::string_view(target.data(), target.size()))) sign_partner_response(service, response);
  response.keep_alive(false);
  response.prepare_payload();
  return response;
}

// Which read failures are a request we can answer (and how); the others (the peer closed,
// a deadline passed) end the connection silently.
const EarlyRefusal* refusal_for(const beast::error_code& error) {
  if (error == http::error::body_limit) return &body_too_large;
  if (error == http::error::header_limit) return &headers_too_large;
  if (error.category() != http::make_error_code(http::error::bad_method).category()) return nullptr;
  if (error == http::error::end_of_stream || error == http::error::partial_message ||
      error == http::error::short_read || error == http::error::need_more || error == http::error::need_buffer) {
    return nullptr;
  }
  return &not_http;
}

// After a refusal the client may still be sending what we will not read. Closing at once
// would make the kernel answer that data with a reset, which destroys our answer in the
// client's receive buffer. So: stop sending (the answer goes first, then FIN), read and
// discard what comes, up to a bound of bytes and time, and close.
asio::awaitable<void> lingering_close(beast::tcp_stream& stream, ServerLimits limits) {
  beast::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
  stream.expires_after(limits.linger_timeout);
  std::array<char, 16 * 1024> sink;
  std::size_t discarded = 0;
  while (discarded < limits.linger_bytes_max) {
    auto [error, n] = co_await stream.async_read_some(asio::buffer(sink), use_nothrow);
    if (error) break;
    discarded += n;
  }
  stream.socket().close(ignored);
}

// Waits, between two requests, until the peer sends something (true), or until the
// connection should close (false): the idle deadline passed, or a graceful stop began and the
// idle grace passed. Slices of limits::drain_poll_interval let a stop that begins meanwhile be
// noticed without touching this connection from another thread.
asio::awaitable<bool> wait_for_request(beast::tcp_stream& stream, const beast::flat_buffer& buffer,
                                       const ConnectionTable& table, ServerLimits limits) {
  if (buffer.size() > 0) co_return true;  // the next request's bytes are already here
  using Clock = std::chrono::steady_clock;
  asio::steady_timer timer{stream.get_executor()};
  const auto idle_deadline = Clock::now() + limits.idle_timeout;
  std::optional<Clock::time_point> drain_deadline;
  while (true) {
    const auto now = Clock::now();
    if (table.draining() && !drain_deadline) drain_deadline = now + limits::drain_idle_grace;
    const auto deadline = drain_deadline ? std::min(idle_deadline, *drain_deadline) : idle_deadline;
    if (now >= deadline) {
      // A request that arrived just now is still answered rather than cut off.
      beast::error_code error;
      co_return stream.socket().available(error) > 0 && !error;
    }
    timer.expires_after(std::min<Clock::duration>(deadline - now, limits::drain_poll_interval));
    auto waited =
        co_await (stream.socket().async_wait(tcp::socket::wait_read, use_nothrow) || timer.async_wait(use_nothrow));
    if (waited.index() == 0) co_return !std::get<0>(std::get<0>(waited));
  }
}

// Writes a response whose body comes in pieces (an export file): the header with its
// Content-Length, then each piece as it is produced, each write under the write timeout. A
// piece that cannot be produced ends the connection mid-body: the client sees a short body,
// never a wrong one. Answers whether the whole response was written.
asio::awaitable<bool> write_in_pieces(beast::tcp_stream& stream, HttpResponse& response,
                                      const std::function<asio::awaitable<std::string>()>& next_piece,
                                      const ServerLimits& limits) {
  http::response_serializer<http::string_body> serializer{response};
  auto [header_error, header_bytes] = co_await http::async_write_header(stream, serializer, use_nothrow);
  (void)header_bytes;
  if (header_error) co_return false;
  std::uint64_t sent = 0;
  const std::uint64_t length =
      response.has_content_length() ? std::stoull(std::string(response[http::field::content_length])) : 0;
  while (sent < length) {
    std::string piece;
    try {
      piece = co_await next_piece();
    } catch (const std::exception& error) {
      log::error("a response body could not be produced", {{"error", error.what()}});
      co_return false;
    }
    if (piece.empty() || sent + piece.size() > length) co_return false;
    stream.expires_after(limits.write_timeout);
    auto [write_error, written] = co_await asio::async_write(stream, asio::buffer(piece), use_nothrow);
    if (write_error) co_return false;
    sent += written;
  }
  co_return true;
}

asio::awaitable<void> serve_connection(Service& service, tcp::socket socket, std::shared_ptr<ConnectionTable> table,
                                       std::string source, ServerLimits limits) {
  struct Admitted {
    ConnectionTable& table;
    const std::string& source;
    ~Admitted() { table.release(source); }
  } admitted{*table, source};
  beast::tcp_stream stream{std::move(socket)};
  beast::flat_buffer buffer;
  while (co_await wait_for_request(stream, buffer, *table, limits)) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(limits::header_bytes_max);
    parser.body_limit(limits::body_bytes_max);
    stream.expires_after(limits.read_timeout);
    auto [read_error, read_bytes] = co_await http::async_read(stream, buffer, parser, use_nothrow);
    (void)read_bytes;
    if (read_error) {
      const EarlyRefusal* refusal = refusal_for(read_error);
      if (!refusal) break;  // the peer closed or timed out
      auto response = early_response(service, *refusal, parser);
      stream.expires_after(limits.write_timeout);
      auto [write_error, written] = co_await http::async_write(stream, response, use_nothrow);
      (void)written;
      if (!write_error) co_await lingering_close(stream, limits);
      co_return;
    }
    HttpRequest request = parser.release();
    stream.expires_never();  // the database has deadlines of its own
    ServedResponse served = co_await service.handle(request, source);
    HttpResponse& response = served.response;
    // While stopping, every answer closes its connection: the client knows to go elsewhere.
    response.keep_alive(request.keep_alive() && !table->draining());
    stream.expires_after(limits.write_timeout);  // a client that stops reading is dropped
    if (served.body_source) {
      if (!co_await write_in_pieces(stream, response, served.body_source, limits)) break;
    } else {
      auto [write_error, written] = co_await http::async_write(stream, response, use_nothrow);
      (void)written;
      if (write_error) break;
    }
    if (!response.keep_alive()) break;
  }
  beast::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
}

// Starts serving an accepted socket; `admit` false means it is served even over the limits
// (connections the kernel completed before a graceful stop).
void spawn_connection(Service& service, tcp::socket socket, const std::shared_ptr<ConnectionTable>& table,
                      ServerLimits limits, bool admit) {
  beast::error_code error;
  const auto remote = socket.remote_endpoint(error);
  if (error) return;
  std::string source = remote.address().to_string();
  if (admit) {
    if (!table->admit(source)) return;  // over a limit: the socket closes here
  } else {
    table->admit_anyway(source);
  }
  socket.set_option(tcp::no_delay(true), error);
  auto executor = socket.get_executor();
  asio::co_spawn(executor, serve_connection(service, std::move(socket), table, std::move(source), limits),
                 asio::detached);
}

asio::awaitable<void> accept_loop(Service& service, tcp::acceptor& acceptor, std::shared_ptr<ConnectionTable> table,
                                  ServerLimits limits) {
  while (acceptor.is_open()) {
    auto [error, socket] = co_await acceptor.async_accept(use_nothrow);
    if (error) {
      if (error == asio::error::operation_aborted) co_return;
      continue;
    }
    spawn_connection(service, std::move(socket), table, limits, true);
  }
}

}  // namespace

Server::Server(Service& service, const std::string& address, unsigned short port, int io_threads, ServerLimits limits)
    : service_(service),
      acceptor_(io_),
      io_threads_(io_threads),
      limits_(limits),
      connections_(std::make_shared<ConnectionTable>(limits_)) {
  const tcp::endpoint endpoint{asio::ip::make_address(address), port};
  acceptor_.open(endpoint.protocol());
  acceptor_.set_option(asio::socket_base::reuse_address(true));
  acceptor_.bind(endpoint);
  acceptor_.listen(asio::socket_base::max_listen_connections);
  port_ = acceptor_.local_endpoint().port();
}

Server::~Server() {
  stop();
}

void Server::start() {
  asio::co_spawn(io_, accept_loop(service_, acceptor_, connections_, limits_), asio::detached);
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
      spawn_connection(service_, std::move(socket), connections_, limits_, false);
    }
    acceptor_.close(error);
    listener_closed.set_value();
  });
  listener_closed.get_future().wait();
  connections_->start_draining();
  while (connections_->open() > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  const bool drained = connections_->open() == 0;
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
