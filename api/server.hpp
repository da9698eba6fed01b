// The HTTP/1.1 server: Boost.Beast over Asio with C++20 coroutines, a fixed number of I/O
// threads, explicit limits (header and body size, read timeout, connection count), and
// keep-alive. It knows nothing of the API: every request goes to Service::handle.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <atomic>
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
  void stop();
  unsigned short port() const { return port_; }

 private:
  Service& service_;
  boost::asio::io_context io_;
  boost::asio::ip::tcp::acceptor acceptor_;
  unsigned short port_ = 0;
  int io_threads_;
  std::vector<std::thread> threads_;
  std::atomic<std::size_t> connections_{0};
};

}  // namespace loyalty::api
