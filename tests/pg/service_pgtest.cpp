// The HTTP service's edges: authentication, roles, limits, encodings, operations endpoints,
// and what happens when the database goes away and comes back.
#include <thread>

#include "api/proto/loyalty/v1/loyalty.pb.h"
#include "tests/support/service_fixture.hpp"

namespace loyalty::testing {
namespace {

using Service = ServiceTest;

TEST_F(Service, RequestsWithoutAValidKeyAreUnauthenticated) {
  HttpClient client{service().port()};
  const auto missing = client.request("GET", "/v1/members/mem_x");
  EXPECT_EQ(missing.status, 401);
  EXPECT_EQ(missing.json()["code"], "unauthenticated");
  const auto wrong = client.request("GET", "/v1/members/mem_x", "", {{"Authorization", "Bearer key_nope.abc"}});
  EXPECT_EQ(wrong.status, 401);
  const std::string& secret = service().secret(api::Role::mall);
  const auto tampered = client.request("GET", "/v1/members/mem_x", "", {{"Authorization", "Bearer " + secret + "x"}});
  EXPECT_EQ(tampered.status, 401);
}

TEST_F(Service, ARoleOutsideTheRouteIsForbidden) {
  EXPECT_EQ(post("/v1/members", {{"external_id", unique("x-")}}, std::nullopt, api::Role::finance).status, 403);
  EXPECT_EQ(post("/v1/jobs/expire-holds", nlohmann::json::object(), std::nullopt, api::Role::mall).status, 403);
}

TEST_F(Service, EveryResponseCarriesARequestIdAndEchoesTheCallers) {
  HttpClient client{service().port()};
  const auto generated = client.request("GET", "/healthz");
  EXPECT_EQ(generated.header("x-request-id").rfind("req_", 0), 0u);
  const auto echoed = client.request("GET", "/healthz", "", {{"X-Request-Id", "checkout-123"}});
  EXPECT_EQ(echoed.header("x-request-id"), "checkout-123");
  const auto problem = client.request("GET", "/v1/nowhere", "", {{"X-Request-Id", "lost-1"}});
  EXPECT_EQ(problem.status, 404);
  EXPECT_EQ(problem.json()["request_id"], "lost-1");
}

TEST_F(Service, UnknownPathsAndMethodsAreProblems) {
  EXPECT_EQ(get("/v1/nothing-here").status, 404);
  HttpClient client{service().port()};
  EXPECT_EQ(client.request("DELETE", "/v1/holds").status, 405);
}

TEST_F(Service, ABodyOverOneMebibyteIsTooLarge) {
  const std::string member_id = create_member();
  const std::string huge = "{\"member_id\":\"" + member_id +
                           "\",\"asset\":\"POINTS\",\"amount\":1,\"reason_code\":\"other\",\"note\":\"" +
                           std::string(1024 * 1024 + 10, 'a') + "\"}";
  const auto entries = count_rows("entries");
  const auto refused =
      post_raw("/v1/adjustments", huge, {{"Idempotency-Key", unique("big-")}, {"X-Request-Id", "trace-413"}});
  EXPECT_EQ(refused.status, 413);
  EXPECT_EQ(refused.json()["code"], "payload_too_large");
  EXPECT_EQ(refused.header("x-request-id"), "trace-413");  // echoed, like every other answer
  EXPECT_EQ(refused.json()["request_id"], "trace-413");
  EXPECT_EQ(count_rows("entries"), entries);
}

TEST_F(Service, AnUnsupportedContentTypeIsRefused) {
  const auto refused =
      post_raw("/v1/members", "external_id=x", {{"Content-Type", "application/x-www-form-urlencoded"}});
  EXPECT_EQ(refused.status, 415);
}

TEST_F(Service, BinaryProtobufAndJsonAreTheSameMessages) {
  const std::string member_id = create_member();
  v1::CreateAdjustmentRequest request;
  request.set_member_id(member_id);
  request.set_asset("POINTS");
  request.set_amount(250);
  request.set_reason_code("promotion");
  std::string bytes;
  request.SerializeToString(&bytes);
  HttpClient client{service().port()};
  const auto result = client.request("POST", "/v1/adjustments", bytes,
                                     {{"Authorization", "Bearer " + service().secret(api::Role::admin)},
                                      {"Content-Type", "application/x-protobuf"},
                                      {"Accept", "application/x-protobuf"},
                                      {"Idempotency-Key", unique("pb-")}});
  ASSERT_EQ(result.status, 201) << result.body;
  EXPECT_EQ(result.header("content-type"), "application/x-protobuf");
  v1::Adjustment adjustment;
  ASSERT_TRUE(adjustment.ParseFromString(result.body));
  EXPECT_EQ(adjustment.available_after(), 250);
  EXPECT_EQ(adjustment.member_id(), member_id);
}

TEST_F(Service, HealthReadinessAndMetricsAnswer) {
  HttpClient client{service().port()};
  EXPECT_EQ(client.request("GET", "/healthz").status, 200);
  const auto ready = client.request("GET", "/readyz");
  EXPECT_EQ(ready.status, 200) << ready.body;
  create_member();
  const auto metrics = client.request("GET", "/metrics");
  EXPECT_EQ(metrics.status, 200);
  EXPECT_NE(metrics.body.find("loyalty_http_requests_total{route=\"POST /v1/members\",status=\"201\"}"),
            std::string::npos);
  EXPECT_NE(metrics.body.find("loyalty_http_request_duration_seconds_bucket"), std::string::npos);
  EXPECT_NE(metrics.body.find("loyalty_ledger_entries_committed_total"), std::string::npos);
  EXPECT_NE(metrics.body.find("loyalty_db_queue_jobs"), std::string::npos);
  // The member's creation went through a worker: it waited in a queue and ran in a batch.
  for (const char* histogram : {"loyalty_db_queue_wait_seconds", "loyalty_db_batch_duration_seconds"}) {
    const std::string count_line = std::string("\n") + histogram + "_count ";
    const auto at = metrics.body.find(count_line);
    ASSERT_NE(at, std::string::npos) << histogram;
    EXPECT_GE(std::stoll(metrics.body.substr(at + count_line.size())), 1) << histogram;
    EXPECT_NE(metrics.body.find(std::string(histogram) + "_bucket{le=\"+Inf\"}"), std::string::npos) << histogram;
  }
}

TEST_F(Service, ACallerOverItsRateIsToldToWait) {
  auto options = RunningService::default_options(TestDatabase::instance().url());
  options.rate_limit_per_second = 1;
  options.rate_limit_burst = 3;
  RunningService limited{options};
  HttpClient client{limited.port()};
  const std::string auth = "Bearer " + limited.secret(api::Role::admin);
  int limited_count = 0;
  std::string retry_after;
  for (int i = 0; i < 6; ++i) {
    const auto result = client.request("GET", "/v1/members/mem_nobody", "", {{"Authorization", auth}});
    if (result.status == 429) {
      ++limited_count;
      retry_after = result.header("retry-after");
      EXPECT_EQ(result.json()["code"], "rate_limited");
    }
  }
  EXPECT_GE(limited_count, 2);
  EXPECT_FALSE(retry_after.empty());
}

TEST_F(Service, WithoutASigningKeyThePemIsUnavailableAndPartnerResponsesGoUnsigned) {
  // This fixture's service runs without LOYALTY_SIGNING_KEY.
  HttpClient client{service().port()};
  const auto pem = client.request("GET", "/partner/v1/signing-keys");
  EXPECT_EQ(pem.status, 503) << pem.body;
  EXPECT_EQ(pem.json()["code"], "signing_key_unavailable");
  EXPECT_TRUE(pem.header("x-signature").empty());
  const auto listed = client.request("GET", "/partner/v1/signing-keys", "", {{"Accept", "application/json"}});
  EXPECT_EQ(listed.status, 200) << listed.body;
  const nlohmann::json keys = listed.json();
  ASSERT_TRUE(keys.is_object()) << listed.body;
  for (const auto& key : keys.value("keys", nlohmann::json::array())) EXPECT_FALSE(key.value("current", false));
  EXPECT_EQ(client.request("GET", "/partner/v1/nowhere").status, 404);
}

TEST_F(Service, WithoutADatabaseRequestsAnswer503AndReadinessFails) {
  auto options = RunningService::default_options("postgresql://loyalty@127.0.0.1:1/nowhere?connect_timeout=1");
  options.database.workers = 1;
  api::Service unreachable_service{options};
  api::Server server{unreachable_service, "127.0.0.1", 0, 1};
  server.start();
  HttpClient client{server.port()};
  EXPECT_EQ(client.request("GET", "/healthz").status, 200);
  const auto ready = client.request("GET", "/readyz");
  EXPECT_EQ(ready.status, 503);
  const auto request = client.request("GET", "/v1/members/mem_x", "", {{"Authorization", "Bearer key_abc.def"}});
  EXPECT_EQ(request.status, 503);
  EXPECT_EQ(request.json()["code"], "database_unavailable");
  EXPECT_EQ(request.header("retry-after"), "1");
  server.stop();
}

TEST_F(Service, WhenTheDatabaseDropsTheConnectionsTheServiceRecoversByItself) {
  const std::string member_id = member_with_points(50);
  {
    auto connection = TestDatabase::instance().connect();
    pqxx::nontransaction txn{*connection};
    txn.exec(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid()");
  }
  int unavailable = 0;
  bool recovered = false;
  for (int i = 0; i < 40 && !recovered; ++i) {
    const auto result = get("/v1/members/" + member_id + "/balances");
    if (result.status == 503) ++unavailable;
    recovered = result.status == 200;
    if (!recovered) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(recovered);
  EXPECT_EQ(points_balance(member_id)["available"], 50);
  HttpClient client{service().port()};
  EXPECT_EQ(client.request("GET", "/readyz").status, 200);
}

// A write's batch finds its worker's pooled connection gone in its first round trip (where its
// BEGIN travels), which committed nothing: the batch is tried once more on a fresh connection
// and the write applied once, with no error for the client.
TEST_F(Service, AWriteAfterTheDatabaseDroppedTheConnectionsIsAppliedOnceOnAFreshConnection) {
  const std::string member_id = member_with_points(50);
  {
    auto connection = TestDatabase::instance().connect();
    pqxx::nontransaction txn{*connection};
    txn.exec(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid()");
  }
  // Reads first, until their side has reconnected: the writes' workers have not used theirs.
  for (int i = 0; i < 40 && get("/v1/members/" + member_id + "/balances").status != 200; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  const auto credited = post(
      "/v1/adjustments", {{"member_id", member_id}, {"asset", "POINTS"}, {"amount", 7}, {"reason_code", "goodwill"}},
      unique("after-drop-"));
  EXPECT_EQ(credited.status, 201) << credited.body;
  EXPECT_EQ(points_balance(member_id)["available"], 57);
}

}  // namespace
}  // namespace loyalty::testing
