// The database's own guard rails: what the schema refuses even when the C++ code is
// bypassed, the migration runner's bookkeeping, and what db::run_transaction retries.
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>

#include "platform/database.hpp"
#include "platform/migrator.hpp"
#include "tests/support/test_database.hpp"

namespace loyalty::testing {
namespace {

const db::Statement doubled{"test.doubled", "SELECT $1::bigint * 2"};
const db::Statement divided{"test.divided", "SELECT 100 / $1::bigint"};

class LedgerSchema : public ::testing::Test {
 protected:
  void SetUp() override { connection_ = TestDatabase::instance().connect(); }
  void TearDown() override { EXPECT_LEDGER_INVARIANTS_HOLD(); }

  std::string sqlstate_of(const std::string& sql) { return testing::sqlstate_of(*connection_, sql); }

  std::int64_t account(const std::string& name, const std::string& asset) {
    pqxx::read_transaction txn{*connection_};
    return txn.exec_params1("SELECT account_id FROM accounts WHERE name = $1 AND asset = $2", name, asset)[0]
        .as<std::int64_t>();
  }

  std::unique_ptr<pqxx::connection> connection_;
};

TEST_F(LedgerSchema, AnEntryThatDoesNotSumToZeroIsRefusedAtCommit) {
  const auto adjustments = account("system:adjustments", "POINTS");
  const auto redemptions = account("system:redemptions", "POINTS");
  const auto entries_before = [&] {
    pqxx::read_transaction txn{*connection_};
    return txn.exec("SELECT count(*) FROM entries")[0][0].as<int>();
  }();
  const std::string sql =
      "WITH e AS (INSERT INTO entries (kind, effective_at) VALUES ('adjustment', now()) RETURNING entry_id) "
      "SELECT 1 FROM e; "
      "INSERT INTO postings (entry_id, account_id, asset, amount) VALUES "
      "(currval('entries_entry_id_seq'), " +
      std::to_string(adjustments) +
      ", 'POINTS', 5), "
      "(currval('entries_entry_id_seq'), " +
      std::to_string(redemptions) + ", 'POINTS', -4)";
  EXPECT_EQ(sqlstate_of(sql), "23514");
  pqxx::read_transaction txn{*connection_};
  EXPECT_EQ(txn.exec("SELECT count(*) FROM entries")[0][0].as<int>(), entries_before);
}

TEST_F(LedgerSchema, AnEntryWithOnePostingIsRefused) {
  const auto adjustments = account("system:adjustments", "POINTS");
  EXPECT_EQ(sqlstate_of("INSERT INTO entries (kind, effective_at) VALUES ('adjustment', now()); "
                        "INSERT INTO postings (entry_id, account_id, asset, amount) VALUES "
                        "(currval('entries_entry_id_seq'), " +
                        std::to_string(adjustments) + ", 'POINTS', 0)"),
            "23514");  // the zero amount is refused first
  EXPECT_EQ(sqlstate_of("INSERT INTO entries (kind, effective_at) VALUES ('adjustment', now())"), "23514");
}

TEST_F(LedgerSchema, APostingInAnotherAssetThanItsAccountIsRefused) {
  const auto adjustments = account("system:adjustments", "POINTS");
  const auto growth = account("system:adjustments", "GROWTH");
  EXPECT_EQ(sqlstate_of("INSERT INTO entries (kind, effective_at) VALUES ('adjustment', now()); "
                        "INSERT INTO postings (entry_id, account_id, asset, amount) VALUES "
                        "(currval('entries_entry_id_seq'), " +
                        std::to_string(adjustments) +
                        ", 'GROWTH', 5), "
                        "(currval('entries_entry_id_seq'), " +
                        std::to_string(growth) + ", 'GROWTH', -5)"),
            "23503");
}

TEST_F(LedgerSchema, BalancedEntriesAreAcceptedAndThenCanNeverChange) {
  const auto adjustments = account("system:adjustments", "POINTS");
  const auto redemptions = account("system:redemptions", "POINTS");
  ASSERT_EQ(sqlstate_of("INSERT INTO entries (kind, effective_at) VALUES ('adjustment', now()); "
                        "INSERT INTO postings (entry_id, account_id, asset, amount) VALUES "
                        "(currval('entries_entry_id_seq'), " +
                        std::to_string(adjustments) +
                        ", 'POINTS', 7), "
                        "(currval('entries_entry_id_seq'), " +
                        std::to_string(redemptions) + ", 'POINTS', -7)"),
            "");
  EXPECT_EQ(sqlstate_of("UPDATE postings SET amount = amount * 2"), "42501");
  EXPECT_EQ(sqlstate_of("DELETE FROM postings"), "42501");
  EXPECT_EQ(sqlstate_of("UPDATE entries SET note = 'changed'"), "42501");
  EXPECT_EQ(sqlstate_of("DELETE FROM entries"), "42501");
  EXPECT_EQ(sqlstate_of("TRUNCATE postings CASCADE"), "42501");
}

TEST_F(LedgerSchema, PostingsCannotBeAddedToAnEntryOfAnEarlierTransaction) {
  const auto adjustments = account("system:adjustments", "POINTS");
  const auto redemptions = account("system:redemptions", "POINTS");
  ASSERT_EQ(sqlstate_of("INSERT INTO entries (kind, effective_at) VALUES ('adjustment', now()); "
                        "INSERT INTO postings (entry_id, account_id, asset, amount) VALUES "
                        "(currval('entries_entry_id_seq'), " +
                        std::to_string(adjustments) +
                        ", 'POINTS', 3), "
                        "(currval('entries_entry_id_seq'), " +
                        std::to_string(redemptions) + ", 'POINTS', -3)"),
            "");
  EXPECT_EQ(sqlstate_of("INSERT INTO postings (entry_id, account_id, asset, amount) "
                        "SELECT max(entry_id), " +
                        std::to_string(adjustments) +
                        ", 'POINTS', 1 FROM entries; "
                        "INSERT INTO postings (entry_id, account_id, asset, amount) "
                        "SELECT max(entry_id), " +
                        std::to_string(redemptions) + ", 'POINTS', -1 FROM entries"),
            "23000");
}

// postings.entry_id has no foreign key (0020): the posting trigger is what refuses an entry id
// that does not exist.
TEST_F(LedgerSchema, APostingToAnEntryThatDoesNotExistIsRefused) {
  const auto adjustments = account("system:adjustments", "POINTS");
  EXPECT_EQ(sqlstate_of("INSERT INTO postings (entry_id, account_id, asset, amount) VALUES (" +
                        std::to_string(std::numeric_limits<std::int64_t>::max()) + ", " + std::to_string(adjustments) +
                        ", 'POINTS', 1)"),
            "23000");
}

// One foreign key (0020) proves both that a lot's entry exists and that it credited the lot's
// member.
TEST_F(LedgerSchema, ALotBelongsToTheMemberOfTheEntryThatCreatedIt) {
  const auto adjustments = account("system:adjustments", "POINTS");
  const auto redemptions = account("system:redemptions", "POINTS");
  {
    pqxx::work txn{*connection_};
    txn.exec(
        "INSERT INTO members (member_id, external_id, created_at) VALUES "
        "('mem_lotowner000000000000', 'lot-owner', now()), ('mem_lotother000000000000', 'lot-other', now())");
    txn.commit();
  }
  const std::string entry =
      "INSERT INTO entries (kind, effective_at, member_id) VALUES ('adjustment', now(), 'mem_lotowner000000000000'); "
      "INSERT INTO postings (entry_id, account_id, asset, amount) VALUES (currval('entries_entry_id_seq'), " +
      std::to_string(adjustments) + ", 'POINTS', 2), (currval('entries_entry_id_seq'), " + std::to_string(redemptions) +
      ", 'POINTS', -2); ";
  const auto lot_of = [](const std::string& member) {
    return "INSERT INTO lots (member_id, amount, remaining, earned_at, expires_at, entry_id, source) VALUES ('" +
           member + "', 2, 2, now(), now() + interval '1 year', currval('entries_entry_id_seq'), 'earn')";
  };
  EXPECT_EQ(sqlstate_of(entry + lot_of("mem_lotother000000000000")), "23503");
  EXPECT_EQ(sqlstate_of(entry + lot_of("mem_lotowner000000000000")), "");
}

TEST_F(LedgerSchema, AMemberAccountCannotBeDebitedBelowZeroEvenBypassingTheService) {
  {
    pqxx::work txn{*connection_};
    txn.exec(
        "INSERT INTO members (member_id, external_id, created_at) VALUES "
        "('mem_schematest0000000000', 'schema-test', now())");
    txn.exec(
        "INSERT INTO accounts (name, asset, member_id, part, balance_maintained) VALUES "
        "('member:mem_schematest0000000000:available', 'POINTS', 'mem_schematest0000000000', 'available', true)");
    txn.commit();
  }
  const auto member = account("member:mem_schematest0000000000:available", "POINTS");
  const auto adjustments = account("system:adjustments", "POINTS");
  EXPECT_EQ(sqlstate_of("INSERT INTO entries (kind, effective_at) VALUES ('adjustment', now()); "
                        "INSERT INTO postings (entry_id, account_id, asset, amount) VALUES "
                        "(currval('entries_entry_id_seq'), " +
                        std::to_string(adjustments) +
                        ", 'POINTS', 10), "
                        "(currval('entries_entry_id_seq'), " +
                        std::to_string(member) + ", 'POINTS', -10)"),
            "23514");
  // A clawback the program allows may create a visible debt.
  EXPECT_EQ(sqlstate_of("INSERT INTO entries (kind, effective_at) VALUES ('clawback', now()); "
                        "INSERT INTO postings (entry_id, account_id, asset, amount, debt_allowed) VALUES "
                        "(currval('entries_entry_id_seq'), " +
                        std::to_string(adjustments) +
                        ", 'POINTS', 10, false), "
                        "(currval('entries_entry_id_seq'), " +
                        std::to_string(member) + ", 'POINTS', -10, true)"),
            "");
  pqxx::read_transaction txn{*connection_};
  EXPECT_EQ(txn.exec_params1("SELECT balance FROM accounts WHERE account_id = $1", member)[0].as<int>(), -10);
}

// A deadlock or serialization failure gets another attempt; a statement whose completion is
// unknown (SQLSTATE 40003) does not: it may have run.
TEST_F(LedgerSchema, RunTransactionRetriesRollbacksButNotAStatementThatMayHaveRun) {
  int attempts = 0;
  const auto unknown = [&](pqxx::transaction_base&) -> int {
    ++attempts;
    throw pqxx::statement_completion_unknown("the server's answer to the statement was lost");
  };
  EXPECT_THROW(db::run_transaction(*connection_, "completion_unknown", unknown), pqxx::statement_completion_unknown);
  EXPECT_EQ(attempts, 1);
  attempts = 0;
  const auto deadlocked_at_first = [&](pqxx::transaction_base&) {
    if (++attempts < db::transaction_attempts_max) throw pqxx::deadlock_detected("deadlock detected");
    return attempts;
  };
  EXPECT_EQ(db::run_transaction(*connection_, "deadlocked", deadlocked_at_first), db::transaction_attempts_max);
}

// db::ReadBatch: the statements go in one round trip, run in the order added, and each callback
// gets its own statement's rows; a statement that fails throws its SQLSTATE's exception, as
// db::exec would, so that the executor still tells a deadlock from a bug.
TEST_F(LedgerSchema, AReadBatchHandsEachStatementItsRowsInOneRoundTripAndFailsAsTheStatementDid) {
  pqxx::work txn{*connection_};
  std::vector<std::int64_t> seen;
  const auto keep = [&](const pqxx::result& rows) { seen.push_back(rows[0][0].as<std::int64_t>()); };
  db::ReadBatch reads{txn};
  reads.add(doubled, keep, std::int64_t{21});
  reads.add(divided, keep, std::int64_t{4});
  reads.add(doubled, keep, std::int64_t{-5});
  const auto before = db::statements_sent_total.load();
  reads.run();
  EXPECT_EQ(db::statements_sent_total.load() - before, 1u);
  EXPECT_EQ(seen, (std::vector<std::int64_t>{42, 25, -10}));
  EXPECT_EQ(db::exec(txn, doubled, std::int64_t{1})[0][0].as<int>(), 2);  // the transaction goes on

  db::ReadBatch failing{txn};
  failing.add(doubled, keep, std::int64_t{1});
  failing.add(divided, keep, std::int64_t{0});
  EXPECT_THROW(failing.run(), pqxx::data_exception);
}

// A batch's updates of rows it holds locked check their own row counts (migrations/0021): a
// count other than the one meant fails the statement, and so the batch.
TEST_F(LedgerSchema, AnUpdateThatChangesOtherRowsThanItMeantFailsTheTransaction) {
  {
    pqxx::work txn{*connection_};
    EXPECT_EQ(txn.exec("SELECT expect_rows(2, 2, 'the lots a batch changed')")[0][0].as<int>(), 2);
  }
  pqxx::work txn{*connection_};
  try {
    txn.exec("SELECT expect_rows(1, 2, 'the holds a batch closed')");
    ADD_FAILURE() << "a wrong row count was accepted";
  } catch (const pqxx::sql_error& error) {
    EXPECT_EQ(error.sqlstate(), "XX000");
    EXPECT_NE(std::string(error.what()).find("the holds a batch closed changed 1 rows where 2 were meant"),
              std::string::npos)
        << error.what();
  }
}

TEST_F(LedgerSchema, MigratingAgainChangesNothingAndAnEditedMigrationIsRefused) {
  EXPECT_TRUE(db::migrate(*connection_).empty());
  {
    pqxx::read_transaction txn{*connection_};
    EXPECT_TRUE(db::schema_status(txn).current());
  }
  {
    pqxx::work txn{*connection_};
    txn.exec("UPDATE schema_migrations SET sha256 = 'edited' WHERE file_name = '0001_ledger_core.sql'");
    txn.exec("INSERT INTO schema_migrations (file_name, sha256) VALUES ('9999_from_the_future.sql', 'x')");
    const auto status = db::schema_status(txn);
    EXPECT_FALSE(status.current());
    ASSERT_EQ(status.problems.size(), 2u);
    EXPECT_NE(status.problems[0].find("edited"), std::string::npos);
    EXPECT_NE(status.problems[1].find("unknown"), std::string::npos);
    // Left uncommitted: the schema stays as it was for the other tests.
  }
}

}  // namespace
}  // namespace loyalty::testing
