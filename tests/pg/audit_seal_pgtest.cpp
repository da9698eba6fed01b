// The audit trail and its tamper evidence against a real PostgreSQL: the background sealer's
// chain verifies on an untouched ledger, and the verifier names the first record that was
// changed behind the ledger's back (a posting amount with triggers bypassed, a deleted row,
// reordered rows, an altered seal log). Each tamper case restores the row afterwards so the
// fixture's ledger invariants hold at the end of every test.
#include <chrono>
#include <thread>

#include "audit/seal.hpp"
#include "platform/database.hpp"
#include "platform/executor.hpp"
#include "tests/support/service_fixture.hpp"

namespace loyalty::testing {
namespace {

class AuditSeal : public ServiceTest {
 protected:
  static std::unique_ptr<pqxx::connection> connect() { return TestDatabase::instance().connect(); }

  // Seals until every entry and audit event is in the chain (another transaction on the
  // cluster can hold the sealing horizon back for a moment).
  static void seal_everything() {
    auto connection = connect();
    for (int attempt = 0; attempt < 100; ++attempt) {
      audit::seal_pending(*connection, "test");
      pqxx::read_transaction txn{*connection};
      const auto unsealed = txn.exec(
                                   "SELECT (SELECT count(*) FROM entries) + (SELECT count(*) FROM audit_events)"
                                   " - (SELECT count(*) FROM audit_seal_log)")[0][0]
                                .as<std::int64_t>();
      if (unsealed == 0) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    FAIL() << "records stayed unsealed";
  }

  static audit::VerifyReport verify() {
    auto connection = connect();
    pqxx::read_transaction txn{*connection};
    return audit::verify_seals(txn);
  }

  // Runs SQL with the ledger's triggers (and foreign keys) bypassed, as an attacker with
  // database access would.
  static void behind_the_ledgers_back(pqxx::connection& connection, const std::string& sql) {
    pqxx::work txn{connection};
    txn.exec("SET LOCAL session_replication_role = replica");
    txn.exec(sql);
    txn.commit();
  }

  static std::int64_t scalar(const std::string& sql) {
    auto connection = connect();
    pqxx::read_transaction txn{*connection};
    return txn.exec(sql)[0][0].as<std::int64_t>();
  }

  // The adjustment entry that credited a member, and its member-side posting.
  static std::pair<std::int64_t, std::int64_t> credit_of(const std::string& member_id) {
    auto connection = connect();
    pqxx::read_transaction txn{*connection};
    const auto row = txn.exec(
        "SELECT e.entry_id, p.posting_id FROM entries e JOIN postings p ON p.entry_id = e.entry_id"
        " JOIN accounts a ON a.account_id = p.account_id WHERE e.member_id = " +
        txn.quote(member_id) + " AND a.member_id IS NOT NULL ORDER BY e.entry_id LIMIT 1")[0];
    return {row[0].as<std::int64_t>(), row[1].as<std::int64_t>()};
  }
};

TEST_F(AuditSeal, AnUntouchedLedgerVerifiesThroughTheLastSealedRecord) {
  member_with_points(250);
  seal_everything();
  const auto verified = get("/v1/audit/verify", api::Role::finance);
  ASSERT_EQ(verified.status, 200) << verified.body;
  const auto body = verified.json();
  EXPECT_TRUE(body["ok"].get<bool>()) << verified.body;
  EXPECT_EQ(body["checked_through"].get<std::int64_t>(), scalar("SELECT count(*) FROM audit_seal_log"));
  EXPECT_EQ(body["head"].get<std::string>().size(), 64u);
  EXPECT_FALSE(body.contains("first_mismatch"));
  EXPECT_EQ(get("/v1/audit/verify", api::Role::mall).status, 403);
}

TEST_F(AuditSeal, APostingAmountChangedWithTriggersBypassedIsNamed) {
  const std::string member_id = member_with_points(500);
  seal_everything();
  const auto [entry_id, posting_id] = credit_of(member_id);
  auto connection = connect();
  behind_the_ledgers_back(*connection,
                          "UPDATE postings SET amount = amount + 1 WHERE posting_id = " + std::to_string(posting_id));
  const auto report = verify();
  EXPECT_FALSE(report.ok);
  ASSERT_TRUE(report.first_mismatch.has_value());
  EXPECT_EQ(report.first_mismatch->record_kind, "entry");
  EXPECT_EQ(report.first_mismatch->record_id, entry_id);
  EXPECT_LT(report.checked_through, report.first_mismatch->seq);
  behind_the_ledgers_back(*connection,
                          "UPDATE postings SET amount = amount - 1 WHERE posting_id = " + std::to_string(posting_id));
  EXPECT_TRUE(verify().ok);
}

TEST_F(AuditSeal, ADeletedPostingIsNamed) {
  const std::string member_id = member_with_points(70);
  seal_everything();
  const auto [entry_id, posting_id] = credit_of(member_id);
  auto connection = connect();
  const std::string id = std::to_string(posting_id);
  behind_the_ledgers_back(*connection, "CREATE TABLE saved_posting AS SELECT * FROM postings WHERE posting_id = " + id +
                                           "; DELETE FROM postings WHERE posting_id = " + id);
  const auto report = verify();
  ASSERT_TRUE(report.first_mismatch.has_value());
  EXPECT_EQ(report.first_mismatch->record_kind, "entry");
  EXPECT_EQ(report.first_mismatch->record_id, entry_id);
  behind_the_ledgers_back(*connection,
                          "INSERT INTO postings OVERRIDING SYSTEM VALUE SELECT * FROM saved_posting;"
                          " DROP TABLE saved_posting");
  EXPECT_TRUE(verify().ok);
}

TEST_F(AuditSeal, ADeletedAuditEventIsNamed) {
  create_member();
  seal_everything();
  const auto audit_id = std::to_string(scalar("SELECT max(audit_id) FROM audit_events"));
  auto connection = connect();
  behind_the_ledgers_back(*connection, "CREATE TABLE saved_event AS SELECT * FROM audit_events WHERE audit_id = " +
                                           audit_id + "; DELETE FROM audit_events WHERE audit_id = " + audit_id);
  const auto report = verify();
  ASSERT_TRUE(report.first_mismatch.has_value());
  EXPECT_EQ(report.first_mismatch->record_kind, "audit");
  EXPECT_EQ(std::to_string(report.first_mismatch->record_id), audit_id);
  EXPECT_NE(report.first_mismatch->problem.find("deleted"), std::string::npos) << report.first_mismatch->problem;
  behind_the_ledgers_back(*connection,
                          "INSERT INTO audit_events OVERRIDING SYSTEM VALUE SELECT * FROM saved_event;"
                          " DROP TABLE saved_event");
  EXPECT_TRUE(verify().ok);
}

TEST_F(AuditSeal, ALeafNamingASealThatDoesNotExistIsRefusedAndSealsCannotBeTruncated) {
  // Goal: migration 0022 checks a leaf's seal once per statement; the check still holds for
  // every row of a statement, and a seal cannot disappear under its leaves.
  member_with_points(40);
  seal_everything();
  auto connection = connect();
  const std::string leaf = "decode(repeat('ab', 32), 'hex')";
  // One leaf of a real seal and one of a seal that does not exist, in one statement.
  EXPECT_EQ(
      sqlstate_of(*connection,
                  "INSERT INTO audit_seal_log (seq, record_kind, record_id, created_xid, leaf_sha256,"
                  " chain_sha256, seal_id)"
                  " SELECT (SELECT max(seq) FROM audit_seal_log) + n, 'audit', -n, '1'::xid8, " +
                      leaf + ", " + leaf + ", CASE n WHEN 1 THEN (SELECT max(seal_id) FROM audit_seals) ELSE -7 END" +
                      " FROM generate_series(1, 2) AS n"),
      "23503");
  EXPECT_EQ(sqlstate_of(*connection, "TRUNCATE audit_seals CASCADE"), "42501");
  EXPECT_EQ(scalar("SELECT count(*) FROM audit_seal_log WHERE record_id < 0"), 0);
  EXPECT_TRUE(verify().ok);
}

TEST_F(AuditSeal, EntriesWhoseOrderWasSwappedAreNamed) {
  const auto first = credit_of(member_with_points(11)).first;
  const auto second = credit_of(member_with_points(12)).first;
  seal_everything();
  auto connection = connect();
  const std::string swap =
      "UPDATE entries e SET created_at = o.created_at, effective_at = o.effective_at FROM entries o"
      " WHERE (e.entry_id, o.entry_id) IN ((" +
      std::to_string(first) + "," + std::to_string(second) + "), (" + std::to_string(second) + "," +
      std::to_string(first) + "))";
  behind_the_ledgers_back(*connection, swap);
  const auto report = verify();
  ASSERT_TRUE(report.first_mismatch.has_value());
  EXPECT_EQ(report.first_mismatch->record_kind, "entry");
  EXPECT_EQ(report.first_mismatch->record_id, first);
  behind_the_ledgers_back(*connection, swap);
  EXPECT_TRUE(verify().ok);
}

TEST_F(AuditSeal, SealedLeavesReorderedInTheSealLogAreNamed) {
  member_with_points(5);
  seal_everything();
  const auto last = scalar("SELECT max(seq) FROM audit_seal_log");
  const std::string a = std::to_string(last - 1), b = std::to_string(last);
  auto connection = connect();
  const auto swap = [&] {
    behind_the_ledgers_back(*connection, "UPDATE audit_seal_log SET seq = -seq WHERE seq IN (" + a + "," + b +
                                             ");"
                                             " UPDATE audit_seal_log SET seq = CASE WHEN seq = -" +
                                             a + " THEN " + b + " ELSE " + a + " END WHERE seq IN (-" + a + ",-" + b +
                                             ")");
  };
  behind_the_ledgers_back(*connection, "ALTER TABLE audit_seal_log DROP CONSTRAINT audit_seal_log_seq_check");
  swap();
  const auto report = verify();
  ASSERT_TRUE(report.first_mismatch.has_value());
  EXPECT_EQ(std::to_string(report.first_mismatch->seq), a);
  swap();
  behind_the_ledgers_back(*connection,
                          "ALTER TABLE audit_seal_log ADD CONSTRAINT audit_seal_log_seq_check CHECK (seq > 0)");
  EXPECT_TRUE(verify().ok);
}

TEST_F(AuditSeal, WritersDoNotWaitWhileTheSealerHoldsItsLock) {
  // A sealer in the middle of its work: its transaction holds the sealing lock.
  auto sealer = connect();
  pqxx::work busy{*sealer};
  busy.exec("SELECT pg_advisory_xact_lock(" +
            std::to_string(static_cast<std::int64_t>(db::routing_key_of("audit:sealer"))) + ")");
  const auto started = std::chrono::steady_clock::now();
  member_with_points(40);
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(2));
  auto other = connect();
  EXPECT_TRUE(audit::seal_pending(*other, "test").busy);  // a second sealer steps aside
  busy.abort();
  seal_everything();
  EXPECT_TRUE(verify().ok);
}

TEST_F(AuditSeal, TheAuditTrailPagesWithACursorAndFilters) {
  for (int i = 0; i < 3; ++i) create_member();
  const std::string action = "POST%20/v1/members";
  const auto first = get("/v1/audit/events?limit=2&action=" + action, api::Role::finance);
  ASSERT_EQ(first.status, 200) << first.body;
  const auto page = first.json();
  ASSERT_EQ(page["items"].size(), 2u);
  ASSERT_TRUE(page.contains("next_cursor"));
  EXPECT_LT(page["items"][0]["audit_id"].get<std::int64_t>(), page["items"][1]["audit_id"].get<std::int64_t>());
  EXPECT_EQ(page["items"][0]["action"], "POST /v1/members");
  EXPECT_EQ(page["items"][0]["actor_kind"], "api_key");
  EXPECT_EQ(page["items"][0]["result"], "ok");
  const auto second =
      get("/v1/audit/events?limit=2&action=" + action + "&cursor=" + page["next_cursor"].get<std::string>(),
          api::Role::admin);
  ASSERT_EQ(second.status, 200) << second.body;
  ASSERT_FALSE(second.json()["items"].empty());
  EXPECT_GT(second.json()["items"][0]["audit_id"].get<std::int64_t>(),
            page["items"][1]["audit_id"].get<std::int64_t>());
  EXPECT_EQ(get("/v1/audit/events?from=yesterday", api::Role::finance).status, 422);
  EXPECT_EQ(get("/v1/audit/events?cursor=nonsense", api::Role::finance).status, 422);
  EXPECT_EQ(get("/v1/audit/events", api::Role::mall).status, 403);
  const auto future = get("/v1/audit/events?from=2999-01-01T00:00:00Z", api::Role::finance);
  EXPECT_TRUE(future.json()["items"].empty());
  EXPECT_FALSE(future.json().contains("next_cursor"));
}

TEST_F(AuditSeal, AFinishedJobRunIsAudited) {
  const auto ran = post("/v1/jobs/expire-holds", {{"as_of", "2031-05-01T00:00:00Z"}});
  ASSERT_EQ(ran.status, 200) << ran.body;
  const auto events = get("/v1/audit/events?action=job.run&actor=job:expire-holds", api::Role::finance).json()["items"];
  bool found = false;
  for (const auto& event : events) {
    const auto details = nlohmann::json::parse(event["details"].get<std::string>());
    found = found ||
            (event["actor_kind"] == "job" && details["as_of"] == "2031-05-01T00:00:00Z" && details.contains("items"));
  }
  EXPECT_TRUE(found) << events.dump();
  // Running it again for the same as_of does nothing, and records nothing more.
  post("/v1/jobs/expire-holds", {{"as_of", "2031-05-01T00:00:00Z"}});
  EXPECT_EQ(get("/v1/audit/events?action=job.run&actor=job:expire-holds", api::Role::finance).json()["items"].size(),
            events.size());
}

}  // namespace
}  // namespace loyalty::testing
