// The service, running in the test process on a free port against the test database, and a
// gtest fixture with the calls most tests make. Every test using the fixture checks the
// ledger's invariants when it ends.
#pragma once

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <optional>
#include <string>

#include "api/context.hpp"
#include "api/server.hpp"
#include "api/service.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/test_database.hpp"

namespace loyalty::testing {

class RunningService {
 public:
  explicit RunningService(api::ServiceOptions options);
  ~RunningService();

  static api::ServiceOptions default_options(const std::string& database_url);

  unsigned short port() const { return server_->port(); }
  api::Service& service() { return *service_; }
  // The secret of an API key with this role (created once per role).
  const std::string& secret(api::Role role);

 private:
  std::unique_ptr<api::Service> service_;
  std::unique_ptr<api::Server> server_;
  std::map<api::Role, std::string> secrets_;
  std::string database_url_;
};

class ServiceTest : public ::testing::Test {
 protected:
  static RunningService& service();
  void TearDown() override { EXPECT_LEDGER_INVARIANTS_HOLD(); }

  HttpResult post(const std::string& path, const nlohmann::json& body,
                  const std::optional<std::string>& idempotency_key = std::nullopt, api::Role role = api::Role::admin);
  HttpResult post_raw(const std::string& path, const std::string& body,
                      const std::map<std::string, std::string>& headers, api::Role role = api::Role::admin);
  HttpResult get(const std::string& path, api::Role role = api::Role::admin);

  // A new member, and one with `points` credited by an adjustment.
  std::string create_member();
  std::string member_with_points(std::int64_t points);
  nlohmann::json points_balance(const std::string& member_id);  // balances.POINTS
  std::int64_t count_rows(const std::string& table);

  static std::string unique(const std::string& prefix);  // prefix + random suffix

 private:
  std::unique_ptr<HttpClient> client_;
  HttpClient& client();
};

}  // namespace loyalty::testing
