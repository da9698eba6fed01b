// Hostile clients and the life of API keys: refused authentications are cheap and counted in
// aggregate (never one audit row each, never on a members' worker), keys are listed, revoked
// and expire, and a revocation reaches another process within the key cache's 5 s. Jobs over
// HTTP refuse an as_of in the future and record who started them.
#include <chrono>
#include <set>
#include <thread>

#include "api/api_keys.hpp"
#include "api/jobs_catalog.hpp"
#include "ledger/jobs.hpp"
#include "platform/database.hpp"
#include "tests/support/service_fixture.hpp"

namespace loyalty::testing {
namespace {

using Access = ServiceTest;
using Clock = std::chrono::steady_clock;

// A service of its own, limited as loyaltyd is by default (the shared fixture lifts limits).
api::ServiceOptions production_like_options() {
  api::ServiceOptions options = RunningService::default_options(TestDatabase::instance().service_url());
  options.source_rate_limit_per_second = 20000;
  options.source_rate_limit_burst = 40000;
  options.auth_refusals_per_second = 10;
  options.auth_refusals_burst = 100;
  options.allow_future_jobs = false;
  return options;
}

std::int64_t scalar(const std::string& sql) {
  auto connection = TestDatabase::instance().connect();
  pqxx::read_transaction txn{*connection};
  return txn.exec(sql)[0][0].as<std::int64_t>();
}

HttpResult with_key(HttpClient& client, const std::string& method, const std::string& target, const std::string& secret,
                    const std::string& body = "") {
  std::map<std::string, std::string> headers{{"Authorization", "Bearer " + secret}};
  if (!body.empty()) headers["Content-Type"] = "application/json";
  return client.request(method, target, body, headers);
}

TEST_F(Access, AFloodOfAMadeUpKeyIsCountedNotAuditedAndNeverTouchesTheMembersWorkers) {
  // Goal: 600 requests with a made-up key cost no audit rows and no work on the workers that
  // serve members; they are counted per source, key, code and minute; past the source's
  // refusal budget they are answered 429 without any lookup; a key verified before keeps working.
  RunningService node{production_like_options()};
  const std::string good = node.secret(api::Role::admin);
  HttpClient client{node.port()};
  ASSERT_EQ(with_key(client, "GET", "/v1/keys?limit=1", good).status, 200);  // verified and cached

  const auto audit_rows = count_rows("audit_events");
  const auto member_worker_jobs = node.service().executor().jobs_run();
  const std::string made_up = "key_aaaaaaaaaaaaaaaaaaaa.not-a-real-secret";
  int unauthenticated = 0, limited = 0, other = 0;
  for (int i = 0; i < 600; ++i) {
    const auto answer = with_key(client, "GET", "/v1/members/mem_x", made_up);
    if (answer.status == 401)
      ++unauthenticated;
    else if (answer.status == 429 && !answer.header("retry-after").empty())
      ++limited;
    else
      ++other;
  }
  EXPECT_EQ(other, 0);
  EXPECT_LE(unauthenticated, 110);  // the burst (100) and what refills meanwhile
  EXPECT_GE(limited, 450);
  EXPECT_EQ(count_rows("audit_events"), audit_rows);
  EXPECT_EQ(node.service().executor().jobs_run(), member_worker_jobs);

  // The address's refusals ran out; a key this process verified before still passes.
  EXPECT_EQ(with_key(client, "GET", "/v1/keys?limit=1", good).status, 200);

  ASSERT_TRUE(node.service().refusals().flush());
  EXPECT_EQ(scalar("SELECT coalesce(sum(refusals), 0) FROM auth_refusals WHERE key_id = '' AND source_address = "
                   "'127.0.0.1' AND code = 'unauthenticated' AND route = 'GET /v1/members/{member_id}'"),
            unauthenticated);
  const std::string metrics = client.request("GET", "/metrics").body;
  EXPECT_NE(metrics.find("loyalty_auth_refusals_total{code=\"unauthenticated\"} " + std::to_string(unauthenticated)),
            std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("loyalty_source_limited_total " + std::to_string(limited)), std::string::npos);
}

TEST_F(Access, ARefusalNamingARealKeyIsCountedUnderThatKey) {
  // Goal: a wrong secret for an existing key, and a 403, are counted under the key they named.
  HttpClient client{service().port()};
  const std::string& mall = service().secret(api::Role::mall);
  const std::string key_id = *api::key_id_of_secret(mall);
  EXPECT_EQ(with_key(client, "GET", "/v1/members/mem_x", key_id + ".wrong").status, 401);
  EXPECT_EQ(with_key(client, "GET", "/v1/keys", mall).status, 403);
  ASSERT_TRUE(service().service().refusals().flush());
  EXPECT_EQ(scalar("SELECT coalesce(sum(refusals), 0) FROM auth_refusals WHERE key_id = '" + key_id + "'"), 2);
  EXPECT_EQ(scalar("SELECT count(*) FROM auth_refusals WHERE key_id = '" + key_id + "' AND code = 'forbidden'"), 1);
}

TEST_F(Access, KeysAreCreatedListedAndRevokedOverHttpAndTheSecretIsShownOnce) {
  // Goal: the key lifecycle of the contract: create (secret once), list (never a secret),
  // revoke (refused at once here with key_revoked; a repeat answers the same), audited.
  const auto created = post("/v1/keys", {{"role", "mall"}, {"name", "checkout"}});
  ASSERT_EQ(created.status, 201) << created.body;
  const auto key = created.json();
  const std::string secret = key["secret"];
  const std::string key_id = key["key_id"];
  EXPECT_EQ(secret.substr(0, secret.find('.')), key_id);
  EXPECT_EQ(key["role"], "mall");
  EXPECT_EQ(key["name"], "checkout");
  EXPECT_FALSE(key.contains("expires_at"));

  HttpClient client{service().port()};
  EXPECT_EQ(with_key(client, "GET", "/v1/members/mem_nobody", secret).status, 404);  // it works

  const auto listed = get("/v1/keys?limit=500");
  ASSERT_EQ(listed.status, 200) << listed.body;
  EXPECT_EQ(listed.body.find(secret.substr(secret.find('.') + 1)), std::string::npos);
  EXPECT_EQ(listed.body.find("secret"), std::string::npos);
  bool found = false;
  const auto items = listed.json()["items"];
  for (const auto& item : items) {
    if (item["key_id"] == key_id) {
      found = true;
      EXPECT_EQ(item["status"], "active");
      EXPECT_EQ(item["role"], "mall");
    }
  }
  EXPECT_TRUE(found) << listed.body;

  const auto revoked = post("/v1/keys/" + key_id + "/revoke", {{"reason", "rotated"}});
  ASSERT_EQ(revoked.status, 200) << revoked.body;
  EXPECT_EQ(revoked.json()["status"], "revoked");
  const auto refused = with_key(client, "GET", "/v1/members/mem_nobody", secret);
  EXPECT_EQ(refused.status, 401);
  EXPECT_EQ(refused.json()["code"], "key_revoked");
  const auto again = post("/v1/keys/" + key_id + "/revoke", nlohmann::json::object());
  EXPECT_EQ(again.status, 200);
  EXPECT_EQ(again.json()["revoked_at"], revoked.json()["revoked_at"]);
  EXPECT_EQ(post("/v1/keys/key_bbbbbbbbbbbbbbbbbbbb/revoke", nlohmann::json::object()).status, 404);

  EXPECT_EQ(scalar("SELECT count(*) FROM audit_events WHERE subject = '" + key_id +
                   "' AND action IN ('api_key.create', 'api_key.revoke')"),
            2);
}

TEST_F(Access, KeysAreAdminsAloneAndCreationIsValidated) {
  EXPECT_EQ(get("/v1/keys", api::Role::mall).status, 403);
  EXPECT_EQ(get("/v1/keys", api::Role::finance).status, 403);
  const auto invalid = post("/v1/keys", {{"role", "root"}, {"name", ""}, {"expires_at", "2020-01-01T00:00:00Z"}});
  ASSERT_EQ(invalid.status, 422);
  EXPECT_EQ(invalid.json()["errors"].size(), 3u) << invalid.body;
}

TEST_F(Access, TheKeyListIsPaginatedNewestFirst) {
  for (int i = 0; i < 3; ++i)
    ASSERT_EQ(post("/v1/keys", {{"role", "ingest"}, {"name", "page-" + std::to_string(i)}}).status, 201);
  std::vector<std::string> seen;
  std::string cursor;
  for (int pages = 0; pages < 100; ++pages) {
    const auto page = get("/v1/keys?limit=2" + (cursor.empty() ? "" : "&cursor=" + cursor));
    ASSERT_EQ(page.status, 200) << page.body;
    const auto body = page.json();
    for (const auto& item : body["items"]) seen.push_back(item["key_id"]);
    if (!body.contains("next_cursor")) break;
    cursor = body["next_cursor"];
  }
  const auto total = scalar("SELECT count(*) FROM api_keys");
  EXPECT_EQ(static_cast<std::int64_t>(seen.size()), total);
  EXPECT_EQ(std::set<std::string>(seen.begin(), seen.end()).size(), seen.size());
  const auto first = get("/v1/keys?limit=1").json()["items"][0];
  EXPECT_EQ(first["name"], "page-2");
}

TEST_F(Access, ARevocationOnOneProcessIsSeenByAnotherWithinFiveSeconds) {
  // Goal: the contract's "refused on every node within 5 s", with the key cached on node B.
  RunningService node_b{RunningService::default_options(TestDatabase::instance().service_url())};
  const auto created = post("/v1/keys", {{"role", "mall"}, {"name", "node-b"}});
  ASSERT_EQ(created.status, 201);
  const std::string secret = created.json()["secret"];
  HttpClient client_b{node_b.port()};
  ASSERT_EQ(with_key(client_b, "GET", "/v1/members/mem_nobody", secret).status, 404);  // cached on B

  ASSERT_EQ(post("/v1/keys/" + std::string(created.json()["key_id"]) + "/revoke", nlohmann::json::object()).status,
            200);
  const auto revoked = Clock::now();
  int status = 404;
  while (status != 401 && Clock::now() - revoked < std::chrono::seconds(7)) {
    status = with_key(client_b, "GET", "/v1/members/mem_nobody", secret).status;
    if (status != 401) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(status, 401);
  // Within the 5 s, plus this loop's 50 ms steps and scheduling.
  EXPECT_LT(Clock::now() - revoked, std::chrono::milliseconds(5200));
}

TEST_F(Access, AnExpiredKeyIsRefusedEvenWhileCached) {
  // Goal: the cache never keeps a key past its expires_at.
  const auto expires_at = std::chrono::floor<std::chrono::seconds>(now_utc()) + std::chrono::seconds(3);
  const auto created =
      post("/v1/keys", {{"role", "mall"}, {"name", "short"}, {"expires_at", format_rfc3339(expires_at)}});
  ASSERT_EQ(created.status, 201) << created.body;
  EXPECT_EQ(created.json()["expires_at"], format_rfc3339(expires_at));
  const std::string secret = created.json()["secret"];
  HttpClient client{service().port()};
  ASSERT_EQ(with_key(client, "GET", "/v1/members/mem_nobody", secret).status, 404);
  std::this_thread::sleep_until(std::chrono::system_clock::time_point(expires_at) + std::chrono::milliseconds(300));
  const auto refused = with_key(client, "GET", "/v1/members/mem_nobody", secret);
  EXPECT_EQ(refused.status, 401);
  EXPECT_EQ(refused.json()["code"], "unauthenticated");
  const auto listed = get("/v1/keys?limit=500").json()["items"];
  for (const auto& item : listed) {
    if (item["key_id"] == created.json()["key_id"]) {
      EXPECT_EQ(item["status"], "expired");
    }
  }
}

TEST_F(Access, AJobAsOfMoreThanFiveMinutesAheadIsRefusedAndARunRecordsWhoStartedIt) {
  RunningService node{production_like_options()};
  const std::string admin = node.secret(api::Role::admin);
  HttpClient client{node.port()};
  const auto future = format_rfc3339(now_utc() + std::chrono::hours(1));
  const auto refused =
      with_key(client, "POST", "/v1/jobs/expire-holds", admin, nlohmann::json{{"as_of", future}}.dump());
  EXPECT_EQ(refused.status, 422);
  EXPECT_EQ(refused.json()["code"], "as_of_in_future");
  EXPECT_EQ(scalar("SELECT count(*) FROM job_runs WHERE as_of = '" + future + "'"), 0);

  // Inside the allowance: accepted, and the run names the key that started it.
  const auto soon = format_rfc3339(std::chrono::floor<std::chrono::seconds>(now_utc() + std::chrono::minutes(4)));
  const auto ran = with_key(client, "POST", "/v1/jobs/expire-holds", admin, nlohmann::json{{"as_of", soon}}.dump());
  ASSERT_EQ(ran.status, 200) << ran.body;
  auto connection = TestDatabase::instance().connect();
  pqxx::read_transaction txn{*connection};
  const auto row = txn.exec_params("SELECT started_by FROM job_runs WHERE job = 'expire-holds' AND as_of = $1", soon);
  ASSERT_EQ(row.size(), 1u);
  EXPECT_EQ(std::string(row[0][0].c_str()), "key:" + *api::key_id_of_secret(admin) + " (test-admin)");
}

TEST_F(Access, AJobAskedToStopEndsAtAChunkBoundaryAndResumesWhereItWas) {
  // Goal: a graceful stop never cuts a chunk; the run's row shows it unfinished, and the next
  // run for the same as_of goes on from there.
  int chunks_run = 0;
  const ledger::JobDefinition counting{"test-counting", [&](pqxx::transaction_base&, ledger::JobChunk&) {
                                         ++chunks_run;
                                         return ledger::StepResult{1, chunks_run >= 5};
                                       }};
  const Timestamp as_of = std::chrono::floor<std::chrono::seconds>(now_utc());
  auto connection = TestDatabase::instance().connect();
  ledger::RunControl control;
  control.started_by = "operator:test";
  control.stop_requested = [&] { return chunks_run >= 2; };
  const auto stopped = ledger::run_job(*connection, counting, as_of, control);
  EXPECT_EQ(stopped.status, "stopped");
  EXPECT_EQ(stopped.items, 2);
  EXPECT_EQ(scalar("SELECT count(*) FROM job_runs WHERE job = 'test-counting' AND finished_at IS NULL AND items = 2"),
            1);

  const auto resumed = ledger::run_job(*connection, counting, as_of, ledger::RunControl{"scheduler", {}, {}});
  EXPECT_EQ(resumed.status, "done");
  EXPECT_EQ(resumed.items, 3);
  EXPECT_EQ(scalar("SELECT count(*) FROM job_runs WHERE job = 'test-counting' AND finished_at IS NOT NULL AND items = 5"
                   " AND started_by = 'operator:test'"),
            1);
}

}  // namespace
}  // namespace loyalty::testing
