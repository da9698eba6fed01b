// The console in a real browser: starts loyaltyd on a fresh database, makes an admin, a
// finance and a mall key and a member with points, then runs tests/browser/console.test.mjs
// (puppeteer-core driving Debian's chromium, axe-core on every page). The screenshots it takes
// land in <build>/console-screenshots/. Skipped only when chromium is not installed;
// `scripts/dev test` installs it, and runs `npm ci` in tests/browser.
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "api/api_keys.hpp"
#include "partners/signing_keys.hpp"
#include "platform/database.hpp"
#include "platform/ids.hpp"
#include "platform/time.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/loyaltyd_process.hpp"
#include "tests/support/test_database.hpp"

#include <gtest/gtest.h>

namespace loyalty::testing {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

std::string chromium_path() {
  if (const char* given = std::getenv("CHROMIUM"); given && *given) return given;
  return "/usr/bin/chromium";
}

// Single-quoted for the shell (the values are keys and ids, but quoting costs nothing).
std::string shell_quoted(const std::string& value) {
  std::string out = "'";
  for (char c : value) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

TEST(ConsoleBrowser, SignInFindAMemberAdjustChartsAuditAndAccessibilityInChromium) {
  if (!fs::exists(chromium_path())) {
    GTEST_SKIP() << "chromium is not installed at " << chromium_path()
                 << " (apt-get install chromium; scripts/dev test installs it)";
  }
  const fs::path browser_tests = fs::path(LOYALTY_SOURCE_DIR) / "tests" / "browser";
  ASSERT_TRUE(fs::exists(browser_tests / "node_modules" / "puppeteer-core"))
      << "run `npm ci` in " << browser_tests << " (scripts/dev test does)";

  auto& database = TestDatabase::instance();
  std::string admin, finance, mall;
  {
    auto connection = database.connect();
    db::run_transaction(*connection, "console_browser_keys", [&](pqxx::transaction_base& txn) {
      admin = api::create_api_key(txn, api::Role::admin, "console-admin").secret;
      finance = api::create_api_key(txn, api::Role::finance, "console-finance").secret;
      mall = api::create_api_key(txn, api::Role::mall, "console-mall").secret;
      return 0;
    });
  }
  const fs::path signing_key = fs::temp_directory_path() / ("loyalty-console-" + std::to_string(::getpid()) + ".pem");
  std::ofstream{signing_key} << partners::generate_ed25519_private_pem();
  LoyaltydProcess daemon{
      database.service_url(), "console-browser", {"--signing-key", signing_key.string(), "--rate-limit", "100000"}};
  const auto port = daemon.wait_until_serving();
  ASSERT_NE(port, 0) << daemon.log();

  // A member with points from an event (a lot with its expiry) and a webhook endpoint to list.
  HttpClient client{port};
  const std::map<std::string, std::string> as_admin{{"Authorization", "Bearer " + admin},
                                                    {"Content-Type", "application/json"}};
  const std::string external_id = new_id("console-owner-");
  const auto created = client.request(
      "POST", "/v1/members", json{{"external_id", external_id}, {"display_name", "Console Owner"}}.dump(), as_admin);
  ASSERT_EQ(created.status, 201) << created.body;
  const std::string member_id = created.json().value("member_id", "");
  const auto event = client.request("POST", "/v1/events",
                                    json{{"event_id", new_id("console-ev-")},
                                         {"member_id", member_id},
                                         {"type", "vehicle_delivery"},
                                         {"occurred_at", format_rfc3339(now_utc())}}
                                        .dump(),
                                    as_admin);
  ASSERT_EQ(event.status, 201) << event.body;
  const auto webhook = client.request(
      "POST", "/v1/webhooks",
      json{{"url", "http://127.0.0.1:9/console-test"}, {"event_types", {"member.tier_changed"}}}.dump(), as_admin);
  ASSERT_EQ(webhook.status, 201) << webhook.body;

  const fs::path screenshots = fs::path(LOYALTY_BINARY_DIR) / "console-screenshots";
  const std::string command =
      "cd " + shell_quoted(browser_tests.string()) +
      " && CONSOLE_BASE_URL=" + shell_quoted("http://127.0.0.1:" + std::to_string(port)) +
      " ADMIN_KEY=" + shell_quoted(admin) + " FINANCE_KEY=" + shell_quoted(finance) +
      " MALL_KEY=" + shell_quoted(mall) + " MEMBER_ID=" + shell_quoted(member_id) +
      " MEMBER_EXTERNAL_ID=" + shell_quoted(external_id) + " SCREENSHOT_DIR=" + shell_quoted(screenshots.string()) +
      " CHROMIUM=" + shell_quoted(chromium_path()) + " node --test-reporter=spec console.test.mjs 2>&1";
  std::string output;
  FILE* pipe = ::popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  char buffer[4096];
  while (std::fgets(buffer, sizeof buffer, pipe)) output += buffer;
  const int status = ::pclose(pipe);
  std::fputs(output.c_str(), stdout);
  fs::remove(signing_key);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "the browser test failed:\n" << output;
  EXPECT_TRUE(fs::exists(screenshots / "finance.png"));
  EXPECT_TRUE(fs::exists(screenshots / "member.png"));
}

}  // namespace
}  // namespace loyalty::testing
