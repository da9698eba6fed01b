// The server's connection limits, seen from raw sockets: refusals reach a client that is still
// sending (lingering close), idle and slow clients are dropped by their deadlines, and one
// address cannot hold more than its share of connections.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <memory>
#include <thread>

#include "api/server.hpp"
#include "tests/support/service_fixture.hpp"

namespace loyalty::testing {
namespace {

using namespace std::chrono_literals;

// A blocking TCP connection to 127.0.0.1 with receive and send timeouts.
class RawSocket {
 public:
  explicit RawSocket(unsigned short port, int send_buffer_bytes = 0, int receive_buffer_bytes = 0) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (send_buffer_bytes > 0) ::setsockopt(fd_, SOL_SOCKET, SO_SNDBUF, &send_buffer_bytes, sizeof send_buffer_bytes);
    if (receive_buffer_bytes > 0) {
      ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &receive_buffer_bytes, sizeof receive_buffer_bytes);
    }
    timeval timeout{5, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    ::inet_pton(AF_INET, "127.0.0.1", &address.sin_addr);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
  }
  ~RawSocket() { ::close(fd_); }
  RawSocket(const RawSocket&) = delete;
  RawSocket& operator=(const RawSocket&) = delete;

  bool connected() const { return connected_; }
  // Sends everything; false when the peer refused (reset) or a send timed out.
  bool send_all(std::string_view bytes) {
    while (!bytes.empty()) {
      const auto n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }
  // Everything until the peer closes, a reset, or the receive timeout; `closed` says whether
  // it ended with an orderly close (FIN) rather than a reset or a timeout.
  std::string receive_all(bool* closed = nullptr) {
    std::string out;
    char buffer[16384];
    while (true) {
      const auto n = ::recv(fd_, buffer, sizeof buffer, 0);
      if (n > 0) {
        out.append(buffer, static_cast<std::size_t>(n));
        continue;
      }
      if (closed) *closed = n == 0;
      return out;
    }
  }
  // One read: the bytes that were there (empty on close, reset or timeout).
  std::string receive_some() {
    char buffer[16384];
    const auto n = ::recv(fd_, buffer, sizeof buffer, 0);
    return n > 0 ? std::string(buffer, static_cast<std::size_t>(n)) : std::string();
  }

 private:
  int fd_ = -1;
  bool connected_ = false;
};

// A server of its own over the shared service, with short deadlines.
class LimitedServer {
 public:
  explicit LimitedServer(api::ServerLimits limits)
      : service_(RunningService::default_options(TestDatabase::instance().url())),
        server_(service_, "127.0.0.1", 0, 1, limits) {
    server_.start();
  }
  ~LimitedServer() { server_.stop(); }
  unsigned short port() const { return server_.port(); }

 private:
  api::Service service_;
  api::Server server_;
};

const std::string healthz = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";

TEST(Connections, ATooLargeBodyIsAnswered413EvenWhileTheClientKeepsSending) {
  // A plain client that sends its whole body before reading: without a lingering close the
  // server's close makes the kernel reset the connection, and the 413 is lost.
  LimitedServer server{api::ServerLimits{}};
  RawSocket client{server.port(), 16 * 1024};
  ASSERT_TRUE(client.connected());
  const std::size_t body_bytes = 3 * 1024 * 1024;
  const std::string head =
      "POST /v1/members HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " +
      std::to_string(body_bytes) + "\r\nX-Request-Id: linger-1\r\n\r\n";
  EXPECT_TRUE(client.send_all(head));
  EXPECT_TRUE(client.send_all(std::string(body_bytes, 'a'))) << "the server reset the connection while we sent";
  const std::string answer = client.receive_all();
  EXPECT_EQ(answer.rfind("HTTP/1.1 413", 0), 0u) << answer.substr(0, 200);
  EXPECT_NE(answer.find("payload_too_large"), std::string::npos);
  EXPECT_NE(answer.find("linger-1"), std::string::npos);
}

TEST(Connections, OversizedHeadersAre431AndBrokenRequestsAre400) {
  LimitedServer server{api::ServerLimits{}};
  {
    RawSocket client{server.port()};
    client.send_all("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(20 * 1024, 'h') + "\r\n\r\n");
    const std::string answer = client.receive_all();
    EXPECT_EQ(answer.rfind("HTTP/1.1 431", 0), 0u) << answer.substr(0, 200);
    EXPECT_NE(answer.find("request_header_fields_too_large"), std::string::npos);
  }
  {
    RawSocket client{server.port()};
    client.send_all("NOT HTTP AT ALL\r\n\r\n");
    const std::string answer = client.receive_all();
    EXPECT_EQ(answer.rfind("HTTP/1.1 400", 0), 0u) << answer.substr(0, 200);
    EXPECT_NE(answer.find("malformed_request"), std::string::npos);
  }
  {
    RawSocket client{server.port()};
    client.send_all("POST /v1/members HTTP/1.1\r\nHost: x\r\nContent-Length: 12x\r\n\r\n");
    EXPECT_EQ(client.receive_all().rfind("HTTP/1.1 400", 0), 0u);
  }
}

TEST(Connections, AnIdleKeepAliveConnectionIsClosed) {
  api::ServerLimits limits;
  limits.idle_timeout = 500ms;
  LimitedServer server{limits};
  RawSocket client{server.port()};
  ASSERT_TRUE(client.send_all(healthz));
  const auto started = std::chrono::steady_clock::now();
  bool closed = false;
  const std::string answer = client.receive_all(&closed);
  EXPECT_EQ(answer.rfind("HTTP/1.1 200", 0), 0u) << answer;
  EXPECT_TRUE(closed) << "the server kept an idle connection open";
  EXPECT_LT(std::chrono::steady_clock::now() - started, 3s);
}

TEST(Connections, AClientThatStopsReadingIsDropped) {
  api::ServerLimits limits;
  limits.write_timeout = 500ms;
  limits.idle_timeout = 10s;
  LimitedServer server{limits};
  RawSocket client{server.port(), 0, 4096};
  // Many pipelined requests whose answers the client never reads: the server's writes block,
  // and its write deadline must end the connection.
  std::string pipeline;
  constexpr int requests = 100000;  // ~18 MB of answers: more than any socket buffers hold
  for (int i = 0; i < requests; ++i) pipeline += healthz;
  std::thread sender{[&] { client.send_all(pipeline); }};
  sender.join();  // all sent into the buffers, or refused once the server dropped us
  // Time for the server to fill every buffer (slowly under a sanitizer) and to wait out its
  // write deadline, while this client reads nothing.
  std::this_thread::sleep_for(6s);
  bool closed = false;
  const std::string answers = client.receive_all(&closed);
  std::size_t count = 0;
  for (auto at = answers.find("HTTP/1.1 200"); at != std::string::npos; at = answers.find("HTTP/1.1 200", at + 1))
    ++count;
  EXPECT_LT(count, static_cast<std::size_t>(requests))
      << "every answer was written: the server waited on a client that does not read";
}

TEST(Connections, OneAddressMayHoldOnlyItsShareOfConnections) {
  api::ServerLimits limits;
  limits.connections_per_address_max = 2;
  LimitedServer server{limits};
  auto first = std::make_unique<RawSocket>(server.port());
  RawSocket second{server.port()};
  // Each is served (and so counted) before the third arrives.
  for (RawSocket* client : {first.get(), &second}) {
    ASSERT_TRUE(client->send_all(healthz));
    EXPECT_EQ(client->receive_some().rfind("HTTP/1.1 200", 0), 0u);
  }
  {
    RawSocket third{server.port()};
    third.send_all(healthz);
    EXPECT_EQ(third.receive_all(), "") << "a third connection from one address was served";
  }
  // When one closes, the address may connect again.
  first.reset();
  std::this_thread::sleep_for(200ms);
  RawSocket again{server.port()};
  ASSERT_TRUE(again.send_all(healthz));
  EXPECT_EQ(again.receive_some().rfind("HTTP/1.1 200", 0), 0u);
}

}  // namespace
}  // namespace loyalty::testing
