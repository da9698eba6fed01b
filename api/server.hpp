// The HTTP/1.1 server: Boost.Beast over Asio with C++20 coroutines, a fixed number of I/O
// threads, explicit limits (header and body size; read, write and idle deadlines; connection
// counts in all and per address), keep-alive, and a graceful stop (drain). A request refused
// before it is read whole (413, 431, 400) is answered and then closed with a lingering close,
// so that a client still sending reads the answer rather than a reset. It knows nothing of the
// API: every request goes to Service::handle.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "api/limits.hpp"

namespace loyalty::api {

class Service;

// The connection limits; the defaults are api/limits.hpp's (tests shorten them).
struct ServerLimits {
  std::size_t connections_max = limits::connections_max;
  std::size_t connections_per_address_max = limits::connections_per_address_max;
  std::chrono::milliseconds read_timeout = limits::read_timeout;
  std::chrono::milliseconds write_timeout = limits::write_timeout;
  std::chrono::milliseconds idle_timeout = limits::idle_timeout;
  std::size_t linger_bytes_max = limits::linger_bytes_max;
  std::chrono::milliseconds linger_timeout = limits::linger_timeout;
};

class ConnectionTable;  // counts open connections, in all and per address

class Server {
 public:
  Server(Service& service, const std::string& address, unsigned short port, int io_threads, ServerLimits limits = {});
  ~Server();

  void start();  // returns at once; the I/O threads serve until stop()
  // Graceful stop: closes the listener, answers every request that was read or is being read
  // (each answer says `Connection: close`), gives idle keep-alive connections
  // limits::drain_idle_grace to send one more, then stops; at `deadline` it stops anyway.
  // Returns true when every connection finished before the deadline.
  bool drain(std::chrono::steady_clock::time_point deadline);
  void stop();
  unsigned short port() const { return port_; }

 private:
  Service& service_;
  boost::asio::io_context io_;
  boost::asio::ip::tcp::acceptor acceptor_;
  unsigned short port_ = 0;
  int io_threads_;
  std::vector<std::thread> threads_;
  ServerLimits limits_;
  std::shared_ptr<ConnectionTable> connections_;
};

}  // namespace loyalty::api
