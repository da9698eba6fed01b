// Webhooks and the event feed, end to end: real loyaltyd processes deliver to real HTTP
// receivers in this process. Signatures are checked with the stock `openssl` command against
// the PEM loyaltyd serves; a failing receiver gets the same webhook-id again; a process killed
// with SIGKILL mid-delivery loses no event; two processes deliver every event to every
// endpoint exactly once; a rolled-back write leaves no event; endpoints cannot point at
// metadata or link-local addresses.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>

#include "api/api_keys.hpp"
#include "api/jobs_catalog.hpp"
#include "ledger/jobs.hpp"
#include "partners/signing_keys.hpp"
#include "platform/database.hpp"
#include "platform/digest.hpp"
#include "platform/ids.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/loyaltyd_process.hpp"
#include "tests/support/partner_requests.hpp"
#include "tests/support/test_database.hpp"
#include "tests/support/webhook_receiver.hpp"

#include <gtest/gtest.h>

namespace loyalty::testing {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

// What every test shares: the database, an admin, an ingest and a mall key, our signing key.
struct Setup {
  std::string admin, ingest, mall;
  std::filesystem::path signing_key;
  std::string signing_key_pem;
};

Setup& setup() {
  static Setup shared = [] {
    Setup s;
    auto connection = TestDatabase::instance().connect();
    db::run_transaction(*connection, "webhooks_keys", [&](pqxx::transaction_base& txn) {
      s.admin = api::create_api_key(txn, api::Role::admin, "webhooks-admin").secret;
      s.ingest = api::create_api_key(txn, api::Role::ingest, "webhooks-ingest").secret;
      s.mall = api::create_api_key(txn, api::Role::mall, "webhooks-mall").secret;
      return 0;
    });
    s.signing_key_pem = partners::generate_ed25519_private_pem();
    s.signing_key =
        std::filesystem::temp_directory_path() / ("loyalty-webhooks-" + std::to_string(::getpid()) + ".pem");
    std::ofstream{s.signing_key} << s.signing_key_pem;
    return s;
  }();
  return shared;
}

// A loyaltyd that retries fast and gives up leases soon, as a test needs.
std::unique_ptr<LoyaltydProcess> start_node(const std::string& name) {
  auto node = std::make_unique<LoyaltydProcess>(
      TestDatabase::instance().service_url(), name,
      std::vector<std::string>{"--signing-key", setup().signing_key.string(), "--webhook-retry-base-ms", "100",
                               "--webhook-timeout-ms", "3000", "--webhook-lease-seconds", "3", "--allow-future-jobs",
                               "1", "--rate-limit", "100000"});
  return node;
}

class Api {
 public:
  explicit Api(unsigned short port) : client_(port) {}
  HttpResult call(const std::string& method, const std::string& target, const json& body, const std::string& secret,
                  std::map<std::string, std::string> headers = {}) {
    headers["Authorization"] = "Bearer " + secret;
    headers["Content-Type"] = "application/json";
    return client_.request(method, target, body.is_null() ? "" : body.dump(), headers);
  }
  std::string member() {
    const auto created = call("POST", "/v1/members", {{"external_id", new_id("wh-")}}, setup().admin);
    EXPECT_EQ(created.status, 201) << created.body;
    return created.json().value("member_id", "");
  }
  // A purchase of 6,000 CNY: the member reaches silver on the spend track (one tier change).
  void reach_silver(const std::string& member_id) {
    const auto event = call("POST", "/v1/events",
                            {{"event_id", new_id("wh-")},
                             {"member_id", member_id},
                             {"type", "purchase"},
                             {"occurred_at", format_rfc3339(now_utc())},
                             {"attributes", {{"amount_cents", 600000}}}},
                            setup().ingest);
    EXPECT_EQ(event.status, 201) << event.body;
  }
  std::string webhook(const std::string& url, const std::vector<std::string>& types, const std::string& owner = "") {
    const auto created = call("POST", owner.empty() ? "/v1/webhooks" : "/v1/partners/" + owner + "/webhooks",
                              {{"url", url}, {"event_types", types}}, setup().admin);
    EXPECT_EQ(created.status, 201) << created.body;
    return created.json().value("webhook_id", "");
  }
  HttpClient& client() { return client_; }

 private:
  HttpClient client_;
};

std::set<std::string> ids_of(const std::vector<ReceivedWebhook>& received) {
  std::set<std::string> ids;
  for (const auto& r : received) {
    if (r.answered == 204) ids.insert(r.id);
  }
  return ids;
}

std::int64_t event_number(const std::string& id) {
  return std::stoll(id.substr(4));
}

std::string shell(const std::string& command) {
  std::string out;
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  char buffer[512];
  while (std::fgets(buffer, sizeof buffer, pipe)) out += buffer;
  const int status = ::pclose(pipe);
  return std::to_string(WEXITSTATUS(status)) + ":" + out;
}

TEST(Webhooks, TierChangesArriveSignedInCommitOrderAndTheFeedServesTheSameEvents) {
  WebhookReceiver receiver;
  auto node = start_node("webhooks-order");
  const auto port = node->wait_until_serving();
  ASSERT_NE(port, 0) << node->log();
  Api api{port};
  const std::string webhook_id = api.webhook(receiver.url(), {"member.tier_changed"});
  std::vector<std::string> members;
  for (int i = 0; i < 5; ++i) {
    members.push_back(api.member());
    api.reach_silver(members.back());
  }
  ASSERT_TRUE(receiver.wait_until([](const auto& r) { return ids_of(r).size() >= 5; }, 20s)) << node->log();
  const auto received = receiver.received();
  ASSERT_EQ(received.size(), 5u);
  for (std::size_t i = 0; i < received.size(); ++i) {
    const json body = json::parse(received[i].body);
    EXPECT_EQ(body["type"], "member.tier_changed");
    EXPECT_EQ(body["data"]["member_id"], members[i]) << "commit order";
    EXPECT_EQ(body["data"]["to_level"], "silver");
    EXPECT_EQ(body["data"]["track"], "spend");
    EXPECT_TRUE(body["timestamp"].is_string());
    if (i > 0) {
      EXPECT_GT(event_number(received[i].id), event_number(received[i - 1].id));
    }
  }

  // The signature, checked as a partner's engineer would: stock OpenSSL and the served PEM.
  const auto pem = api.client().request("GET", "/partner/v1/signing-keys");
  ASSERT_EQ(pem.status, 200);
  const auto dir = std::filesystem::temp_directory_path() / ("loyalty-webhook-sig-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream{dir / "pub.pem"} << pem.body;
  const ReceivedWebhook& first = received[0];
  std::ofstream{dir / "signed"} << first.id << "." << first.timestamp << "." << first.body;
  ASSERT_EQ(first.signature.substr(0, 4), "v1a,");
  std::ofstream{dir / "sig", std::ios::binary} << *base64_decode(first.signature.substr(4));
  const auto verified = shell("openssl pkeyutl -verify -pubin -inkey " + (dir / "pub.pem").string() + " -rawin -in " +
                              (dir / "signed").string() + " -sigfile " + (dir / "sig").string());
  EXPECT_EQ(verified.substr(0, 2), "0:") << verified;
  EXPECT_EQ(first.key_id, *partners::our_key_id(setup().signing_key_pem));
  std::ofstream{dir / "signed"} << first.id << "." << first.timestamp << "." << first.body << " ";
  EXPECT_NE(shell("openssl pkeyutl -verify -pubin -inkey " + (dir / "pub.pem").string() + " -rawin -in " +
                  (dir / "signed").string() + " -sigfile " + (dir / "sig").string())
                .substr(0, 2),
            "0:")
      << "a changed body must not verify";
  const auto age = std::abs(
      std::stoll(first.timestamp) -
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count());
  EXPECT_LT(age, 60);

  // The feed: the same events, same ids, in the same order, page by page.
  std::vector<std::string> fed;
  std::string cursor;
  for (int page = 0; page < 10; ++page) {
    const auto answer =
        api.call("GET", "/v1/feed?types=member.tier_changed&limit=2" + (cursor.empty() ? "" : "&after=" + cursor),
                 nullptr, setup().admin);
    ASSERT_EQ(answer.status, 200) << answer.body;
    const json body = answer.json();
    for (const auto& item : body["items"]) {
      EXPECT_EQ(item["type"], "member.tier_changed");
      EXPECT_TRUE(item["data"].is_object());
      fed.push_back(item["id"]);
    }
    ASSERT_TRUE(body["next_cursor"].is_string());
    cursor = body["next_cursor"];
    if (body["items"].empty()) break;
  }
  std::vector<std::string> delivered;
  for (const auto& r : received) delivered.push_back(r.id);
  EXPECT_EQ(fed, delivered);
  EXPECT_EQ(api.call("GET", "/v1/feed", nullptr, setup().mall).status, 403);
  EXPECT_EQ(api.call("GET", "/v1/feed", nullptr, setup().admin).status, 200);
  EXPECT_EQ(api.call("GET", "/v1/feed?types=member.nothing", nullptr, setup().admin).status, 422);
  EXPECT_EQ(api.call("GET", "/v1/feed?after=zzz", nullptr, setup().admin).status, 422);

  // The receiver answers before loyaltyd records the attempt: wait for the fifth record.
  HttpResult attempts;
  for (int i = 0; i < 100; ++i) {
    attempts = api.call("GET", "/v1/webhooks/" + webhook_id + "/deliveries", nullptr, setup().admin);
    ASSERT_EQ(attempts.status, 200) << attempts.body;
    if (attempts.json()["items"].size() >= 5u) break;
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_EQ(attempts.json()["items"].size(), 5u);
  EXPECT_EQ(attempts.json()["items"][0]["outcome"], "delivered");
  const auto metrics = api.client().request("GET", "/metrics").body;
  EXPECT_NE(metrics.find("loyalty_webhook_deliveries_total{webhook_id=\"" + webhook_id + "\",outcome=\"delivered\"} 5"),
            std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("loyalty_webhook_oldest_undelivered_seconds"), std::string::npos);
  api.call("DELETE", "/v1/webhooks/" + webhook_id, nullptr, setup().admin);
  EXPECT_LEDGER_INVARIANTS_HOLD();
}

TEST(Webhooks, AFailingEndpointGetsTheSameIdAgainThenTheNextInOrderAndARedeliverySendsAgain) {
  WebhookReceiver receiver;
  receiver.fail_next(2, 503);
  auto node = start_node("webhooks-retry");
  const auto port = node->wait_until_serving();
  ASSERT_NE(port, 0) << node->log();
  Api api{port};
  const std::string webhook_id = api.webhook(receiver.url(), {"member.tier_changed"});
  const auto since = format_rfc3339(now_utc());
  api.reach_silver(api.member());
  api.reach_silver(api.member());
  ASSERT_TRUE(receiver.wait_until([](const auto& r) { return r.size() >= 4; }, 20s)) << node->log();
  const auto received = receiver.received();
  for (int i = 0; i < 100; ++i) {  // the last attempt is recorded just after the receiver answered it
    if (api.call("GET", "/v1/webhooks/" + webhook_id + "/deliveries", nullptr, setup().admin).json()["items"].size() >=
        4u)
      break;
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_EQ(received[0].id, received[1].id);
  EXPECT_EQ(received[1].id, received[2].id);
  EXPECT_EQ(received[0].answered, 503);
  EXPECT_EQ(received[1].answered, 503);
  EXPECT_EQ(received[2].answered, 204);
  EXPECT_GT(event_number(received[3].id), event_number(received[2].id)) << "the second event waits for the first";
  const auto attempts = api.call("GET", "/v1/webhooks/" + webhook_id + "/deliveries", nullptr, setup().admin).json();
  std::vector<std::string> outcomes;
  for (const auto& item : attempts["items"]) outcomes.push_back(item["outcome"]);
  EXPECT_EQ(outcomes, (std::vector<std::string>{"delivered", "delivered", "retry", "retry"}));
  EXPECT_EQ(attempts["items"][3]["status_code"], 503);
  const auto failed_only =
      api.call("GET", "/v1/webhooks/" + webhook_id + "/deliveries?outcome=retry&limit=1", nullptr, setup().admin)
          .json();
  EXPECT_EQ(failed_only["items"].size(), 1u);
  EXPECT_TRUE(failed_only.contains("next_cursor"));

  const auto again = api.call("POST", "/v1/webhooks/" + webhook_id + "/redeliver", {{"from", since}}, setup().admin);
  ASSERT_EQ(again.status, 202) << again.body;
  EXPECT_EQ(again.json()["events"], 2);
  ASSERT_TRUE(receiver.wait_until([](const auto& r) { return r.size() >= 6; }, 20s)) << node->log();
  const auto after = receiver.received();
  EXPECT_EQ(after[4].id, received[2].id);
  EXPECT_EQ(after[5].id, received[3].id);

  // A disabled endpoint keeps its events for when it is enabled again.
  ASSERT_EQ(api.call("POST", "/v1/webhooks/" + webhook_id + "/disable", nullptr, setup().admin).json()["status"],
            "disabled");
  api.reach_silver(api.member());
  std::this_thread::sleep_for(1500ms);
  EXPECT_EQ(receiver.received().size(), 6u);
  ASSERT_EQ(api.call("POST", "/v1/webhooks/" + webhook_id + "/enable", nullptr, setup().admin).json()["status"],
            "enabled");
  EXPECT_TRUE(receiver.wait_until([](const auto& r) { return r.size() >= 7; }, 20s));
  ASSERT_EQ(api.call("DELETE", "/v1/webhooks/" + webhook_id, nullptr, setup().admin).status, 200);
  EXPECT_EQ(api.call("GET", "/v1/webhooks/" + webhook_id, nullptr, setup().admin).status, 404);
}

TEST(Webhooks, AProcessKilledMidDeliveryLosesNoEventOnceAnotherRuns) {
  WebhookReceiver receiver;
  receiver.answer_after(200ms);
  auto first = start_node("webhooks-killed");
  const auto port = first->wait_until_serving();
  ASSERT_NE(port, 0) << first->log();
  std::string hook;
  {
    Api api{port};
    hook = api.webhook(receiver.url(), {"member.tier_changed"});
    for (int i = 0; i < 12; ++i) api.reach_silver(api.member());
  }
  ASSERT_TRUE(receiver.wait_until([](const auto& r) { return r.size() >= 2; }, 20s)) << first->log();
  first->kill_now();
  const std::size_t before_restart = ids_of(receiver.received()).size();
  EXPECT_LT(before_restart, 12u) << "the kill came after every delivery: nothing was tested";
  auto second = start_node("webhooks-restarted");
  ASSERT_NE(second->wait_until_serving(), 0) << second->log();
  EXPECT_TRUE(receiver.wait_until([](const auto& r) { return ids_of(r).size() >= 12; }, 30s)) << second->log();
  const auto received = receiver.received();
  // At least once: an event may come again after the kill, always with its own id, in order.
  for (std::size_t i = 1; i < received.size(); ++i) {
    EXPECT_GE(event_number(received[i].id), event_number(received[i - 1].id)) << "out of order";
  }
  EXPECT_EQ(ids_of(received).size(), 12u);
  Api{second->wait_until_serving()}.call("DELETE", "/v1/webhooks/" + hook, nullptr, setup().admin);
}

TEST(Webhooks, TwoProcessesDeliverEveryEventToEveryEndpointOnce) {
  std::vector<std::unique_ptr<WebhookReceiver>> receivers;
  for (int i = 0; i < 3; ++i) receivers.push_back(std::make_unique<WebhookReceiver>());
  auto a = start_node("webhooks-two-a");
  auto b = start_node("webhooks-two-b");
  const unsigned short ports[] = {a->wait_until_serving(), b->wait_until_serving()};
  ASSERT_NE(ports[0], 0) << a->log();
  ASSERT_NE(ports[1], 0) << b->log();
  Api first{ports[0]}, second{ports[1]};
  std::vector<std::string> hooks;
  for (auto& receiver : receivers) hooks.push_back(first.webhook(receiver->url(), {"member.tier_changed"}));
  constexpr std::size_t events = 16;
  for (std::size_t i = 0; i < events; ++i) {
    Api& api = i % 2 ? second : first;
    api.reach_silver(api.member());
  }
  for (auto& receiver : receivers) {
    ASSERT_TRUE(receiver->wait_until([](const auto& r) { return ids_of(r).size() >= events; }, 30s));
    const auto received = receiver->received();
    EXPECT_EQ(received.size(), events) << "an event was sent twice";
    for (std::size_t i = 1; i < received.size(); ++i) {
      EXPECT_GT(event_number(received[i].id), event_number(received[i - 1].id)) << "out of commit order";
    }
  }
  for (const auto& hook : hooks) first.call("DELETE", "/v1/webhooks/" + hook, nullptr, setup().admin);
  EXPECT_LEDGER_INVARIANTS_HOLD();
}

TEST(Webhooks, ARolledBackChangeLeavesNoEvent) {
  auto connection = TestDatabase::instance().connect();
  const auto count = [&] {
    pqxx::read_transaction txn{*connection};
    return txn.exec("SELECT count(*) FROM outbox_events")[0][0].as<std::int64_t>();
  };
  const std::int64_t before = count();
  auto node = start_node("webhooks-rollback");
  const auto port = node->wait_until_serving();
  ASSERT_NE(port, 0) << node->log();
  Api api{port};
  const std::string member = api.member();
  {
    pqxx::work txn{*connection};
    txn.exec_params(
        "INSERT INTO tier_changes (member_id, track, from_level, to_level, reason, qualifying_value, changed_at)"
        " VALUES ($1, 'spend', 'member', 'gold', 'upgrade', 1, now())",
        member);
    EXPECT_EQ(txn.exec("SELECT count(*) FROM outbox_events")[0][0].as<std::int64_t>(), before + 1)
        << "the change writes its event in its own transaction";
    txn.abort();
  }
  EXPECT_EQ(count(), before);
  // A refused write (an event for an unknown member) reports nothing either.
  const auto refused = api.call("POST", "/v1/events",
                                {{"event_id", new_id("wh-")},
                                 {"member_id", "mem_nobody"},
                                 {"type", "purchase"},
                                 {"occurred_at", format_rfc3339(now_utc())},
                                 {"attributes", {{"amount_cents", 900000}}}},
                                setup().ingest);
  EXPECT_EQ(refused.status / 100, 4) << refused.body;
  EXPECT_EQ(count(), before);
}

TEST(Webhooks, PointsExpiringIsNoticedOncePerLotAndPartnersHearOnlyOfTheirOwnExchanges) {
  auto node = start_node("webhooks-expiring");
  const auto port = node->wait_until_serving();
  ASSERT_NE(port, 0) << node->log();
  Api api{port};
  const std::string member = api.member();
  const auto delivered = api.call("POST", "/v1/events",
                                  {{"event_id", new_id("wh-")},
                                   {"member_id", member},
                                   {"type", "vehicle_delivery"},
                                   {"occurred_at", format_rfc3339(now_utc())}},
                                  setup().ingest);
  ASSERT_EQ(delivered.status, 201) << delivered.body;
  const auto balances = api.call("GET", "/v1/members/" + member + "/balances", nullptr, setup().admin).json();
  const std::string expires_at = balances["balances"]["POINTS"]["expiring"][0]["expires_at"];
  const Timestamp expiry = *parse_rfc3339(expires_at);
  const auto run = [&](Timestamp as_of) {
    const auto job = api.call("POST", "/v1/jobs/notify-expiring", {{"as_of", format_rfc3339(as_of)}}, setup().admin);
    EXPECT_EQ(job.status / 100, 2) << job.body;
  };
  const auto expiring = [&] {
    std::vector<json> items;
    for (int i = 0; i < 50; ++i) {
      const auto feed = api.call("GET", "/v1/feed?types=points.expiring&limit=500", nullptr, setup().admin).json();
      items.clear();
      for (const auto& item : feed["items"]) {
        if (item["data"]["member_id"] == member) items.push_back(item);
      }
      if (!items.empty()) break;
      std::this_thread::sleep_for(100ms);
    }
    return items;
  };
  run(expiry - std::chrono::days{40});  // outside the 30-day notice: nothing yet
  run(expiry - std::chrono::days{10});
  run(expiry - std::chrono::days{9});  // noticed already: never twice
  const auto items = expiring();
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(items[0]["data"]["amount"], 50000);
  EXPECT_EQ(items[0]["data"]["expires_at"], expires_at);
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(expiring().size(), 1u);

  // A partner's endpoint: only exchange events, only its own partner's.
  WebhookReceiver partner_receiver;
  EXPECT_EQ(api.call("POST", "/v1/partners/skyair/webhooks",
                     {{"url", partner_receiver.url()}, {"event_types", {"member.tier_changed"}}}, setup().admin)
                .status,
            422);
  EXPECT_EQ(api.call("POST", "/v1/partners/nobody/webhooks",
                     {{"url", partner_receiver.url()}, {"event_types", {"exchange.completed"}}}, setup().admin)
                .status,
            404);
  const std::string hook = api.webhook(partner_receiver.url(), {"exchange.completed"}, "skyair");
  const auto key_answer = api.call("POST", "/v1/partners/skyair/keys", {{"algorithm", "hmac-sha256"}}, setup().admin);
  ASSERT_EQ(key_answer.status, 201) << key_answer.body;
  const PartnerKey key{"skyair", key_answer.json()["key_id"], "hmac-sha256",
                       *base64_decode(std::string(key_answer.json()["secret"])), ""};
  link_and_confirm(api.client(), setup().admin, key, member, "SKY-" + member);
  for (const char* partner : {"skyair", "beanhouse"}) {
    if (std::string(partner) == "beanhouse") {
      const auto bean_key =
          api.call("POST", "/v1/partners/beanhouse/keys", {{"algorithm", "hmac-sha256"}}, setup().admin).json();
      link_and_confirm(
          api.client(), setup().admin,
          {"beanhouse", bean_key["key_id"], "hmac-sha256", *base64_decode(std::string(bean_key["secret"])), ""}, member,
          "BEAN-" + member);
    }
    const auto exchange =
        api.call("POST", "/v1/exchanges",
                 {{"exchange_id", new_id("wh-")}, {"member_id", member}, {"partner_id", partner}, {"points", 1000}},
                 setup().mall);
    ASSERT_EQ(exchange.status, 201) << exchange.body;
  }
  ASSERT_TRUE(partner_receiver.wait_until([](const auto& r) { return !r.empty(); }, 20s)) << node->log();
  std::this_thread::sleep_for(1s);
  const auto received = partner_receiver.received();
  ASSERT_EQ(received.size(), 1u);
  const json body = json::parse(received[0].body);
  EXPECT_EQ(body["type"], "exchange.completed");
  EXPECT_EQ(body["data"]["partner_id"], "skyair");
  EXPECT_EQ(body["data"]["points"], 1000);
  EXPECT_EQ(body["data"]["partner_units"], 100);
  api.call("DELETE", "/v1/webhooks/" + hook, nullptr, setup().admin);
  EXPECT_LEDGER_INVARIANTS_HOLD();
}

// Runs after the partner test above (gtest keeps the file's order): its exchange gives today's
// statement something to close.
TEST(Webhooks, EveryKindOfChangeIsReportedInTheFeed) {
  auto node = start_node("webhooks-kinds");
  const auto port = node->wait_until_serving();
  ASSERT_NE(port, 0) << node->log();
  Api api{port};
  std::string finance;
  {
    auto connection = TestDatabase::instance().connect();
    finance = db::run_transaction(*connection, "finance_key", [](pqxx::transaction_base& txn) {
      return api::create_api_key(txn, api::Role::finance, "webhooks-finance").secret;
    });
  }
  const std::string member = api.member();
  ASSERT_EQ(api.call("POST", "/v1/events",
                     {{"event_id", new_id("wh-")},
                      {"member_id", member},
                      {"type", "vehicle_delivery"},
                      {"occurred_at", format_rfc3339(now_utc())}},
                     setup().ingest)
                .status,
            201);
  // An order paid with points and cash, then refunded.
  const std::string order_id = new_id("ord-");
  const auto order =
      api.call("POST", "/v1/orders",
               {{"order_id", order_id},
                {"member_id", member},
                {"currency", "CNY"},
                {"lines", {{{"sku", "mug"}, {"title", "Mug"}, {"quantity", 1}, {"unit_price_cents", 10000}}}},
                {"points_to_use", 1000},
                {"cash_cents", 9000}},
               setup().mall);
  ASSERT_EQ(order.status, 201) << order.body;
  ASSERT_EQ(api.call("POST", "/v1/orders/" + order_id + "/pay", {{"payment_ref", "pay-1"}}, setup().mall).status, 200);
  const auto refund =
      api.call("POST", "/v1/orders/" + order_id + "/refunds",
               {{"refund_id", new_id("rf-")}, {"lines", {{{"sku", "mug"}, {"quantity", 1}}}}}, setup().mall);
  ASSERT_EQ(refund.status / 100, 2) << refund.body;
  // Today's statements closed, as the nightly job does tomorrow.
  const auto tomorrow = std::chrono::floor<std::chrono::days>(now_utc()) + std::chrono::days{1};
  ASSERT_EQ(
      api.call("POST", "/v1/jobs/close-statements", {{"as_of", format_rfc3339(Timestamp{tomorrow})}}, setup().admin)
              .status /
          100,
      2);
  // The member's lots expire, as expire-points does once their month has ended.
  const auto balances = api.call("GET", "/v1/members/" + member + "/balances", nullptr, setup().admin).json();
  const Timestamp expiry = *parse_rfc3339(std::string(balances["balances"]["POINTS"]["expiring"][0]["expires_at"]));
  ASSERT_EQ(api.call("POST", "/v1/jobs/expire-points", {{"as_of", format_rfc3339(expiry + std::chrono::days{1})}},
                     setup().admin)
                    .status /
                100,
            2);
  // A finance export.
  const auto exported = api.call("POST", "/v1/exports",
                                 {{"from", format_rfc3339(now_utc() - std::chrono::hours(1))},
                                  {"to", format_rfc3339(now_utc() + std::chrono::hours(1))},
                                  {"formats", {"csv"}}},
                                 finance);
  ASSERT_EQ(exported.status, 202) << exported.body;
  // A job run that fails, through the job runner every caller uses.
  {
    auto connection = TestDatabase::instance().connect();
    auto job = *api::find_job("expire-holds", SigningKey{});
    job.step = [](pqxx::transaction_base&, ledger::JobChunk&) -> ledger::StepResult {
      throw std::runtime_error("the step broke");
    };
    EXPECT_THROW(ledger::run_job(*connection, job, now_utc()), std::runtime_error);
  }

  std::map<std::string, json> last_of;  // type → the last event of that type about this test
  for (int attempt = 0; attempt < 100 && last_of.size() < 7; ++attempt) {
    std::string cursor;
    last_of.clear();
    while (true) {
      const auto page =
          api.call("GET", "/v1/feed?limit=500" + (cursor.empty() ? "" : "&after=" + cursor), nullptr, finance).json();
      for (const auto& item : page["items"]) {
        const json& data = item["data"];
        const bool ours = data.value("member_id", "") == member || data.value("order_id", "") == order_id ||
                          item["type"] == "statement.closed" || item["type"] == "export.finished" ||
                          (item["type"] == "job.failed" && data.value("job", "") == "expire-holds");
        if (ours) last_of[item["type"]] = item;
      }
      if (page["items"].empty()) break;
      cursor = page["next_cursor"];
    }
    if (last_of.size() < 7) std::this_thread::sleep_for(100ms);
  }
  ASSERT_TRUE(last_of.contains("order.paid"));
  EXPECT_EQ(last_of["order.paid"]["data"]["points"], 1000);
  EXPECT_EQ(last_of["order.paid"]["data"]["cash_cents"], 9000);
  ASSERT_TRUE(last_of.contains("order.refunded"));
  EXPECT_EQ(last_of["order.refunded"]["data"]["order_status"], "refunded");
  EXPECT_EQ(last_of["order.refunded"]["data"]["value_cents"], 10000);
  ASSERT_TRUE(last_of.contains("points.expired"));
  EXPECT_EQ(last_of["points.expired"]["data"]["asset"], "POINTS");
  EXPECT_GT(last_of["points.expired"]["data"]["amount"], 0);
  ASSERT_TRUE(last_of.contains("statement.closed"));
  EXPECT_EQ(last_of["statement.closed"]["data"]["sha256"].get<std::string>().size(), 64u);
  ASSERT_TRUE(last_of.contains("export.finished"));
  EXPECT_EQ(last_of["export.finished"]["data"]["status"], "done");
  ASSERT_TRUE(last_of.contains("job.failed"));
  EXPECT_EQ(last_of["job.failed"]["data"]["error"], "the step broke");
  ASSERT_TRUE(last_of.contains("member.tier_changed"));  // the delivery's GROWTH: engagement track
  EXPECT_EQ(last_of["member.tier_changed"]["data"]["track"], "engagement");
  EXPECT_LEDGER_INVARIANTS_HOLD();
}

TEST(Webhooks, EndpointsCannotPointAtMetadataLinkLocalOrPlainHttpBeyondLoopback) {
  auto node = start_node("webhooks-urls");
  const auto port = node->wait_until_serving();
  ASSERT_NE(port, 0) << node->log();
  Api api{port};
  const auto refused = [&](const std::string& url) {
    const auto answer =
        api.call("POST", "/v1/webhooks", {{"url", url}, {"event_types", {"order.paid"}}}, setup().admin);
    return answer.status == 422 && answer.json()["code"] == "validation_failed";
  };
  for (const char* url :
       {"http://169.254.169.254/latest/meta-data", "https://169.254.169.254/", "https://[fe80::1]/hook",
        "https://100.100.100.200/", "http://10.0.0.5/hook", "http://example.com/hook",
        "https://[::ffff:169.254.169.254]/", "https://0.0.0.0/", "ftp://example.com/", "https://user:pw@example.com/",
        "https://example.com/#frag", "https://metadata.google.internal/", "not a url"}) {
    EXPECT_TRUE(refused(url)) << url;
  }
  EXPECT_FALSE(refused("https://hooks.example.com/loyalty"));
  EXPECT_FALSE(refused("http://127.0.0.1:9/hook"));
  EXPECT_FALSE(refused("http://localhost:9/hook"));
  const auto unknown_type =
      api.call("POST", "/v1/webhooks", {{"url", "https://hooks.example.com/"}, {"event_types", {"member.deleted"}}},
               setup().admin);
  EXPECT_EQ(unknown_type.status, 422);
  EXPECT_EQ(api.call("POST", "/v1/webhooks", {{"url", "https://hooks.example.com/"}, {"event_types", {"order.paid"}}},
                     setup().mall)
                .status,
            403);
  const auto listed = api.call("GET", "/v1/webhooks?limit=1", nullptr, setup().admin);
  ASSERT_EQ(listed.status, 200) << listed.body;
  EXPECT_EQ(listed.json()["items"].size(), 1u);
  for (const auto& item : api.call("GET", "/v1/webhooks?limit=500", nullptr, setup().admin).json()["items"]) {
    api.call("DELETE", "/v1/webhooks/" + std::string(item["webhook_id"]), nullptr, setup().admin);
  }
}

}  // namespace
}  // namespace loyalty::testing
