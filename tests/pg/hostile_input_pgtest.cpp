// Hostile input through the whole service: nothing a client sends (or the database holds)
// stops the process; every refusal is an RFC 9457 problem and writes nothing.
#include <thread>

#include "api/limits.hpp"
#include "api/proto/loyalty/v1/loyalty.pb.h"
#include "platform/database.hpp"
#include "tests/support/service_fixture.hpp"

namespace loyalty::testing {
namespace {

using nlohmann::json;
using Hostile = ServiceTest;

std::string nested_arrays(std::size_t depth) {
  return std::string(depth, '[') + std::string(depth, ']');
}

HttpResult post_binary(RunningService& service, const std::string& path, const std::string& bytes,
                       const std::string& idempotency_key) {
  HttpClient client{service.port()};
  return client.request("POST", path, bytes,
                        {{"Authorization", "Bearer " + service.secret(api::Role::admin)},
                         {"Content-Type", "application/x-protobuf"},
                         {"Idempotency-Key", idempotency_key}});
}

TEST_F(Hostile, AnOverrideExpiringAfterYear9999IsRefusedNotStored) {
  // 23:59:59 at -12:00 on the last day of 9999 is noon of 10000-01-01 in UTC: PostgreSQL
  // stores it, and reading it back used to stop the process on every later read.
  const std::string member_id = create_member();
  const auto refused = post("/v1/members/" + member_id + "/tiers/spend",
                            {{"level", "gold"}, {"reason", "far future"}, {"expires_at", "9999-12-31T23:59:59-12:00"}});
  EXPECT_EQ(refused.status, 422) << refused.body;
  EXPECT_EQ(refused.json()["code"], "validation_failed");
  const auto last_moment = post("/v1/members/" + member_id + "/tiers/spend",
                                {{"level", "gold"}, {"reason", "last moment"}, {"expires_at", "9999-12-31T23:59:59Z"}});
  ASSERT_EQ(last_moment.status, 200) << last_moment.body;
  EXPECT_EQ(get("/v1/members/" + member_id + "/tiers").status, 200);
}

TEST_F(Hostile, TimesOutsideTheApiRangeInTheDatabaseAreReadNotFatal) {
  // Rows written before times were bounded: the service reads them and goes on serving.
  const std::string member_id = create_member();
  ASSERT_EQ(
      post("/v1/members/" + member_id + "/tiers/spend",
           {{"level", "gold"}, {"reason", "x"}, {"expires_at", format_rfc3339(now_utc() + std::chrono::hours(24))}})
          .status,
      200);
  for (const char* stored : {"10000-01-01 11:59:59+00", "infinity", "0044-03-15 00:00:00+00 BC"}) {
    auto connection = TestDatabase::instance().connect();
    pqxx::work txn{*connection};
    txn.exec_params("UPDATE member_tiers SET floor_until = $2::timestamptz WHERE member_id = $1 AND track = 'spend'",
                    member_id, stored);
    txn.commit();
    const auto read = get("/v1/members/" + member_id + "/tiers");
    EXPECT_EQ(read.status, 200) << stored << ": " << read.body;
  }
  EXPECT_EQ(get("/healthz").status, 200);
}

TEST_F(Hostile, ADeeplyNestedProgramDocumentIsRefusedBeforeParsing) {
  const std::string deep = "{\"program\":" + nested_arrays(200'000) + "}";
  ASSERT_LT(deep.size(), api::limits::body_bytes_max);
  HttpClient client{service().port()};
  const auto refused = client.request(
      "PUT", "/v1/program", deep,
      {{"Authorization", "Bearer " + service().secret(api::Role::admin)}, {"Content-Type", "application/json"}});
  EXPECT_EQ(refused.status, 400) << refused.body.substr(0, 300);
  EXPECT_EQ(refused.json()["code"], "malformed_request");
  EXPECT_NE(refused.json()["detail"].get<std::string>().find("deeper than 32"), std::string::npos);
  EXPECT_EQ(get("/healthz").status, 200);
}

TEST_F(Hostile, DeeplyNestedBodiesAreRefusedInBothEncodings) {
  const std::string member_id = create_member();
  const std::string deep_json = "{\"event_id\":\"" + unique("deep-") + "\",\"member_id\":\"" + member_id +
                                "\",\"type\":\"purchase\",\"occurred_at\":\"" + format_rfc3339(now_utc()) +
                                "\",\"attributes\":{\"x\":" + nested_arrays(100'000) + "}}";
  const auto refused = post_raw("/v1/events", deep_json, {});
  EXPECT_EQ(refused.status, 400) << refused.body.substr(0, 300);
  EXPECT_EQ(refused.json()["code"], "malformed_request");

  // The same depth limit in binary: 40 levels of lists inside the attributes.
  v1::RecordEventRequest request;
  request.set_event_id(unique("deep-pb-"));
  request.set_member_id(member_id);
  request.set_type("purchase");
  request.set_occurred_at(format_rfc3339(now_utc()));
  google::protobuf::Value* value = &(*request.mutable_attributes()->mutable_fields())["x"];
  for (int i = 0; i < 40; ++i) value = value->mutable_list_value()->add_values();
  value->set_number_value(1);
  const auto binary = post_binary(service(), "/v1/events", request.SerializeAsString(), unique("k-"));
  EXPECT_EQ(binary.status, 400) << binary.body;
  EXPECT_EQ(binary.json()["code"], "malformed_request");
}

TEST_F(Hostile, TextWithNulOrInvalidUtf8IsRefusedNotTruncated) {
  const std::string member_id = create_member();
  const auto entries = count_rows("entries");
  const std::string nul = R"({"member_id":")" + member_id +
                          R"(","asset":"POINTS","amount":5,"reason_code":"other","note":"before\u0000after"})";
  const auto with_nul = post_raw("/v1/adjustments", nul, {{"Idempotency-Key", unique("nul-")}});
  EXPECT_EQ(with_nul.status, 400) << with_nul.body;
  EXPECT_EQ(with_nul.json()["code"], "malformed_request");
  const std::string bad_utf8 = R"({"external_id":"ext-)" + unique("") + "\xC3\x28" + R"("})";
  const auto with_bad_utf8 = post_raw("/v1/members", bad_utf8, {});
  EXPECT_EQ(with_bad_utf8.status, 400) << with_bad_utf8.body;
  const std::string surrogate = R"({"external_id":"ext-\ud800"})";
  EXPECT_EQ(post_raw("/v1/members", surrogate, {}).status, 400);
  EXPECT_EQ(count_rows("entries"), entries);
}

TEST_F(Hostile, PathsAndQueriesDecodingToNulOrInvalidUtf8AreRefused) {
  const std::string member_id = member_with_points(5);
  EXPECT_EQ(get("/v1/members/" + member_id + "/entries?asset=POINTS").status, 200);
  const auto nul = get("/v1/members/" + member_id + "/entries?asset=POINTS%00junk");
  EXPECT_EQ(nul.status, 400) << nul.body;
  EXPECT_EQ(nul.json()["code"], "malformed_request");
  EXPECT_EQ(get("/v1/members/" + member_id + "/entries?asset=%C3%28").status, 400);
  // Raw bytes in a path parameter would reach PostgreSQL as text it refuses (a 500 before).
  const auto raw = get("/v1/members/mem_\xC3\x28/entries");
  EXPECT_EQ(raw.status, 400) << raw.body;
}

TEST_F(Hostile, UnknownFieldsAreRefusedInBinaryAsInJson) {
  const std::string member_id = create_member();
  v1::CreateAdjustmentRequest request;
  request.set_member_id(member_id);
  request.set_asset("POINTS");
  request.set_amount(7);
  request.set_reason_code("goodwill");
  std::string bytes = request.SerializeAsString();
  bytes += std::string("\xF8\x3E\x01", 3);  // field 999, varint 1: not a field of the message
  const auto entries = count_rows("entries");
  const auto refused = post_binary(service(), "/v1/adjustments", bytes, unique("unknown-"));
  EXPECT_EQ(refused.status, 400) << refused.body;
  EXPECT_EQ(refused.json()["code"], "malformed_request");
  EXPECT_EQ(count_rows("entries"), entries);
  const auto json_refused =
      post("/v1/adjustments",
           {{"member_id", member_id}, {"asset", "POINTS"}, {"amount", 7}, {"reason_code", "goodwill"}, {"surprise", 1}},
           unique("unknown-json-"));
  EXPECT_EQ(json_refused.status, 400);
}

TEST_F(Hostile, ListsAndTextHaveBoundsInEveryEncoding) {
  const std::string member_id = create_member();
  json attributes = json::object();
  attributes["many"] = json::array();
  for (std::size_t i = 0; i <= api::limits::array_items_max; ++i) attributes["many"].push_back(1);
  const json event{{"event_id", unique("many-")},
                   {"member_id", member_id},
                   {"type", "purchase"},
                   {"occurred_at", format_rfc3339(now_utc())},
                   {"attributes", attributes}};
  const auto many = post("/v1/events", event);
  EXPECT_EQ(many.status, 400) << many.body;
  json long_text = event;
  long_text["attributes"] = {{"text", std::string(api::limits::string_bytes_max + 1, 'a')}};
  long_text["event_id"] = unique("long-");
  EXPECT_EQ(post("/v1/events", long_text).status, 400);
  // A fraction is refused in binary as in JSON.
  v1::RecordEventRequest request;
  request.set_event_id(unique("fraction-"));
  request.set_member_id(member_id);
  request.set_type("purchase");
  request.set_occurred_at(format_rfc3339(now_utc()));
  (*request.mutable_attributes()->mutable_fields())["amount_cents"].set_number_value(10.5);
  EXPECT_EQ(post_binary(service(), "/v1/events", request.SerializeAsString(), unique("k-")).status, 400);
}

TEST_F(Hostile, AmountCentsAsAStringHasTheSameBoundAsTheNumber) {
  const std::string member_id = create_member();
  const auto event = [&](const json& amount_cents) {
    return json{{"event_id", unique("cents-")},
                {"member_id", member_id},
                {"type", "purchase"},
                {"occurred_at", format_rfc3339(now_utc())},
                {"attributes", {{"amount_cents", amount_cents}}}};
  };
  const auto as_string = post("/v1/events", event("9007199254740993"));  // 2^53 + 1
  EXPECT_EQ(as_string.status, 422) << as_string.body;
  const auto at_most = post("/v1/events", event("9223372036854775807"));
  EXPECT_EQ(at_most.status, 422) << at_most.body;
  EXPECT_EQ(post("/v1/events", event(10000)).status, 201);
  EXPECT_EQ(post("/v1/events", event("10000")).status, 201);
}

TEST_F(Hostile, EventIdsWithTheOrderPrefixBelongToTheMall) {
  const std::string member_id = create_member();
  const auto refused = post("/v1/events", {{"event_id", "order:" + unique("o-")},
                                           {"member_id", member_id},
                                           {"type", "purchase"},
                                           {"occurred_at", format_rfc3339(now_utc())},
                                           {"attributes", {{"amount_cents", 100}}}});
  EXPECT_EQ(refused.status, 422) << refused.body;
  EXPECT_EQ(refused.json()["errors"][0]["field"], "event_id");
}

TEST_F(Hostile, FundingAccountsMayNotBeSystemOrPartnerAccounts) {
  HttpClient client{service().port()};
  const auto current = get("/v1/program");
  ASSERT_EQ(current.status, 200);
  for (const char* account : {"system:redemptions", "partner:acme"}) {
    json document = current.json()["document"];
    document["rules"][0]["funding_account"] = account;
    const auto refused = client.request(
        "PUT", "/v1/program", document.dump(),
        {{"Authorization", "Bearer " + service().secret(api::Role::admin)}, {"Content-Type", "application/json"}});
    EXPECT_EQ(refused.status, 422) << account << ": " << refused.body;
    EXPECT_EQ(refused.json()["errors"][0]["field"], "rules[0].funding_account") << refused.body;
  }
}

TEST_F(Hostile, AnEarnThatWouldCarryPendingPointsBeyondInt64IsRefusedWhileTheMemberOwesPoints) {
  // With points owed, available is below zero and the member's total no longer bounds what
  // pending may reach: the earn used to pass the check and stop the process when posted.
  HttpClient client{service().port()};
  const auto apply = [&](const json& document) {
    return client.request(
        "PUT", "/v1/program", document.dump(),
        {{"Authorization", "Bearer " + service().secret(api::Role::admin)}, {"Content-Type", "application/json"}});
  };
  const json original = get("/v1/program").json()["document"];
  json generous = original;  // a billion points a cent, no tier multiplier, no campaign
  generous["rules"][0]["award"] = {{"asset", "POINTS"}, {"per_amount_cents", 1}, {"amount", 1'000'000'000}};
  generous["rules"][0]["tier_multiplier"] = false;
  generous["rules"][0]["qualifying_spend"] = false;
  generous["campaigns"] = json::array();
  ASSERT_EQ(apply(generous).status, 201);
  const std::string member_id = create_member();
  const auto purchase = [&](const std::string& event_id, std::int64_t cents, Timestamp at) {
    return post("/v1/events",
                {{"event_id", event_id},
                 {"member_id", member_id},
                 {"type", "purchase"},
                 {"occurred_at", format_rfc3339(at)},
                 {"attributes", {{"amount_cents", cents}}}},
                std::nullopt, api::Role::ingest);
  };
  const std::int64_t quintillion = 1'000'000'000'000'000'000;
  // 4·10^18 points past the return window, spent, then clawed back: available is −4·10^18.
  const std::string first = unique("owed-");
  const auto earned = purchase(first, 4'000'000'000, now_utc() - std::chrono::days{10});
  ASSERT_EQ(earned.status, 201) << earned.body;
  ASSERT_EQ(
      post("/v1/adjustments",
           {{"member_id", member_id}, {"asset", "POINTS"}, {"amount", -4 * quintillion}, {"reason_code", "correction"}},
           unique("spend-"))
          .status,
      201);
  ASSERT_EQ(post("/v1/events/" + first + "/reverse", {{"reason", "returned"}}, std::nullopt, api::Role::ingest).status,
            200);
  // 8·10^18 pending: the member's total is 4·10^18.
  const std::string second = unique("pending-");
  ASSERT_EQ(purchase(second, 8'000'000'000, now_utc() - std::chrono::hours{1}).status, 201);
  ASSERT_EQ(points_balance(member_id)["available"], -4 * quintillion);
  ASSERT_EQ(points_balance(member_id)["pending"], 8 * quintillion);

  // 2·10^18 more would keep the total at 6·10^18 but take pending past 2^63−1.
  const auto refused = purchase(unique("past-"), 2'000'000'000, now_utc() - std::chrono::hours{1});
  EXPECT_EQ(refused.status, 422) << refused.body;
  EXPECT_EQ(refused.json()["code"], "amount_overflow");
  EXPECT_EQ(points_balance(member_id)["pending"], 8 * quintillion);
  EXPECT_EQ(get("/healthz").status, 200);

  // The funding account and the program as they were, for the tests after this one.
  EXPECT_EQ(post("/v1/events/" + second + "/reverse", {{"reason", "returned"}}, std::nullopt, api::Role::ingest).status,
            200);
  EXPECT_EQ(apply(original).status, 201);
}

TEST_F(Hostile, AReportBeyondInt64IsRefusedNamingTheFigure) {
  // Each member may hold up to 2^63-1; two of them already make system:adjustments and the
  // members' total go beyond what int64 (and SQL bigint) can hold.
  member_with_points(INT64_MAX);
  member_with_points(INT64_MAX);
  const auto trial = get("/v1/reports/trial-balance", api::Role::finance);
  EXPECT_EQ(trial.status, 422) << trial.body;
  EXPECT_EQ(trial.json()["code"], "amount_overflow");
  EXPECT_NE(trial.json()["detail"].get<std::string>().find("system:adjustments"), std::string::npos) << trial.body;
  const auto liability = get("/v1/reports/liability", api::Role::finance);
  EXPECT_EQ(liability.status, 422) << liability.body;
  EXPECT_NE(liability.json()["detail"].get<std::string>().find("available"), std::string::npos) << liability.body;
}

}  // namespace
}  // namespace loyalty::testing
