// What an operator relies on, against a real PostgreSQL: log lines with typed values, the
// request's id and key on every line of it, and a level that silences them; /metrics showing
// every job's last success and failure, the audit sealer's lag and the exports; `Location` on
// what a POST created.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include "audit/seal.hpp"
#include "platform/database.hpp"
#include "tests/support/loyaltyd_process.hpp"
#include "tests/support/service_fixture.hpp"

namespace loyalty::testing {
namespace {

using nlohmann::json;

// The log's JSON lines whose msg is `message`.
std::vector<json> log_lines(const std::string& log, const std::string& message) {
  std::vector<json> found;
  std::istringstream lines{log};
  for (std::string line; std::getline(lines, line);) {
    const json parsed = json::parse(line, nullptr, false);
    if (parsed.is_object() && parsed.value("msg", "") == message) found.push_back(parsed);
  }
  return found;
}

// The value of one sample of /metrics ("name{labels}"), or nullopt when it is absent.
std::optional<double> sample(const std::string& metrics, const std::string& series) {
  std::istringstream lines{metrics};
  for (std::string line; std::getline(lines, line);) {
    if (line.size() > series.size() && line.compare(0, series.size(), series) == 0 && line[series.size()] == ' ') {
      return std::stod(line.substr(series.size() + 1));
    }
  }
  return std::nullopt;
}

// A port nobody listens on now (the kernel's choice for a socket closed at once).
unsigned short free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  ::close(fd);
  return ntohs(address.sin_port);
}

bool answers_health(unsigned short port) {
  for (int attempt = 0; attempt < 300; ++attempt) {
    try {
      if (HttpClient{port}.request("GET", "/healthz").status == 200) return true;
    } catch (const std::exception&) {
      // not listening yet
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

class Operations : public ServiceTest {};

TEST_F(Operations, EveryLogLineOfARequestHasItsIdAndKeyAndNumbersAreNumbers) {
  const std::string secret = service().secret(api::Role::admin);
  const std::string key_id = secret.substr(0, secret.find('.'));
  LoyaltydProcess daemon{TestDatabase::instance().url(), "operations-log", {"--log-level", "info"}};
  const unsigned short port = daemon.wait_until_serving();
  ASSERT_NE(port, 0) << daemon.log();
  HttpClient client{port};
  const auto created = client.request("POST", "/v1/members", json{{"external_id", unique("log-")}}.dump(),
                                      {{"Authorization", "Bearer " + secret},
                                       {"Content-Type", "application/json"},
                                       {"X-Request-Id", "req-operations-1"}});
  ASSERT_EQ(created.status, 201) << created.body;
  std::vector<json> requests;
  for (int attempt = 0; attempt < 50 && requests.empty(); ++attempt) {
    for (const auto& line : log_lines(daemon.log(), "request")) {
      if (line.value("request_id", "") == "req-operations-1") requests.push_back(line);
    }
    if (requests.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_EQ(requests.size(), 1u) << daemon.log();
  const json& line = requests.front();
  EXPECT_EQ(line["level"], "info");
  EXPECT_EQ(line["key_id"], key_id) << line.dump();
  EXPECT_TRUE(line["status"].is_number_integer()) << line.dump();
  EXPECT_EQ(line["status"], 201);
  EXPECT_TRUE(line["duration_ms"].is_number()) << line.dump();
  EXPECT_EQ(line["route"], "POST /v1/members");
  // The serving line's port is text (a URL); the stop's duration a number, `drained` a boolean.
  daemon.terminate();
  ASSERT_EQ(daemon.wait_for_exit(std::chrono::seconds(20)), 0) << daemon.log();
  const auto stopped = log_lines(daemon.log(), "stopped");
  ASSERT_EQ(stopped.size(), 1u) << daemon.log();
  EXPECT_TRUE(stopped.front()["drained"].is_boolean()) << stopped.front().dump();
  EXPECT_TRUE(stopped.front()["duration_ms"].is_number_integer()) << stopped.front().dump();
}

TEST_F(Operations, AtLevelWarnARequestWritesNoLine) {
  const std::string secret = service().secret(api::Role::admin);
  // No "serving" line to read the port from: choose it (the last --listen given wins).
  const unsigned short port = free_port();
  setenv("LOYALTY_LOG_LEVEL", "warn", 1);  // the variable, as an operator would set it
  LoyaltydProcess daemon{
      TestDatabase::instance().url(), "operations-quiet", {"--listen", "127.0.0.1:" + std::to_string(port)}};
  unsetenv("LOYALTY_LOG_LEVEL");
  ASSERT_TRUE(answers_health(port)) << daemon.log();
  HttpClient client{port};
  EXPECT_EQ(client.request("GET", "/v1/keys", "", {{"Authorization", "Bearer " + secret}}).status, 200);
  daemon.terminate();
  ASSERT_EQ(daemon.wait_for_exit(std::chrono::seconds(20)), 0) << daemon.log();
  EXPECT_TRUE(log_lines(daemon.log(), "request").empty()) << daemon.log();
  EXPECT_TRUE(log_lines(daemon.log(), "serving").empty()) << daemon.log();
}

TEST_F(Operations, AFailedRequestLogsItsErrorWithItsIdAndKey) {
  // A stored export file whose chunks are missing: reading it throws inside a read-only job.
  const std::string export_id = "exp_opsbrokenfile0000000";  // each test binary has a database of its own
  {
    auto connection = TestDatabase::instance().connect();
    pqxx::work txn{*connection};
    txn.exec_params(
        "INSERT INTO exports (export_id, range_from, range_to, formats, status, requested_by)"
        " VALUES ($1, now() - interval '1 day', now(), '{csv}', 'done', 'test')"
        " ON CONFLICT DO NOTHING",
        export_id);
    txn.exec_params(
        "INSERT INTO export_files (export_id, name, bytes, sha256) VALUES ($1, 'entries.csv', 10, 'ab')"
        " ON CONFLICT DO NOTHING",
        export_id);
    txn.commit();
  }
  const std::string secret = service().secret(api::Role::finance);
  ::testing::internal::CaptureStderr();
  HttpClient client{service().port()};
  const auto failed = client.request("GET", "/v1/exports/" + export_id + "/files/entries.csv", "",
                                     {{"Authorization", "Bearer " + secret}, {"X-Request-Id", "req-operations-500"}});
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const std::string log = ::testing::internal::GetCapturedStderr();
  ASSERT_EQ(failed.status, 500) << failed.body;
  const auto lines = log_lines(log, "request failed");
  ASSERT_EQ(lines.size(), 1u) << log;
  EXPECT_EQ(lines.front()["level"], "error");
  EXPECT_EQ(lines.front()["request_id"], "req-operations-500");
  EXPECT_EQ(lines.front()["key_id"], secret.substr(0, secret.find('.')));
  EXPECT_NE(lines.front()["error"].get<std::string>().find("lacks chunk"), std::string::npos) << log;
}

TEST_F(Operations, MetricsShowEachJobsLastSuccessTheSealersLagAndTheExports) {
  const auto before = get("/metrics");
  ASSERT_EQ(before.status, 200);
  EXPECT_EQ(sample(before.body, "loyalty_background_metrics_up"), 1.0) << before.body;
  for (const char* job : {"expire-holds", "release-pending", "expire-points", "decay-growth", "evaluate-tiers",
                          "close-statements", "purge-idempotency-keys"}) {
    const std::string labels = std::string("{job=\"") + job + "\"}";
    EXPECT_TRUE(sample(before.body, "loyalty_job_last_success_timestamp_seconds" + labels)) << job << before.body;
    EXPECT_TRUE(sample(before.body, "loyalty_job_last_success_items" + labels)) << job;
    EXPECT_TRUE(sample(before.body, "loyalty_job_last_failure_timestamp_seconds" + labels)) << job;
    EXPECT_TRUE(sample(before.body, "loyalty_job_failures_total" + labels)) << job;
  }
  EXPECT_TRUE(sample(before.body, "loyalty_exports{status=\"running\"}"));
  EXPECT_TRUE(sample(before.body, "loyalty_exports{status=\"failed\"}"));

  // A job run shows as its last success, with its time.
  const auto started = std::chrono::system_clock::now();
  const auto run = post("/v1/jobs/expire-holds", json::object(), unique("job-"));
  ASSERT_EQ(run.status, 200) << run.body;
  const auto after_job = get("/metrics").body;
  const auto finished = sample(after_job, "loyalty_job_last_success_timestamp_seconds{job=\"expire-holds\"}");
  ASSERT_TRUE(finished);
  EXPECT_GE(*finished, std::chrono::duration<double>(started.time_since_epoch()).count() - 1) << after_job;

  // Nothing seals in this process (loyaltyd's sealer is not running): a new entry waits.
  member_with_points(10);
  const auto waiting = get("/metrics").body;
  EXPECT_GT(sample(waiting, "loyalty_audit_seal_lag_records").value_or(0), 0) << waiting;
  EXPECT_GE(sample(waiting, "loyalty_audit_seal_lag_seconds").value_or(-1), 0) << waiting;
  // Sealing waits for the cluster's oldest running transaction (another test's, under ctest -j)
  // to finish, as loyaltyd's sealer does: seal until nothing waits, for a few seconds at most.
  auto connection = TestDatabase::instance().connect();
  std::string sealed;
  for (int attempt = 0; attempt < 50; ++attempt) {
    audit::seal_pending(*connection, "test");
    sealed = get("/metrics").body;
    if (sample(sealed, "loyalty_audit_seal_lag_records") == 0.0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(sample(sealed, "loyalty_audit_seal_lag_records"), 0.0) << sealed;
  EXPECT_EQ(sample(sealed, "loyalty_audit_seal_lag_seconds"), 0.0) << sealed;
}

TEST_F(Operations, ACreatedResourceAnswersWithItsLocationEvenOnAReplay) {
  const std::string idempotency_key = unique("loc-");
  const json body{{"external_id", unique("loc-")}};
  const auto created = post("/v1/members", body, idempotency_key);
  ASSERT_EQ(created.status, 201) << created.body;
  const std::string member_id = created.json()["member_id"];
  EXPECT_EQ(created.header("location"), "/v1/members/" + member_id);
  EXPECT_EQ(get(created.header("location")).status, 200);
  const auto replayed = post("/v1/members", body, idempotency_key);
  EXPECT_EQ(replayed.header("idempotent-replayed"), "true");
  EXPECT_EQ(replayed.header("location"), "/v1/members/" + member_id);
  // A refusal carries none.
  const auto refused = post("/v1/members", json{{"external_id", ""}});
  EXPECT_EQ(refused.status, 422);
  EXPECT_EQ(refused.header("location"), "");
}

}  // namespace
}  // namespace loyalty::testing
