// Idempotency keys: replays answer the first answer, moving nothing again — also when the
// retries race each other.
#include <atomic>
#include <set>
#include <thread>

#include "app/idempotency.hpp"
#include "platform/database.hpp"
#include "tests/support/service_fixture.hpp"

namespace loyalty::testing {
namespace {

using Idempotency = ServiceTest;

nlohmann::json credit(const std::string& member_id, std::int64_t amount) {
  return {{"member_id", member_id}, {"asset", "POINTS"}, {"amount", amount}, {"reason_code", "goodwill"}};
}

TEST_F(Idempotency, ARetryWithTheSameKeyAndBodyAnswersTheFirstAnswerAndMovesNothing) {
  const std::string member_id = create_member();
  const std::string key = unique("retry-");
  const auto first = post("/v1/adjustments", credit(member_id, 70), key);
  ASSERT_EQ(first.status, 201);
  const auto entries = count_rows("entries");
  const auto second = post("/v1/adjustments", credit(member_id, 70), key);
  EXPECT_EQ(second.status, 201);
  EXPECT_EQ(second.body, first.body);
  EXPECT_EQ(second.header("idempotent-replayed"), "true");
  EXPECT_EQ(count_rows("entries"), entries);
  EXPECT_EQ(points_balance(member_id)["available"], 70);
}

TEST_F(Idempotency, TheSameKeyWithAnotherBodyIsAConflict) {
  const std::string member_id = create_member();
  const std::string key = unique("reuse-");
  ASSERT_EQ(post("/v1/adjustments", credit(member_id, 70), key).status, 201);
  const auto reused = post("/v1/adjustments", credit(member_id, 71), key);
  EXPECT_EQ(reused.status, 409);
  EXPECT_EQ(reused.json()["code"], "idempotency_key_reused");
  EXPECT_EQ(points_balance(member_id)["available"], 70);
}

TEST_F(Idempotency, KeysBelongToTheirCaller) {
  const std::string member_id = member_with_points(100);
  const std::string key = unique("shared-");
  nlohmann::json hold = {{"member_id", member_id}, {"amount", 10}};
  ASSERT_EQ(post("/v1/holds", hold, key, api::Role::admin).status, 201);
  ASSERT_EQ(post("/v1/holds", hold, key, api::Role::mall).status, 201);
  EXPECT_EQ(points_balance(member_id)["held"], 20);
}

TEST_F(Idempotency, ARefusalIsTheKeysAnswerTooAndMovesNothing) {
  const std::string member_id = member_with_points(5);
  const std::string key = unique("later-");
  nlohmann::json hold = {{"member_id", member_id}, {"amount", 10}};
  const auto refused = post("/v1/holds", hold, key);
  EXPECT_EQ(refused.status, 422);
  ASSERT_EQ(post("/v1/adjustments", credit(member_id, 5), unique("top-up-")).status, 201);
  // The same key answers the first answer even though it would succeed now (the problem's
  // request_id is the retry's own).
  const auto replayed = post("/v1/holds", hold, key);
  EXPECT_EQ(replayed.status, 422);
  auto first_body = refused.json();
  auto replayed_body = replayed.json();
  first_body.erase("request_id");
  replayed_body.erase("request_id");
  EXPECT_EQ(replayed_body, first_body);
  EXPECT_EQ(first_body["code"], "insufficient_points");
  EXPECT_EQ(replayed.header("idempotent-replayed"), "true");
  EXPECT_EQ(replayed.header("content-type"), "application/problem+json");
  EXPECT_EQ(points_balance(member_id)["held"], 0);
  // A new attempt is a new key.
  EXPECT_EQ(post("/v1/holds", hold, unique("again-")).status, 201);
  // A malformed request records nothing: the same key may then carry a good one.
  const std::string fresh = unique("fresh-");
  EXPECT_EQ(post("/v1/holds", {{"member_id", member_id}, {"amount", -1}}, fresh).status, 422);
  EXPECT_EQ(post("/v1/holds", {{"member_id", member_id}, {"amount", -1}}, fresh).status, 422);
}

TEST_F(Idempotency, SixteenConcurrentRequestsWithOneKeyMoveValueOnce) {
  const std::string member_id = create_member();
  const std::string key = unique("storm-");
  const std::string body = credit(member_id, 1000).dump();
  const std::string& secret = service().secret(api::Role::admin);
  std::vector<std::thread> threads;
  std::mutex mutex;
  std::multiset<int> statuses;
  std::set<std::string> bodies;
  for (int i = 0; i < 16; ++i) {
    threads.emplace_back([&] {
      HttpClient client{service().port()};
      const auto result = client.request("POST", "/v1/adjustments", body,
                                         {{"Authorization", "Bearer " + secret}, {"Idempotency-Key", key}});
      std::lock_guard lock{mutex};
      statuses.insert(result.status);
      if (result.status == 201) bodies.insert(result.body);
    });
  }
  for (auto& thread : threads) thread.join();
  // Each either got the first answer or was told to retry: never a second movement.
  EXPECT_EQ(statuses.count(201) + statuses.count(409), 16u);
  EXPECT_GE(statuses.count(201), 1u);
  EXPECT_EQ(bodies.size(), 1u);
  EXPECT_EQ(points_balance(member_id)["available"], 1000);
  auto connection = TestDatabase::instance().connect();
  pqxx::read_transaction txn{*connection};
  EXPECT_EQ(txn.exec_params1("SELECT count(*) FROM entries WHERE member_id = $1", member_id)[0].as<int>(), 1);
}

// The storage under the protocol: a key locked by a transaction in flight makes a second
// transaction wait; once the first commits, the second's read (a statement after the lock)
// sees its answer; once the first rolls back, the key is free and unanswered.
TEST_F(Idempotency, ASecondKeyLockWaitsForTheFirstTransactionAndThenSeesWhatItCommitted) {
  for (const bool commit : {true, false}) {
    const app::KeyName name{"key_storagetest", unique("locked-")};
    auto first_connection = TestDatabase::instance().connect();
    pqxx::work first{*first_connection};
    ASSERT_TRUE(app::lock_keys(first, {name}).empty());
    db::WriteBuffer writes{first};
    app::add_answers(writes, {{name, "digest", {201, "loyalty.v1.Adjustment", "bytes"}}});
    writes.flush();

    std::atomic<bool> second_done{false};
    std::vector<app::StoredKey> seen;
    std::thread second_thread{[&] {
      auto connection = TestDatabase::instance().connect();
      pqxx::work second{*connection};
      seen = app::lock_keys(second, {name, {"key_storagetest", unique("other-")}});
      second_done = true;
    }};
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    EXPECT_FALSE(second_done.load()) << "the second lock did not wait for the first transaction";
    if (commit) {
      first.commit();
    } else {
      first.abort();
    }
    second_thread.join();
    if (commit) {
      ASSERT_EQ(seen.size(), 1u);
      EXPECT_EQ(seen[0].key, name.key);
      EXPECT_EQ(seen[0].request_sha256, "digest");
      EXPECT_EQ(seen[0].answer.status, 201);
      EXPECT_EQ(seen[0].answer.bytes, "bytes");
    } else {
      EXPECT_TRUE(seen.empty());
    }
  }
}

}  // namespace
}  // namespace loyalty::testing
