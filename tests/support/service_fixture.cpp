#include "tests/support/service_fixture.hpp"

#include "api/api_keys.hpp"
#include "platform/database.hpp"
#include "platform/ids.hpp"

namespace loyalty::testing {

api::ServiceOptions RunningService::default_options(const std::string& database_url) {
  api::ServiceOptions options;
  options.database.database_url = database_url;
  options.database.workers = 4;
  options.rate_limit_per_second = 1e6;
  options.rate_limit_burst = 1e6;
  options.source_rate_limit_per_second = 1e6;
  options.source_rate_limit_burst = 1e6;
  options.auth_refusals_per_second = 1e6;
  options.auth_refusals_burst = 1e6;
  // Tests move the program through time (LOYALTY_ALLOW_FUTURE_JOBS=1 in a real process).
  options.allow_future_jobs = true;
  return options;
}

RunningService::RunningService(api::ServiceOptions options) : database_url_(options.database.database_url) {
  service_ = std::make_unique<api::Service>(options);
  server_ = std::make_unique<api::Server>(*service_, "127.0.0.1", 0, 2);
  server_->start();
}

RunningService::~RunningService() {
  server_->stop();
  server_.reset();
  service_.reset();
}

const std::string& RunningService::secret(api::Role role) {
  auto found = secrets_.find(role);
  if (found != secrets_.end()) return found->second;
  auto connection = db::connect(database_url_);
  const auto key = db::run_transaction(*connection, "test_key", [&](pqxx::transaction_base& txn) {
    return api::create_api_key(txn, role, std::string("test-") + api::role_name(role));
  });
  return secrets_[role] = key.secret;
}

RunningService& ServiceTest::service() {
  static RunningService running{RunningService::default_options(TestDatabase::instance().service_url())};
  return running;
}

HttpClient& ServiceTest::client() {
  if (!client_) client_ = std::make_unique<HttpClient>(service().port());
  return *client_;
}

std::string ServiceTest::unique(const std::string& prefix) {
  return prefix + new_id("").substr(0, 12);
}

HttpResult ServiceTest::post(const std::string& path, const nlohmann::json& body,
                             const std::optional<std::string>& idempotency_key, api::Role role) {
  std::map<std::string, std::string> headers;
  if (idempotency_key) headers["Idempotency-Key"] = *idempotency_key;
  return post_raw(path, body.dump(), headers, role);
}

HttpResult ServiceTest::post_raw(const std::string& path, const std::string& body,
                                 const std::map<std::string, std::string>& headers, api::Role role) {
  auto all = headers;
  all.emplace("Authorization", "Bearer " + service().secret(role));
  all.emplace("Content-Type", "application/json");
  return client().request("POST", path, body, all);
}

HttpResult ServiceTest::get(const std::string& path, api::Role role) {
  return client().request("GET", path, "", {{"Authorization", "Bearer " + service().secret(role)}});
}

std::string ServiceTest::create_member() {
  const auto created = post("/v1/members", {{"external_id", unique("ext-")}});
  EXPECT_EQ(created.status, 201) << created.body;
  return created.json().value("member_id", "");
}

std::string ServiceTest::member_with_points(std::int64_t points) {
  const std::string member_id = create_member();
  const auto credited =
      post("/v1/adjustments",
           {{"member_id", member_id}, {"asset", "POINTS"}, {"amount", points}, {"reason_code", "goodwill"}},
           unique("credit-"));
  EXPECT_EQ(credited.status, 201) << credited.body;
  return member_id;
}

nlohmann::json ServiceTest::points_balance(const std::string& member_id) {
  const auto balances = get("/v1/members/" + member_id + "/balances");
  EXPECT_EQ(balances.status, 200) << balances.body;
  return balances.json()["balances"]["POINTS"];
}

std::int64_t ServiceTest::count_rows(const std::string& table) {
  auto connection = TestDatabase::instance().connect();
  pqxx::read_transaction txn{*connection};
  return txn.exec("SELECT count(*) FROM " + table)[0][0].as<std::int64_t>();
}

}  // namespace loyalty::testing
