// The read endpoints an operator's console is built on, over HTTP against a real PostgreSQL:
// a member found by external id, a member's lots, holds, orders and partner links, the
// program's versions, partners with their exchanges and settlement statements, jobs and their
// runs, exports, and the daily report. Each list answers what was written through the API,
// pages through every item exactly once, refuses roles it does not serve and cursors it did
// not give, and answers 404 for what does not exist. The ledger's invariants are checked
// after every test.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <set>
#include <thread>

#include "api/proto/loyalty/v1/loyalty.pb.h"
#include "partners/signing_keys.hpp"
#include "platform/database.hpp"
#include "platform/digest.hpp"
#include "platform/ids.hpp"
#include "tests/support/partner_requests.hpp"
#include "tests/support/service_fixture.hpp"

namespace loyalty::testing {
namespace {

using api::Role;
using nlohmann::json;

class ConsoleReads : public ::testing::Test {
 protected:
  static const std::string& our_private_pem() {
    static const std::string pem = partners::generate_ed25519_private_pem();
    return pem;
  }
  static RunningService& service() {
    static RunningService running{[] {
      // Statements are signed with this key and its public half is registered, as
      // `loyaltyctl signing-key init` does, so that their signatures can be checked.
      auto connection = db::connect(TestDatabase::instance().url());
      db::run_transaction(*connection, "register_key", [](pqxx::transaction_base& txn) {
        return partners::register_signing_key(txn, *partners::public_pem_of(our_private_pem())).value();
      });
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
  HttpResult post(const std::string& path, const json& body, Role role = Role::admin,
                  const std::optional<std::string>& idempotency_key = std::nullopt) {
    std::map<std::string, std::string> headers{{"Authorization", "Bearer " + service().secret(role)},
                                               {"Content-Type", "application/json"}};
    if (idempotency_key) headers["Idempotency-Key"] = *idempotency_key;
    return client().request("POST", path, body.dump(), headers);
  }
  HttpResult put(const std::string& path, const json& body) {
    return client().request(
        "PUT", path, body.dump(),
        {{"Authorization", "Bearer " + service().secret(Role::admin)}, {"Content-Type", "application/json"}});
  }
  HttpResult get(const std::string& path, Role role = Role::admin) {
    return client().request("GET", path, "", {{"Authorization", "Bearer " + service().secret(role)}});
  }
  static std::string unique(const std::string& prefix) { return prefix + new_id("").substr(0, 12); }

  // Every item of a list, page by page (`limit` each), checking that no item comes twice
  // under `key` and that every page but the last is full.
  std::vector<json> walk(const std::string& path, int limit, const std::string& key, Role role = Role::admin) {
    std::vector<json> items;
    std::set<std::string> seen;
    std::string cursor;
    const char* join = path.find('?') == std::string::npos ? "?" : "&";
    for (int pages = 0; pages < 100; ++pages) {
      const auto page =
          get(path + join + "limit=" + std::to_string(limit) + (cursor.empty() ? "" : "&cursor=" + cursor), role);
      EXPECT_EQ(page.status, 200) << page.body;
      if (page.status != 200) break;
      const json body = page.json();
      for (const auto& item : body["items"]) {
        EXPECT_TRUE(seen.insert(item[key].dump()).second) << "listed twice: " << item[key].dump();
        items.push_back(item);
      }
      cursor = body.value("next_cursor", "");
      if (cursor.empty()) break;
      EXPECT_EQ(body["items"].size(), static_cast<std::size_t>(limit)) << "a page before the last is not full";
    }
    return items;
  }
  static std::vector<std::string> values(const std::vector<json>& items, const std::string& key) {
    std::vector<std::string> out;
    for (const auto& item : items)
      out.push_back(item[key].is_string() ? item[key].get<std::string>() : item[key].dump());
    return out;
  }

  std::string create_member(const std::string& external_id = "") {
    const auto created = post("/v1/members", {{"external_id", external_id.empty() ? unique("ext-") : external_id}});
    EXPECT_EQ(created.status, 201) << created.body;
    return created.json().value("member_id", "");
  }
  void adjust(const std::string& member_id, std::int64_t amount) {
    const auto adjusted =
        post("/v1/adjustments",
             {{"member_id", member_id}, {"asset", "POINTS"}, {"amount", amount}, {"reason_code", "goodwill"}},
             Role::admin, unique("adj-"));
    EXPECT_EQ(adjusted.status, 201) << adjusted.body;
  }
  std::string hold(const std::string& member_id, std::int64_t amount, int ttl_seconds = 900) {
    const auto opened = post("/v1/holds", {{"member_id", member_id}, {"amount", amount}, {"ttl_seconds", ttl_seconds}},
                             Role::mall, unique("hold-"));
    EXPECT_EQ(opened.status, 201) << opened.body;
    return opened.json().value("hold_id", "");
  }
  std::string order(const std::string& member_id, std::int64_t points, std::int64_t cash) {
    const std::string order_id = unique("order-");
    const json lines =
        json::array({{{"sku", "mug"}, {"title", "Mug"}, {"quantity", 1}, {"unit_price_cents", points + cash}}});
    const auto created = post("/v1/orders",
                              {{"order_id", order_id},
                               {"member_id", member_id},
                               {"currency", "CNY"},
                               {"lines", lines},
                               {"points_to_use", points},
                               {"cash_cents", cash}},
                              Role::mall);
    EXPECT_EQ(created.status, 201) << created.body;
    return order_id;
  }
  // A partner of our own, registered through the API.
  std::string register_partner() {
    const std::string id = unique("p");
    std::string asset = "A" + id.substr(1);
    for (auto& c : asset) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    const json body{
        {"partner_id", id},
        {"name", "Console Partner"},
        {"asset", asset},
        {"rates", {{"inbound_points_per_unit", 3}, {"outbound_units_per_point_milli", 500}, {"cents_per_point", 2}}},
        {"limits", {{"per_member_daily_points", 100000}, {"per_day_points", 1000000}}}};
    const auto created = post("/v1/partners", body);
    EXPECT_EQ(created.status, 201) << created.body;
    return id;
  }
  PartnerKey hmac_key(const std::string& partner_id) {
    const auto created = post("/v1/partners/" + partner_id + "/keys", {{"algorithm", "hmac-sha256"}});
    EXPECT_EQ(created.status, 201) << created.body;
    const auto secret = base64_decode(created.json().value("secret", ""));
    return {partner_id, created.json().value("key_id", ""), "hmac-sha256", secret.value_or(""), ""};
  }
  // The problem code of a refused request, checked to have this status.
  std::string refused(const HttpResult& result, int status) {
    EXPECT_EQ(result.status, status) << result.body;
    return result.json().value("code", "");
  }

 private:
  std::unique_ptr<HttpClient> client_;
};

const std::string unknown_member = "mem_doesnotexist00000000";

std::string today() {
  return format_rfc3339(now_utc()).substr(0, 10);
}
std::string day_after(const std::string& date, int days) {
  const auto start = parse_rfc3339(date + "T00:00:00Z").value();
  return format_rfc3339(start + std::chrono::days{days}).substr(0, 10);
}

// ---- Members ------------------------------------------------------------------------------

TEST_F(ConsoleReads, AMemberIsFoundByItsExactExternalIdAndNoneByAnotherAsAnEmptyList) {
  const std::string external_id = unique("console-");
  const std::string member_id = create_member(external_id);
  const auto found = get("/v1/members?external_id=" + external_id, Role::mall);
  ASSERT_EQ(found.status, 200) << found.body;
  ASSERT_EQ(found.json()["items"].size(), 1u);
  EXPECT_EQ(found.json()["items"][0]["member_id"], member_id);
  EXPECT_EQ(found.json()["items"][0]["external_id"], external_id);
  EXPECT_FALSE(found.json().contains("next_cursor"));
  EXPECT_EQ(found.json()["items"][0], get("/v1/members/" + member_id).json());

  // Exact: a prefix or another case is no match.
  EXPECT_EQ(get("/v1/members?external_id=" + external_id.substr(0, external_id.size() - 1)).json()["items"].size(), 0u);
  EXPECT_EQ(get("/v1/members?external_id=CONSOLE-" + external_id.substr(8)).json()["items"].size(), 0u);
  EXPECT_EQ(refused(get("/v1/members"), 400), "validation_failed");
  EXPECT_EQ(refused(get("/v1/members?external_id="), 400), "validation_failed");
  EXPECT_EQ(refused(get("/v1/members?external_id=" + external_id, Role::finance), 403), "forbidden");
}

TEST_F(ConsoleReads, LotsAreListedSoonestExpiryFirstWithWhatIsLeftOfEach) {
  const std::string member_id = create_member();
  for (const std::int64_t amount : {100, 200, 300, 400, 500}) adjust(member_id, amount);
  // Capturing 100 spends the soonest lot (all expire together; the first lot is taken first).
  const std::string hold_id = hold(member_id, 100);
  ASSERT_EQ(post("/v1/holds/" + hold_id + "/capture", json::object(), Role::mall, unique("cap-")).status, 200);
  // A paid order's cash earns pending points (the return window): a pending lot.
  const std::string order_id = order(member_id, 0, 1000);
  ASSERT_EQ(post("/v1/orders/" + order_id + "/pay", {{"payment_ref", "pay-1"}}, Role::mall).status, 200);

  const auto all = walk("/v1/members/" + member_id + "/lots?status=all", 2, "lot_id", Role::mall);
  ASSERT_EQ(all.size(), 6u);
  for (std::size_t i = 1; i < all.size(); ++i) {
    EXPECT_LE(all[i - 1]["expires_at"].get<std::string>(), all[i]["expires_at"].get<std::string>());
  }
  std::map<std::string, int> statuses;
  for (const auto& lot : all) {
    ++statuses[lot["status"]];
    EXPECT_EQ(lot["asset"], "POINTS");
    if (lot["status"] == "spent") {
      EXPECT_EQ(lot["amount"], 100);
      EXPECT_EQ(lot["remaining"], 0);
    }
    if (lot["status"] == "pending") {
      EXPECT_EQ(lot["amount"], 10);  // 1 point per CNY of cash
      EXPECT_GT(lot["available_at"].get<std::string>(), lot["earned_at"].get<std::string>());
    } else {
      EXPECT_FALSE(lot.contains("available_at"));
    }
  }
  EXPECT_EQ(statuses, (std::map<std::string, int>{{"available", 4}, {"pending", 1}, {"spent", 1}}));

  // The default is the open lots: those with points left, pending ones included.
  const auto open = walk("/v1/members/" + member_id + "/lots", 50, "lot_id");
  ASSERT_EQ(open.size(), 5u);
  std::int64_t remaining = 0;
  for (const auto& lot : open) remaining += lot["remaining"].get<std::int64_t>();
  const json balance = get("/v1/members/" + member_id + "/balances").json()["balances"]["POINTS"];
  EXPECT_EQ(remaining, balance["available"].get<std::int64_t>() + balance["pending"].get<std::int64_t>());

  // The same list in binary protobuf, from the same message.
  const auto binary = client().request(
      "GET", "/v1/members/" + member_id + "/lots", "",
      {{"Authorization", "Bearer " + service().secret(Role::admin)}, {"Accept", "application/x-protobuf"}});
  ASSERT_EQ(binary.status, 200);
  v1::LotList decoded;
  ASSERT_TRUE(decoded.ParseFromString(binary.body));
  ASSERT_EQ(decoded.items_size(), 5);
  EXPECT_EQ(decoded.items(0).lot_id(), open[0]["lot_id"].get<std::int64_t>());
  EXPECT_EQ(decoded.items(4).status(), open[4]["status"].get<std::string>());

  EXPECT_EQ(get("/v1/members/" + member_id + "/lots?asset=GROWTH").json()["items"].size(), 0u);
  EXPECT_EQ(refused(get("/v1/members/" + member_id + "/lots?status=spent"), 422), "validation_failed");
  EXPECT_EQ(refused(get("/v1/members/" + member_id + "/lots?limit=501"), 422), "validation_failed");
  EXPECT_EQ(refused(get("/v1/members/" + member_id + "/lots?cursor=bm90LWEtY3Vyc29y"), 422), "validation_failed");
  EXPECT_EQ(refused(get("/v1/members/" + unknown_member + "/lots"), 404), "member_not_found");
  EXPECT_EQ(refused(get("/v1/members/" + member_id + "/lots", Role::finance), 403), "forbidden");
}

TEST_F(ConsoleReads, HoldsAreListedNewestFirstAsTheyReadNowAndFilterByThatStatus) {
  const std::string member_id = create_member();
  adjust(member_id, 1000);
  const std::string voided = hold(member_id, 10);
  ASSERT_EQ(post("/v1/holds/" + voided + "/void", json::object(), Role::mall, unique("void-")).status, 200);
  const std::string captured = hold(member_id, 20);
  ASSERT_EQ(post("/v1/holds/" + captured + "/capture", {{"amount", 15}}, Role::mall, unique("cap-")).status, 200);
  const std::string open = hold(member_id, 30);
  const std::string lapsed = hold(member_id, 40, 1);
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));

  const auto all = walk("/v1/members/" + member_id + "/holds", 1, "hold_id", Role::mall);
  EXPECT_EQ(values(all, "hold_id"), (std::vector<std::string>{lapsed, open, captured, voided}));
  EXPECT_EQ(values(all, "status"), (std::vector<std::string>{"expired", "open", "captured", "voided"}));
  // Each as GET /v1/holds/{id} answers it.
  for (const auto& item : all) EXPECT_EQ(item, get("/v1/holds/" + item["hold_id"].get<std::string>()).json());
  EXPECT_EQ(all[2]["captured_amount"], 15);

  EXPECT_EQ(values(walk("/v1/members/" + member_id + "/holds?status=open", 50, "hold_id"), "hold_id"),
            std::vector<std::string>{open});
  EXPECT_EQ(values(walk("/v1/members/" + member_id + "/holds?status=expired", 50, "hold_id"), "hold_id"),
            std::vector<std::string>{lapsed});
  EXPECT_EQ(refused(get("/v1/members/" + member_id + "/holds?status=closed"), 422), "validation_failed");
  EXPECT_EQ(refused(get("/v1/members/" + unknown_member + "/holds"), 404), "member_not_found");
  EXPECT_EQ(refused(get("/v1/members/" + member_id + "/holds", Role::ingest), 403), "forbidden");
}

TEST_F(ConsoleReads, OrdersAreListedNewestFirstEachAsTheOrderItselfAnswersWithItsRefunds) {
  const std::string member_id = create_member();
  adjust(member_id, 5000);
  const std::string refunded = order(member_id, 1000, 2000);
  ASSERT_EQ(post("/v1/orders/" + refunded + "/pay", {{"payment_ref", "pay-1"}}, Role::mall).status, 200);
  ASSERT_EQ(post("/v1/orders/" + refunded + "/refunds",
                 {{"refund_id", unique("r-")}, {"lines", json::array({{{"sku", "mug"}, {"quantity", 1}}})}}, Role::mall)
                .status,
            201);
  const std::string cancelled = order(member_id, 500, 0);
  ASSERT_EQ(post("/v1/orders/" + cancelled + "/cancel", json::object(), Role::mall).status, 200);
  const std::string pending = order(member_id, 100, 100);

  const auto all = walk("/v1/members/" + member_id + "/orders", 2, "order_id", Role::mall);
  EXPECT_EQ(values(all, "order_id"), (std::vector<std::string>{pending, cancelled, refunded}));
  EXPECT_EQ(values(all, "status"), (std::vector<std::string>{"pending_payment", "cancelled", "refunded"}));
  EXPECT_EQ(all[2]["refunds"].size(), 1u);
  for (const auto& item : all) EXPECT_EQ(item, get("/v1/orders/" + item["order_id"].get<std::string>()).json());

  EXPECT_EQ(get("/v1/members/" + create_member() + "/orders").json()["items"].size(), 0u);
  EXPECT_EQ(refused(get("/v1/members/" + member_id + "/orders?cursor=" + std::string("p:1")), 422),
            "validation_failed");
  EXPECT_EQ(refused(get("/v1/members/" + unknown_member + "/orders"), 404), "member_not_found");
  EXPECT_EQ(refused(get("/v1/members/" + member_id + "/orders", Role::finance), 403), "forbidden");
}

TEST_F(ConsoleReads, AMembersPartnerLinksAreListedPendingAndConfirmed) {
  const std::string member_id = create_member();
  const std::string confirmed_at = register_partner();
  const std::string pending_at = register_partner();
  link_and_confirm(client(), service().secret(Role::mall), hmac_key(confirmed_at), member_id, "REF-1");
  const auto pending = post("/v1/members/" + member_id + "/partner-links",
                            {{"partner_id", pending_at}, {"partner_member_ref", "REF-2"}}, Role::mall);
  ASSERT_EQ(pending.status, 201) << pending.body;

  const auto links = walk("/v1/members/" + member_id + "/partner-links", 1, "partner_id", Role::mall);
  ASSERT_EQ(links.size(), 2u);
  EXPECT_EQ(values(links, "partner_id"), (std::vector<std::string>{pending_at, confirmed_at}));
  EXPECT_EQ(links[0]["status"], "pending");
  EXPECT_EQ(links[0]["partner_member_ref"], "REF-2");
  EXPECT_FALSE(links[0].contains("confirmed_at"));
  EXPECT_FALSE(links[0].contains("link_code"));  // shown once, to the request that issued it
  EXPECT_EQ(links[0]["created_at"], pending.json()["linked_at"]);
  EXPECT_EQ(links[1]["status"], "confirmed");
  EXPECT_TRUE(links[1].contains("confirmed_at"));

  EXPECT_EQ(refused(get("/v1/members/" + unknown_member + "/partner-links"), 404), "member_not_found");
  EXPECT_EQ(refused(get("/v1/members/" + member_id + "/partner-links", Role::finance), 403), "forbidden");
}

// ---- Program ------------------------------------------------------------------------------

TEST_F(ConsoleReads, ProgramVersionsAreListedNewestFirstAndEachKeepsItsDocument) {
  const json original = get("/v1/program").json();
  json changed = original["document"];
  changed["event_window"]["past_days"] = 91;
  const auto second = put("/v1/program", changed);
  ASSERT_EQ(second.status, 201) << second.body;
  const auto third = put("/v1/program", original["document"]);  // the first document, in force again
  ASSERT_EQ(third.status, 201) << third.body;

  const auto versions = walk("/v1/program/versions", 1, "version");
  ASSERT_GE(versions.size(), 3u);
  EXPECT_EQ(versions[0]["version"], third.json()["version"]);
  EXPECT_EQ(versions[1]["version"], second.json()["version"]);
  for (std::size_t i = 1; i < versions.size(); ++i) {
    EXPECT_GT(versions[i - 1]["version"], versions[i]["version"]);
  }
  EXPECT_EQ(versions[1]["sha256"], second.json()["sha256"]);
  EXPECT_EQ(versions[1]["applied_by"].get<std::string>().rfind("key:", 0), 0u);
  EXPECT_FALSE(versions[1].contains("document"));

  const std::string path = "/v1/program/versions/" + versions[1]["version"].dump();
  const auto old = get(path);
  ASSERT_EQ(old.status, 200) << old.body;
  EXPECT_EQ(old.json()["document"], changed);
  EXPECT_EQ(old.json()["sha256"], second.json()["sha256"]);
  EXPECT_EQ(get("/v1/program/versions/" + versions[0]["version"].dump()).json()["document"],
            get("/v1/program").json()["document"]);
  EXPECT_EQ(refused(get("/v1/program/versions/99999"), 404), "not_found");
  EXPECT_EQ(refused(get("/v1/program/versions/first"), 404), "not_found");
  EXPECT_EQ(refused(get(path, Role::mall), 403), "forbidden");
  EXPECT_EQ(refused(get("/v1/program/versions", Role::finance), 403), "forbidden");
}

// ---- Partners -----------------------------------------------------------------------------

TEST_F(ConsoleReads, PartnersAreListedByIdTheProgramsAndTheRegisteredOnesEachOnce) {
  const std::set<std::string> registered{register_partner(), register_partner(), register_partner()};
  const auto partners = walk("/v1/partners", 2, "partner_id");
  std::set<std::string> listed, sources;
  for (std::size_t i = 0; i < partners.size(); ++i) {
    listed.insert(partners[i]["partner_id"].get<std::string>());
    sources.insert(partners[i]["source"].get<std::string>());
    if (i > 0) {
      EXPECT_LT(partners[i - 1]["partner_id"].get<std::string>(), partners[i]["partner_id"].get<std::string>());
    }
    EXPECT_EQ(partners[i], get("/v1/partners/" + partners[i]["partner_id"].get<std::string>()).json());
  }
  for (const auto& id : registered) EXPECT_TRUE(listed.count(id)) << id;
  EXPECT_EQ(sources, (std::set<std::string>{"api", "program"}));
  EXPECT_EQ(refused(get("/v1/partners", Role::finance), 403), "forbidden");
}

TEST_F(ConsoleReads, APartnersKeysAreListedNewestFirstRevokedOnesTooAndNeverWithTheirSecrets) {
  const std::string partner_id = register_partner();
  const auto first = hmac_key(partner_id);
  const auto second = hmac_key(partner_id);
  const auto third = hmac_key(partner_id);
  ASSERT_EQ(post("/v1/partners/" + partner_id + "/keys/" + first.key_id + "/revoke", json::object()).status, 200);

  const auto keys = walk("/v1/partners/" + partner_id + "/keys", 2, "key_id");
  EXPECT_EQ(values(keys, "key_id"), (std::vector<std::string>{third.key_id, second.key_id, first.key_id}));
  for (const auto& key : keys) {
    EXPECT_EQ(key["partner_id"], partner_id);
    EXPECT_EQ(key["algorithm"], "hmac-sha256");
    EXPECT_FALSE(key.contains("secret")) << key;
    EXPECT_EQ(key.contains("revoked_at"), key["key_id"] == first.key_id) << key;
  }
  EXPECT_EQ(refused(get("/v1/partners/nobody/keys"), 404), "not_found");
  EXPECT_EQ(refused(get("/v1/partners/" + partner_id + "/keys", Role::finance), 403), "forbidden");
}

TEST_F(ConsoleReads, APartnersExchangesAreListedNewestFirstInBothDirections) {
  const std::string partner_id = register_partner();
  const std::string member_id = create_member();
  adjust(member_id, 1000);
  const auto key = hmac_key(partner_id);
  link_and_confirm(client(), service().secret(Role::mall), key, member_id, "REF-X");
  const auto in = signed_partner_request(
      client(), key, "POST", "/partner/v1/exchanges",
      json{{"exchange_id", "in-1"}, {"partner_member_ref", "REF-X"}, {"partner_units", 10}}.dump());
  ASSERT_EQ(in.status, 201) << in.body;
  const auto out = post(
      "/v1/exchanges",
      {{"exchange_id", "out-1"}, {"member_id", member_id}, {"partner_id", partner_id}, {"points", 100}}, Role::mall);
  ASSERT_EQ(out.status, 201) << out.body;

  const auto exchanges = walk("/v1/partners/" + partner_id + "/exchanges", 1, "exchange_id", Role::finance);
  ASSERT_EQ(exchanges.size(), 2u);
  EXPECT_EQ(values(exchanges, "exchange_id"), (std::vector<std::string>{"out-1", "in-1"}));
  const json partner = get("/v1/partners/" + partner_id).json();
  EXPECT_EQ(exchanges[0]["direction"], "outbound");
  EXPECT_EQ(exchanges[0]["points"], 100);
  EXPECT_EQ(exchanges[0]["partner_amount"], 50);  // 500 thousandths of a unit a point
  EXPECT_EQ(exchanges[0]["entry_id"], out.json()["entry_id"]);
  EXPECT_EQ(exchanges[1]["direction"], "inbound");
  EXPECT_EQ(exchanges[1]["points"], 30);
  EXPECT_EQ(exchanges[1]["partner_amount"], 10);
  for (const auto& exchange : exchanges) {
    EXPECT_EQ(exchange["member_id"], member_id);
    EXPECT_EQ(exchange["partner_asset"], partner["asset"]);
    EXPECT_EQ(exchange["status"], "completed");
    EXPECT_GT(exchange["entry_id"].get<std::int64_t>(), 0);
  }
  EXPECT_EQ(refused(get("/v1/partners/nobody/exchanges"), 404), "not_found");
  EXPECT_EQ(refused(get("/v1/partners/" + partner_id + "/exchanges", Role::mall), 403), "forbidden");
}

TEST_F(ConsoleReads, StatementsAreListedOpenDayFirstWithTheirSignatureAcknowledgementAndDispute) {
  const std::string partner_id = register_partner();
  const std::string member_id = create_member();
  adjust(member_id, 1000);
  const auto key = hmac_key(partner_id);
  link_and_confirm(client(), service().secret(Role::mall), key, member_id, "REF-S");
  ASSERT_EQ(signed_partner_request(
                client(), key, "POST", "/partner/v1/exchanges",
                json{{"exchange_id", "in-s"}, {"partner_member_ref", "REF-S"}, {"partner_units", 5}}.dump())
                .status,
            201);

  const auto open = get("/v1/partners/" + partner_id + "/statements", Role::finance);
  ASSERT_EQ(open.status, 200) << open.body;
  ASSERT_EQ(open.json()["items"].size(), 1u);
  json first = open.json()["items"][0];
  EXPECT_EQ(first["status"], "open");
  EXPECT_EQ(first["date"], today());
  EXPECT_EQ(first["signature_ok"], false);
  EXPECT_EQ(first["dispute"], "");
  EXPECT_EQ(first["lines"].size(), 1u);

  // Close today and the two days after it; acknowledge today's, dispute tomorrow's.
  const std::string in_three_days = day_after(today(), 3);
  ASSERT_EQ(post("/v1/jobs/close-statements", {{"as_of", in_three_days + "T00:00:00Z"}}).status, 200);
  const auto served = signed_partner_request(client(), key, "GET", "/partner/v1/statements?date=" + today());
  ASSERT_EQ(served.status, 200) << served.body;
  const json document = served.json();
  ASSERT_EQ(signed_partner_request(client(), key, "POST",
                                   "/partner/v1/statements/" + document["statement_id"].get<std::string>() + "/ack",
                                   json{{"statement_sha256", document["sha256"]}}.dump())
                .status,
            200);
  const std::string tomorrow_id = "stmt_" + partner_id + "_" + [&] {
    std::string compact = day_after(today(), 1);
    compact.erase(std::remove(compact.begin(), compact.end(), '-'), compact.end());
    return compact;
  }();
  ASSERT_EQ(signed_partner_request(client(), key, "POST", "/partner/v1/statements/" + tomorrow_id + "/ack",
                                   json{{"statement_sha256", std::string(64, '0')}}.dump())
                .status,
            409);

  const auto statements = walk("/v1/partners/" + partner_id + "/statements", 1, "statement_id", Role::finance);
  ASSERT_EQ(statements.size(), 3u);
  EXPECT_EQ(values(statements, "date"),
            (std::vector<std::string>{day_after(today(), 2), day_after(today(), 1), today()}));
  for (const auto& statement : statements) {
    EXPECT_EQ(statement["status"], "closed");
    EXPECT_EQ(statement["signature_ok"], true) << statement.dump();
  }
  // Today's is the document partners are served, with what became of it.
  json listed = statements[2];
  EXPECT_TRUE(listed.contains("acknowledged_at"));
  EXPECT_EQ(listed["dispute"], "");
  for (const char* extra : {"signature_ok", "acknowledged_at", "dispute"}) listed.erase(extra);
  EXPECT_EQ(listed, document);
  EXPECT_FALSE(statements[1].contains("acknowledged_at"));
  EXPECT_NE(statements[1]["dispute"].get<std::string>().find(std::string(64, '0')), std::string::npos);

  EXPECT_EQ(refused(get("/v1/partners/" + partner_id + "/statements?cursor=" + std::string("bm90LWEtY3Vyc29y"),
                        Role::finance),
                    422),
            "validation_failed");
  EXPECT_EQ(refused(get("/v1/partners/nobody/statements"), 404), "not_found");
  EXPECT_EQ(refused(get("/v1/partners/" + partner_id + "/statements", Role::mall), 403), "forbidden");
}

// ---- Jobs and exports ---------------------------------------------------------------------

TEST_F(ConsoleReads, JobsAreListedWithTheirScheduleAndLastRunAndTheirRunsPageNewestFirst) {
  for (const char* as_of : {"2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z", "2026-01-03T00:00:00Z"}) {
    ASSERT_EQ(post("/v1/jobs/purge-idempotency-keys", {{"as_of", as_of}}).status, 200);
  }
  const auto jobs = get("/v1/jobs");
  ASSERT_EQ(jobs.status, 200) << jobs.body;
  std::map<std::string, json> by_name;
  const json listed = jobs.json();
  for (const auto& job : listed["items"]) by_name[job["name"].get<std::string>()] = job;
  EXPECT_EQ(by_name.size(), 8u);
  EXPECT_EQ(by_name["expire-holds"]["schedule"], "PT1M");
  EXPECT_EQ(by_name["purge-idempotency-keys"]["schedule"], "PT1H");
  EXPECT_EQ(by_name["expire-points"]["schedule"], "P1D");
  const json last = by_name["purge-idempotency-keys"]["last_run"];
  EXPECT_EQ(last["as_of"], "2026-01-03T00:00:00Z");
  EXPECT_EQ(last["outcome"], "done");
  EXPECT_EQ(last["rows"], 0);
  EXPECT_TRUE(last.contains("finished_at"));
  EXPECT_EQ(last["started_by"].get<std::string>().rfind("key:", 0), 0u);

  const auto runs = walk("/v1/jobs/purge-idempotency-keys/runs", 2, "as_of");
  EXPECT_EQ(values(runs, "as_of"),
            (std::vector<std::string>{"2026-01-03T00:00:00Z", "2026-01-02T00:00:00Z", "2026-01-01T00:00:00Z"}));
  EXPECT_EQ(runs[0], last);
  EXPECT_EQ(get("/v1/jobs/decay-growth/runs").json()["items"].size(), 0u);
  EXPECT_EQ(refused(get("/v1/jobs/nothing/runs"), 404), "not_found");
  EXPECT_EQ(refused(get("/v1/jobs/expire-holds/runs?cursor=%2B%2B%2B"), 422), "validation_failed");
  EXPECT_EQ(refused(get("/v1/jobs", Role::finance), 403), "forbidden");
}

TEST_F(ConsoleReads, ExportsAreListedNewestFirstForAdminAndFinance) {
  std::vector<std::string> asked;
  for (int i = 0; i < 3; ++i) {
    const auto created = post("/v1/exports",
                              {{"from", "2026-01-01T00:00:00Z"},
                               {"to", "2026-01-0" + std::to_string(2 + i) + "T00:00:00Z"},
                               {"formats", {"csv"}}},
                              Role::finance, unique("export-"));
    ASSERT_EQ(created.status, 202) << created.body;
    asked.insert(asked.begin(), created.json()["export_id"].get<std::string>());
  }
  const auto exports = walk("/v1/exports", 2, "export_id", Role::admin);
  ASSERT_GE(exports.size(), 3u);
  const auto ids = values(exports, "export_id");
  EXPECT_EQ(std::vector<std::string>(ids.begin(), ids.begin() + 3), asked);
  for (std::size_t i = 0; i < 3; ++i) {
    const json fetched = get("/v1/exports/" + asked[i], Role::finance).json();
    for (const char* field : {"export_id", "from", "to", "formats", "created_at"})
      EXPECT_EQ(exports[i][field], fetched[field]);
  }
  EXPECT_EQ(walk("/v1/exports", 50, "export_id", Role::finance).size(), exports.size());
  EXPECT_EQ(refused(get("/v1/exports", Role::mall), 403), "forbidden");
}

// ---- The daily report ---------------------------------------------------------------------

TEST_F(ConsoleReads, TheDailyReportCountsEachDayAndAddsUpToTheRollForwardOfTheSameRange) {
  const std::string from = day_after(today(), -1), to = day_after(today(), 2);
  const auto day_of_today = [&] {
    const auto report = get("/v1/reports/daily?from=" + from + "&to=" + to, Role::finance);
    EXPECT_EQ(report.status, 200) << report.body;
    return report.json()["days"][1];
  };
  const json before = day_of_today();
  const std::string member_id = create_member();
  adjust(member_id, 500);
  ASSERT_EQ(post("/v1/adjustments",
                 {{"member_id", member_id}, {"asset", "POINTS"}, {"amount", -100}, {"reason_code", "correction"}},
                 Role::admin, unique("adj-"))
                .status,
            201);
  ASSERT_EQ(post("/v1/events",
                 {{"event_id", unique("ev-")},
                  {"member_id", member_id},
                  {"type", "vehicle_delivery"},
                  {"occurred_at", format_rfc3339(now_utc())}},
                 Role::ingest)
                .status,
            201);
  const std::string hold_id = hold(member_id, 50);
  ASSERT_EQ(post("/v1/holds/" + hold_id + "/capture", json::object(), Role::mall, unique("cap-")).status, 200);

  const auto report = get("/v1/reports/daily?from=" + from + "&to=" + to, Role::finance);
  ASSERT_EQ(report.status, 200) << report.body;
  const json body = report.json();
  EXPECT_EQ(body["from"], from);
  EXPECT_EQ(body["to"], to);
  ASSERT_EQ(body["days"].size(), 3u);
  EXPECT_EQ(values(body["days"].get<std::vector<json>>(), "date"),
            (std::vector<std::string>{from, today(), day_after(today(), 1)}));
  const json after = body["days"][1];
  EXPECT_EQ(after["issued"].get<std::int64_t>() - before["issued"].get<std::int64_t>(), 50000);
  EXPECT_EQ(after["redeemed"].get<std::int64_t>() - before["redeemed"].get<std::int64_t>(), 50);
  EXPECT_EQ(after["adjusted"].get<std::int64_t>() - before["adjusted"].get<std::int64_t>(), 400);
  EXPECT_EQ(after["expired"], before["expired"]);
  EXPECT_EQ(body["days"][2],
            (json{{"date", day_after(today(), 1)}, {"issued", 0}, {"redeemed", 0}, {"expired", 0}, {"adjusted", 0}}));

  const auto liability =
      get("/v1/reports/liability?from=" + from + "T00:00:00Z&to=" + to + "T00:00:00Z", Role::finance);
  ASSERT_EQ(liability.status, 200) << liability.body;
  const json roll = liability.json()["roll_forward"];
  std::int64_t issued = 0, redeemed = 0, expired = 0, adjusted = 0;
  for (const auto& day : body["days"]) {
    issued += day["issued"].get<std::int64_t>();
    redeemed += day["redeemed"].get<std::int64_t>();
    expired += day["expired"].get<std::int64_t>();
    adjusted += day["adjusted"].get<std::int64_t>();
  }
  EXPECT_EQ(issued, roll["issued"].get<std::int64_t>());
  EXPECT_EQ(redeemed, roll["redeemed"].get<std::int64_t>());
  EXPECT_EQ(expired, roll["expired"].get<std::int64_t>());
  EXPECT_EQ(adjusted, roll["adjustments"].get<std::int64_t>());

  EXPECT_EQ(get("/v1/reports/daily?from=" + from + "T00:00:00Z&to=" + to + "T00:00:00Z", Role::finance).json(), body);
  EXPECT_EQ(get("/v1/reports/daily?from=2025-01-01&to=2026-01-02", Role::finance).json()["days"].size(), 366u);
  EXPECT_EQ(refused(get("/v1/reports/daily?from=2025-01-01&to=2026-01-03", Role::finance), 422), "validation_failed");
  EXPECT_EQ(refused(get("/v1/reports/daily?from=" + to + "&to=" + from, Role::finance), 422), "validation_failed");
  EXPECT_EQ(refused(get("/v1/reports/daily?from=" + from + "T01:00:00Z&to=" + to, Role::finance), 422),
            "validation_failed");
  EXPECT_EQ(refused(get("/v1/reports/daily?to=" + to, Role::finance), 422), "validation_failed");
  EXPECT_EQ(refused(get("/v1/reports/daily?from=" + from + "&to=" + to, Role::admin), 403), "forbidden");
}

}  // namespace
}  // namespace loyalty::testing
