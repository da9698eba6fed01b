// A fresh PostgreSQL database for one test binary: created from LOYALTY_TEST_DATABASE_URL
// (a URL whose user may CREATE DATABASE), migrated, loaded with examples/program.yaml, and
// dropped when the binary ends. Tests that touch storage always run against a real server.
#pragma once

#include <pqxx/pqxx>

#include <memory>
#include <string>
#include <vector>

namespace loyalty::testing {

class TestDatabase {
 public:
  // Creates the database; fails the test run with a clear message when the URL is missing.
  static TestDatabase& instance();

  const std::string& url() const { return url_; }
  // The URL the service under test uses: the same database, acting as the least-privileged
  // role loyalty_app (migration 0011) when this user may (otherwise the same as url()), so
  // that every test also proves the service needs no more than that role's grants.
  const std::string& service_url() const { return service_url_; }
  std::unique_ptr<pqxx::connection> connect() const;

  // Violations of the ledger's invariants, as sentences; empty when all hold:
  // every entry has two or more postings summing to zero per asset, the postings of each
  // asset sum to zero over the whole ledger, maintained balances equal their postings, and
  // no member account is below zero unless a clawback allowed it, and the remaining points of
  // a member's lots equal their available (spendable lots) and pending (pending lots) POINTS.
  std::vector<std::string> invariant_violations() const;

  ~TestDatabase();

 private:
  TestDatabase();
  std::string admin_url_;
  std::string name_;
  std::string url_;
  std::string service_url_;
};

// Runs `sql` in a transaction of its own on `connection`, then commits it or rolls it back:
// "" when it succeeds, otherwise the SQLSTATE it failed with (libpqxx 6.4 leaves sqlstate()
// empty on some of its specific error classes; those are mapped back here).
enum class AfterStatement { commit, roll_back };
std::string sqlstate_of(pqxx::connection& connection, const std::string& sql,
                        AfterStatement after = AfterStatement::commit);

// Appends `/name` in place of the database of a libpq URI.
std::string with_database(const std::string& url, const std::string& name);

// gtest assertion helper: EXPECT_LEDGER_INVARIANTS_HOLD();
#define EXPECT_LEDGER_INVARIANTS_HOLD()                                                          \
  do {                                                                                           \
    const auto violations = ::loyalty::testing::TestDatabase::instance().invariant_violations(); \
    for (const auto& violation : violations) ADD_FAILURE() << "ledger invariant: " << violation; \
  } while (false)

}  // namespace loyalty::testing
