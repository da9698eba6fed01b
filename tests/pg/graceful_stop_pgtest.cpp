// A real loyaltyd stopped with SIGTERM while clients write to it: /readyz says 503 at once,
// every request that was sent (or was being sent) is answered, never reset, every answered
// write is committed and nothing unanswered is, and the process exits in bounded time.
#include <fcntl.h>
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <atomic>
#include <chrono>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include "api/api_keys.hpp"
#include "platform/database.hpp"
#include "platform/ids.hpp"
#include "tests/support/loyaltyd_process.hpp"
#include "tests/support/service_fixture.hpp"

namespace loyalty::testing {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

// What one client saw.
struct Tally {
  std::atomic<int> created{0};        // 201s
  std::atomic<int> other_answers{0};  // any other complete answer
  std::atomic<int> broken{0};         // a request written, then no complete answer (reset or EOF)
  std::atomic<int> closed_by_answer{0};
};

http::request<http::string_body> adjustment(const std::string& secret, const std::string& member_id) {
  http::request<http::string_body> request{http::verb::post, "/v1/adjustments", 11};
  request.set(http::field::host, "127.0.0.1");
  request.set(http::field::authorization, "Bearer " + secret);
  request.set(http::field::content_type, "application/json");
  request.set("Idempotency-Key", new_id("stop-"));
  request.body() =
      nlohmann::json{{"member_id", member_id}, {"asset", "POINTS"}, {"amount", 1}, {"reason_code", "goodwill"}}.dump();
  request.prepare_payload();
  return request;
}

// Writes adjustments on keep-alive connections until the server says `Connection: close` and
// will not take a new connection.
void write_until_refused(unsigned short port, const std::string& secret, const std::string& member_id, Tally& tally) {
  asio::io_context io;
  while (true) {
    beast::tcp_stream stream{io};
    beast::error_code error;
    stream.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port), error);
    if (error) return;  // the listener is closed: the client goes elsewhere
    beast::flat_buffer buffer;
    while (true) {
      auto request = adjustment(secret, member_id);
      http::write(stream, request, error);
      if (error) {
        ++tally.broken;
        return;
      }
      http::response<http::string_body> response;
      http::read(stream, buffer, response, error);
      if (error) {
        ++tally.broken;
        return;
      }
      if (response.result_int() == 201)
        ++tally.created;
      else
        ++tally.other_answers;
      if (!response.keep_alive()) {
        ++tally.closed_by_answer;
        break;  // reconnect
      }
    }
  }
}

TEST(GracefulStop, UnderLoadEveryRequestIsAnsweredReadinessFailsFirstAndTheProcessExitsInTime) {
  // Goal: SIGTERM during a stream of writes loses nothing and resets nobody.
  TestDatabase& database = TestDatabase::instance();
  auto connection = database.connect();
  const auto admin = db::run_transaction(*connection, "stop_key", [](pqxx::transaction_base& txn) {
    return api::create_api_key(txn, api::Role::admin, "stop-test");
  });
  LoyaltydProcess daemon{
      database.service_url(),
      "graceful-stop",
      {"--stop-timeout", "10", "--db-workers", "4"}};  // as loyalty_app, as `scripts/dev serve` runs it
  const unsigned short port = daemon.wait_until_serving();
  ASSERT_NE(port, 0) << daemon.log();
  HttpClient setup{port};
  const auto member =
      setup.request("POST", "/v1/members", nlohmann::json{{"external_id", new_id("stop-")}}.dump(),
                    {{"Authorization", "Bearer " + admin.secret}, {"Content-Type", "application/json"}});
  ASSERT_EQ(member.status, 201) << member.body;
  const std::string member_id = member.json()["member_id"];

  // A probe on a kept-alive connection, and a slow client that has sent half a request.
  HttpClient probe{port};
  ASSERT_EQ(probe.request("GET", "/readyz").status, 200);
  asio::io_context io;
  beast::tcp_stream slow{io};
  slow.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  auto slow_request = adjustment(admin.secret, member_id);
  http::request_serializer<http::string_body> serializer{slow_request};
  beast::error_code slow_error;
  http::write_header(slow, serializer, slow_error);
  ASSERT_FALSE(slow_error);

  Tally tally;
  std::vector<std::thread> clients;
  for (int i = 0; i < 6; ++i) clients.emplace_back([&] { write_until_refused(port, admin.secret, member_id, tally); });
  std::this_thread::sleep_for(std::chrono::milliseconds(800));
  const int created_before_stop = tally.created.load();
  daemon.terminate();
  const auto stop_sent = Clock::now();

  // Readiness fails at once, on a connection that was open before the stop (50 ms: the
  // signal reaches the process; a probe answered just before it would say 200).
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  try {
    const auto readiness = probe.request("GET", "/readyz");
    EXPECT_EQ(readiness.status, 503) << readiness.body;
    EXPECT_EQ(readiness.header("connection"), "close");
  } catch (const std::exception& error) {
    ADD_FAILURE() << "the readiness probe's connection was closed: " << error.what();
  }

  // The slow client finishes its request after the stop began: it is answered.
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  http::write(slow, serializer, slow_error);
  EXPECT_FALSE(slow_error) << "slow client's write: " << slow_error.message();
  beast::flat_buffer slow_buffer;
  http::response<http::string_body> slow_response;
  if (!slow_error) http::read(slow, slow_buffer, slow_response, slow_error);
  EXPECT_FALSE(slow_error) << "slow client's read: " << slow_error.message();
  const bool slow_answered = !slow_error && slow_response.result_int() == 201;
  EXPECT_TRUE(slow_answered) << slow_response.body();
  EXPECT_FALSE(slow_response.keep_alive());

  for (auto& client : clients) client.join();
  const int status = daemon.wait_for_exit(std::chrono::seconds(15));
  const auto stop_took = Clock::now() - stop_sent;
  EXPECT_EQ(status, 0) << daemon.log();
  EXPECT_LT(stop_took, std::chrono::seconds(5)) << daemon.log();

  EXPECT_GT(created_before_stop, 0);
  EXPECT_EQ(tally.broken.load(), 0) << daemon.log();
  EXPECT_EQ(tally.other_answers.load(), 0);
  EXPECT_GE(tally.closed_by_answer.load(), 1);
  // Every answered write is in the ledger, and nothing else is: 1 point each.
  pqxx::read_transaction txn{*connection};
  const auto balance = txn.exec_params(
      "SELECT balance FROM accounts WHERE member_id = $1 AND asset = 'POINTS' AND part = 'available'", member_id);
  ASSERT_EQ(balance.size(), 1u);
  EXPECT_EQ(balance[0][0].as<std::int64_t>(), tally.created.load() + (slow_answered ? 1 : 0));
}

}  // namespace
}  // namespace loyalty::testing
