// Two loyaltyd processes on one database, many clients on few members, every kind of native
// write (events, adjustments, holds, captures, voids, mall orders created, paid and cancelled)
// and refunds: because every batch takes its locks in
// one global order, PostgreSQL reports no deadlock, nothing answers a 5xx other than 503, and
// the ledger's invariants hold afterwards.
#include <atomic>
#include <random>
#include <thread>

#include "api/api_keys.hpp"
#include "platform/database.hpp"
#include "platform/ids.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/loyaltyd_process.hpp"
#include "tests/support/test_database.hpp"

#include <gtest/gtest.h>

namespace loyalty::testing {
namespace {

constexpr int members_count = 4;
constexpr int clients_per_node = 12;
constexpr auto run_for = std::chrono::seconds{6};

std::int64_t deadlocks(pqxx::connection& connection) {
  pqxx::nontransaction txn{connection};
  txn.exec("SELECT pg_stat_clear_snapshot()");
  return txn.exec("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")[0][0].as<std::int64_t>();
}

struct Tally {
  std::atomic<int> answered{0};
  std::atomic<int> unavailable{0};  // 503
  std::atomic<int> failed{0};       // any other 5xx
  std::atomic<int> broken{0};       // no answer at all
  std::atomic<int> orders_paid{0};
};

// One client: random writes on random members until the time is up.
void write_randomly(unsigned short port, const std::string& secret, const std::vector<std::string>& members,
                    std::uint64_t seed, Tally& tally) {
  std::mt19937_64 random{seed};
  HttpClient client{port};
  const std::map<std::string, std::string> json{{"Authorization", "Bearer " + secret},
                                                {"Content-Type", "application/json"}};
  const auto send = [&](const std::string& target, const nlohmann::json& body, bool keyed) -> HttpResult {
    auto headers = json;
    if (keyed) headers["Idempotency-Key"] = new_id("two-");
    try {
      HttpResult result = client.request("POST", target, body.dump(), headers);
      ++tally.answered;
      if (result.status == 503)
        ++tally.unavailable;
      else if (result.status >= 500)
        ++tally.failed;
      return result;
    } catch (const std::exception&) {
      ++tally.broken;
      return {};
    }
  };
  const auto until = std::chrono::steady_clock::now() + run_for;
  while (std::chrono::steady_clock::now() < until) {
    const std::string& member = members[random() % members.size()];
    switch (random() % 6) {
      case 0:
        send("/v1/events",
             {{"event_id", new_id("two-")},
              {"member_id", member},
              {"type", "purchase"},
              {"occurred_at", format_rfc3339(now_utc())},
              {"attributes", {{"amount_cents", 1 + random() % 50000}}}},
             false);
        break;
      case 1:
        send("/v1/adjustments",
             {{"member_id", member},
              {"asset", "POINTS"},
              {"amount", static_cast<std::int64_t>(random() % 200) - 100 + 1},
              {"reason_code", "goodwill"}},
             true);
        break;
      case 2:
      case 3: {
        // A checkout of two lines (the reference program: CNY, 1 point = 1 fen), then pay and
        // sometimes refund a line, or cancel.
        const std::string order_id = new_id("two-order-");
        const std::int64_t points = static_cast<std::int64_t>(random() % 300);
        const std::int64_t cash = 1 + static_cast<std::int64_t>(random() % 30000);
        const auto created = send("/v1/orders",
                                  {{"order_id", order_id},
                                   {"member_id", member},
                                   {"currency", "CNY"},
                                   {"lines",
                                    {{{"sku", "a"}, {"title", "A"}, {"quantity", 1}, {"unit_price_cents", points + 1}},
                                     {{"sku", "b"}, {"title", "B"}, {"quantity", 1}, {"unit_price_cents", cash}}}},
                                   {"points_to_use", points},
                                   {"cash_cents", cash + 1}},
                                  false);
        if (created.status != 201) break;
        if (random() % 4 == 0) {
          send("/v1/orders/" + order_id + "/cancel", nlohmann::json::object(), false);
          break;
        }
        const auto paid = send("/v1/orders/" + order_id + "/pay", {{"payment_ref", "pay-" + order_id}}, false);
        if (paid.status == 200) ++tally.orders_paid;
        if (paid.status == 200 && random() % 2 == 0) {
          send("/v1/orders/" + order_id + "/refunds",
               {{"refund_id", new_id("two-refund-")}, {"lines", {{{"sku", "b"}, {"quantity", 1}}}}}, false);
        }
        break;
      }
      default: {
        const auto hold = send("/v1/holds", {{"member_id", member}, {"amount", 1 + random() % 50}}, true);
        if (hold.status != 201) break;
        const std::string hold_id = hold.json()["hold_id"];
        send("/v1/holds/" + hold_id + (random() % 2 ? "/capture" : "/void"), nlohmann::json::object(), false);
      }
    }
  }
}

TEST(TwoNodes, ManyClientsOnFewMembersThroughTwoProcessesNeverDeadlock) {
  TestDatabase& database = TestDatabase::instance();
  auto connection = database.connect();
  const auto admin = db::run_transaction(*connection, "two_nodes_key", [](pqxx::transaction_base& txn) {
    return api::create_api_key(txn, api::Role::admin, "two-nodes");
  });
  // Few workers and big batches: each batch holds several members, the case that deadlocked.
  const std::vector<std::string> arguments{"--db-workers", "2", "--batch-max", "64", "--rate-limit", "100000"};
  LoyaltydProcess first{database.service_url(), "two-nodes-a", arguments};
  LoyaltydProcess second{database.service_url(), "two-nodes-b", arguments};
  const unsigned short ports[] = {first.wait_until_serving(), second.wait_until_serving()};
  ASSERT_NE(ports[0], 0) << first.log();
  ASSERT_NE(ports[1], 0) << second.log();

  HttpClient setup{ports[0]};
  const std::map<std::string, std::string> headers{{"Authorization", "Bearer " + admin.secret},
                                                   {"Content-Type", "application/json"}};
  std::vector<std::string> members;
  for (int i = 0; i < members_count; ++i) {
    const auto member =
        setup.request("POST", "/v1/members", nlohmann::json{{"external_id", new_id("two-")}}.dump(), headers);
    ASSERT_EQ(member.status, 201) << member.body;
    members.push_back(member.json()["member_id"]);
    auto keyed = headers;
    keyed["Idempotency-Key"] = new_id("seed-");
    const auto credit = setup.request(
        "POST", "/v1/adjustments",
        nlohmann::json{
            {"member_id", members.back()}, {"asset", "POINTS"}, {"amount", 1000000}, {"reason_code", "goodwill"}}
            .dump(),
        keyed);
    ASSERT_EQ(credit.status, 201) << credit.body;
  }
  const std::int64_t deadlocks_before = deadlocks(*connection);

  Tally tally;
  std::vector<std::thread> clients;
  for (int i = 0; i < 2 * clients_per_node; ++i) {
    clients.emplace_back([&, i] { write_randomly(ports[i % 2], admin.secret, members, 1000 + i, tally); });
  }
  for (auto& client : clients) client.join();
  first.terminate();
  second.terminate();
  EXPECT_EQ(first.wait_for_exit(std::chrono::seconds{30}), 0);
  EXPECT_EQ(second.wait_for_exit(std::chrono::seconds{30}), 0);

  // A session's deadlock count reaches pg_stat_database when the session ends; the nodes'
  // sessions have just ended, so give the statistics a moment.
  std::int64_t deadlocks_after = deadlocks(*connection);
  for (int i = 0; i < 20 && deadlocks_after == deadlocks_before; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    deadlocks_after = deadlocks(*connection);
  }
  std::cout << tally.answered << " answers, " << tally.unavailable << " of them 503, " << tally.orders_paid
            << " orders paid" << std::endl;
  EXPECT_GT(tally.answered.load(), 200);
  EXPECT_GT(tally.orders_paid.load(), 20);
  EXPECT_EQ(deadlocks_after - deadlocks_before, 0) << "deadlocks detected by PostgreSQL";
  EXPECT_EQ(tally.failed.load(), 0) << "5xx answers other than 503";
  EXPECT_EQ(tally.broken.load(), 0) << "requests without an answer";
  EXPECT_LEDGER_INVARIANTS_HOLD();
}

}  // namespace
}  // namespace loyalty::testing
