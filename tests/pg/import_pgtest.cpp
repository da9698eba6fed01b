// Bringing history in: `loyaltyctl import members|balances|events` run as an operator runs it,
// against a real PostgreSQL — a second run changes nothing, bad rows are rejected by line while
// the others apply, a run killed midway resumes, opening balances are lots funded from
// system:migration that the trial balance shows, and imported history puts members on the
// levels it earns. The ledger's invariants are checked after every scenario.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "audit/csv.hpp"
#include "audit/finance_reports.hpp"
#include "earning/events.hpp"
#include "platform/database.hpp"
#include "platform/ids.hpp"
#include "program/store.hpp"
#include "tests/support/test_database.hpp"

namespace loyalty::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const std::string loyaltyctl = std::string(LOYALTY_BINARY_DIR) + "/tools/loyaltyctl";

struct Imported {
  int status = -1;
  json summary;        // the --json line
  std::string errors;  // stderr
};

class Import : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("loyalty-import-" + new_id(""));
    fs::create_directories(dir_);
    prefix_ = new_id("x") + "-";  // this test's external ids, apart from the other tests'
  }
  void TearDown() override {
    fs::remove_all(dir_);
    EXPECT_LEDGER_INVARIANTS_HOLD();
  }

  std::string file(const std::string& name, const std::string& text) {
    const std::string path = (dir_ / name).string();
    std::ofstream(path, std::ios::binary) << text;
    return path;
  }
  std::string id(const std::string& name) const { return prefix_ + name; }

  // `loyaltyctl import WORDS --json` with the test database; stdout and stderr apart.
  Imported import(const std::string& words) {
    const std::string errors = (dir_ / "stderr.txt").string();
    const std::string command = "LOYALTY_DATABASE_URL='" + TestDatabase::instance().url() + "' " + loyaltyctl +
                                " import " + words + " --json 2>" + errors;
    Imported result;
    FILE* pipe = popen(command.c_str(), "r");
    std::string out;
    char buffer[4096];
    while (const auto got = fread(buffer, 1, sizeof buffer, pipe)) out.append(buffer, got);
    const int status = pclose(pipe);
    result.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    result.summary = json::parse(out, nullptr, false);
    std::stringstream text;
    text << std::ifstream(errors).rdbuf();
    result.errors = text.str();
    return result;
  }

  std::int64_t number(const std::string& sql) {
    auto db = TestDatabase::instance().connect();
    pqxx::read_transaction txn{*db};
    return txn.exec(sql)[0][0].as<std::int64_t>();
  }
  std::string member_id(const std::string& external_id) {
    auto db = TestDatabase::instance().connect();
    pqxx::read_transaction txn{*db};
    const auto rows = txn.exec("SELECT member_id FROM members WHERE external_id = " + txn.quote(external_id));
    return rows.empty() ? "" : rows[0][0].c_str();
  }
  std::int64_t points(const std::string& external_id, const std::string& part = "available") {
    return number("SELECT balance FROM accounts WHERE asset = 'POINTS' AND part = '" + part + "' AND member_id = '" +
                  member_id(external_id) + "'");
  }
  std::string level(const std::string& external_id, const std::string& track) {
    auto db = TestDatabase::instance().connect();
    pqxx::read_transaction txn{*db};
    const auto rows = txn.exec("SELECT level FROM member_tiers WHERE track = " + txn.quote(track) +
                               " AND member_id = " + txn.quote(member_id(external_id)));
    return rows.empty() ? "(bottom)" : rows[0][0].c_str();
  }
  std::string members_file(int count) {
    std::string text = "external_id,display_name,phone\n";
    for (int i = 0; i < count; ++i) text += id("m" + std::to_string(i)) + ",Member " + std::to_string(i) + ",\n";
    return file("members.csv", text);
  }

  fs::path dir_;
  std::string prefix_;
};

TEST_F(Import, MembersAndBalancesTwiceChangeNothingTheSecondTimeAndShowInTheTrialBalance) {
  const std::string members = members_file(30);
  const Timestamp expiry = now_utc() + std::chrono::days{400};
  std::string text = "import_id,external_id,asset,amount,expires_at,note\n";
  for (int i = 0; i < 30; ++i) {
    text += id("b" + std::to_string(i)) + "," + id("m" + std::to_string(i)) + ",POINTS," + std::to_string(100 + i) +
            "," + (i % 2 ? format_rfc3339(expiry) : "") + ",from the old system\n";
  }
  const std::string balances = file("balances.csv", text);
  const std::int64_t migration_before = number(
      "SELECT coalesce(sum(p.amount), 0) FROM postings p JOIN accounts a USING (account_id)"
      " WHERE a.name = 'system:migration'");

  const auto first_members = import("members " + members);
  ASSERT_EQ(first_members.status, 0) << first_members.errors;
  EXPECT_EQ(first_members.summary["applied"], 30);
  const auto first = import("balances " + balances + " --batch-rows 7");
  ASSERT_EQ(first.status, 0) << first.errors;
  EXPECT_EQ(first.summary["applied"], 30);
  EXPECT_EQ(first.summary["batches"], 5);
  EXPECT_EQ(points(id("m3")), 103);

  const auto again_members = import("members " + members);
  const auto again = import("balances " + balances);
  EXPECT_EQ(again_members.summary["applied"], 0);
  EXPECT_EQ(again_members.summary["skipped"], 30);
  EXPECT_EQ(again.summary["applied"], 0);
  EXPECT_EQ(again.summary["skipped"], 30);
  EXPECT_EQ(points(id("m3")), 103);

  // Each balance is a lot with the row's expiry (or the program's: 24 months after the import).
  EXPECT_EQ(number("SELECT count(*) FROM lots l JOIN members m USING (member_id) WHERE l.source = 'migration'"
                   " AND m.external_id LIKE '" +
                   prefix_ + "%' AND l.expires_at = '" + format_rfc3339(expiry) + "'"),
            15);
  EXPECT_EQ(number("SELECT count(*) FROM lots l JOIN members m USING (member_id) WHERE l.source = 'migration'"
                   " AND m.external_id LIKE '" +
                   prefix_ + "%' AND l.expires_at > now() + interval '23 months'"),
            15);
  // The migrated liability: system:migration funds exactly what the members hold.
  auto db = TestDatabase::instance().connect();
  pqxx::read_transaction txn{*db};
  const auto trial = audit::trial_balance(txn, now_utc() + std::chrono::seconds{1});
  std::int64_t migration = 0;
  for (const auto& line : trial.accounts) {
    if (line.account == "system:migration") migration = line.balance;
  }
  EXPECT_EQ(migration - migration_before, -(30 * 100 + 29 * 30 / 2));
  EXPECT_EQ(trial.totals.at("POINTS"), 0);
  const auto liability = audit::liability_report(txn, now_utc() + std::chrono::seconds{1}, 1, std::nullopt);
  bool listed = false;
  for (const auto& line : liability.funding_accounts) listed = listed || line.name == "system:migration";
  EXPECT_TRUE(listed);
}

TEST_F(Import, BadRowsAreRejectedByLineAndReasonWhileTheOthersApply) {
  const std::string members = file("members.csv",
                                   "external_id,display_name,phone\n" +                                     // line 1
                                       id("ok1") + ",\"Wang, \"\"the\"\" first\nsecond line\",+86 138\n" +  // 2-3
                                       id("bad1") + ",Name,call me\n" +                                     // 4
                                       id("bad2") + ",Na\"me,\n" +                                          // 5
                                       id("ok2") + ",Plain,\n" +                                            // 6
                                       id("bad3") + ",two fields\n" +                                       // 7
                                       id("ok3") + ",\"comma, inside\",\n");                                // 8
  const auto imported = import("members " + members);
  EXPECT_EQ(imported.status, 1) << imported.errors;
  EXPECT_EQ(imported.summary["applied"], 3);
  EXPECT_EQ(imported.summary["rejected"], 3);
  EXPECT_NE(imported.errors.find("line 4: phone"), std::string::npos) << imported.errors;
  EXPECT_NE(imported.errors.find("line 5: not readable as CSV"), std::string::npos) << imported.errors;
  EXPECT_NE(imported.errors.find("line 7: expected 3 fields, found 2"), std::string::npos) << imported.errors;
  const std::string rejected_path = (dir_ / "members.rejected.csv").string();
  ASSERT_EQ(imported.summary["rejected_file"], rejected_path);
  std::stringstream rejected_text;
  rejected_text << std::ifstream(rejected_path).rdbuf();
  const auto rejected = audit::read_csv(rejected_text.str());
  ASSERT_FALSE(rejected.problem) << *rejected.problem;
  ASSERT_EQ(rejected.records.size(), 4u);
  EXPECT_EQ(rejected.records[0], (std::vector<std::string>{"external_id", "display_name", "phone", "reason"}));
  EXPECT_EQ(rejected.records[1][0], id("bad1"));
  EXPECT_TRUE(rejected.records[1][3].starts_with("line 4: phone")) << rejected.records[1][3];

  auto db = TestDatabase::instance().connect();
  pqxx::read_transaction txn{*db};
  EXPECT_EQ(txn.exec("SELECT display_name FROM members WHERE external_id = " + txn.quote(id("ok1")))[0][0].c_str(),
            std::string("Wang, \"the\" first\nsecond line"));

  const Timestamp past = now_utc() - std::chrono::days{1};
  const std::string balances =
      file("balances.csv", "import_id,external_id,asset,amount,expires_at,note\n" + id("z1") + "," + id("ok1") +
                               ",POINTS,0,,\n" + id("z2") + "," + id("ok1") + ",GROWTH,10,,\n" + id("z3") + "," +
                               id("ok1") + ",POINTS,10," + format_rfc3339(past) + ",\n" + id("z4") + "," +
                               id("nobody") + ",POINTS,10,,\n" + id("z5") + "," + id("ok1") + ",POINTS,ten,,\n" +
                               id("z6") + "," + id("ok1") + ",POINTS,-5,,\n" + id("z7") + "," + id("ok1") +
                               ",POINTS,70,,\"a note, with \"\"quotes\"\"\"\n");
  const auto opened = import("balances " + balances);
  EXPECT_EQ(opened.summary["applied"], 1) << opened.errors;
  EXPECT_EQ(opened.summary["rejected"], 6);
  for (const char* expected :
       {"line 2: amount: must be above zero", "line 3: asset: only POINTS", "line 4: expires_at: already past",
        "line 5: member_not_found", "line 6: amount: a whole number", "line 7: amount: must be above zero"}) {
    EXPECT_NE(opened.errors.find(expected), std::string::npos) << expected << "\n" << opened.errors;
  }
  EXPECT_EQ(points(id("ok1")), 70);
  // The same import_id with another amount is a mistake, never a second credit.
  const std::string changed = file("changed.csv", "import_id,external_id,asset,amount,expires_at,note\n" + id("z7") +
                                                      "," + id("ok1") + ",POINTS,71,,\n");
  const auto reused = import("balances " + changed);
  EXPECT_EQ(reused.summary["rejected"], 1);
  EXPECT_NE(reused.errors.find("import_id_reused"), std::string::npos) << reused.errors;
  EXPECT_EQ(points(id("ok1")), 70);
}

TEST_F(Import, AKilledRunResumesAfterItsLastCommittedBatchAndEndsWithEveryRowOnce) {
  const int events = 6000;
  ASSERT_EQ(import("members " + members_file(20)).status, 0);
  const Timestamp base = now_utc() - std::chrono::days{300};
  std::string text = "event_id,external_id,type,occurred_at,attributes\n";
  for (int i = 0; i < events; ++i) {
    text += id("e" + std::to_string(i)) + "," + id("m" + std::to_string(i % 20)) + ",purchase," +
            format_rfc3339(base + std::chrono::minutes{i}) + ",\"{\"\"amount_cents\"\":" + std::to_string(100 + i) +
            "}\"\n";
  }
  const std::string path = file("events.csv", text);
  const std::string count_sql = "SELECT count(*) FROM events WHERE event_id LIKE '" + prefix_ + "%'";

  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    setenv("LOYALTY_DATABASE_URL", TestDatabase::instance().url().c_str(), 1);
    const int null = open("/dev/null", O_WRONLY);
    dup2(null, STDOUT_FILENO);
    dup2(null, STDERR_FILENO);
    execl(loyaltyctl.c_str(), "loyaltyctl", "import", "events", path.c_str(), "--batch-rows", "50", nullptr);
    _exit(127);
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{30};
  while (number(count_sql) < 500 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds{20});
  }
  kill(child, SIGKILL);
  int status = 0;
  waitpid(child, &status, 0);
  // A COMMIT the child sent just before it died is still the server's to finish: the count is
  // taken once it has stood still for a while.
  std::int64_t before = number(count_sql);
  for (int unchanged = 0; unchanged < 3;) {
    std::this_thread::sleep_for(std::chrono::milliseconds{200});
    const std::int64_t now = number(count_sql);
    unchanged = now == before ? unchanged + 1 : 0;
    before = now;
  }
  ASSERT_GE(before, 500);
  ASSERT_LT(before, events) << "the run ended before it was killed: make the file longer";

  const auto resumed = import("events " + path);
  ASSERT_EQ(resumed.status, 0) << resumed.errors;
  EXPECT_GT(resumed.summary["resumed_after_line"].get<std::int64_t>(), 1);
  EXPECT_EQ(resumed.summary["applied"].get<std::int64_t>(), events - before);
  EXPECT_EQ(number(count_sql), events);
  // Every event awarded once, and the pending week long past.
  EXPECT_EQ(number("SELECT count(*) FROM event_awards WHERE event_id LIKE '" + prefix_ + "%'"), events);
  EXPECT_EQ(points(id("m0")),
            number("SELECT sum(amount) FROM event_awards WHERE member_id = '" + member_id(id("m0")) + "'"));
  EXPECT_EQ(points(id("m0"), "pending"), 0);

  const auto again = import("events " + path);  // a finished file is checked row by row again
  EXPECT_EQ(again.summary["resumed_after_line"], 0);
  EXPECT_EQ(again.summary["skipped"], events);
  EXPECT_EQ(number(count_sql), events);
}

TEST_F(Import, HistoryOnlyEventsPutMembersOnTheLevelsTheyEarnWithoutAwardingAndCountForCaps) {
  ASSERT_EQ(import("members " + members_file(4)).status, 0);
  const auto days_ago = [](int days) { return format_rfc3339(now_utc() - std::chrono::days{days}); };
  const auto purchase = [&](const std::string& event, const std::string& member, int days, std::int64_t cents) {
    return id(event) + "," + id(member) + ",purchase," + days_ago(days) +
           ",\"{\"\"amount_cents\"\":" + std::to_string(cents) + "}\"\n";
  };
  const std::string history =
      file("history.csv", "event_id,external_id,type,occurred_at,attributes\n" + purchase("h1", "m0", 200, 300000) +
                              purchase("h2", "m0", 100, 300000) +   // silver
                              purchase("h3", "m1", 400, 9000000) +  // out of the window
                              purchase("h4", "m2", 30, 2500000) +   // gold
                              id("h5") + "," + id("m3") + ",vehicle_delivery," + days_ago(900) + ",\n" + id("h6") +
                              "," + id("m3") + ",vehicle_delivery," + days_ago(800) + ",\n" + id("h7") + "," +
                              id("m3") + ",vehicle_delivery," + days_ago(10) + ",\n");
  const auto imported = import("events " + history + " --history-only");
  ASSERT_EQ(imported.status, 0) << imported.errors;
  EXPECT_EQ(imported.summary["applied"], 7);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(points(id("m" + std::to_string(i))), 0);

  const std::string run = "LOYALTY_DATABASE_URL='" + TestDatabase::instance().url() + "' " + loyaltyctl +
                          " jobs run evaluate-tiers > /dev/null 2>&1";
  ASSERT_EQ(std::system(run.c_str()), 0);
  EXPECT_EQ(level(id("m0"), "spend"), "silver");
  EXPECT_TRUE(level(id("m1"), "spend") == "(bottom)" || level(id("m1"), "spend") == "member");
  EXPECT_EQ(level(id("m2"), "spend"), "gold");
  EXPECT_EQ(level(id("m3"), "engagement"), "active");  // 500 GROWTH the deliveries would have given

  // The lifetime cap of three deliveries counts the history: a fourth, with awards, gets nothing.
  const std::string fourth = file("fourth.csv", "event_id,external_id,type,occurred_at,attributes\n" + id("h8") + "," +
                                                    id("m3") + ",vehicle_delivery," + days_ago(1) + ",\n");
  const auto capped = import("events " + fourth);
  EXPECT_EQ(capped.summary["applied"], 1) << capped.errors;
  EXPECT_EQ(points(id("m3")), 0);
  EXPECT_EQ(number("SELECT count(*) FROM event_awards WHERE event_id = '" + id("h8") + "'"), 0);

  // Reversing a history-only event takes its GROWTH and cap count out of the days (the
  // invariants, checked at the end, compare the days with the events and history awards).
  auto db = TestDatabase::instance().connect();
  db::run_transaction(*db, "reverse", [&](pqxx::transaction_base& txn) {
    const auto program = program::current_program(txn);
    const auto reversed = earning::reverse_event(txn, *program, id("h7"), "imported by mistake", now_utc(), {});
    EXPECT_TRUE(std::holds_alternative<earning::Reversal>(reversed));
    return 0;
  });
  EXPECT_EQ(number("SELECT coalesce(sum(events), 0) FROM member_rule_days WHERE member_id = '" + member_id(id("m3")) +
                   "' AND rule_id = 'delivery-welcome'"),
            2);
}

}  // namespace
}  // namespace loyalty::testing
