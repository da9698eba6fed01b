// Partner brands end to end over HTTP against a real PostgreSQL: signed requests (both
// algorithms, replay, stale, tampered, unknown and revoked keys), our response signatures
// checked with stock openssl, exchanges in both directions (rates, rounding, limits,
// idempotency), member links, rights and their quotas under concurrency, settlement
// statements (totals, hash, signature, acknowledgement and dispute) and isolation between
// partners. The ledger's invariants are checked after every test.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <fstream>
#include <regex>
#include <thread>

#include "migrations/embedded.hpp"
#include "partners/request_signing.hpp"
#include "partners/signing_keys.hpp"
#include "platform/database.hpp"
#include "platform/digest.hpp"
#include "platform/ids.hpp"
#include "program/program.hpp"
#include "tests/support/partner_requests.hpp"
#include "tests/support/service_fixture.hpp"

namespace loyalty::testing {
namespace {

using nlohmann::json;

class Partners : public ::testing::Test {
 protected:
  static const std::string& our_private_pem() {
    static const std::string pem = partners::generate_ed25519_private_pem();
    return pem;
  }
  static RunningService& service() {
    static RunningService running{[] {
      auto options = RunningService::default_options(TestDatabase::instance().url());
      options.signing_key_pem = our_private_pem();
      return options;
    }()};
    return running;
  }
  void TearDown() override { EXPECT_LEDGER_INVARIANTS_HOLD(); }

  HttpClient& client() {
    if (!client_) client_ = std::make_unique<HttpClient>(service().port());
    return *client_;
  }
  HttpResult post(const std::string& path, const json& body, api::Role role = api::Role::admin) {
    return client().request(
        "POST", path, body.dump(),
        {{"Authorization", "Bearer " + service().secret(role)}, {"Content-Type", "application/json"}});
  }
  HttpResult get(const std::string& path, api::Role role = api::Role::admin) {
    return client().request("GET", path, "", {{"Authorization", "Bearer " + service().secret(role)}});
  }
  static std::string unique(const std::string& prefix) { return prefix + new_id("").substr(0, 12); }

  std::string member_with_points(std::int64_t points) {
    const auto created = post("/v1/members", {{"external_id", unique("ext-")}});
    EXPECT_EQ(created.status, 201) << created.body;
    const std::string member_id = created.json().value("member_id", "");
    if (points > 0) {
      const auto credited = client().request(
          "POST", "/v1/adjustments",
          json{{"member_id", member_id}, {"asset", "POINTS"}, {"amount", points}, {"reason_code", "goodwill"}}.dump(),
          {{"Authorization", "Bearer " + service().secret(api::Role::admin)},
           {"Content-Type", "application/json"},
           {"Idempotency-Key", unique("credit-")}});
      EXPECT_EQ(credited.status, 201) << credited.body;
    }
    return member_id;
  }
  // A member linked to the partner, the link confirmed by the partner with its code.
  std::string linked_member(const std::string& partner_id, std::int64_t points, std::string* ref_out = nullptr) {
    const std::string member_id = member_with_points(points);
    const std::string ref = unique("REF-");
    link_and_confirm(client(), service().secret(api::Role::mall), confirming_key(partner_id), member_id, ref);
    if (ref_out) *ref_out = ref;
    return member_id;
  }
  // A key of the partner's for confirming links, made once per test and partner.
  const PartnerKey& confirming_key(const std::string& partner_id) {
    auto found = confirming_keys_.find(partner_id);
    if (found == confirming_keys_.end()) found = confirming_keys_.emplace(partner_id, hmac_key(partner_id)).first;
    return found->second;
  }
  // POST /v1/members/{id}/partner-links with a mall key: the link, pending, with its code.
  HttpResult link(const std::string& member_id, const std::string& partner_id, const std::string& ref,
                  const std::map<std::string, std::string>& extra_headers = {}) {
    std::map<std::string, std::string> headers{{"Authorization", "Bearer " + service().secret(api::Role::mall)},
                                               {"Content-Type", "application/json"}};
    headers.insert(extra_headers.begin(), extra_headers.end());
    return client().request("POST", "/v1/members/" + member_id + "/partner-links",
                            json{{"partner_id", partner_id}, {"partner_member_ref", ref}}.dump(), headers);
  }
  HttpResult confirm(const PartnerKey& key, const std::string& ref, const std::string& code,
                     const Signing& signing = {}) {
    return confirm_partner_link(client(), key, ref, code, signing);
  }
  std::int64_t available_points(const std::string& member_id) {
    return get("/v1/members/" + member_id + "/balances").json()["balances"]["POINTS"].value("available", -1);
  }

  PartnerKey hmac_key(const std::string& partner_id) {
    const auto created = post("/v1/partners/" + partner_id + "/keys", {{"algorithm", "hmac-sha256"}});
    EXPECT_EQ(created.status, 201) << created.body;
    const auto secret = base64_decode(created.json().value("secret", ""));
    EXPECT_TRUE(secret && secret->size() == 32);
    return {partner_id, created.json().value("key_id", ""), "hmac-sha256", secret.value_or(""), ""};
  }
  PartnerKey ed25519_key(const std::string& partner_id) {
    const std::string pem = partners::generate_ed25519_private_pem();
    const auto created = post("/v1/partners/" + partner_id + "/keys",
                              {{"algorithm", "ed25519"}, {"public_key_pem", *partners::public_pem_of(pem)}});
    EXPECT_EQ(created.status, 201) << created.body;
    EXPECT_FALSE(created.json().contains("secret"));
    return {partner_id, created.json().value("key_id", ""), "ed25519", "", pem};
  }

  HttpResult signed_call(const PartnerKey& key, const std::string& method, const std::string& target,
                         const std::string& body = "", const Signing& signing = {}) {
    return signed_partner_request(client(), key, method, target, body, signing);
  }
  HttpResult inbound(const PartnerKey& key, const std::string& exchange_id, const std::string& ref,
                     std::int64_t units) {
    return signed_call(
        key, "POST", "/partner/v1/exchanges",
        json{{"exchange_id", exchange_id}, {"partner_member_ref", ref}, {"partner_units", units}}.dump());
  }
  HttpResult outbound(const std::string& exchange_id, const std::string& member_id, const std::string& partner_id,
                      std::int64_t points) {
    return post(
        "/v1/exchanges",
        {{"exchange_id", exchange_id}, {"member_id", member_id}, {"partner_id", partner_id}, {"points", points}},
        api::Role::mall);
  }
  // The partner asset of a test partner: its id, upper-cased, after an "A".
  static std::string asset_of(const std::string& partner_id) {
    std::string asset = "A" + partner_id.substr(1);
    for (auto& c : asset) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return asset;
  }
  // A partner of our own, registered through the API, with small limits and two rights.
  std::string register_partner(std::int64_t per_member_daily = 1000, std::int64_t per_day = 1000000) {
    const std::string id = unique("p");
    const json body{
        {"partner_id", id},
        {"name", "Test Partner"},
        {"asset", asset_of(id)},
        {"rates", {{"inbound_points_per_unit", 3}, {"outbound_units_per_point_milli", 500}, {"cents_per_point", 2}}},
        {"limits", {{"per_member_daily_points", per_member_daily}, {"per_day_points", per_day}}},
        {"rights", json::array({{{"code", "lounge"},
                                 {"title", "Lounge visit"},
                                 {"min_levels", {{"engagement", "fan"}}},
                                 {"quota_per_period", 3},
                                 {"period", "month"}},
                                {{"code", "gold-gift"},
                                 {"title", "Gift for gold"},
                                 {"min_levels", {{"spend", "gold"}}},
                                 {"quota_per_period", 1},
                                 {"period", "year"}}})}};
    const auto created = post("/v1/partners", body);
    EXPECT_EQ(created.status, 201) << created.body;
    EXPECT_EQ(post("/v1/partners", body).status, 200);  // the same definition again is a replay
    return id;
  }

  // Verifies `signature_base64` over `bytes` with stock `openssl pkeyutl` and our public key.
  static bool openssl_verifies(const std::string& bytes, const std::string& signature_base64,
                               const std::string& public_pem) {
    const std::string dir = ::testing::TempDir() + "/" + new_id("sig_");
    std::system(("mkdir -p " + dir).c_str());
    std::ofstream(dir + "/body", std::ios::binary) << bytes;
    std::ofstream(dir + "/sig", std::ios::binary) << base64_decode(signature_base64).value_or("");
    std::ofstream(dir + "/pub.pem") << public_pem;
    const std::string command = "openssl pkeyutl -verify -pubin -inkey " + dir + "/pub.pem -rawin -in " + dir +
                                "/body -sigfile " + dir + "/sig > /dev/null 2>&1";
    return std::system(command.c_str()) == 0;
  }
  // The contract's way to get our public key: a bare GET /partner/v1/signing-keys is its PEM.
  std::string our_public_pem() {
    const auto pem = client().request("GET", "/partner/v1/signing-keys");
    EXPECT_EQ(pem.status, 200) << pem.body;
    EXPECT_EQ(pem.header("content-type"), "application/x-pem-file");
    return pem.body;
  }
  // Our extension: the list of every key in use, for a client that asks for JSON.
  json listed_signing_keys() {
    const auto keys = client().request("GET", "/partner/v1/signing-keys", "", {{"Accept", "application/json"}});
    EXPECT_EQ(keys.status, 200) << keys.body;
    EXPECT_EQ(keys.header("content-type"), "application/json");
    return keys.json();
  }
  // Whether a response carries our signature, by our current key, over its exact body.
  bool signed_by_us(const HttpResult& response) {
    return response.header("x-key-id") == partners::our_key_id(our_private_pem()).value_or("?") &&
           !response.header("x-signature").empty() &&
           openssl_verifies(response.body, response.header("x-signature"), our_public_pem());
  }

 private:
  std::unique_ptr<HttpClient> client_;
  std::map<std::string, PartnerKey> confirming_keys_;
};

TEST_F(Partners, AnHmacSignedInboundExchangeCreditsPointsAtTheInboundRate) {
  std::string ref;
  const std::string member_id = linked_member("skyair", 0, &ref);
  const auto key = hmac_key("skyair");
  const auto done = inbound(key, unique("ex-"), ref, 125);
  ASSERT_EQ(done.status, 201) << done.body;
  EXPECT_EQ(done.json()["points"], 1000);  // 125 miles × 8
  EXPECT_EQ(done.json()["partner_units"], 125);
  EXPECT_EQ(done.body.find(member_id), std::string::npos) << "a partner never sees member ids";
  EXPECT_EQ(available_points(member_id), 1000);
  // The points are a lot of their own, expiring under the program's policy.
  auto connection = TestDatabase::instance().connect();
  pqxx::read_transaction txn{*connection};
  const auto lots = txn.exec_params(
      "SELECT amount, expires_at > now() + interval '23 months' FROM lots"
      " WHERE member_id = $1 AND source = 'exchange'",
      member_id);
  ASSERT_EQ(lots.size(), 1u);
  EXPECT_EQ(lots[0][0].as<std::int64_t>(), 1000);
  EXPECT_TRUE(lots[0][1].as<bool>());
}

TEST_F(Partners, AnIdempotencyKeyOnAnExchangeReplaysItsAnswerAndRefusesAnotherBody) {
  std::string ref;
  const std::string member_id = linked_member("skyair", 0, &ref);
  const auto key = hmac_key("skyair");
  const std::string path = "/partner/v1/exchanges";
  const std::string body =
      json{{"exchange_id", unique("ex-")}, {"partner_member_ref", ref}, {"partner_units", 1}}.dump();
  const std::map<std::string, std::string> idempotency{{"Idempotency-Key", unique("idem-")}};
  const auto first = signed_call(key, "POST", path, body, {0, std::nullopt, std::nullopt, idempotency});
  ASSERT_EQ(first.status, 201) << first.body;
  const auto again = signed_call(key, "POST", path, body, {0, std::nullopt, std::nullopt, idempotency});
  EXPECT_EQ(again.status, 201);
  EXPECT_EQ(again.body, first.body);
  // The same key with another exchange moves nothing: 409, not a second credit.
  const std::string other =
      json{{"exchange_id", unique("ex-")}, {"partner_member_ref", ref}, {"partner_units", 1}}.dump();
  const auto reused = signed_call(key, "POST", path, other, {0, std::nullopt, std::nullopt, idempotency});
  EXPECT_EQ(reused.status, 409) << reused.body;
  EXPECT_EQ(reused.json()["code"], "idempotency_key_reused");
  EXPECT_EQ(available_points(member_id), first.json()["points"].get<std::int64_t>());
}

TEST_F(Partners, Ed25519SignedRequestsVerifyAndResponsesAreSignedByUs) {
  std::string ref;
  linked_member("skyair", 0, &ref);
  const auto key = ed25519_key("skyair");
  const auto done = inbound(key, unique("ex-"), ref, 2);
  ASSERT_EQ(done.status, 201) << done.body;
  ASSERT_FALSE(done.header("x-signature").empty());
  EXPECT_EQ(done.header("x-key-id"), partners::our_key_id(our_private_pem()).value());
  const std::string public_pem = our_public_pem();
  EXPECT_TRUE(openssl_verifies(done.body, done.header("x-signature"), public_pem));
  EXPECT_FALSE(openssl_verifies(done.body + " ", done.header("x-signature"), public_pem));
}

TEST_F(Partners, ARetiredSigningKeyLeavesTheListButItsPemStaysFetchableById) {
  const std::string old_pem = partners::public_pem_of(partners::generate_ed25519_private_pem()).value();
  auto connection = TestDatabase::instance().connect();
  const auto key_id = db::run_transaction(*connection, "test", [&](pqxx::transaction_base& txn) {
    return partners::register_signing_key(txn, old_pem).value();
  });
  const auto listed = [&] {
    std::vector<std::string> ids;
    const json keys = listed_signing_keys();
    for (const auto& key : keys["keys"]) ids.push_back(key["key_id"]);
    return ids;
  };
  const auto before = listed();
  EXPECT_NE(std::find(before.begin(), before.end(), key_id), before.end());
  const auto retire = [&] {
    return db::run_transaction(*connection, "test", [&](pqxx::transaction_base& txn) {
      return partners::retire_signing_key(txn, key_id, now_utc());
    });
  };
  EXPECT_EQ(retire(), partners::RetireOutcome::retired);
  EXPECT_EQ(retire(), partners::RetireOutcome::already_retired);
  const auto after = listed();
  EXPECT_EQ(std::find(after.begin(), after.end(), key_id), after.end());
  const auto pem = client().request("GET", "/partner/v1/signing-keys/" + key_id);
  EXPECT_EQ(pem.status, 200);
  EXPECT_EQ(pem.body, old_pem);
  EXPECT_EQ(client().request("GET", "/partner/v1/signing-keys/sk_0000000000000000").status, 404);
  EXPECT_EQ(db::run_transaction(*connection, "test",
                                [&](pqxx::transaction_base& txn) {
                                  return partners::retire_signing_key(txn, "sk_0000000000000000", now_utc());
                                }),
            partners::RetireOutcome::unknown);
}

TEST_F(Partners, TheBareSigningKeysGetIsTheCurrentPemAndStockOpensslChecksOurSignaturesWithIt) {
  // Contract §3: GET /partner/v1/signing-keys (PEM), for `openssl pkeyutl -verify -pubin -inkey pub.pem -rawin`.
  const auto bare = client().request("GET", "/partner/v1/signing-keys");
  ASSERT_EQ(bare.status, 200) << bare.body;
  EXPECT_EQ(bare.header("content-type"), "application/x-pem-file");
  EXPECT_EQ(bare.body, partners::public_pem_of(our_private_pem()).value());
  EXPECT_EQ(bare.body.rfind("-----BEGIN PUBLIC KEY-----\n", 0), 0u) << bare.body;
  EXPECT_EQ(bare.header("x-key-id"), partners::our_key_id(our_private_pem()).value());
  EXPECT_EQ(bare.header("vary"), "Accept");

  std::string ref;
  linked_member("skyair", 0, &ref);
  const auto key = hmac_key("skyair");
  const auto done = inbound(key, unique("ex-"), ref, 3);
  ASSERT_EQ(done.status, 201) << done.body;
  EXPECT_TRUE(openssl_verifies(done.body, done.header("x-signature"), bare.body));
  EXPECT_FALSE(openssl_verifies(done.body + " ", done.header("x-signature"), bare.body));
  // The PEM answer is itself signed with the key it serves.
  EXPECT_TRUE(openssl_verifies(bare.body, bare.header("x-signature"), bare.body));

  // PEM unless the client asks for JSON (and prefers it to PEM).
  for (const std::string accept :
       {"*/*", "application/x-pem-file", "text/plain", "application/*", "application/json;q=0",
        "application/x-pem-file, application/json", "application/json;q=0.5, application/x-pem-file"}) {
    const auto answer = client().request("GET", "/partner/v1/signing-keys", "", {{"Accept", accept}});
    EXPECT_EQ(answer.status, 200) << accept;
    EXPECT_EQ(answer.header("content-type"), "application/x-pem-file") << accept;
    EXPECT_EQ(answer.body, bare.body) << accept;
  }
  for (const std::string accept :
       {"application/json", "Application/JSON; charset=utf-8", "text/html, application/json;q=0.9, */*;q=0.8"}) {
    const auto answer = client().request("GET", "/partner/v1/signing-keys", "", {{"Accept", accept}});
    ASSERT_EQ(answer.status, 200) << accept;
    EXPECT_EQ(answer.header("content-type"), "application/json") << accept;
    bool current_found = false;
    const json keys = answer.json();
    for (const auto& listed : keys["keys"]) {
      if (!listed.value("current", false)) continue;
      current_found = true;
      EXPECT_EQ(listed["key_id"], bare.header("x-key-id"));
      EXPECT_EQ(listed["public_key_pem"], bare.body);
      EXPECT_EQ(listed["algorithm"], "ed25519");
    }
    EXPECT_TRUE(current_found) << answer.body;
    EXPECT_TRUE(openssl_verifies(answer.body, answer.header("x-signature"), bare.body));
  }
  // By id, as before.
  const auto by_id = client().request("GET", "/partner/v1/signing-keys/" + bare.header("x-key-id"));
  EXPECT_EQ(by_id.status, 200);
  EXPECT_EQ(by_id.body, bare.body);
  EXPECT_TRUE(openssl_verifies(by_id.body, by_id.header("x-signature"), bare.body));
}

TEST_F(Partners, EveryPartnerSideResponseIsSignedRefusalsIncluded) {
  std::string ref;
  linked_member("skyair", 0, &ref);
  const auto key = hmac_key("skyair");
  const std::string body =
      json{{"exchange_id", unique("ex-")}, {"partner_member_ref", ref}, {"partner_units", 1}}.dump();
  // 401 stale_timestamp: refused before any key is looked at, and still signed by us.
  const auto stale = signed_call(key, "POST", "/partner/v1/exchanges", body, {-400});
  ASSERT_EQ(stale.status, 401) << stale.body;
  EXPECT_EQ(stale.json()["code"], "stale_timestamp");
  EXPECT_TRUE(signed_by_us(stale)) << stale.body;
  EXPECT_FALSE(openssl_verifies(stale.body + "x", stale.header("x-signature"), our_public_pem()));
  // 401 for a request with no signature at all, and for a key that is not there.
  const auto unsigned_request =
      client().request("POST", "/partner/v1/exchanges", body, {{"Content-Type", "application/json"}});
  EXPECT_EQ(unsigned_request.json()["code"], "invalid_signature");
  EXPECT_TRUE(signed_by_us(unsigned_request));
  PartnerKey unknown = key;
  unknown.key_id = "pkey_" + std::string(20, 'b');
  const auto unknown_key = inbound(unknown, unique("ex-"), ref, 1);
  EXPECT_EQ(unknown_key.json()["code"], "unknown_key");
  EXPECT_TRUE(signed_by_us(unknown_key));
  // 404 and 405 on partner paths, signed or not, and 415.
  const auto nowhere = client().request("GET", "/partner/v1/nowhere");
  ASSERT_EQ(nowhere.status, 404) << nowhere.body;
  EXPECT_TRUE(signed_by_us(nowhere)) << nowhere.body;
  const auto signed_nowhere = signed_call(key, "GET", "/partner/v1/members/" + ref + "/nothing");
  EXPECT_EQ(signed_nowhere.status, 404);
  EXPECT_TRUE(signed_by_us(signed_nowhere));
  const auto wrong_method = client().request("DELETE", "/partner/v1/exchanges");
  EXPECT_EQ(wrong_method.status, 405);
  EXPECT_TRUE(signed_by_us(wrong_method));
  const auto form =
      client().request("POST", "/partner/v1/exchanges", "a=b", {{"Content-Type", "application/x-www-form-urlencoded"}});
  EXPECT_EQ(form.status, 415);
  EXPECT_TRUE(signed_by_us(form));
  // A partner's own 404 after verification, as before.
  const auto unknown_member = signed_call(key, "GET", "/partner/v1/members/REF-nobody/rights");
  EXPECT_EQ(unknown_member.status, 404);
  EXPECT_TRUE(signed_by_us(unknown_member));
  // 413 is answered by the server before the request reaches the service: signed there.
  const std::string huge = "{\"exchange_id\":\"" + std::string(1024 * 1024 + 10, 'a') + "\"}";
  HttpClient own{service().port()};
  const auto too_large = own.request("POST", "/partner/v1/exchanges", huge, {{"Content-Type", "application/json"}});
  ASSERT_EQ(too_large.status, 413) << too_large.body;
  EXPECT_EQ(too_large.json()["code"], "payload_too_large");
  EXPECT_TRUE(signed_by_us(too_large)) << too_large.body;
  // Outside /partner/v1 nothing is signed.
  const auto elsewhere = client().request("GET", "/v1/nowhere");
  EXPECT_EQ(elsewhere.status, 404);
  EXPECT_TRUE(elsewhere.header("x-signature").empty());
  EXPECT_TRUE(client().request("GET", "/partnerx/v1/signing-keys").header("x-signature").empty());
}

TEST_F(Partners, APartnerOverItsRateIsToldToWaitAndOtherPartnersAreNot) {
  auto options = RunningService::default_options(TestDatabase::instance().url());
  options.signing_key_pem = our_private_pem();
  options.rate_limit_per_second = 1;
  options.rate_limit_burst = 3;
  RunningService limited{options};
  // Keys are made through the shared service (the limited one would limit the admin too).
  const std::string partner_id = register_partner();
  const auto first_key = hmac_key(partner_id);
  const auto second_key = ed25519_key(partner_id);
  const auto other = hmac_key("beanhouse");
  HttpClient limited_client{limited.port()};
  const auto call = [&](const PartnerKey& key) {
    const std::string path = "/partner/v1/members/REF-nobody/rights";
    const std::string timestamp = std::to_string(
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count());
    const std::string nonce = new_id("nonce_");
    const std::string message = partners::signing_string({"GET", path, "", timestamp, nonce, ""});
    const std::string signature = key.algorithm == "hmac-sha256"
                                      ? base64_encode(partners::hmac_sha256(key.secret, message))
                                      : *partners::sign_ed25519(key.private_pem, message);
    return limited_client.request("GET", path, "",
                                  {{"X-Partner-Id", key.partner_id},
                                   {"X-Key-Id", key.key_id},
                                   {"X-Timestamp", timestamp},
                                   {"X-Nonce", nonce},
                                   {"X-Signature", signature}});
  };
  int limited_count = 0;
  HttpResult last_limited;
  for (int i = 0; i < 6; ++i) {
    // Both keys of the partner draw on the partner's one allowance.
    const auto result = call(i % 2 ? first_key : second_key);
    if (result.status == 429) {
      ++limited_count;
      last_limited = result;
      EXPECT_EQ(result.json()["code"], "rate_limited");
    } else {
      EXPECT_EQ(result.status, 404) << result.body;  // verified; the ref is nobody's
    }
  }
  EXPECT_GE(limited_count, 2);
  EXPECT_GE(std::atoi(last_limited.header("retry-after").c_str()), 1);
  // Another partner has an allowance of its own.
  EXPECT_EQ(call(other).status, 404);
  EXPECT_TRUE(signed_by_us(last_limited)) << last_limited.body;
  // Limits apply only after verification: a forged request naming the partner is refused as
  // forged (401), never counted against the partner.
  PartnerKey forged = first_key;
  forged.secret = std::string(32, '\x09');
  EXPECT_EQ(call(forged).json()["code"], "invalid_signature");
}

TEST_F(Partners, ReplayedStaleTamperedUnknownAndRevokedRequestsAreRefusedAndMoveNothing) {
  std::string ref;
  const std::string member_id = linked_member("skyair", 0, &ref);
  const auto key = hmac_key("skyair");
  const std::string body =
      json{{"exchange_id", unique("ex-")}, {"partner_member_ref", ref}, {"partner_units", 1}}.dump();
  const std::string nonce = new_id("nonce_");
  ASSERT_EQ(signed_call(key, "POST", "/partner/v1/exchanges", body, {0, nonce}).status, 201);
  const auto code = [](const HttpResult& r) { return std::to_string(r.status) + " " + r.json().value("code", ""); };
  EXPECT_EQ(code(signed_call(key, "POST", "/partner/v1/exchanges", body, {0, nonce})), "401 replayed_request");
  EXPECT_EQ(code(signed_call(key, "POST", "/partner/v1/exchanges", body, {301})), "401 stale_timestamp");
  EXPECT_EQ(code(signed_call(key, "POST", "/partner/v1/exchanges", body, {-400})), "401 stale_timestamp");
  const std::string tampered =
      json{{"exchange_id", unique("ex-")}, {"partner_member_ref", ref}, {"partner_units", 999}}.dump();
  EXPECT_EQ(code(signed_call(key, "POST", "/partner/v1/exchanges", body, {0, std::nullopt, tampered})),
            "401 invalid_signature");
  PartnerKey unknown = key;
  unknown.key_id = "pkey_" + std::string(20, 'a');
  EXPECT_EQ(code(inbound(unknown, unique("ex-"), ref, 1)), "401 unknown_key");
  PartnerKey wrong_partner = key;
  wrong_partner.partner_id = "beanhouse";  // a key of skyair presented as beanhouse's
  EXPECT_EQ(code(inbound(wrong_partner, unique("ex-"), ref, 1)), "401 unknown_key");
  PartnerKey wrong_secret = key;
  wrong_secret.secret = std::string(32, '\x07');
  EXPECT_EQ(code(inbound(wrong_secret, unique("ex-"), ref, 1)), "401 invalid_signature");
  auto unsigned_request =
      client().request("POST", "/partner/v1/exchanges", body, {{"Content-Type", "application/json"}});
  EXPECT_EQ(code(unsigned_request), "401 invalid_signature");

  // A second key works beside the first; revoking the first applies to the very next request.
  const auto second = ed25519_key("skyair");
  const auto revoked = post("/v1/partners/skyair/keys/" + key.key_id + "/revoke", json::object());
  ASSERT_EQ(revoked.status, 200) << revoked.body;
  EXPECT_TRUE(revoked.json().contains("revoked_at"));
  EXPECT_EQ(code(inbound(key, unique("ex-"), ref, 1)), "401 key_revoked");
  EXPECT_EQ(inbound(second, unique("ex-"), ref, 1).status, 201);
  EXPECT_EQ(post("/v1/partners/beanhouse/keys/" + second.key_id + "/revoke", json::object()).status, 404);
  EXPECT_EQ(available_points(member_id), 16);  // two accepted exchanges of 1 mile
}

TEST_F(Partners, AnInboundExchangeIdIsIdempotentAndConflictsWithAnotherBody) {
  std::string ref;
  const std::string member_id = linked_member("skyair", 0, &ref);
  const auto key = hmac_key("skyair");
  const std::string exchange_id = unique("ex-");
  const auto first = inbound(key, exchange_id, ref, 10);
  const auto again = inbound(key, exchange_id, ref, 10);
  ASSERT_EQ(first.status, 201) << first.body;
  EXPECT_EQ(again.status, 201);
  EXPECT_EQ(again.body, first.body);
  EXPECT_EQ(available_points(member_id), 80);
  const auto different = inbound(key, exchange_id, ref, 11);
  EXPECT_EQ(different.status, 409) << different.body;
  EXPECT_EQ(available_points(member_id), 80);
  EXPECT_EQ(inbound(key, unique("ex-"), "REF-nobody", 1).status, 404);
}

TEST_F(Partners, OutboundExchangesConvertAtTheRateAndRefuseFractionsOfAUnit) {
  std::string ref;
  const std::string member_id = linked_member("skyair", 1000, &ref);
  const auto fractional = outbound(unique("out-"), member_id, "skyair", 15);  // 1.5 miles
  EXPECT_EQ(fractional.status, 422) << fractional.body;
  const auto done = outbound(unique("out-"), member_id, "skyair", 120);
  ASSERT_EQ(done.status, 201) << done.body;
  EXPECT_EQ(done.json()["partner_units"], 12);
  EXPECT_EQ(done.json()["partner_member_ref"], ref);
  EXPECT_EQ(available_points(member_id), 880);
  const auto too_much = outbound(unique("out-"), member_id, "skyair", 1000);
  EXPECT_EQ(too_much.status, 422);
  EXPECT_EQ(too_much.json()["code"], "insufficient_points");
  EXPECT_EQ(available_points(member_id), 880);
  const std::string unlinked = member_with_points(100);
  EXPECT_EQ(outbound(unique("out-"), unlinked, "skyair", 10).json()["code"], "not_linked");
  EXPECT_EQ(outbound(unique("out-"), member_id, "nobody", 10).status, 404);
}

TEST_F(Partners, AnOutboundExchangeIdIsIdempotentAndConflictsWithAnotherBody) {
  const std::string member_id = linked_member("skyair", 500);
  const std::string exchange_id = unique("out-");
  const auto first = outbound(exchange_id, member_id, "skyair", 100);
  const auto again = outbound(exchange_id, member_id, "skyair", 100);
  ASSERT_EQ(first.status, 201) << first.body;
  EXPECT_EQ(again.status, 201);
  EXPECT_EQ(again.body, first.body);
  EXPECT_EQ(outbound(exchange_id, member_id, "skyair", 200).status, 409);
  EXPECT_EQ(available_points(member_id), 400);
}

TEST_F(Partners, DailyLimitsHoldUnderConcurrentExchanges) {
  // per member 1000 points a day: 20 concurrent exchanges of 100 points, exactly 10 pass.
  const std::string partner_id = register_partner(1000);
  const std::string member_id = linked_member(partner_id, 5000);
  std::atomic<int> accepted{0}, limited{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      HttpClient own{service().port()};
      for (int i = 0; i < 5; ++i) {
        const auto r = own.request(
            "POST", "/v1/exchanges",
            json{{"exchange_id", "lim-" + member_id + "-" + std::to_string(t * 5 + i)},
                 {"member_id", member_id},
                 {"partner_id", partner_id},
                 {"points", 100}}
                .dump(),
            {{"Authorization", "Bearer " + service().secret(api::Role::mall)}, {"Content-Type", "application/json"}});
        if (r.status == 201)
          ++accepted;
        else if (r.status == 422 && r.json().value("code", "") == "limit_exceeded")
          ++limited;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(accepted.load(), 10);
  EXPECT_EQ(limited.load(), 10);
  EXPECT_EQ(available_points(member_id), 4000);
}

TEST_F(Partners, APartnerWideDailyLimitCountsEveryMember) {
  const std::string partner_id = register_partner(1000, 250);
  const std::string first = linked_member(partner_id, 1000), second = linked_member(partner_id, 1000);
  EXPECT_EQ(outbound(unique("out-"), first, partner_id, 200).status, 201);
  EXPECT_EQ(outbound(unique("out-"), second, partner_id, 100).json()["code"], "limit_exceeded");
  EXPECT_EQ(outbound(unique("out-"), second, partner_id, 50).status, 201);
}

TEST_F(Partners, DailyLimitsAreBoundedSoThatADaysStatementFitsAndTheDatabaseRefusesMoreToo) {
  const std::int64_t bound = program::partner_daily_points_max(100, 1000);
  const std::string id = unique("p");
  json body{
      {"partner_id", id},
      {"name", "Unbounded"},
      {"asset", asset_of(id)},
      {"rates", {{"inbound_points_per_unit", 1}, {"outbound_units_per_point_milli", 1000}, {"cents_per_point", 100}}},
      {"limits", {{"per_member_daily_points", INT64_MAX}, {"per_day_points", bound + 1}}}};
  const auto refused = post("/v1/partners", body);
  ASSERT_EQ(refused.status, 422) << refused.body;
  ASSERT_EQ(refused.json()["errors"].size(), 2u) << refused.body;
  EXPECT_EQ(refused.json()["errors"][0]["field"], "limits.per_member_daily_points");
  EXPECT_EQ(refused.json()["errors"][1]["field"], "limits.per_day_points");
  EXPECT_EQ(get("/v1/partners/" + id).status, 404);

  // register_partner's rates: 2 cents and 0.5 units a point.
  const std::int64_t its_bound = program::partner_daily_points_max(2, 500);
  const std::string partner_id = register_partner(its_bound, its_bound);
  auto connection = TestDatabase::instance().connect();
  pqxx::work txn{*connection};
  EXPECT_THROW(
      txn.exec_params("UPDATE partners SET per_day_points = $2 WHERE partner_id = $1", partner_id, its_bound + 1),
      pqxx::check_violation);
}

TEST_F(Partners, AStatementWhoseTotalsLeaveInt64IsRefusedNamingTheFigureAndTheServiceGoesOn) {
  // No daily limit lets such lines be written now; they stand for lines stored under looser
  // rules (or many days' lines settled on one day). Reading them used to stop the process.
  const std::string partner_id = register_partner();
  std::string ref;
  const std::string member_id = linked_member(partner_id, 0, &ref);
  const auto key = hmac_key(partner_id);
  ASSERT_EQ(inbound(key, unique("in-"), ref, 1).status, 201);
  const std::string today = format_rfc3339(now_utc()).substr(0, 10);
  const auto store = [&](const std::string& sql) {
    auto connection = TestDatabase::instance().connect();
    pqxx::work txn{*connection};
    txn.exec_params(sql, partner_id, member_id, ref, INT64_MAX / 2 + 1, today);
    txn.commit();
  };
  store(
      "INSERT INTO partner_exchanges (scope, exchange_id, direction, partner_id, member_id, partner_member_ref,"
      " points, units, cents, request_sha256, created_at, settlement_date)"
      " SELECT 'in:' || $1, 'huge-' || n, 'inbound', $1, $2, $3, 1, 1, $4, '', now(), $5::date"
      " FROM generate_series(1, 2) n");

  const auto refused = signed_call(key, "GET", "/partner/v1/statements?date=" + today);
  EXPECT_EQ(refused.status, 422) << refused.body;
  EXPECT_EQ(refused.json()["code"], "amount_overflow");
  EXPECT_NE(refused.json()["detail"].get<std::string>().find("inbound totals exceed 2^53"), std::string::npos)
      << refused.body;
  const auto listed = get("/v1/partners/" + partner_id + "/statements", api::Role::finance);
  EXPECT_EQ(listed.status, 422) << listed.body;
  EXPECT_EQ(listed.json()["code"], "amount_overflow");
  EXPECT_EQ(get("/healthz").status, 200);

  store(
      "DELETE FROM partner_exchanges WHERE partner_id = $1 AND member_id = $2 AND partner_member_ref = $3"
      " AND cents = $4 AND settlement_date = $5::date");
  EXPECT_EQ(signed_call(key, "GET", "/partner/v1/statements?date=" + today).status, 200);
}

TEST_F(Partners, RightsFollowLevelsAndQuotasHoldUnderConcurrentClaims) {
  const std::string partner_id = register_partner();
  std::string ref;
  linked_member(partner_id, 0, &ref);
  const auto key = hmac_key(partner_id);
  const auto listed = signed_call(key, "GET", "/partner/v1/members/" + ref + "/rights");
  ASSERT_EQ(listed.status, 200) << listed.body;
  // Every member is at least a fan (engagement); nobody new is gold (spend).
  ASSERT_EQ(listed.json()["rights"].size(), 1u) << listed.body;
  EXPECT_EQ(listed.json()["rights"][0]["code"], "lounge");
  EXPECT_EQ(listed.json()["rights"][0]["remaining"], 3);
  const auto gold = signed_call(key, "POST", "/partner/v1/rights/gold-gift/claims",
                                json{{"claim_id", unique("c-")}, {"partner_member_ref", ref}}.dump());
  EXPECT_EQ(gold.json()["code"], "not_eligible");

  std::atomic<int> accepted{0}, exhausted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      Partners* self = this;
      (void)self;
      for (int i = 0; i < 3; ++i) {
        HttpClient own{service().port()};
        const std::string body =
            json{{"claim_id", "c-" + std::to_string(t) + "-" + std::to_string(i)}, {"partner_member_ref", ref}}.dump();
        const std::string nonce = new_id("nonce_");
        const std::string timestamp = std::to_string(
            std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
                .count());
        const std::string path = "/partner/v1/rights/lounge/claims";
        const std::string signature = base64_encode(
            partners::hmac_sha256(key.secret, partners::signing_string({"POST", path, "", timestamp, nonce, body})));
        const auto r = own.request("POST", path, body,
                                   {{"X-Partner-Id", partner_id},
                                    {"X-Key-Id", key.key_id},
                                    {"X-Timestamp", timestamp},
                                    {"X-Nonce", nonce},
                                    {"X-Signature", signature},
                                    {"Content-Type", "application/json"}});
        if (r.status == 201)
          ++accepted;
        else if (r.json().value("code", "") == "limit_exceeded")
          ++exhausted;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(accepted.load(), 3);
  EXPECT_EQ(exhausted.load(), 9);
  EXPECT_TRUE(signed_call(key, "GET", "/partner/v1/members/" + ref + "/rights").json()["rights"].empty());
  // A claim id replays its first answer.
  const auto replay = signed_call(key, "POST", "/partner/v1/rights/lounge/claims",
                                  json{{"claim_id", "c-0-0"}, {"partner_member_ref", ref}}.dump());
  EXPECT_TRUE(replay.status == 201 || replay.json().value("code", "") == "limit_exceeded") << replay.body;
}

TEST_F(Partners, APartnerSeesOnlyItsOwnMembersAndStatements) {
  std::string sky_ref;
  linked_member("skyair", 0, &sky_ref);
  const auto bean = hmac_key("beanhouse");
  EXPECT_EQ(inbound(bean, unique("ex-"), sky_ref, 1).status, 404);
  EXPECT_EQ(signed_call(bean, "GET", "/partner/v1/members/" + sky_ref + "/rights").status, 404);
  const std::string sky_statement = "stmt_skyair_20260101";
  const auto ack = signed_call(bean, "POST", "/partner/v1/statements/" + sky_statement + "/ack",
                               json{{"statement_sha256", std::string(64, 'a')}}.dump());
  EXPECT_EQ(ack.status, 404) << ack.body;
}

TEST_F(Partners, TheProgramsPartnersCannotBeRedefinedAndLinksDoNotMove) {
  const json skyair{
      {"partner_id", "skyair"},
      {"name", "SkyAir"},
      {"asset", "OTHER_MILES"},
      {"rates", {{"inbound_points_per_unit", 1}, {"outbound_units_per_point_milli", 1}, {"cents_per_point", 1}}},
      {"limits", {{"per_member_daily_points", 1}, {"per_day_points", 1}}}};
  EXPECT_EQ(post("/v1/partners", skyair).status, 409);
  EXPECT_EQ(get("/v1/partners/skyair").json()["source"], "program");
  std::string ref;
  const std::string member_id = linked_member("beanhouse", 0, &ref);
  const std::string other = member_with_points(0);
  EXPECT_EQ(post("/v1/members/" + other + "/partner-links", {{"partner_id", "beanhouse"}, {"partner_member_ref", ref}})
                .status,
            409);
  EXPECT_EQ(
      post("/v1/members/" + member_id + "/partner-links", {{"partner_id", "beanhouse"}, {"partner_member_ref", ref}})
          .status,
      200);
  EXPECT_EQ(post("/v1/members/" + member_id + "/partner-links", {{"partner_id", "nobody"}, {"partner_member_ref", ref}})
                .status,
            404);
}

TEST_F(Partners, StatementsAddUpCloseForGoodVerifyWithOpensslAndTakeOneAcknowledgement) {
  const std::string partner_id = register_partner(100000);
  std::string ref;
  const std::string member_id = linked_member(partner_id, 10000, &ref);
  const auto key = hmac_key(partner_id);
  ASSERT_EQ(inbound(key, "in-1", ref, 100).status, 201);  // 300 points, 600 cents owed by the partner
  ASSERT_EQ(outbound(unique("out-"), member_id, partner_id, 50).status, 201);  // 25 units, 100 cents owed by us
  ASSERT_EQ(signed_call(key, "POST", "/partner/v1/rights/lounge/claims",
                        json{{"claim_id", "claim-1"}, {"partner_member_ref", ref}}.dump())
                .status,
            201);
  const auto now = now_utc();
  const std::string today = format_rfc3339(now).substr(0, 10);
  const auto open = signed_call(key, "GET", "/partner/v1/statements?date=" + today);
  ASSERT_EQ(open.status, 200) << open.body;
  const json provisional = open.json();
  EXPECT_EQ(provisional["status"], "open");
  EXPECT_EQ(provisional["lines"].size(), 3u);
  EXPECT_EQ(provisional["totals"]["inbound"]["points"], 300);
  EXPECT_EQ(provisional["totals"]["outbound"]["units"], 25);
  EXPECT_EQ(provisional["totals"]["claims"]["count"], 1);
  EXPECT_EQ(provisional["net_cents"], 500);
  EXPECT_EQ(provisional["owed_by"], "partner");
  EXPECT_EQ(open.body.find(member_id), std::string::npos);
  const auto not_closed =
      signed_call(key, "POST", "/partner/v1/statements/" + provisional["statement_id"].get<std::string>() + "/ack",
                  json{{"statement_sha256", provisional["sha256"]}}.dump());
  EXPECT_EQ(not_closed.json()["code"], "statement_not_closed");

  // Close today (as of the start of tomorrow); later lines settle on the next day.
  const std::string tomorrow =
      format_rfc3339(std::chrono::floor<std::chrono::days>(now) + std::chrono::days{1}).substr(0, 10);
  const auto job = post("/v1/jobs/close-statements", {{"as_of", tomorrow + "T00:00:00Z"}});
  ASSERT_EQ(job.status, 200) << job.body;
  const auto late = inbound(key, "in-2", ref, 1);
  ASSERT_EQ(late.status, 201);
  EXPECT_EQ(late.json()["settlement_date"], tomorrow);

  const auto closed = signed_call(key, "GET", "/partner/v1/statements?date=" + today);
  ASSERT_EQ(closed.status, 200);
  json statement = closed.json();
  EXPECT_EQ(statement["status"], "closed");
  EXPECT_EQ(statement["lines"].size(), 3u);
  EXPECT_EQ(statement["net_cents"], 500);
  // sha256 is over the statement without its sha256 member, keys sorted, no whitespace.
  const std::string hash = statement["sha256"];
  json without = statement;
  without.erase("sha256");
  EXPECT_EQ(to_hex(sha256(without.dump())), hash);
  EXPECT_TRUE(openssl_verifies(closed.body, closed.header("x-signature"), our_public_pem()));
  EXPECT_EQ(signed_call(key, "GET", "/partner/v1/statements?date=" + today).body, closed.body);

  const std::string ack_path = "/partner/v1/statements/" + statement["statement_id"].get<std::string>() + "/ack";
  const std::map<std::string, std::string> ack_key{{"Idempotency-Key", unique("ack-")}};
  const auto agreed = signed_call(key, "POST", ack_path, json{{"statement_sha256", hash}}.dump(),
                                  {0, std::nullopt, std::nullopt, ack_key});
  ASSERT_EQ(agreed.status, 200) << agreed.body;
  EXPECT_EQ(agreed.json()["status"], "acknowledged");
  const auto replayed = signed_call(key, "POST", ack_path, json{{"statement_sha256", hash}}.dump(),
                                    {0, std::nullopt, std::nullopt, ack_key});
  EXPECT_EQ(replayed.body, agreed.body);
  EXPECT_EQ(replayed.header("idempotent-replayed"), "true");
  // The same key with another hash is refused before anything runs: no dispute is recorded.
  const auto reused = signed_call(key, "POST", ack_path, json{{"statement_sha256", std::string(64, '1')}}.dump(),
                                  {0, std::nullopt, std::nullopt, ack_key});
  EXPECT_EQ(reused.json()["code"], "idempotency_key_reused");
  EXPECT_EQ(signed_call(key, "POST", ack_path, json{{"statement_sha256", hash}}.dump()).status, 200);
  const auto disputed = signed_call(key, "POST", ack_path, json{{"statement_sha256", std::string(64, '0')}}.dump());
  EXPECT_EQ(disputed.json()["code"], "statement_disputed");
  // The dispute was recorded and blocks the statement, even for the right hash.
  EXPECT_EQ(signed_call(key, "POST", ack_path, json{{"statement_sha256", hash}}.dump()).json()["code"],
            "statement_disputed");
}

// ---- Member links need the partner's confirmation (issue #12, item 10) --------------------

const std::regex link_code_shape{"[0-9A-HJKMNP-TV-Z]{5}-[0-9A-HJKMNP-TV-Z]{5}"};

// The link's row as stored: status, failed attempts, and whether any column holds the code.
struct StoredLink {
  std::string status;
  int failed_attempts = -1;
  bool code_in_clear = true;
};
StoredLink stored_link(const std::string& partner_id, const std::string& ref, const std::string& code) {
  auto connection = TestDatabase::instance().connect();
  pqxx::read_transaction txn{*connection};
  const auto rows = txn.exec_params(
      "SELECT status, link_code_failed_attempts, position($3 in l::text) > 0 OR position($4 in l::text) > 0"
      " FROM partner_links l WHERE partner_id = $1 AND partner_member_ref = $2",
      partner_id, ref, code, code.empty() ? std::string("\x01") : code.substr(0, 5) + code.substr(6));
  if (rows.empty()) return {};
  return {rows[0][0].c_str(), rows[0][1].as<int>(), rows[0][2].as<bool>()};
}

TEST_F(Partners, ALinkAMallKeyMadeMovesNothingUntilThePartnerConfirmsItWithItsCode) {
  // The issue: a mall key linked any member to any ref and exchanged the points out at once.
  const std::string partner_id = register_partner();  // one with rights
  const std::string member_id = member_with_points(1000);
  const std::string ref = unique("REF-");
  const auto linked = link(member_id, partner_id, ref);
  ASSERT_EQ(linked.status, 201) << linked.body;
  EXPECT_EQ(linked.json()["status"], "pending");
  const std::string code = linked.json().value("link_code", "");
  EXPECT_TRUE(std::regex_match(code, link_code_shape)) << linked.body;
  const auto expires_at = parse_rfc3339(linked.json().value("link_code_expires_at", ""));
  ASSERT_TRUE(expires_at.has_value()) << linked.body;
  EXPECT_NEAR(std::chrono::duration_cast<std::chrono::seconds>(*expires_at - now_utc()).count(), 900, 60);
  EXPECT_FALSE(stored_link(partner_id, ref, code).code_in_clear) << "only the code's hash is stored";

  // Nothing moves through a pending link, in either direction, and no right is shown or used.
  const auto out = outbound(unique("out-"), member_id, partner_id, 100);
  EXPECT_EQ(out.status, 422) << out.body;
  EXPECT_EQ(out.json()["code"], "link_not_confirmed");
  const auto key = hmac_key(partner_id);
  const auto in = inbound(key, unique("ex-"), ref, 1);
  EXPECT_EQ(in.status, 422) << in.body;
  EXPECT_EQ(in.json()["code"], "link_not_confirmed");
  EXPECT_EQ(signed_call(key, "GET", "/partner/v1/members/" + ref + "/rights").json()["code"], "link_not_confirmed");
  EXPECT_EQ(signed_call(key, "POST", "/partner/v1/rights/lounge/claims",
                        json{{"claim_id", unique("c-")}, {"partner_member_ref", ref}}.dump())
                .json()["code"],
            "link_not_confirmed");
  EXPECT_EQ(available_points(member_id), 1000);

  // The partner redeems the code (case and hyphen do not matter) over its signed API.
  std::string typed = code;
  typed.erase(5, 1);
  for (auto& c : typed) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  const auto confirmed = confirm(key, ref, typed);
  ASSERT_EQ(confirmed.status, 200) << confirmed.body;
  EXPECT_EQ(confirmed.json()["status"], "confirmed");
  EXPECT_EQ(confirmed.json()["partner_member_ref"], ref);
  EXPECT_TRUE(confirmed.json().contains("confirmed_at"));
  EXPECT_EQ(confirmed.body.find(member_id), std::string::npos) << "a partner never sees member ids";
  EXPECT_TRUE(signed_by_us(confirmed));
  EXPECT_EQ(outbound(unique("out-"), member_id, partner_id, 100).status, 201);
  EXPECT_EQ(inbound(key, unique("ex-"), ref, 1).status, 201);
  EXPECT_EQ(available_points(member_id), 903);  // − 100 out, + 1 unit × 3 in

  // Confirming again with the same code answers the same; with another code it is refused.
  const auto again = confirm(key, ref, code);
  EXPECT_EQ(again.status, 200) << again.body;
  EXPECT_EQ(again.body, confirmed.body);
  EXPECT_EQ(confirm(key, ref, "00000-00000").json()["code"], "link_already_confirmed");
  // Linking the same again answers the confirmed link, without a code.
  const auto relinked = link(member_id, partner_id, ref);
  EXPECT_EQ(relinked.status, 200) << relinked.body;
  EXPECT_EQ(relinked.json()["status"], "confirmed");
  EXPECT_FALSE(relinked.json().contains("link_code"));

  // The confirmation is audited, naming the partner and its key.
  auto connection = TestDatabase::instance().connect();
  pqxx::read_transaction txn{*connection};
  const auto audited = txn.exec_params(
      "SELECT actor_id, actor_name FROM audit_events WHERE action = 'POST /partner/v1/links/confirm'"
      " AND subject = $1 AND details->>'status' = '200'",
      "partner_link:" + ref);
  ASSERT_EQ(audited.size(), 1u);
  EXPECT_EQ(audited[0][0].c_str(), partner_id);
  EXPECT_EQ(audited[0][1].c_str(), key.key_id);
}

TEST_F(Partners, WrongLinkCodesAreCountedAndTheFifthVoidsTheCodeUntilANewOneIsIssued) {
  const std::string member_id = member_with_points(100);
  const std::string ref = unique("REF-");
  const auto linked = link(member_id, "skyair", ref);
  ASSERT_EQ(linked.status, 201) << linked.body;
  const std::string code = linked.json().value("link_code", "");
  const std::string wrong = code.substr(0, 10) + (code[10] == '0' ? "1" : "0");
  const auto key = hmac_key("skyair");
  // A code that cannot be one is a validation failure, and not counted.
  const auto malformed = confirm(key, ref, "not a code");
  EXPECT_EQ(malformed.status, 422);
  EXPECT_EQ(malformed.json()["code"], "validation_failed");
  EXPECT_EQ(stored_link("skyair", ref, code).failed_attempts, 0);
  for (int attempt = 1; attempt <= 5; ++attempt) {
    const auto refused = confirm(key, ref, wrong);
    EXPECT_EQ(refused.status, 422) << refused.body;
    EXPECT_EQ(refused.json()["code"], "invalid_link_code");
    EXPECT_EQ(stored_link("skyair", ref, code).failed_attempts, attempt) << "counted even though refused";
  }
  // The code is void now, even the right one; the link stays pending and moves nothing.
  const auto locked = confirm(key, ref, code);
  EXPECT_EQ(locked.status, 409) << locked.body;
  EXPECT_EQ(locked.json()["code"], "link_code_locked");
  EXPECT_EQ(stored_link("skyair", ref, code).failed_attempts, 5) << "a void code counts nothing more";
  EXPECT_EQ(stored_link("skyair", ref, code).status, "pending");
  EXPECT_EQ(outbound(unique("out-"), member_id, "skyair", 10).json()["code"], "link_not_confirmed");
  // The wrong attempts are in the audit trail.
  {
    auto connection = TestDatabase::instance().connect();
    pqxx::read_transaction txn{*connection};
    EXPECT_EQ(txn.exec_params("SELECT count(*) FROM audit_events WHERE subject = $1 AND details->>'status' = '422'",
                              "partner_link:" + ref)[0][0]
                  .as<int>(),
              5);
  }
  // Our app links again: a fresh code (the old one stays void), and it confirms.
  const auto reissued = link(member_id, "skyair", ref);
  ASSERT_EQ(reissued.status, 200) << reissued.body;
  EXPECT_EQ(reissued.json()["status"], "pending");
  const std::string fresh = reissued.json().value("link_code", "");
  EXPECT_TRUE(std::regex_match(fresh, link_code_shape)) << reissued.body;
  EXPECT_EQ(stored_link("skyair", ref, fresh).failed_attempts, 0);
  if (fresh != code) {
    EXPECT_EQ(confirm(key, ref, code).json()["code"], "invalid_link_code");
  }
  EXPECT_EQ(confirm(key, ref, fresh).status, 200);
  EXPECT_EQ(outbound(unique("out-"), member_id, "skyair", 10).status, 201);
}

TEST_F(Partners, AnExpiredLinkCodeIsRefusedAndItsPendingLinkGivesWayToANewOne) {
  const std::string member_id = member_with_points(0);
  const std::string ref = unique("REF-");
  const auto linked = link(member_id, "skyair", ref);
  ASSERT_EQ(linked.status, 201) << linked.body;
  const std::string code = linked.json().value("link_code", "");
  {
    auto connection = TestDatabase::instance().connect();
    pqxx::work txn{*connection};
    txn.exec_params(
        "UPDATE partner_links SET link_code_expires_at = now() - interval '1 second'"
        " WHERE partner_id = 'skyair' AND partner_member_ref = $1",
        ref);
    txn.commit();
  }
  const auto key = hmac_key("skyair");
  const auto expired = confirm(key, ref, code);
  EXPECT_EQ(expired.status, 409) << expired.body;
  EXPECT_EQ(expired.json()["code"], "link_code_expired");
  EXPECT_EQ(stored_link("skyair", ref, code).status, "pending");
  // A pending link with a void code never moved anything: the ref may be linked to the member
  // who really holds it, while a live pending link still conflicts.
  const std::string other = member_with_points(0);
  const auto replaced = link(other, "skyair", ref);
  EXPECT_EQ(replaced.status, 201) << replaced.body;
  EXPECT_EQ(link(member_id, "skyair", ref).status, 409);
  EXPECT_EQ(confirm(key, ref, replaced.json().value("link_code", "")).status, 200);
}

TEST_F(Partners, AnotherPartnerCannotConfirmALinkEvenWithItsCode) {
  const std::string member_id = member_with_points(0);
  const std::string ref = unique("REF-");
  const auto linked = link(member_id, "skyair", ref);
  ASSERT_EQ(linked.status, 201) << linked.body;
  const std::string code = linked.json().value("link_code", "");
  const auto bean = hmac_key("beanhouse");
  const auto refused = confirm(bean, ref, code);
  EXPECT_EQ(refused.status, 404) << refused.body;
  EXPECT_EQ(refused.json()["code"], "member_not_found");
  EXPECT_TRUE(signed_by_us(refused));
  EXPECT_EQ(stored_link("skyair", ref, code).failed_attempts, 0);
  EXPECT_EQ(stored_link("skyair", ref, code).status, "pending");
  EXPECT_EQ(confirm(hmac_key("skyair"), ref, code).status, 200);
  // An unsigned or badly signed confirmation never reaches the link.
  const auto unsigned_call = client().request("POST", "/partner/v1/links/confirm",
                                              json{{"partner_member_ref", ref}, {"link_code", code}}.dump(),
                                              {{"Content-Type", "application/json"}});
  EXPECT_EQ(unsigned_call.status, 401);
}

TEST_F(Partners, AnIdempotencyKeyReplaysALinkWithoutItsCodeAndAConfirmationWithoutCountingAgain) {
  const std::string member_id = member_with_points(0);
  const std::string ref = unique("REF-");
  const std::map<std::string, std::string> idempotency{{"Idempotency-Key", unique("link-")}};
  const auto first = link(member_id, "skyair", ref, idempotency);
  ASSERT_EQ(first.status, 201) << first.body;
  const std::string code = first.json().value("link_code", "");
  ASSERT_FALSE(code.empty());
  const auto replayed = link(member_id, "skyair", ref, idempotency);
  EXPECT_EQ(replayed.status, 201) << replayed.body;
  EXPECT_EQ(replayed.header("idempotent-replayed"), "true");
  EXPECT_EQ(replayed.json()["status"], "pending");
  EXPECT_EQ(replayed.json()["link_code_expires_at"], first.json()["link_code_expires_at"]);
  EXPECT_FALSE(replayed.json().contains("link_code")) << "codes are never stored, so never replayed";
  {
    auto connection = TestDatabase::instance().connect();
    pqxx::read_transaction txn{*connection};
    EXPECT_EQ(
        txn.exec_params("SELECT count(*) FROM idempotency_keys WHERE position(convert_to($1, 'UTF8') in response) > 0",
                        code)[0][0]
            .as<int>(),
        0);
  }
  // The replay issued nothing: the first code still confirms. A wrong code under a key is
  // counted once, however often it is replayed.
  const auto key = hmac_key("skyair");
  const Signing wrong_key{0, std::nullopt, std::nullopt, {{"Idempotency-Key", unique("confirm-")}}};
  const std::string wrong = code.substr(0, 10) + (code[10] == '0' ? "1" : "0");
  const auto refused = confirm(key, ref, wrong, wrong_key);
  EXPECT_EQ(refused.json()["code"], "invalid_link_code") << refused.body;
  const auto refused_again = confirm(key, ref, wrong, wrong_key);
  EXPECT_EQ(refused_again.json()["code"], "invalid_link_code");
  EXPECT_EQ(refused_again.header("idempotent-replayed"), "true");
  EXPECT_EQ(stored_link("skyair", ref, code).failed_attempts, 1);
  const Signing right_key{0, std::nullopt, std::nullopt, {{"Idempotency-Key", unique("confirm-")}}};
  const auto confirmed = confirm(key, ref, code, right_key);
  ASSERT_EQ(confirmed.status, 200) << confirmed.body;
  const auto confirmed_again = confirm(key, ref, code, right_key);
  EXPECT_EQ(confirmed_again.body, confirmed.body);
  EXPECT_EQ(confirmed_again.header("idempotent-replayed"), "true");
}

// Links made before migration 0012 were made under the old rules and may have moved value:
// the migration keeps them usable, confirmed as of when they were linked.
TEST(PartnerLinkMigration, LinksMadeBeforeConfirmationExistedStayConfirmed) {
  const char* admin_url = std::getenv("LOYALTY_TEST_DATABASE_URL");
  ASSERT_NE(admin_url, nullptr);
  const std::string name = "links_migration_" + new_id("").substr(0, 12);
  {
    pqxx::connection admin{admin_url};
    pqxx::nontransaction create{admin};
    create.exec("CREATE DATABASE " + name);
  }
  {
    pqxx::connection connection{with_database(admin_url, name)};
    pqxx::nontransaction(connection)
        .exec(
            "CREATE TABLE schema_migrations (file_name text PRIMARY KEY, sha256 text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())");  // as db::migrate makes it
    for (const auto& migration : migrations::embedded()) {
      pqxx::work txn{connection};
      if (migration.file_name.substr(0, 4) == "0012") {
        const auto before = txn.exec("SELECT count(*) FROM partner_links");
        EXPECT_EQ(before[0][0].as<int>(), 1);
      }
      txn.exec(std::string(migration.sql));
      if (migration.file_name.substr(0, 4) == "0011") {
        txn.exec(
            "INSERT INTO members (member_id, external_id, created_at)"
            " VALUES ('mem_aaaaaaaaaaaaaaaaaaaa', 'old-member', '2026-01-01T00:00:00Z')");
        txn.exec(
            "INSERT INTO partner_links (partner_id, partner_member_ref, member_id, linked_at)"
            " VALUES ('skyair', 'SKY-OLD', 'mem_aaaaaaaaaaaaaaaaaaaa', '2026-01-02T00:00:00Z')");
      }
      txn.commit();
    }
    pqxx::read_transaction txn{connection};
    const auto rows = txn.exec(
        "SELECT status, confirmed_at = linked_at, confirmed_by, link_code_sha256 IS NULL"
        " FROM partner_links WHERE partner_member_ref = 'SKY-OLD'");
    ASSERT_EQ(rows.size(), 1u);
    EXPECT_STREQ(rows[0][0].c_str(), "confirmed");
    EXPECT_TRUE(rows[0][1].as<bool>());
    EXPECT_STREQ(rows[0][2].c_str(), "migration:0012");
    EXPECT_TRUE(rows[0][3].as<bool>());
  }
  pqxx::connection admin{admin_url};
  pqxx::nontransaction drop{admin};
  drop.exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)");
}

}  // namespace
}  // namespace loyalty::testing
