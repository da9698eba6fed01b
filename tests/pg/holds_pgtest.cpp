// Two-phase redemption: holds, captures, voids, expiry, and holds racing for one balance.
#include <atomic>
#include <thread>

#include "tests/support/service_fixture.hpp"

namespace loyalty::testing {
namespace {

using Holds = ServiceTest;

nlohmann::json hold_request(const std::string& member_id, std::int64_t amount, int ttl_seconds = 600) {
  return {{"member_id", member_id}, {"amount", amount}, {"ttl_seconds", ttl_seconds}};
}

TEST_F(Holds, AHoldMovesPointsFromAvailableToHeld) {
  const std::string member_id = member_with_points(1000);
  const auto hold = post("/v1/holds", hold_request(member_id, 300), unique("h-"), api::Role::mall);
  ASSERT_EQ(hold.status, 201) << hold.body;
  EXPECT_EQ(hold.json()["status"], "open");
  const auto balance = points_balance(member_id);
  EXPECT_EQ(balance["available"], 700);
  EXPECT_EQ(balance["held"], 300);
  EXPECT_EQ(balance["total"], 1000);
}

TEST_F(Holds, APartialCaptureRedeemsThatMuchAndReleasesTheRest) {
  const std::string member_id = member_with_points(1000);
  const auto hold_id =
      post("/v1/holds", hold_request(member_id, 300), unique("h-")).json()["hold_id"].get<std::string>();
  const auto captured = post("/v1/holds/" + hold_id + "/capture", {{"amount", 120}});
  ASSERT_EQ(captured.status, 200) << captured.body;
  EXPECT_EQ(captured.json()["status"], "captured");
  EXPECT_EQ(captured.json()["captured_amount"], 120);
  const auto balance = points_balance(member_id);
  EXPECT_EQ(balance["available"], 880);
  EXPECT_EQ(balance["held"], 0);
  // A closed hold cannot be captured or voided again.
  EXPECT_EQ(post("/v1/holds/" + hold_id + "/capture", nlohmann::json::object()).json()["code"], "hold_not_open");
  EXPECT_EQ(post("/v1/holds/" + hold_id + "/void", nlohmann::json::object()).status, 409);
}

TEST_F(Holds, CapturingMoreThanHeldIsRefused) {
  const std::string member_id = member_with_points(100);
  const auto hold_id =
      post("/v1/holds", hold_request(member_id, 50), unique("h-")).json()["hold_id"].get<std::string>();
  EXPECT_EQ(post("/v1/holds/" + hold_id + "/capture", {{"amount", 51}}).status, 422);
  EXPECT_EQ(post("/v1/holds/" + hold_id + "/capture", {{"amount", 0}}).status, 422);
  EXPECT_EQ(points_balance(member_id)["held"], 50);
}

TEST_F(Holds, AVoidGivesThePointsBack) {
  const std::string member_id = member_with_points(100);
  const auto hold_id =
      post("/v1/holds", hold_request(member_id, 60), unique("h-")).json()["hold_id"].get<std::string>();
  const auto voided = post("/v1/holds/" + hold_id + "/void", nlohmann::json::object());
  ASSERT_EQ(voided.status, 200) << voided.body;
  EXPECT_EQ(voided.json()["status"], "voided");
  EXPECT_EQ(points_balance(member_id)["available"], 100);
}

TEST_F(Holds, NotEnoughAvailablePointsHoldsNothing) {
  const std::string member_id = member_with_points(10);
  const auto entries = count_rows("entries");
  const auto refused = post("/v1/holds", hold_request(member_id, 11), unique("h-"));
  EXPECT_EQ(refused.status, 422);
  EXPECT_EQ(refused.json()["code"], "insufficient_points");
  EXPECT_EQ(count_rows("entries"), entries);
  EXPECT_EQ(points_balance(member_id)["held"], 0);
}

TEST_F(Holds, HoldsAreOnPointsOnlyAndNeedAKey) {
  const std::string member_id = member_with_points(10);
  auto request = hold_request(member_id, 5);
  request["asset"] = "GROWTH";
  EXPECT_EQ(post("/v1/holds", request, unique("h-")).status, 422);
  EXPECT_EQ(post("/v1/holds", hold_request(member_id, 5)).status, 400);
  EXPECT_EQ(post("/v1/holds", hold_request(member_id, 5, 0), unique("h-")).status, 422);
  EXPECT_EQ(post("/v1/holds", hold_request(member_id, 5, 604801), unique("h-")).status, 422);
}

TEST_F(Holds, AnExpiredHoldStopsCountingAtOnceAndIsNeverCapturable) {
  const std::string member_id = member_with_points(100);
  const auto hold_id =
      post("/v1/holds", hold_request(member_id, 40, 1), unique("h-")).json()["hold_id"].get<std::string>();
  EXPECT_EQ(points_balance(member_id)["held"], 40);
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));
  // No job has run: the hold still sits in the held part, but reads as released.
  const auto balance = points_balance(member_id);
  EXPECT_EQ(balance["held"], 0);
  EXPECT_EQ(balance["available"], 100);
  EXPECT_EQ(get("/v1/holds/" + hold_id).json()["status"], "expired");
  const auto capture = post("/v1/holds/" + hold_id + "/capture", nlohmann::json::object());
  EXPECT_EQ(capture.status, 409);
  EXPECT_EQ(capture.json()["code"], "hold_expired");
  // The lapsed points can be held again straight away.
  EXPECT_EQ(post("/v1/holds", hold_request(member_id, 100), unique("h-")).status, 201);
}

TEST_F(Holds, TheExpireHoldsJobReleasesLapsedHoldsOnceForAMoment) {
  const std::string member_id = member_with_points(100);
  ASSERT_EQ(post("/v1/holds", hold_request(member_id, 25, 1), unique("h-")).status, 201);
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));
  const std::string as_of = format_rfc3339(now_utc());
  const auto run = post("/v1/jobs/expire-holds", {{"as_of", as_of}});
  ASSERT_EQ(run.status, 200) << run.body;
  EXPECT_EQ(run.json()["status"], "done");
  EXPECT_GE(run.json()["items"].get<int>(), 1);
  const auto again = post("/v1/jobs/expire-holds", {{"as_of", as_of}});
  EXPECT_EQ(again.json()["status"], "already_done");
  EXPECT_EQ(again.json()["items"], 0);
  auto connection = TestDatabase::instance().connect();
  pqxx::read_transaction txn{*connection};
  EXPECT_EQ(txn.exec_params1("SELECT balance FROM accounts WHERE member_id = $1 AND asset = 'POINTS' AND part = 'held'",
                             member_id)[0]
                .as<int>(),
            0);
}

TEST_F(Holds, FortyConcurrentHoldsAgainstABalanceForTenLeaveExactlyTenAndZero) {
  const std::string member_id = member_with_points(100);
  constexpr int clients = 40;
  std::atomic<int> created{0}, insufficient{0}, other{0};
  std::vector<std::thread> threads;
  const std::string& secret = service().secret(api::Role::mall);
  for (int i = 0; i < clients; ++i) {
    threads.emplace_back([&, i] {
      HttpClient client{service().port()};
      const auto result = client.request(
          "POST", "/v1/holds", hold_request(member_id, 10).dump(),
          {{"Authorization", "Bearer " + secret}, {"Idempotency-Key", "race-" + member_id + "-" + std::to_string(i)}});
      if (result.status == 201)
        ++created;
      else if (result.status == 422 && result.json()["code"] == "insufficient_points")
        ++insufficient;
      else
        ++other;
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(created.load(), 10);
  EXPECT_EQ(insufficient.load(), 30);
  EXPECT_EQ(other.load(), 0);
  const auto balance = points_balance(member_id);
  EXPECT_EQ(balance["available"], 0);
  EXPECT_EQ(balance["held"], 100);
}

}  // namespace
}  // namespace loyalty::testing
