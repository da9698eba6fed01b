#include "importing/import_file.hpp"

#include <openssl/evp.h>

#include <charconv>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <regex>

#include <nlohmann/json.hpp>

#include "audit/audit_log.hpp"
#include "audit/csv.hpp"
#include "platform/assert.hpp"
#include "platform/digest.hpp"
#include "program/store.hpp"

namespace loyalty::importing {
namespace {

// import_runs (migrations/0015): a file's run by its kind and checksum.
const db::Statement select_run{
    "import.select_run",
    "SELECT lines_done, finished_at IS NOT NULL FROM import_runs WHERE kind = $1 AND file_sha256 = $2"};

const db::Statement start_run{
    "import.start_run",
    "INSERT INTO import_runs (kind, file_sha256, file_name, started_at, updated_at) VALUES ($1, $2, $3, $4, $4)"
    " ON CONFLICT (kind, file_sha256) DO UPDATE SET file_name = EXCLUDED.file_name, lines_done = 0, applied = 0,"
    " skipped = 0, rejected = 0, started_at = EXCLUDED.started_at, updated_at = EXCLUDED.updated_at,"
    " finished_at = NULL"};

const db::Statement record_progress{
    "import.record_progress",
    "UPDATE import_runs SET lines_done = $3, applied = applied + $4, skipped = skipped + $5,"
    " rejected = rejected + $6, updated_at = $7 WHERE kind = $1 AND file_sha256 = $2"};

// The tables an import of each kind writes to, for ANALYZE after a run.
const char* analyzed_tables(Kind kind) {
  switch (kind) {
    case Kind::members: return "members, accounts";
    case Kind::balances: return "accounts, entries, postings, lots";
    case Kind::events:
      return "accounts, entries, postings, lots, events, event_awards, history_awards, member_tiers,"
             " member_spend_days, member_growth_days, member_rule_days";
  }
  return "members, accounts";
}

const db::Statement finish_run{
    "import.finish_run",
    "UPDATE import_runs SET finished_at = $3, updated_at = $3 WHERE kind = $1 AND file_sha256 = $2"};

// One import of a file at a time: a second process answers at once instead of doing the same
// work (session-level, released when the connection closes).
const db::Statement try_lock_run{"import.try_lock_run", "SELECT pg_try_advisory_lock(hashtextextended($1, 15))"};
const db::Statement unlock_run{"import.unlock_run", "SELECT pg_advisory_unlock(hashtextextended($1, 15))"};

constexpr std::size_t file_read_chunk_bytes = 1 << 20;

std::optional<std::string> file_sha256(std::istream& in) {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> context{EVP_MD_CTX_new(), EVP_MD_CTX_free};
  LOYALTY_ASSERT(context && EVP_DigestInit_ex(context.get(), EVP_sha256(), nullptr) == 1, "SHA-256 is available");
  std::string chunk(file_read_chunk_bytes, '\0');
  while (in) {
    in.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
    if (in.gcount() > 0) EVP_DigestUpdate(context.get(), chunk.data(), static_cast<std::size_t>(in.gcount()));
  }
  if (in.bad()) return std::nullopt;
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_DigestFinal_ex(context.get(), digest, &length);
  return to_hex(std::string_view(reinterpret_cast<const char*>(digest), length));
}

// members.csv → members.rejected.csv (FILE.rejected.csv of the contract).
std::string rejected_path(const std::string& file) {
  const std::string stem = file.ends_with(".csv") ? file.substr(0, file.size() - 4) : file;
  return stem + ".rejected.csv";
}

std::string first_line(const std::string& text) {
  return text.substr(0, text.find('\n'));
}

std::unique_ptr<Importer> importer_of(Kind kind) {
  switch (kind) {
    case Kind::members: return members_importer();
    case Kind::balances: return balances_importer();
    case Kind::events: return events_importer();
  }
  return nullptr;
}

// A run of one file: reads rows, applies them in batches, writes rejects, keeps the report.
class Run {
 public:
  Run(pqxx::connection& connection, const ImportOptions& options, const ImportObserver& observer, Importer& importer)
      : connection_(connection), options_(options), observer_(observer), importer_(importer) {}

  std::optional<FileProblem> start();
  void read(audit::CsvReader& reader, std::istream& in);
  ImportReport finish();

  ImportReport report;
  std::string run_kind;  // import_runs.kind
  std::uint64_t bytes_total = 0;

 private:
  void apply(std::vector<Row>& rows, std::uint64_t bytes_read);
  std::vector<RowOutcome> apply_in_transaction(const std::vector<const Row*>& rows);
  void finish_batch(db::WriteBuffer& writes, const std::vector<const Row*>& rows,
                    const std::vector<RowOutcome>& outcomes);
  void write_rejects(const std::vector<Row>& rows, const std::vector<RowOutcome>& outcomes);

  pqxx::connection& connection_;
  const ImportOptions& options_;
  const ImportObserver& observer_;
  Importer& importer_;
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  std::ofstream rejects_;
  bool resumed_ = false;
};

std::optional<FileProblem> Run::start() {
  const std::string& sha = report.file_sha256;
  pqxx::nontransaction txn{connection_};
  if (!db::exec(txn, try_lock_run, run_kind + ":" + sha)[0][0].as<bool>()) {
    return FileProblem{"another loyaltyctl is importing this file now"};
  }
  if (options_.kind == Kind::events && !program::current_program(txn)) {
    return FileProblem{"no program is in force: apply one first (loyaltyctl program apply)"};
  }
  const auto rows = db::exec(txn, select_run, run_kind, sha);
  if (!rows.empty() && !rows[0][1].as<bool>()) {
    // An earlier run of this very file stopped midway: its committed batches need no second look.
    report.resumed_after_line = rows[0][0].as<std::int64_t>();
    resumed_ = true;
  } else {
    db::exec(txn, start_run, run_kind, sha, options_.file, db::sql_time(now_utc()));
  }
  const std::string path = rejected_path(options_.file);
  if (!resumed_) std::filesystem::remove(path);
  return std::nullopt;
}

void Run::read(audit::CsvReader& reader, std::istream& in) {
  std::vector<Row> batch;
  const auto line_done = [&](std::size_t line) {
    return resumed_ && line <= static_cast<std::size_t>(report.resumed_after_line);
  };
  while (true) {
    Row row;
    bool more = true;
    if (auto record = reader.next()) {
      row.fields = std::move(*record);
    } else if (reader.problem()) {
      row.csv_problem = *reader.problem();
      more = reader.skip_faulty_record();
    } else {
      break;
    }
    row.line = reader.record_line();
    ++report.rows;
    if (line_done(row.line)) {
      ++report.skipped;
    } else {
      batch.push_back(std::move(row));
    }
    if (static_cast<int>(batch.size()) >= options_.batch_rows || (!more && !batch.empty())) {
      apply(batch, static_cast<std::uint64_t>(std::max<std::streamoff>(static_cast<std::streamoff>(in.tellg()), 0)));
      batch.clear();
    }
    if (!more) break;
  }
  if (!batch.empty()) apply(batch, bytes_total);
}

void Run::apply(std::vector<Row>& rows, std::uint64_t bytes_read) {
  std::vector<const Row*> pointers;
  for (const Row& row : rows) pointers.push_back(&row);
  std::vector<RowOutcome> outcomes;
  try {
    outcomes = apply_in_transaction(pointers);
  } catch (const pqxx::in_doubt_error&) {
    throw;  // whether the batch committed is unknown: a re-run of the file settles it by key
  } catch (const pqxx::broken_connection&) {
    throw;
  } catch (const pqxx::sql_error& error) {
    // The database refused what the decisions allowed (a trigger, a constraint): as the write
    // protocol does, the rows go one by one so that only the row at fault is rejected.
    if (rows.size() == 1) {
      outcomes = {rejected("the database refused the row: " + first_line(error.what()))};
    } else {
      for (Row& row : rows) {
        std::vector<Row> one{std::move(row)};
        apply(one, bytes_read);
        row = std::move(one.front());
      }
      return;
    }
  }
  ++report.batches;
  for (const RowOutcome& outcome : outcomes) {
    if (outcome.result == RowResult::applied) ++report.applied;
    if (outcome.result == RowResult::skipped) ++report.skipped;
    if (outcome.result == RowResult::rejected) ++report.rejected;
  }
  write_rejects(rows, outcomes);
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
  if (observer_.progress) observer_.progress(ImportProgress{report, bytes_read, bytes_total});
}

std::vector<RowOutcome> Run::apply_in_transaction(const std::vector<const Row*>& rows) {
  return db::run_transaction(connection_, "import_" + run_kind, [&](pqxx::transaction_base& txn) {
    BatchContext context{now_utc(), ledger::Origin{std::nullopt, options_.actor + " (import)"}, options_.history_only};
    auto outcomes = importer_.apply(
        txn, rows, context,
        [&](db::WriteBuffer& writes, const std::vector<RowOutcome>& decided) { finish_batch(writes, rows, decided); });
    LOYALTY_ASSERT(outcomes.size() == rows.size(), "an importer answers every row of its batch");
    return outcomes;
  });
}

// The run's progress and one audit record for the batch, in the batch's own flush.
void Run::finish_batch(db::WriteBuffer& writes, const std::vector<const Row*>& rows,
                       const std::vector<RowOutcome>& outcomes) {
  std::int64_t counts[3] = {0, 0, 0};
  for (const RowOutcome& outcome : outcomes) ++counts[static_cast<int>(outcome.result)];
  writes.add(record_progress, run_kind, report.file_sha256, static_cast<std::int64_t>(rows.back()->line), counts[0],
             counts[1], counts[2], db::sql_time(now_utc()));
  audit::AuditRecord record;
  record.actor_kind = "operator";
  record.actor_id = options_.actor;
  record.action = "import." + std::string(kind_name(options_.kind));
  record.subject = "import:" + run_kind + ":" + report.file_sha256.substr(0, 16);
  record.details_json = nlohmann::json{
      {"file", options_.file},
      {"history_only", options_.history_only},
      {"from_line", rows.front()->line},
      {"to_line", rows.back()->line},
      {"applied", counts[0]},
      {"skipped", counts[1]},
      {"rejected",
       counts[2]}}.dump();
  audit::record_many(writes, {record});
}

// After the batch committed: its rejected rows, each with the header's width and a reason.
void Run::write_rejects(const std::vector<Row>& rows, const std::vector<RowOutcome>& outcomes) {
  for (std::size_t i = 0; i < rows.size(); ++i) {
    if (outcomes[i].result != RowResult::rejected) continue;
    const std::string reason = "line " + std::to_string(rows[i].line) + ": " + outcomes[i].reason;
    if (observer_.rejected) observer_.rejected(rows[i].line, outcomes[i].reason);
    if (!rejects_.is_open()) {
      const std::string path = rejected_path(options_.file);
      const bool exists = std::filesystem::exists(path);
      rejects_.open(path, std::ios::app | std::ios::binary);
      if (!rejects_) throw std::runtime_error("cannot write " + path);
      if (!exists) {
        auto header = importer_.header();
        header.push_back("reason");
        rejects_ << audit::csv_record(header);
      }
      report.rejected_file = path;
    }
    std::vector<std::string> fields = rows[i].fields;
    fields.resize(importer_.header().size());
    fields.push_back(reason);
    rejects_ << audit::csv_record(fields);
  }
  rejects_.flush();
}

ImportReport Run::finish() {
  {
    pqxx::work txn{connection_, "import_finish"};
    db::exec(txn, finish_run, run_kind, report.file_sha256, db::sql_time(now_utc()));
    txn.commit();
  }
  pqxx::nontransaction txn{connection_};
  db::exec(txn, unlock_run, run_kind + ":" + report.file_sha256);
  // A bulk load leaves the planner's statistics describing the tables as they were before it:
  // until autovacuum's next analyze, the service's prepared statements could be planned for
  // tables of a few rows (a sequential scan of every account per batch). Analyze what the run
  // wrote, as pg_restore's documentation advises after a restore.
  if (report.applied > 0) txn.exec(std::string("ANALYZE ") + analyzed_tables(options_.kind));
  if (!report.rejected_file && resumed_ && std::filesystem::exists(rejected_path(options_.file))) {
    report.rejected_file = rejected_path(options_.file);  // the rejects of the run this one resumed
  }
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
  return report;
}

}  // namespace

const char* kind_name(Kind kind) {
  switch (kind) {
    case Kind::members: return "members";
    case Kind::balances: return "balances";
    case Kind::events: return "events";
  }
  return "members";
}

std::optional<std::int64_t> whole_number(const std::string& text) {
  std::int64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || error != std::errc{} || end != text.data() + text.size()) return std::nullopt;
  return value;
}

bool is_key_text(const std::string& text) {
  if (text.empty() || text.size() > 128) return false;
  return text.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.:-") ==
         std::string::npos;
}

std::variant<ImportReport, FileProblem> import_file(pqxx::connection& connection, const ImportOptions& options,
                                                    const ImportObserver& observer) {
  LOYALTY_ASSERT(options.batch_rows >= 1 && options.batch_rows <= batch_rows_max, "a batch size checked by the caller");
  const auto importer = importer_of(options.kind);
  std::ifstream in{options.file, std::ios::binary};
  if (!in) return FileProblem{"cannot read " + options.file};
  Run run{connection, options, observer, *importer};
  run.report.kind = kind_name(options.kind);
  run.report.file = options.file;
  run.run_kind = options.kind == Kind::events && options.history_only ? "events_history" : kind_name(options.kind);
  std::error_code size_error;
  run.bytes_total = std::filesystem::file_size(options.file, size_error);
  const auto sha = file_sha256(in);
  if (!sha) return FileProblem{"cannot read " + options.file};
  run.report.file_sha256 = *sha;
  in.clear();
  in.seekg(0);
  audit::CsvReader reader{in};
  auto header = reader.next();
  if (header && !header->empty() && header->front().starts_with("\xEF\xBB\xBF")) {
    header->front().erase(0, 3);  // a byte order mark, as spreadsheets write
  }
  if (!header || *header != importer->header()) {
    std::string expected;
    for (const auto& name : importer->header()) expected += (expected.empty() ? "" : ",") + name;
    return FileProblem{options.file + ": the first line must be the header " + expected};
  }
  if (auto problem = run.start()) return *problem;
  run.read(reader, in);
  return run.finish();
}

}  // namespace loyalty::importing
