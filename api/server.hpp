// The HTTP/1.1 server: Boost.Beast over Asio with C++20 coroutines, a fixed number of I/O
// threads, explicit limits (header and body size, read timeout, connection count), and
// keep-alive, and a graceful stop (drain). It knows nothing of the API: every request goes to
// Service::handle.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

namespace loyalty::api {

class Service;

class Server {
 public:
  Server(Service& service, const std::string& address, unsigned short port, int io_threads);
  ~Server();

  void start();  // returns at once; the I/O threads serve until stop()
  // Graceful stop: closes the listener, answers every request that was read or is being read
  // (each answer says `Connection: close`), gives idle keep-alive connections
  // limits::drain_idle_grace to send one more, then stops; at `deadline` it stops anyway.
  // Returns true when every connection finished before the deadline.
  bool drain(std::chrono::steady_clock::time_point deadline);
  void stop();
  unsigned short port() const { return port_; }

  // Shared with the connections' coroutines.
  struct Counters {
    std::atomic<std::size_t> connections{0};
    std::atomic<bool> draining{false};
  };

 private:
  Service& service_;
  boost::asio::io_context io_;
  boost::asio::ip::tcp::acceptor acceptor_;
  unsigned short port_ = 0;
  int io_threads_;
  std::vector<std::thread> threads_;
  Counters counters_;
};

}  // namespace loyalty::api
