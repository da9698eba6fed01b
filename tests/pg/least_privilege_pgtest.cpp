// The role loyaltyd runs as (loyalty_app, migration 0011) may write the ledger but never
// change what is immutable: no UPDATE, DELETE or TRUNCATE of entries, postings or the audit
// trail, no disabling of their triggers, no change to the applied migrations. (That the
// service needs nothing more is proved by every other pg test: their service runs as it.)
#include <gtest/gtest.h>

#include "platform/database.hpp"
#include "tests/support/test_database.hpp"

namespace loyalty::testing {
namespace {

// The SQLSTATE a statement fails with as loyalty_app ("" when it succeeds; rolled back).
std::string sqlstate_as_app(const std::string& sql) {
  pqxx::connection connection{TestDatabase::instance().service_url()};
  return sqlstate_of(connection, sql, AfterStatement::roll_back);
}

constexpr const char* insufficient_privilege = "42501";

std::string first_column(const std::string& table) {
  auto connection = TestDatabase::instance().connect();
  pqxx::read_transaction txn{*connection};
  // A plain column: assigning an identity column fails before privileges are checked.
  return txn
      .exec_params(
          "SELECT attname FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0"
          " AND NOT attisdropped AND attidentity = '' AND attgenerated = '' ORDER BY attnum LIMIT 1",
          table)[0][0]
      .c_str();
}

TEST(LeastPrivilege, TheServiceRoleCannotChangeImmutableRowsNorDisableTheirTriggers) {
  // Goal: what the triggers refuse, the role may not even attempt.
  const TestDatabase& database = TestDatabase::instance();
  ASSERT_NE(database.service_url(), database.url()) << "the test user cannot act as loyalty_app";
  EXPECT_EQ(sqlstate_as_app("SELECT current_user"), "");
  for (const char* table : {"entries", "postings", "audit_events", "audit_seals", "audit_seal_log",
                            "partner_statements", "partner_statement_acks"}) {
    SCOPED_TRACE(table);
    const std::string column = first_column(table);
    EXPECT_EQ(sqlstate_as_app(std::string("UPDATE ") + table + " SET " + column + " = " + column + " WHERE false"),
              insufficient_privilege);
    EXPECT_EQ(sqlstate_as_app(std::string("DELETE FROM ") + table + " WHERE false"), insufficient_privilege);
    EXPECT_EQ(sqlstate_as_app(std::string("TRUNCATE ") + table), insufficient_privilege);
    EXPECT_EQ(sqlstate_as_app(std::string("ALTER TABLE ") + table + " DISABLE TRIGGER ALL"), insufficient_privilege);
    EXPECT_EQ(sqlstate_as_app(std::string("SELECT count(*) FROM ") + table), "");
  }
  EXPECT_EQ(sqlstate_as_app("SET session_replication_role = replica"), insufficient_privilege);
  EXPECT_EQ(sqlstate_as_app("DELETE FROM schema_migrations WHERE false"), insufficient_privilege);
  EXPECT_EQ(sqlstate_as_app("CREATE TABLE sneaky (x int)"), insufficient_privilege);
  // The working tables are its to write.
  EXPECT_EQ(sqlstate_as_app("UPDATE members SET display_name = display_name WHERE false"), "");
  EXPECT_EQ(sqlstate_as_app("DELETE FROM idempotency_keys WHERE false"), "");
}

}  // namespace
}  // namespace loyalty::testing
