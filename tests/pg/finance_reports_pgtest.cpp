// Finance against a real PostgreSQL: the trial balance, the liability roll-forward
// identities, signed exports checked by stock tools (hledger, ledger, openssl) and by
// `loyaltyctl audit verify`, masking of personal data, and the erasure of a member's
// personal data with the ledger left intact.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "audit/audit_log.hpp"
#include "audit/csv.hpp"
#include "audit/export.hpp"
#include "ledger/accounts.hpp"
#include "ledger/journal.hpp"
#include "partners/request_signing.hpp"
#include "platform/database.hpp"
#include "platform/digest.hpp"
#include "platform/ed25519.hpp"
#include "platform/ids.hpp"
#include "tests/support/service_fixture.hpp"

namespace loyalty::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

struct CommandResult {
  int status = -1;
  std::string output;
};

CommandResult run(const std::string& command) {
  CommandResult result;
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (!pipe) return result;
  char buffer[4096];
  while (const auto got = fread(buffer, 1, sizeof buffer, pipe)) result.output.append(buffer, got);
  const int status = pclose(pipe);
  result.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

std::string read_file(const fs::path& path) {
  std::ifstream in{path, std::ios::binary};
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

fs::path loyaltyctl_binary() {
  return fs::canonical("/proc/self/exe").parent_path().parent_path() / "tools" / "loyaltyctl";
}

// A scratch directory with an Ed25519 key pair made by stock openssl.
struct Scratch {
  fs::path dir = fs::temp_directory_path() / ("loyalty-finance-" + new_id(""));
  Scratch() {
    fs::create_directories(dir);
    EXPECT_EQ(run("openssl genpkey -algorithm ed25519 -out " + (dir / "key.pem").string()).status, 0);
    EXPECT_EQ(
        run("openssl pkey -in " + (dir / "key.pem").string() + " -pubout -out " + (dir / "pub.pem").string()).status,
        0);
  }
  ~Scratch() { fs::remove_all(dir); }
  std::string key() const { return read_file(dir / "key.pem"); }
};

class Finance : public ServiceTest {
 protected:
  static audit::ExportSummary export_to(const fs::path& out, Timestamp from, Timestamp to, const std::string& key_pem) {
    auto connection = TestDatabase::instance().connect();
    const SigningKey signing_key = SigningKey::from_pem(key_pem);  // write_export throws for a bad one
    pqxx::transaction<pqxx::repeatable_read> txn{*connection};
    audit::DirectorySink sink{out.string()};
    auto summary = audit::write_export(txn, from, to, audit::ExportFormats{true, true, true}, sink, signing_key);
    txn.commit();
    return summary;
  }

  HttpResult erase(const std::string& member_id, api::Role role = api::Role::admin) {
    HttpClient client{service().port()};
    return client.request("DELETE", "/v1/members/" + member_id + "/personal-data", "",
                          {{"Authorization", "Bearer " + service().secret(role)}});
  }
};

// hledger's flat balance report as {account/commodity: amount}.
std::map<std::string, std::int64_t> hledger_balances(const fs::path& journal) {
  const auto report = run("hledger -f " + journal.string() + " bal --flat --no-total -O csv");
  EXPECT_EQ(report.status, 0) << report.output;
  std::map<std::string, std::int64_t> balances;
  std::istringstream lines{report.output};
  std::string line;
  std::getline(lines, line);  // "account","balance"
  while (std::getline(lines, line)) {
    const auto comma = line.find("\",\"");
    if (comma == std::string::npos) continue;
    const std::string account = line.substr(1, comma - 1);
    std::istringstream amounts{line.substr(comma + 3, line.size() - comma - 4)};
    for (std::string amount; std::getline(amounts, amount, ',');) {
      std::istringstream parts{amount};
      std::int64_t value = 0;
      std::string commodity;
      parts >> value >> commodity;
      if (commodity.size() > 1 && commodity.front() == '"') commodity = commodity.substr(1, commodity.size() - 2);
      if (value != 0) balances[account + "/" + commodity] = value;
    }
  }
  return balances;
}

TEST_F(Finance, TheTrialBalanceSumsToZeroPerAssetAndShowsEveryAccount) {
  const std::string member_id = member_with_points(300);
  const auto report = get("/v1/reports/trial-balance", api::Role::finance);
  ASSERT_EQ(report.status, 200) << report.body;
  const auto body = report.json();
  for (const auto& [asset, total] : body["totals"].items()) EXPECT_EQ(total.get<std::int64_t>(), 0) << asset;
  bool found = false;
  for (const auto& line : body["accounts"]) {
    if (line["account"] == "member:" + member_id + ":available" && line["asset"] == "POINTS") {
      found = true;
      EXPECT_EQ(line["balance"], 300);
    }
  }
  EXPECT_TRUE(found);
  // As of a moment before anything happened, every balance is zero.
  const auto before = get("/v1/reports/trial-balance?as_of=2000-01-01T00:00:00Z", api::Role::finance).json();
  for (const auto& line : before["accounts"]) {
    EXPECT_EQ(line["balance"], 0);
  }
  EXPECT_EQ(get("/v1/reports/trial-balance?as_of=soon", api::Role::finance).status, 422);
  EXPECT_EQ(get("/v1/reports/trial-balance", api::Role::mall).status, 403);
}

TEST_F(Finance, TheLiabilityRollForwardAddsUpByCategoryAndByEntryKind) {
  const auto from = format_rfc3339(now_utc());
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  const std::string member_id = member_with_points(1000);
  const auto hold = post("/v1/holds", {{"member_id", member_id}, {"amount", 200}, {"ttl_seconds", 600}}, unique("h-"),
                         api::Role::mall);
  ASSERT_EQ(hold.status, 201) << hold.body;
  const auto hold_id = hold.json()["hold_id"].get<std::string>();
  ASSERT_EQ(post("/v1/holds/" + hold_id + "/capture", {{"amount", 150}}).status, 200);
  const auto debit =
      post("/v1/adjustments",
           {{"member_id", member_id}, {"asset", "POINTS"}, {"amount", -30}, {"reason_code", "goodwill"}}, unique("d-"));
  ASSERT_EQ(debit.status, 201) << debit.body;
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  const auto to = format_rfc3339(now_utc());
  const auto report = get("/v1/reports/liability?from=" + from + "&to=" + to, api::Role::finance);
  ASSERT_EQ(report.status, 200) << report.body;
  const auto roll = report.json()["roll_forward"];
  const auto value = [&](const char* name) { return roll[name].get<std::int64_t>(); };
  EXPECT_EQ(value("opening") + value("issued") - value("redeemed") - value("expired") - value("exchanged") +
                value("adjustments"),
            value("closing"));
  std::int64_t by_kind = 0;
  for (const auto& item : roll["by_kind"]) by_kind += item["amount"].get<std::int64_t>();
  EXPECT_EQ(value("opening") + by_kind, value("closing"));
  EXPECT_EQ(value("redeemed"), 150);
  EXPECT_EQ(value("adjustments"), 1000 - 30);
  EXPECT_EQ(value("closing") - value("opening"), 1000 - 150 - 30);
  EXPECT_TRUE(roll["balanced"].get<bool>());
  // The outstanding points are the members' POINTS of the trial balance, valued at the program's rate.
  const auto outstanding = report.json()["outstanding"];
  EXPECT_EQ(outstanding["total"].get<std::int64_t>(), outstanding["available"].get<std::int64_t>() +
                                                          outstanding["pending"].get<std::int64_t>() +
                                                          outstanding["held"].get<std::int64_t>());
  EXPECT_EQ(outstanding["value_cents"].get<std::int64_t>(),
            outstanding["total"].get<std::int64_t>() * report.json()["point_value_cents"].get<std::int64_t>());
  EXPECT_EQ(get("/v1/reports/liability?from=" + from, api::Role::finance).status, 422);
}

TEST_F(Finance, TheExportedJournalIsAcceptedByHledgerAndLedgerAndEqualsTheTrialBalance) {
  Scratch scratch;
  const std::string member_id = member_with_points(420);
  post("/v1/adjustments", {{"member_id", member_id}, {"asset", "GROWTH"}, {"amount", 17}, {"reason_code", "goodwill"}},
       unique("g-"));
  const Timestamp from = now_utc() - std::chrono::hours(1);
  const Timestamp to = now_utc() + std::chrono::hours(1);
  // A split range: the second half's journal opens with the first half's balances.
  const Timestamp middle = now_utc() - std::chrono::seconds(1);
  const fs::path out = scratch.dir / "export";
  const auto summary = export_to(out, middle, to, scratch.key());
  EXPECT_GT(summary.postings, 0);
  const fs::path journal = out / "journal.ledger";
  const auto checked = run("hledger -f " + journal.string() + " check");
  EXPECT_EQ(checked.status, 0) << checked.output;
  const auto ledger = run("ledger -f " + journal.string() + " bal");
  EXPECT_EQ(ledger.status, 0) << ledger.output;
  std::map<std::string, std::int64_t> expected;
  const auto trial =
      get("/v1/reports/trial-balance?as_of=" + format_rfc3339(to - std::chrono::microseconds(1)), api::Role::finance);
  const auto trial_body = trial.json();
  for (const auto& line : trial_body["accounts"]) {
    if (line["balance"] != 0)
      expected[line["account"].get<std::string>() + "/" + line["asset"].get<std::string>()] = line["balance"];
  }
  ASSERT_EQ(trial.status, 200) << trial.body;
  EXPECT_EQ(hledger_balances(journal), expected) << trial.body;
  (void)from;
}

TEST_F(Finance, AManifestSignatureVerifiesWithStockOpensslAndLoyaltyctlChecksEveryFile) {
  Scratch scratch;
  member_with_points(99);
  const fs::path out = scratch.dir / "export";
  export_to(out, now_utc() - std::chrono::hours(1), now_utc() + std::chrono::hours(1), scratch.key());
  ASSERT_EQ(run("base64 -d " + (out / "manifest.sig").string() + " > " + (scratch.dir / "sig.bin").string()).status, 0);
  const auto openssl =
      run("openssl pkeyutl -verify -pubin -inkey " + (scratch.dir / "pub.pem").string() + " -rawin -in " +
          (out / "manifest.json").string() + " -sigfile " + (scratch.dir / "sig.bin").string());
  EXPECT_EQ(openssl.status, 0) << openssl.output;
  const std::string verify = loyaltyctl_binary().string() + " audit verify " + out.string() + " --public-key " +
                             (scratch.dir / "pub.pem").string();
  const auto verified = run(verify);
  EXPECT_EQ(verified.status, 0) << verified.output;
  // Another key did not sign it.
  Scratch other;
  EXPECT_NE(run(loyaltyctl_binary().string() + " audit verify " + out.string() + " --public-key " +
                (other.dir / "pub.pem").string())
                .status,
            0);
  // One changed byte in an exported file is caught.
  {
    std::fstream postings{out / "postings.csv", std::ios::in | std::ios::out | std::ios::binary};
    postings.seekp(-2, std::ios::end);
    postings.put('7');
  }
  const auto edited = run(verify);
  EXPECT_NE(edited.status, 0) << edited.output;
  EXPECT_NE(edited.output.find("FAIL  postings.csv"), std::string::npos) << edited.output;
}

// The record of a CSV file whose column `column` holds `value`, read by the project's reader.
std::optional<std::vector<std::string>> csv_record_with(const fs::path& path, std::size_t column,
                                                        const std::string& value) {
  std::ifstream in{path, std::ios::binary};
  audit::CsvReader reader{in};
  while (const auto record = reader.next()) {
    if (record->size() > column && (*record)[column] == value) return record;
  }
  EXPECT_FALSE(reader.problem()) << *reader.problem();
  return std::nullopt;
}

TEST_F(Finance, QuotesCommasAndLineBreaksInEveryFreeTextFieldRoundTripThroughExportAndVerify) {
  // An adjustment note may hold a line break: the export writes it as one quoted CSV field, and
  // the verifier must read it as one field of one record (counting lines raised a false alarm).
  Scratch scratch;
  const auto tricky = [](const std::string& field) {
    return field + ": say \"hi\", then\nthe next line,\r\nand a \"\"quoted\"\" end, with a trailing comma,";
  };
  std::int64_t entry_id = 0;
  {
    auto connection = TestDatabase::instance().connect();
    pqxx::work txn{*connection};
    ledger::EntryDraft draft;
    draft.kind = "adjustment";
    draft.effective_at = now_utc();
    draft.reference = tricky("reference");
    draft.reason_code = tricky("reason_code");
    draft.note = tricky("note");
    draft.origin = ledger::Origin{tricky("request_id"), tricky("actor")};
    draft.postings = {{ledger::ensure_system_account(txn, "test:csv-source", "POINTS"), "POINTS", -5},
                      {ledger::ensure_system_account(txn, "test:csv-target", "POINTS"), "POINTS", 5}};
    entry_id = ledger::post_entry(txn, draft).entry_id;
    audit::AuditRecord event;
    event.actor_kind = "operator";
    event.actor_id = tricky("actor_id");
    event.actor_name = tricky("actor_name");
    event.action = "test.csv_round_trip";
    event.subject = tricky("subject");
    event.request_id = tricky("request_id");
    event.source_address = tricky("source_address");
    event.result = "ok";
    event.details_json = json{{"note", tricky("details")}}.dump();
    audit::record(txn, event);
    txn.commit();
  }
  const fs::path out = scratch.dir / "export";
  export_to(out, now_utc() - std::chrono::hours(1), now_utc() + std::chrono::hours(1), scratch.key());
  const auto verified = run(loyaltyctl_binary().string() + " audit verify " + out.string() + " --public-key " +
                            (scratch.dir / "pub.pem").string());
  EXPECT_EQ(verified.status, 0) << verified.output;
  EXPECT_EQ(verified.output.find("FAIL"), std::string::npos) << verified.output;

  const auto entry = csv_record_with(out / "entries.csv", 0, std::to_string(entry_id));
  ASSERT_TRUE(entry);
  ASSERT_EQ(entry->size(), 12u);
  EXPECT_EQ((*entry)[5], tricky("reference"));
  EXPECT_EQ((*entry)[6], tricky("reason_code"));
  EXPECT_EQ((*entry)[7], tricky("note"));
  EXPECT_EQ((*entry)[10], tricky("actor"));
  EXPECT_EQ((*entry)[11], tricky("request_id"));
  const auto audited = csv_record_with(out / "audit_events.csv", 5, "test.csv_round_trip");
  ASSERT_TRUE(audited);
  ASSERT_EQ(audited->size(), 11u);
  EXPECT_EQ((*audited)[3], tricky("actor_id"));
  EXPECT_EQ((*audited)[4], tricky("actor_name"));
  EXPECT_EQ((*audited)[6], tricky("subject"));
  EXPECT_EQ((*audited)[7], tricky("request_id"));
  EXPECT_EQ((*audited)[8], tricky("source_address"));
  EXPECT_EQ(json::parse((*audited)[10]).at("note"), tricky("details"));
  // The same record, as JSON Lines, holds the same text.
  std::ifstream jsonl{out / "entries.jsonl"};
  bool found = false;
  for (std::string line; std::getline(jsonl, line);) {
    const json parsed = json::parse(line);
    if (parsed.at("entry_id") != entry_id) continue;
    found = true;
    EXPECT_EQ(parsed.at("note"), tricky("note"));
    EXPECT_EQ(parsed.at("reference"), tricky("reference"));
  }
  EXPECT_TRUE(found);

  // An edited file is caught (its sha256, and the reader: a stray quote unbalances the fields).
  {
    std::string text = read_file(out / "entries.csv");
    text.insert(text.find("note: say"), "\"");
    std::ofstream(out / "entries.csv", std::ios::binary | std::ios::trunc) << text;
  }
  const auto edited = run(loyaltyctl_binary().string() + " audit verify " + out.string());
  EXPECT_NE(edited.status, 0) << edited.output;
  EXPECT_NE(edited.output.find("FAIL  entries.csv"), std::string::npos) << edited.output;
}

TEST_F(Finance, AnExportThroughTheApiIsSignedAndServedFileByFile) {
  Scratch scratch;
  auto options = RunningService::default_options(TestDatabase::instance().url());
  options.signing_key_pem = scratch.key();
  RunningService signing{options};
  HttpClient client{signing.port()};
  const std::map<std::string, std::string> finance{{"Authorization", "Bearer " + signing.secret(api::Role::finance)},
                                                   {"Content-Type", "application/json"}};
  member_with_points(64);
  const json request{{"from", format_rfc3339(now_utc() - std::chrono::hours(1))},
                     {"to", format_rfc3339(now_utc() + std::chrono::hours(1))},
                     {"formats", {"csv", "jsonl", "ledger"}}};
  const auto created = client.request("POST", "/v1/exports", request.dump(), finance);
  ASSERT_EQ(created.status, 202) << created.body;
  const std::string export_id = created.json()["export_id"];
  EXPECT_EQ(created.header("location"), "/v1/exports/" + export_id);
  json status;
  for (int attempt = 0; attempt < 200; ++attempt) {
    status = client.request("GET", "/v1/exports/" + export_id, "", finance).json();
    if (status["status"] != "running") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_EQ(status["status"], "done") << status.dump();
  const auto manifest = client.request("GET", "/v1/exports/" + export_id + "/files/manifest.json", "", finance);
  const auto signature = client.request("GET", "/v1/exports/" + export_id + "/files/manifest.sig", "", finance);
  ASSERT_EQ(manifest.status, 200);
  const auto public_key = read_file(scratch.dir / "pub.pem");
  EXPECT_TRUE(partners::verify_ed25519(public_key, manifest.body, signature.body));
  // Held in a variable: a range-for over a member of a temporary reads freed memory (C++20).
  const json listed = json::parse(manifest.body);
  for (const auto& file : listed.at("files")) {
    const std::string path = "/v1/exports/" + export_id + "/files/" + file["name"].get<std::string>();
    const auto body = client.request("GET", path, "", finance);
    EXPECT_EQ(to_hex(sha256(body.body)), file["sha256"]) << file.dump();
    // Its ETag is its sha256; a client that has it gets 304 and no body.
    const std::string etag = "\"" + file["sha256"].get<std::string>() + "\"";
    EXPECT_EQ(body.header("etag"), etag);
    EXPECT_EQ(body.header("content-disposition"),
              "attachment; filename=\"" + export_id + "-" + file["name"].get<std::string>() + "\"");
    auto conditional = finance;
    conditional["If-None-Match"] = etag;
    const auto unchanged = client.request("GET", path, "", conditional);
    EXPECT_EQ(unchanged.status, 304);
    EXPECT_TRUE(unchanged.body.empty());
    EXPECT_EQ(unchanged.header("etag"), etag);
  }
  EXPECT_EQ(client.request("GET", "/v1/exports/" + export_id + "/files/secrets.txt", "", finance).status, 404);
  EXPECT_EQ(client.request("POST", "/v1/exports", json{{"from", "x"}, {"formats", {"pdf"}}}.dump(), finance).status,
            422);
}

// A stored file of several chunks is streamed a chunk at a time, with its full length up front,
// byte for byte; a second request on the same connection still works after it.
TEST_F(Finance, AnExportFileOfSeveralChunksIsStreamedWhole) {
  const std::string export_id = "exp_" + new_id("").substr(0, 20);
  std::string content;
  for (int row = 0; content.size() < 2 * audit::export_chunk_bytes + 12345; ++row) {
    content += std::to_string(row) + ",\"a note, with \"\"quotes\"\"\",2026-12-02T08:00:00Z\n";
  }
  {
    auto connection = TestDatabase::instance().connect();
    pqxx::work txn{*connection};
    txn.exec_params(
        "INSERT INTO exports (export_id, range_from, range_to, formats, status, requested_by)"
        " VALUES ($1, now() - interval '1 hour', now(), '{csv}', 'done', 'test')",
        export_id);
    audit::DatabaseSink sink{txn, export_id};
    sink.begin_file("entries.csv");
    for (std::size_t at = 0; at < content.size(); at += 100000)
      sink.write("entries.csv", std::string_view(content).substr(at, 100000));
    sink.end_file({"entries.csv", static_cast<std::int64_t>(content.size()), 0, to_hex(sha256(content))});
    txn.commit();
  }
  HttpClient client{service().port()};
  const std::map<std::string, std::string> finance{{"Authorization", "Bearer " + service().secret(api::Role::finance)}};
  const auto file = client.request("GET", "/v1/exports/" + export_id + "/files/entries.csv", "", finance);
  ASSERT_EQ(file.status, 200);
  EXPECT_EQ(file.header("content-length"), std::to_string(content.size()));
  EXPECT_EQ(file.body.size(), content.size());
  EXPECT_TRUE(file.body == content) << "the streamed file differs from what was stored";
  EXPECT_EQ(file.header("etag"), "\"" + to_hex(sha256(content)) + "\"");
  EXPECT_EQ(client
                .request("GET", "/v1/exports/" + export_id + "/files/entries.csv", "",
                         {{"Authorization", finance.at("Authorization")},
                          {"If-None-Match", "\"" + to_hex(sha256(content)) + "\""}})
                .status,
            304);
}

TEST_F(Finance, AnExportLeftRunningByAProcessThatStoppedReadsFailed) {
  const std::string export_id = new_id("exp_");
  {
    // As a process that accepted the export and died would leave it: running, its key unheld.
    auto connection = TestDatabase::instance().connect();
    pqxx::work txn{*connection};
    txn.exec_params(
        "INSERT INTO exports (export_id, range_from, range_to, formats, status, requested_by, runner_key)"
        " VALUES ($1, now() - interval '1 day', now(), '{csv}', 'running', 'test', 123456789)",
        export_id);
    txn.commit();
  }
  const auto orphan = get("/v1/exports/" + export_id, api::Role::finance);
  ASSERT_EQ(orphan.status, 200) << orphan.body;
  EXPECT_EQ(orphan.json()["status"], "failed");
  EXPECT_NE(orphan.json()["error"].get<std::string>().find("stopped"), std::string::npos);
  // While a process holds the key, the export is that process's and still running.
  auto holder = TestDatabase::instance().connect();
  pqxx::nontransaction{*holder}.exec("SELECT pg_advisory_lock(123456789)");
  EXPECT_EQ(get("/v1/exports/" + export_id, api::Role::finance).json()["status"], "running");
}

TEST_F(Finance, ExportsAndTheAuditTrailNeverHoldAFullPhoneNumber) {
  Scratch scratch;
  const auto created =
      post("/v1/members", {{"external_id", unique("ext-")}, {"display_name", "Li Lei"}, {"phone", "13812341234"}});
  ASSERT_EQ(created.status, 201) << created.body;
  const std::string member_id = created.json()["member_id"];
  ASSERT_EQ(post("/v1/adjustments",
                 {{"member_id", member_id},
                  {"asset", "POINTS"},
                  {"amount", 5},
                  {"reason_code", "goodwill"},
                  {"note", "called the member at 13812341234"}},
                 unique("n-"))
                .status,
            201);
  const fs::path out = scratch.dir / "export";
  export_to(out, now_utc() - std::chrono::hours(1), now_utc() + std::chrono::hours(1), scratch.key());
  for (const auto& file : fs::directory_iterator(out)) {
    const std::string text = read_file(file.path());
    EXPECT_EQ(text.find("13812341234"), std::string::npos) << file.path();
    EXPECT_EQ(text.find("Li Lei"), std::string::npos) << file.path();
  }
  EXPECT_NE(read_file(out / "entries.csv").find("138****1234"), std::string::npos);
  EXPECT_NE(read_file(out / "entries.csv").find(member_id), std::string::npos);  // the pseudonymous id
}

TEST_F(Finance, ErasingPersonalDataKeepsTheLedgerIntactAndIsAudited) {
  const auto created =
      post("/v1/members", {{"external_id", unique("ext-")}, {"display_name", "Han Meimei"}, {"phone", "13900001111"}});
  const std::string member_id = created.json()["member_id"];
  ASSERT_EQ(
      post("/v1/adjustments",
           {{"member_id", member_id}, {"asset", "POINTS"}, {"amount", 80}, {"reason_code", "goodwill"}}, unique("e-"))
          .status,
      201);
  const auto entries_before = count_rows("entries");
  const auto erased = erase(member_id);
  ASSERT_EQ(erased.status, 200) << erased.body;
  EXPECT_EQ(erased.json()["erased_fields"], json({"display_name", "phone"}));
  const auto member = get("/v1/members/" + member_id).json();
  EXPECT_FALSE(member.contains("display_name"));
  EXPECT_FALSE(member.contains("phone"));
  EXPECT_EQ(points_balance(member_id)["available"], 80);
  EXPECT_EQ(count_rows("entries"), entries_before);
  const auto again = erase(member_id);
  EXPECT_EQ(again.status, 200);
  EXPECT_TRUE(again.json()["erased_fields"].empty());
  EXPECT_EQ(erase("mem_00000000000000000000").status, 404);
  EXPECT_EQ(erase(member_id, api::Role::finance).status, 403);
  const auto audited =
      get("/v1/audit/events?action=DELETE%20/v1/members/%7Bmember_id%7D/personal-data", api::Role::finance);
  bool found = false;
  const auto audited_body = audited.json();
  for (const auto& event : audited_body["items"])
    found = found || event["subject"] == "/v1/members/" + member_id + "/personal-data";
  EXPECT_TRUE(found) << member_id << " " << audited.body;
}

// A replay of the member's creation under its idempotency key must not bring the erased name
// and phone back: the stored answer is cleared with the member.
TEST_F(Finance, ErasingPersonalDataClearsItFromStoredAnswersToo) {
  const std::string key = unique("create-");
  const nlohmann::json body = {
      {"external_id", unique("ext-")}, {"display_name", "Zhang Wei"}, {"phone", "13700002222"}};
  const auto created = post("/v1/members", body, key);
  ASSERT_EQ(created.status, 201) << created.body;
  const std::string member_id = created.json()["member_id"];
  const auto before = post("/v1/members", body, key);
  ASSERT_NE(before.body.find("13700002222"), std::string::npos) << "the replay showed the phone before the erasure";

  ASSERT_EQ(erase(member_id).status, 200);
  const auto replay = post("/v1/members", body, key);
  EXPECT_EQ(replay.status, 201) << replay.body;
  EXPECT_EQ(replay.json()["member_id"], member_id);
  EXPECT_EQ(replay.body.find("13700002222"), std::string::npos) << replay.body;
  EXPECT_EQ(replay.body.find("Zhang Wei"), std::string::npos) << replay.body;
  EXPECT_EQ(count_rows("idempotency_keys WHERE position(convert_to('13700002222', 'UTF8') IN response) > 0"
                       " OR position(convert_to('Zhang Wei', 'UTF8') IN response) > 0"),
            0);
}

}  // namespace
}  // namespace loyalty::testing
