#include "tests/support/test_database.hpp"

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "earning/program_apply.hpp"
#include "platform/database.hpp"
#include "platform/ids.hpp"
#include "platform/migrator.hpp"

#ifndef LOYALTY_SOURCE_DIR
#error "LOYALTY_SOURCE_DIR must be defined by the build"
#endif

namespace loyalty::testing {

std::string with_database(const std::string& url, const std::string& name) {
  const auto scheme = url.find("://");
  const auto slash = url.find('/', scheme == std::string::npos ? 0 : scheme + 3);
  const auto query = url.find('?');
  std::string base = slash == std::string::npos ? url.substr(0, query) : url.substr(0, slash);
  return base + "/" + name + (query == std::string::npos ? "" : url.substr(query));
}

std::string sqlstate_of(pqxx::connection& connection, const std::string& sql, AfterStatement after) {
  try {
    pqxx::work txn{connection};
    txn.exec(sql);
    if (after == AfterStatement::commit) txn.commit();
    return "";
  } catch (const pqxx::insufficient_privilege&) {
    return "42501";
  } catch (const pqxx::sql_error& error) {
    return error.sqlstate().empty() ? std::string("error: ") + error.what() : error.sqlstate();
  }
}

TestDatabase& TestDatabase::instance() {
  static TestDatabase database;
  return database;
}

TestDatabase::TestDatabase() {
  const char* admin = std::getenv("LOYALTY_TEST_DATABASE_URL");
  if (!admin || !*admin) {
    throw std::runtime_error(
        "LOYALTY_TEST_DATABASE_URL is not set: run the tests through `scripts/dev test`, or point it at a "
        "PostgreSQL 15 server whose user may create databases");
  }
  admin_url_ = admin;
  name_ = "loyalty_test_" + std::to_string(::getpid()) + "_" + new_id("").substr(0, 6);
  {
    pqxx::connection connection{admin_url_};
    pqxx::nontransaction txn{connection};
    txn.exec("CREATE DATABASE " + name_);
  }
  url_ = with_database(admin_url_, name_);
  pqxx::connection connection{url_};
  db::migrate(connection);
  service_url_ = url_;
  {
    pqxx::read_transaction txn{connection};
    const auto usable =
        txn.exec("SELECT pg_has_role(current_user, oid, 'MEMBER') FROM pg_roles WHERE rolname = 'loyalty_app'");
    if (!usable.empty() && usable[0][0].as<bool>()) {
      service_url_ += std::string(url_.find('?') == std::string::npos ? "?" : "&") + "options=-c%20role%3Dloyalty_app";
    }
  }
  std::ifstream file{std::string(LOYALTY_SOURCE_DIR) + "/examples/program.yaml"};
  std::stringstream text;
  text << file.rdbuf();
  auto document = program::yaml_to_json(text.str());
  auto db = db::connect(url_);
  db::run_transaction(*db, "program", [&](pqxx::transaction_base& txn) {
    auto applied = earning::apply_program(txn, std::get<nlohmann::json>(document), "test");
    if (!std::holds_alternative<program::AppliedProgram>(applied)) {
      throw std::runtime_error("examples/program.yaml does not apply");
    }
    return 0;
  });
}

TestDatabase::~TestDatabase() {
  try {
    pqxx::connection connection{admin_url_};
    pqxx::nontransaction txn{connection};
    txn.exec("DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)");
  } catch (...) {
    // Leaving a test database behind is harmless; the cluster is the project's own.
  }
}

std::unique_ptr<pqxx::connection> TestDatabase::connect() const {
  return db::connect(url_);
}

std::vector<std::string> TestDatabase::invariant_violations() const {
  std::vector<std::string> violations;
  pqxx::connection connection{url_};
  pqxx::read_transaction txn{connection};
  for (const auto& row : txn.exec("SELECT entry_id, count(*) FROM postings GROUP BY entry_id HAVING count(*) < 2 "
                                  "UNION ALL SELECT e.entry_id, 0 FROM entries e WHERE NOT EXISTS "
                                  "(SELECT 1 FROM postings p WHERE p.entry_id = e.entry_id) LIMIT 10")) {
    violations.push_back("entry " + std::string(row[0].c_str()) + " has fewer than two postings");
  }
  for (const auto& row : txn.exec("SELECT entry_id, asset, sum(amount) FROM postings GROUP BY entry_id, asset HAVING "
                                  "sum(amount) <> 0 LIMIT 10")) {
    violations.push_back("entry " + std::string(row[0].c_str()) + " sums to " + row[2].c_str() + " in " +
                         row[1].c_str());
  }
  for (const auto& row : txn.exec("SELECT asset, sum(amount) FROM postings GROUP BY asset HAVING sum(amount) <> 0")) {
    violations.push_back("the postings of " + std::string(row[0].c_str()) + " sum to " + row[1].c_str());
  }
  for (const auto& row : txn.exec("SELECT a.name, a.asset, a.balance, coalesce(sum(p.amount), 0) FROM accounts a "
                                  "LEFT JOIN postings p ON p.account_id = a.account_id WHERE a.balance_maintained "
                                  "GROUP BY a.account_id HAVING a.balance <> coalesce(sum(p.amount), 0) LIMIT 10")) {
    violations.push_back("account " + std::string(row[0].c_str()) + " " + row[1].c_str() + " keeps " + row[2].c_str() +
                         " but its postings sum to " + row[3].c_str());
  }
  for (const auto& row : txn.exec(
           "SELECT a.name, a.asset, a.balance FROM accounts a WHERE a.member_id IS NOT NULL AND a.balance < 0 "
           "AND NOT EXISTS (SELECT 1 FROM postings p WHERE p.account_id = a.account_id AND p.debt_allowed) LIMIT 10")) {
    violations.push_back("member account " + std::string(row[0].c_str()) + " " + row[1].c_str() + " is below zero (" +
                         row[2].c_str() + ") without an allowed clawback");
  }
  for (const auto& row :
       txn.exec("SELECT a.member_id, a.part, a.balance, coalesce(l.remaining, 0) FROM accounts a "
                "LEFT JOIN (SELECT member_id, pending_until IS NOT NULL AS pending, sum(remaining) AS remaining "
                "           FROM lots GROUP BY 1, 2) l "
                "  ON l.member_id = a.member_id AND l.pending = (a.part = 'pending') "
                "WHERE a.asset = 'POINTS' AND a.part IN ('available', 'pending') "
                "  AND greatest(a.balance, 0) <> coalesce(l.remaining, 0) LIMIT 10")) {
    violations.push_back("member " + std::string(row[0].c_str()) + " has " + row[2].c_str() + " " + row[1].c_str() +
                         " POINTS but lots holding " + row[3].c_str());
  }
  // The maintained daily aggregates (migrations/0010) equal the same sums computed afresh.
  for (const auto& row : txn.exec("WITH fresh AS (SELECT member_id, utc_day(occurred_at) AS day, type, "
                                  "  sum(coalesce(amount_cents, 0) - reversed_cents) AS v FROM events WHERE "
                                  "reversed_at IS NULL GROUP BY 1, 2, 3) "
                                  "SELECT coalesce(f.member_id, m.member_id), coalesce(f.day, m.day), coalesce(f.v, "
                                  "0), coalesce(m.spend_cents, 0) "
                                  "FROM fresh f FULL JOIN member_spend_days m USING (member_id, day, type) "
                                  "WHERE coalesce(f.v, 0) <> coalesce(m.spend_cents, 0) LIMIT 10")) {
    violations.push_back("member " + std::string(row[0].c_str()) + " spent " + row[2].c_str() + " on " +
                         row[1].c_str() + " but its spend day holds " + row[3].c_str());
  }
  for (const auto& row : txn.exec(
           "WITH fresh AS (SELECT a.member_id, utc_day(a.occurred_at) AS day, sum(a.amount - coalesce(c.settled, 0)) "
           "AS v "
           "  FROM event_awards a JOIN events e ON e.event_id = a.event_id "
           "  LEFT JOIN event_award_clawbacks c ON c.event_id = a.event_id AND c.position = a.position "
           "  WHERE a.asset = 'GROWTH' AND e.reversed_at IS NULL GROUP BY 1, 2"
           "  UNION ALL SELECT h.member_id, utc_day(h.occurred_at), sum(h.amount) FROM history_awards h"
           "  JOIN events e ON e.event_id = h.event_id WHERE h.asset = 'GROWTH' AND e.reversed_at IS NULL GROUP BY 1, "
           "2) "
           "SELECT coalesce(f.member_id, m.member_id), coalesce(f.day, m.day), coalesce(f.v, 0), coalesce(m.growth, 0) "
           "FROM (SELECT member_id, day, sum(v) AS v FROM fresh GROUP BY 1, 2) f "
           "FULL JOIN member_growth_days m USING (member_id, day) "
           "WHERE coalesce(f.v, 0) <> coalesce(m.growth, 0) LIMIT 10")) {
    violations.push_back("member " + std::string(row[0].c_str()) + " earned " + row[2].c_str() + " GROWTH on " +
                         row[1].c_str() + " but its growth day holds " + row[3].c_str());
  }
  for (const auto& row : txn.exec(
           "WITH fresh AS (SELECT a.member_id, a.rule_id, utc_day(a.occurred_at) AS day, count(DISTINCT a.event_id) AS "
           "v "
           "  FROM event_awards a JOIN events e ON e.event_id = a.event_id "
           "  WHERE a.campaign_id IS NULL AND e.reversed_at IS NULL GROUP BY 1, 2, 3"
           "  UNION ALL SELECT h.member_id, h.rule_id, utc_day(h.occurred_at), count(DISTINCT h.event_id)"
           "  FROM history_awards h JOIN events e ON e.event_id = h.event_id WHERE e.reversed_at IS NULL"
           "  GROUP BY 1, 2, 3) "
           "SELECT coalesce(f.member_id, m.member_id), coalesce(f.rule_id, m.rule_id), coalesce(f.v, 0), "
           "  coalesce(m.events, 0) FROM (SELECT member_id, rule_id, day, sum(v) AS v FROM fresh GROUP BY 1, 2, 3) f"
           "  FULL JOIN member_rule_days m USING (member_id, rule_id, day) "
           "WHERE coalesce(f.v, 0) <> coalesce(m.events, 0) LIMIT 10")) {
    violations.push_back("member " + std::string(row[0].c_str()) + " has " + row[2].c_str() + " events of rule " +
                         row[1].c_str() + " on a day counted as " + row[3].c_str());
  }
  return violations;
}

}  // namespace loyalty::testing
