#include "audit/export.hpp"

#include <openssl/evp.h>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "audit/csv.hpp"
#include "audit/privacy.hpp"
#include "audit/seal.hpp"
#include "platform/database.hpp"
#include "platform/digest.hpp"

namespace loyalty::audit {

namespace {

using nlohmann::json;

const db::Statement insert_chunk{
    "export.insert_chunk",
    "INSERT INTO export_file_chunks (export_id, name, chunk, content) VALUES ($1, $2, $3, decode($4, 'hex'))"};
const db::Statement insert_file{"export.insert_file",
                                "INSERT INTO export_files (export_id, name, bytes, sha256) VALUES ($1, $2, $3, $4)"};
const db::Statement select_chunk{
    "export.select_chunk", "SELECT content FROM export_file_chunks WHERE export_id = $1 AND name = $2 AND chunk = $3"};
const db::Statement select_file{"export.select_file",
                                "SELECT bytes, sha256 FROM export_files WHERE export_id = $1 AND name = $2"};

// One output file: buffered, hashed and counted as it is written.
class ExportFile {
 public:
  ExportFile(ExportSink& sink, std::string name) : sink_(sink), digest_(EVP_MD_CTX_new()) {
    file_.name = std::move(name);
    EVP_DigestInit_ex(digest_, EVP_sha256(), nullptr);
    sink_.begin_file(file_.name);
  }
  ~ExportFile() { EVP_MD_CTX_free(digest_); }
  ExportFile(const ExportFile&) = delete;
  ExportFile& operator=(const ExportFile&) = delete;

  void write(std::string_view bytes) {
    buffer_.append(bytes);
    if (buffer_.size() >= export_buffer_bytes) flush();
  }
  void row(std::string_view line) {
    write(line);
    ++file_.rows;
  }
  ExportedFile finish() {
    flush();
    unsigned char hash[EVP_MAX_MD_SIZE];
    unsigned int size = 0;
    EVP_DigestFinal_ex(digest_, hash, &size);
    file_.sha256_hex = to_hex(std::string_view(reinterpret_cast<const char*>(hash), size));
    sink_.end_file(file_);
    return file_;
  }

 private:
  void flush() {
    if (buffer_.empty()) return;
    EVP_DigestUpdate(digest_, buffer_.data(), buffer_.size());
    file_.bytes += static_cast<std::int64_t>(buffer_.size());
    sink_.write(file_.name, buffer_);
    buffer_.clear();
  }
  ExportSink& sink_;
  EVP_MD_CTX* digest_;
  ExportedFile file_;
  std::string buffer_;
};

// A server-side cursor read in chunks of export_fetch_rows.
class RowStream {
 public:
  RowStream(pqxx::transaction_base& txn, std::string name, const std::string& query)
      : txn_(txn), name_(std::move(name)) {
    txn_.exec("DECLARE " + name_ + " NO SCROLL CURSOR FOR " + query);
  }
  std::optional<pqxx::row> peek() {
    if (index_ >= chunk_.size()) {
      if (done_) return std::nullopt;
      chunk_ = txn_.exec("FETCH " + std::to_string(export_fetch_rows) + " FROM " + name_);
      index_ = 0;
      if (chunk_.empty()) {
        done_ = true;
        txn_.exec("CLOSE " + name_);
        return std::nullopt;
      }
    }
    return chunk_[static_cast<pqxx::result::size_type>(index_)];
  }
  void next() { ++index_; }

 private:
  pqxx::transaction_base& txn_;
  std::string name_;
  pqxx::result chunk_;
  std::size_t index_ = 0;
  bool done_ = false;
};

std::string text_or_empty(const pqxx::field& field) {
  return field.is_null() ? "" : field.c_str();
}
std::string masked_or_empty(const pqxx::field& field) {
  return field.is_null() ? "" : mask_phone_numbers(field.c_str());
}
std::string time_text(const pqxx::field& field) {
  return format_rfc3339(db::time_of(field));
}
json json_text(const pqxx::field& field, bool masked = false) {
  if (field.is_null()) return nullptr;
  return masked ? mask_phone_numbers(field.c_str()) : std::string(field.c_str());
}
json json_number(const pqxx::field& field) {
  if (field.is_null()) return nullptr;
  return field.as<std::int64_t>();
}

struct AssetTotals {
  std::int64_t postings = 0, credits = 0, debits = 0;
};

// Everything write_export keeps while it streams: the open files and the running totals.
struct ExportRun {
  pqxx::transaction_base& txn;
  ExportSink& sink;
  const ExportFormats& formats;
  std::string from_sql, to_sql;  // quoted literals
  std::string from_date;
  std::function<void(std::int64_t)> progress;
  ExportSummary summary;
  std::map<std::string, AssetTotals> totals;
  std::unique_ptr<ExportFile> entries_csv, postings_csv, entries_jsonl, journal;
  std::int64_t rows = 0;

  void tick() {
    if (progress && ++rows % export_fetch_rows == 0) progress(rows);
  }
};

void write_balances(ExportRun& run) {
  ExportFile balances{run.sink, "balances.csv"};
  balances.write(csv_record({"account", "asset", "opening", "movement", "closing"}));
  std::string opening;
  RowStream rows{run.txn, "export_balances",
                 "SELECT a.name, a.asset,"
                 " coalesce(sum(p.amount) FILTER (WHERE e.effective_at < " +
                     run.from_sql +
                     "), 0)::bigint,"
                     " coalesce(sum(p.amount) FILTER (WHERE e.effective_at >= " +
                     run.from_sql +
                     "), 0)::bigint"
                     " FROM accounts a JOIN postings p ON p.account_id = a.account_id"
                     " JOIN entries e ON e.entry_id = p.entry_id AND e.effective_at < " +
                     run.to_sql + " GROUP BY a.name, a.asset ORDER BY a.name, a.asset"};
  bool opening_started = false;
  while (const auto row = rows.peek()) {
    const auto open = (*row)[2].as<std::int64_t>();
    const auto movement = (*row)[3].as<std::int64_t>();
    std::int64_t closing = 0;
    if (__builtin_add_overflow(open, movement, &closing)) throw std::overflow_error("a balance does not fit in int64");
    balances.row(csv_record({(*row)[0].c_str(), (*row)[1].c_str(), std::to_string(open), std::to_string(movement),
                             std::to_string(closing)}));
    if (run.journal && open != 0) {
      if (!opening_started) {
        run.journal->write(run.from_date + " * opening balances\n    ; balances as of the start of the range\n");
        opening_started = true;
      }
      run.journal->write("    " + std::string((*row)[0].c_str()) + "    " + std::to_string(open) + " " +
                         journal_commodity((*row)[1].c_str()) + "\n");
    }
    ++run.summary.accounts;
    rows.next();
  }
  if (opening_started) run.journal->write("\n");
  run.summary.files.push_back(balances.finish());
}

void write_entry(ExportRun& run, const pqxx::row& entry, const std::vector<pqxx::row>& postings) {
  const std::string entry_id = entry[0].c_str();
  const std::string kind = entry[1].c_str();
  if (run.entries_csv) {
    run.entries_csv->row(csv_record({entry_id, kind, time_text(entry[2]), time_text(entry[3]), text_or_empty(entry[4]),
                                     masked_or_empty(entry[5]), masked_or_empty(entry[6]), masked_or_empty(entry[7]),
                                     text_or_empty(entry[8]), text_or_empty(entry[9]), masked_or_empty(entry[10]),
                                     text_or_empty(entry[11])}));
  }
  json posting_items = json::array();
  for (const auto& posting : postings) {
    const std::string asset = posting[3].c_str();
    const auto amount = posting[4].as<std::int64_t>();
    AssetTotals& totals = run.totals[asset];
    ++totals.postings;
    if (amount > 0 ? __builtin_add_overflow(totals.credits, amount, &totals.credits)
                   : __builtin_sub_overflow(totals.debits, amount, &totals.debits)) {
      throw std::overflow_error("an export total does not fit in int64");
    }
    if (run.postings_csv) {
      run.postings_csv->row(csv_record(
          {posting[1].c_str(), entry_id, posting[2].c_str(), asset, posting[4].c_str(), text_or_empty(posting[5])}));
    }
    if (run.entries_jsonl) {
      posting_items.push_back({{"posting_id", posting[1].as<std::int64_t>()},
                               {"account", posting[2].c_str()},
                               {"asset", asset},
                               {"amount", amount},
                               {"balance_after", json_number(posting[5])}});
    }
    ++run.summary.postings;
    run.tick();
  }
  if (run.entries_jsonl) {
    const json line{{"entry_id", entry[0].as<std::int64_t>()},    {"kind", kind},
                    {"effective_at", time_text(entry[2])},        {"created_at", time_text(entry[3])},
                    {"member_id", json_text(entry[4])},           {"reference", json_text(entry[5], true)},
                    {"reason_code", json_text(entry[6], true)},   {"note", json_text(entry[7], true)},
                    {"reverses_entry_id", json_number(entry[8])}, {"program_version", json_number(entry[9])},
                    {"actor", json_text(entry[10], true)},        {"request_id", json_text(entry[11])},
                    {"postings", std::move(posting_items)}};
    run.entries_jsonl->row(line.dump() + "\n");
  }
  if (run.journal) {
    std::string text = time_text(entry[2]).substr(0, 10) + " * " + kind + " entry " + entry_id +
                       "\n    ; entry_id:" + entry_id + ", effective_at:" + time_text(entry[2]) + "\n";
    for (const auto& posting : postings) {
      text += "    " + std::string(posting[2].c_str()) + "    " + posting[4].c_str() + " " +
              journal_commodity(posting[3].c_str()) + "\n";
    }
    run.journal->row(text + "\n");
  }
  ++run.summary.entries;
}

void write_entries(ExportRun& run) {
  const std::string range = "e.effective_at >= " + run.from_sql + " AND e.effective_at < " + run.to_sql;
  RowStream entries{run.txn, "export_entries",
                    "SELECT e.entry_id, e.kind, e.effective_at, e.created_at, e.member_id, e.reference,"
                    " e.reason_code, e.note, e.reverses_entry_id, e.program_version, e.actor, e.request_id"
                    " FROM entries e WHERE " +
                        range + " ORDER BY e.entry_id"};
  RowStream postings{run.txn, "export_postings",
                     "SELECT p.entry_id, p.posting_id, a.name, p.asset, p.amount, p.balance_after"
                     " FROM postings p JOIN entries e ON e.entry_id = p.entry_id"
                     " JOIN accounts a ON a.account_id = p.account_id WHERE " +
                         range + " ORDER BY p.entry_id, p.posting_id"};
  std::vector<pqxx::row> of_entry;
  while (const auto entry = entries.peek()) {
    const auto entry_id = (*entry)[0].as<std::int64_t>();
    of_entry.clear();
    while (const auto posting = postings.peek()) {
      if ((*posting)[0].as<std::int64_t>() != entry_id) break;
      of_entry.push_back(*posting);
      postings.next();
    }
    write_entry(run, *entry, of_entry);
    entries.next();
  }
}

void write_audit_events(ExportRun& run) {
  std::unique_ptr<ExportFile> csv, jsonl;
  if (run.formats.csv) {
    csv = std::make_unique<ExportFile>(run.sink, "audit_events.csv");
    csv->write(csv_record({"audit_id", "occurred_at", "actor_kind", "actor_id", "actor_name", "action", "subject",
                           "request_id", "source_address", "result", "details"}));
  }
  if (run.formats.jsonl) jsonl = std::make_unique<ExportFile>(run.sink, "audit_events.jsonl");
  RowStream events{run.txn, "export_audit",
                   "SELECT audit_id, occurred_at, actor_kind, actor_id, actor_name, action, subject, request_id,"
                   " source_address, result, details::text FROM audit_events WHERE occurred_at >= " +
                       run.from_sql + " AND occurred_at < " + run.to_sql + " ORDER BY audit_id"};
  while (const auto event = events.peek()) {
    const pqxx::row& row = *event;
    if (csv) {
      csv->row(csv_record({row[0].c_str(), time_text(row[1]), row[2].c_str(), text_or_empty(row[3]),
                           masked_or_empty(row[4]), row[5].c_str(), masked_or_empty(row[6]), text_or_empty(row[7]),
                           text_or_empty(row[8]), row[9].c_str(), mask_phone_numbers_in_json(row[10].c_str())}));
    }
    if (jsonl) {
      const json line{{"audit_id", row[0].as<std::int64_t>()},
                      {"occurred_at", time_text(row[1])},
                      {"actor_kind", row[2].c_str()},
                      {"actor_id", json_text(row[3])},
                      {"actor_name", json_text(row[4], true)},
                      {"action", row[5].c_str()},
                      {"subject", json_text(row[6], true)},
                      {"request_id", json_text(row[7])},
                      {"source_address", json_text(row[8])},
                      {"result", row[9].c_str()},
                      {"details", json::parse(mask_phone_numbers_in_json(row[10].c_str()))}};
      jsonl->row(line.dump() + "\n");
    }
    ++run.summary.audit_events;
    run.tick();
    events.next();
  }
  if (csv) run.summary.files.push_back(csv->finish());
  if (jsonl) run.summary.files.push_back(jsonl->finish());
}

std::string manifest_text(ExportRun& run, Timestamp from, Timestamp to, const SigningKey& signing_key) {
  json totals = json::object();
  for (const auto& [asset, sums] : run.totals) {
    totals[asset] = {{"postings", sums.postings},
                     {"credits", sums.credits},
                     {"debits", sums.debits},
                     {"net", sums.credits - sums.debits}};
  }
  json files = json::array();
  for (const auto& file : run.summary.files) {
    files.push_back({{"name", file.name}, {"bytes", file.bytes}, {"rows", file.rows}, {"sha256", file.sha256_hex}});
  }
  json seal = nullptr;
  if (const auto head = latest_seal(run.txn)) {
    seal = {{"seal_id", head->seal_id},
            {"last_seq", head->last_seq},
            {"head", head->head_hex},
            {"sealed_at", head->sealed_at}};
  }
  const json manifest{
      {"format", "loyalty-ledger-export/1"},
      {"range", {{"from", format_rfc3339(from)}, {"to", format_rfc3339(to)}}},
      {"generated_at", format_rfc3339(now_utc())},
      {"formats", run.formats.names()},
      {"row_counts",
       {{"entries", run.summary.entries},
        {"postings", run.summary.postings},
        {"audit_events", run.summary.audit_events},
        {"accounts", run.summary.accounts}}},
      {"totals", totals},
      {"files", files},
      {"audit_seal", seal},
      {"signing_key",
       {{"algorithm", "ed25519"}, {"key_id", signing_key.key_id()}, {"public_key_pem", signing_key.public_pem()}}},
  };
  return manifest.dump(2) + "\n";
}

}  // namespace

std::vector<std::string> ExportFormats::names() const {
  std::vector<std::string> out;
  if (csv) out.push_back("csv");
  if (jsonl) out.push_back("jsonl");
  if (ledger) out.push_back("ledger");
  return out;
}

std::optional<ExportFormats> parse_formats(const std::vector<std::string>& names, std::string* unknown) {
  ExportFormats formats;
  for (const auto& name : names) {
    if (name == "csv") {
      formats.csv = true;
    } else if (name == "jsonl") {
      formats.jsonl = true;
    } else if (name == "ledger") {
      formats.ledger = true;
    } else {
      if (unknown) *unknown = name;
      return std::nullopt;
    }
  }
  if (formats.names().empty()) return std::nullopt;
  return formats;
}

std::string journal_commodity(std::string_view asset) {
  for (char c : asset) {
    if (!(c >= 'A' && c <= 'Z') && !(c >= 'a' && c <= 'z')) return "\"" + std::string(asset) + "\"";
  }
  return std::string(asset);
}

struct DirectorySink::State {
  std::filesystem::path directory;
  std::map<std::string, std::ofstream> files;
};

DirectorySink::DirectorySink(std::string directory) : state_(std::make_unique<State>()) {
  state_->directory = directory;
  std::filesystem::create_directories(state_->directory);
}
DirectorySink::~DirectorySink() = default;

void DirectorySink::begin_file(const std::string& name) {
  auto& out = state_->files[name];
  out = std::ofstream(state_->directory / name, std::ios::binary | std::ios::trunc);
  if (!out) throw std::runtime_error("cannot write " + (state_->directory / name).string());
}
void DirectorySink::write(const std::string& name, std::string_view bytes) {
  auto& out = state_->files.at(name);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw std::runtime_error("writing " + name + " failed");
}
void DirectorySink::end_file(const ExportedFile& file) {
  auto& out = state_->files.at(file.name);
  out.close();
  if (out.fail()) throw std::runtime_error("closing " + file.name + " failed");
  state_->files.erase(file.name);
}

DatabaseSink::DatabaseSink(pqxx::transaction_base& txn, std::string export_id)
    : txn_(txn), export_id_(std::move(export_id)) {}

void DatabaseSink::begin_file(const std::string& name) {
  files_[name] = Pending{};
}
void DatabaseSink::write(const std::string& name, std::string_view bytes) {
  Pending& pending = files_.at(name);
  pending.bytes.append(bytes);
  if (pending.bytes.size() >= export_chunk_bytes) store_chunks(name, pending, false);
}
void DatabaseSink::store_chunks(const std::string& name, Pending& pending, bool last) {
  std::size_t offset = 0;
  while (pending.bytes.size() - offset >= export_chunk_bytes || (last && offset < pending.bytes.size())) {
    const auto piece = std::string_view(pending.bytes).substr(offset, export_chunk_bytes);
    db::exec(txn_, insert_chunk, export_id_, name, pending.chunk++, to_hex(piece));
    offset += piece.size();
  }
  pending.bytes.erase(0, offset);
}
void DatabaseSink::end_file(const ExportedFile& file) {
  store_chunks(file.name, files_.at(file.name), true);
  files_.erase(file.name);
  db::exec(txn_, insert_file, export_id_, file.name, file.bytes, file.sha256_hex);
}

ExportSummary write_export(pqxx::transaction_base& txn, Timestamp from, Timestamp to, const ExportFormats& formats,
                           ExportSink& sink, const SigningKey& signing_key,
                           const std::function<void(std::int64_t)>& progress) {
  ExportRun run{txn,
                sink,
                formats,
                txn.quote(db::sql_time(from)) + "::timestamptz",
                txn.quote(db::sql_time(to)) + "::timestamptz",
                format_rfc3339(from).substr(0, 10),
                progress};
  if (formats.ledger) {
    run.journal = std::make_unique<ExportFile>(sink, "journal.ledger");
    run.journal->write("; loyalty-ledger journal, entries effective in [" + format_rfc3339(from) + ", " +
                       format_rfc3339(to) + "); amounts are integers in each asset's smallest unit\n\n");
  }
  write_balances(run);  // the journal's opening balances come first
  if (formats.csv) {
    run.entries_csv = std::make_unique<ExportFile>(sink, "entries.csv");
    run.entries_csv->write(
        csv_record({"entry_id", "kind", "effective_at", "created_at", "member_id", "reference", "reason_code", "note",
                    "reverses_entry_id", "program_version", "actor", "request_id"}));
    run.postings_csv = std::make_unique<ExportFile>(sink, "postings.csv");
    run.postings_csv->write(csv_record({"posting_id", "entry_id", "account", "asset", "amount", "balance_after"}));
  }
  if (formats.jsonl) run.entries_jsonl = std::make_unique<ExportFile>(sink, "entries.jsonl");
  write_entries(run);
  for (auto* file : {&run.journal, &run.entries_csv, &run.postings_csv, &run.entries_jsonl}) {
    if (*file) run.summary.files.push_back((*file)->finish());
  }
  write_audit_events(run);
  if (progress) progress(run.rows);
  run.summary.manifest = manifest_text(run, from, to, signing_key);
  const auto signature = signing_key.sign(run.summary.manifest);
  if (!signature) throw std::runtime_error("the manifest could not be signed (is the signing key an Ed25519 PEM?)");
  run.summary.signature = *signature;
  for (const auto& [name, bytes] :
       {std::pair{"manifest.json", &run.summary.manifest}, std::pair{"manifest.sig", &run.summary.signature}}) {
    ExportFile file{sink, name};
    file.write(*bytes);
    file.finish();
  }
  return run.summary;
}

std::optional<StoredFile> stored_file(pqxx::transaction_base& txn, const std::string& export_id,
                                      const std::string& name) {
  const auto rows = db::exec(txn, select_file, export_id, name);
  if (rows.empty()) return std::nullopt;
  return StoredFile{rows[0][0].as<std::int64_t>(), rows[0][1].c_str()};
}

std::optional<std::string> read_stored_file(pqxx::transaction_base& txn, const std::string& export_id,
                                            const std::string& name) {
  const auto file = stored_file(txn, export_id, name);
  if (!file) return std::nullopt;
  std::string content;
  content.reserve(static_cast<std::size_t>(file->bytes));
  for (int chunk = 0; static_cast<std::int64_t>(content.size()) < file->bytes; ++chunk) {
    const auto piece = read_stored_chunk(txn, export_id, name, chunk);
    if (!piece)
      throw std::runtime_error("export " + export_id + " lacks chunk " + std::to_string(chunk) + " of " + name);
    content += *piece;
  }
  return content;
}

std::optional<std::string> read_stored_chunk(pqxx::transaction_base& txn, const std::string& export_id,
                                             const std::string& name, int chunk) {
  const auto rows = db::exec(txn, select_chunk, export_id, name, chunk);
  if (rows.empty()) return std::nullopt;
  return pqxx::binarystring(rows[0][0]).str();
}

}  // namespace loyalty::audit
