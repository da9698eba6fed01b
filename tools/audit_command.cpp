// loyaltyctl audit seal | audit verify | audit verify DIR
//   seal        seals every finished record into the hash chain now (loyaltyd does it too)
//   verify      recomputes the chain from the database and names the first broken record
//   verify DIR  checks an export offline: the manifest's signature (--public-key PEM, else
//               the public half of --signing-key, else the key embedded in the manifest), every
//               file's size and sha256, row counts and per-asset totals, that every entry
//               balances, that every CSV record has its header's fields (a quoted line break
//               is inside a field, not a new record), and that the journal's balances equal
//               balances.csv.
// Exit status 0 only when every check passes.
#include <openssl/evp.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <charconv>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <sstream>

#include "audit/csv.hpp"
#include "audit/export.hpp"
#include "audit/seal.hpp"
#include "partners/request_signing.hpp"
#include "partners/signing_keys.hpp"
#include "platform/digest.hpp"
#include "platform/text.hpp"
#include "tools/flags.hpp"

namespace loyalty::tools {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

// Collects the outcome of each offline check, printing one line per check.
struct Checks {
  int failed = 0;
  void pass(const std::string& what) { std::printf("ok    %s\n", what.c_str()); }
  void fail(const std::string& what) {
    std::printf("FAIL  %s\n", what.c_str());
    ++failed;
  }
  void check(bool ok, const std::string& what) { ok ? pass(what) : fail(what); }
};

std::optional<std::string> read_file(const fs::path& path) {
  std::ifstream in{path, std::ios::binary};
  if (!in) return std::nullopt;
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// The sha256 (hex) and size of a file, read in blocks.
std::optional<std::pair<std::string, std::int64_t>> hash_file(const fs::path& path) {
  std::ifstream in{path, std::ios::binary};
  if (!in) return std::nullopt;
  EVP_MD_CTX* digest = EVP_MD_CTX_new();
  EVP_DigestInit_ex(digest, EVP_sha256(), nullptr);
  std::vector<char> block(1 << 20);
  std::int64_t size = 0;
  while (in) {
    in.read(block.data(), static_cast<std::streamsize>(block.size()));
    const auto got = in.gcount();
    EVP_DigestUpdate(digest, block.data(), static_cast<std::size_t>(got));
    size += got;
  }
  unsigned char hash[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_DigestFinal_ex(digest, hash, &length);
  EVP_MD_CTX_free(digest);
  return std::pair{to_hex(std::string_view(reinterpret_cast<const char*>(hash), length)), size};
}

// An integer field of a file we are verifying; nullopt for anything else (never an exception:
// an edited export is a failed check, not a crash).
std::optional<std::int64_t> integer_of(const std::string& text) {
  std::int64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || error != std::errc{} || end != text.data() + text.size()) return std::nullopt;
  return value;
}

struct Totals {
  std::map<std::string, __int128> credits, debits;
  std::map<std::string, std::int64_t> postings;
  std::int64_t rows = 0;
  std::int64_t unbalanced_entries = 0;
  std::optional<std::string> unreadable;  // the first row that could not be read
};

// Sums per entry and per asset while postings arrive grouped by entry.
class EntryBalance {
 public:
  explicit EntryBalance(Totals& totals) : totals_(totals) {}
  void add(std::int64_t entry_id, const std::string& asset, std::int64_t amount) {
    if (entry_id != current_) finish();
    current_ = entry_id;
    sums_[asset] += amount;
    ++count_;
    (amount > 0 ? totals_.credits[asset] += amount : totals_.debits[asset] -= amount);
    ++totals_.postings[asset];
  }
  void finish() {
    if (current_ >= 0) {
      bool balanced = count_ >= 2;
      for (const auto& [asset, sum] : sums_) balanced = balanced && sum == 0;
      if (!balanced) ++totals_.unbalanced_entries;
    }
    sums_.clear();
    count_ = 0;
  }

 private:
  Totals& totals_;
  std::int64_t current_ = -1;
  std::map<std::string, __int128> sums_;
  int count_ = 0;
};

Totals totals_of_postings_csv(const fs::path& path) {
  Totals totals;
  EntryBalance balance{totals};
  std::ifstream in{path, std::ios::binary};
  audit::CsvReader reader{in};
  (void)reader.next();  // header
  while (const auto fields = reader.next()) {
    const auto entry_id = fields->size() >= 6 ? integer_of((*fields)[1]) : std::nullopt;
    const auto amount = fields->size() >= 6 ? integer_of((*fields)[4]) : std::nullopt;
    if (!entry_id || !amount) {
      if (!totals.unreadable) totals.unreadable = "row " + std::to_string(reader.records()) + " is not a posting";
      ++totals.unbalanced_entries;
      continue;
    }
    balance.add(*entry_id, (*fields)[3], *amount);
    ++totals.rows;
  }
  if (reader.problem() && !totals.unreadable) totals.unreadable = *reader.problem();
  balance.finish();
  return totals;
}

Totals totals_of_entries_jsonl(const fs::path& path, std::int64_t& entries) {
  Totals totals;
  EntryBalance balance{totals};
  std::ifstream in{path};
  for (std::string line; std::getline(in, line);) {
    const json entry = json::parse(line, nullptr, false);
    const bool readable = entry.is_object() && entry.contains("entry_id") && entry["entry_id"].is_number_integer() &&
                          entry.contains("postings") && entry["postings"].is_array();
    if (!readable) {
      if (!totals.unreadable) totals.unreadable = "line " + std::to_string(entries + 1) + " is not an entry";
      ++totals.unbalanced_entries;
      ++entries;
      continue;
    }
    for (const auto& posting : entry["postings"]) {
      if (!posting.is_object() || !posting.contains("asset") || !posting["asset"].is_string() ||
          !posting.contains("amount") || !posting["amount"].is_number_integer()) {
        if (!totals.unreadable)
          totals.unreadable = "line " + std::to_string(entries + 1) + " has a posting that is not one";
        ++totals.unbalanced_entries;
        continue;
      }
      balance.add(entry["entry_id"].get<std::int64_t>(), posting["asset"].get<std::string>(),
                  posting["amount"].get<std::int64_t>());
      ++totals.rows;
    }
    ++entries;
  }
  balance.finish();
  return totals;
}

// A manifest's integer at object[key], or nullopt (an edited manifest fails its checks, and
// never throws or asserts: nlohmann's const operator[] on a missing key is undefined).
std::optional<std::int64_t> integer_at(const json& object, const char* key) {
  if (!object.is_object()) return std::nullopt;
  const auto found = object.find(key);
  if (found == object.end() || !found->is_number_integer()) return std::nullopt;
  return found->get<std::int64_t>();
}

std::string text_at(const json& object, const char* key) {
  if (!object.is_object()) return "";
  const auto found = object.find(key);
  return found != object.end() && found->is_string() ? found->get<std::string>() : "";
}

const json& member_at(const json& object, const char* key) {
  static const json none;
  if (!object.is_object()) return none;
  const auto found = object.find(key);
  return found == object.end() ? none : *found;
}

void check_totals(Checks& checks, const json& manifest, const Totals& totals, const std::string& source) {
  if (totals.unreadable) checks.fail(source + ": " + *totals.unreadable);
  checks.check(totals.unbalanced_entries == 0,
               source + ": every entry has two or more postings summing to zero per asset");
  const json& counts = member_at(manifest, "row_counts");
  checks.check(integer_at(counts, "postings") == totals.rows, source + ": posting count matches the manifest");
  const json& assets = member_at(manifest, "totals");
  bool match = assets.is_object() && totals.postings.size() == assets.size();
  for (const auto& [asset, sums] : assets.items()) {
    const __int128 credits = totals.credits.count(asset) ? totals.credits.at(asset) : 0;
    const __int128 debits = totals.debits.count(asset) ? totals.debits.at(asset) : 0;
    match = match && integer_at(sums, "credits") == credits && integer_at(sums, "debits") == debits &&
            integer_at(sums, "net") == 0;
  }
  checks.check(match, source + ": per-asset totals match the manifest and each asset nets to zero");
}

// The records of a CSV file after its header, read by the reader the export's writer pairs
// with (audit/csv.hpp): a quoted line break in a note is inside one record, never two.
struct CsvShape {
  std::int64_t records = 0;
  std::optional<std::string> problem;  // unreadable, or a record whose width is not the header's
};

CsvShape csv_shape(const fs::path& path) {
  std::ifstream in{path, std::ios::binary};
  audit::CsvReader reader{in};
  CsvShape shape;
  const auto header = reader.next();
  while (const auto record = reader.next()) {
    if (record->size() != header->size() && !shape.problem) {
      shape.problem = "record " + std::to_string(reader.records()) + " has " + std::to_string(record->size()) +
                      " fields; the header has " + std::to_string(header->size());
    }
    ++shape.records;
  }
  if (reader.problem()) shape.problem = *reader.problem();
  if (!header && !shape.problem) shape.problem = "no header";
  return shape;
}

void check_csv_rows(Checks& checks, const fs::path& dir, const std::string& name, const json& counts,
                    const char* count) {
  const CsvShape shape = csv_shape(dir / name);
  if (shape.problem) checks.fail(name + ": " + *shape.problem);
  checks.check(integer_at(counts, count) == shape.records,
               name + ": " + count + " count matches the manifest (" + std::to_string(shape.records) + ")");
}

std::string unquote(std::string text) {
  if (text.size() >= 2 && text.front() == '"' && text.back() == '"') return text.substr(1, text.size() - 2);
  return text;
}

// Balances per (account, commodity) from the journal, and whether every transaction balances.
using AccountBalances = std::map<std::pair<std::string, std::string>, __int128>;  // summed wide: the file may lie

bool journal_balances(const fs::path& path, AccountBalances& balances) {
  std::ifstream in{path};
  std::map<std::string, __int128> transaction;
  bool ok = true;
  const auto close_transaction = [&] {
    for (const auto& [commodity, sum] : transaction) ok = ok && sum == 0;
    transaction.clear();
  };
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] != ' ') {
      close_transaction();
      continue;
    }
    const auto start = line.find_first_not_of(' ');
    if (start == std::string::npos || line[start] == ';') continue;
    const auto gap = line.find("  ", start);
    if (gap == std::string::npos) return false;
    const std::string account = line.substr(start, gap - start);
    std::istringstream amount_text{line.substr(gap)};
    std::int64_t amount = 0;
    std::string commodity;
    if (!(amount_text >> amount >> commodity)) return false;
    commodity = unquote(commodity);
    balances[{account, commodity}] += amount;
    transaction[commodity] += amount;
  }
  close_transaction();
  return ok;
}

void check_journal(Checks& checks, const fs::path& dir) {
  AccountBalances journal;
  checks.check(journal_balances(dir / "journal.ledger", journal),
               "journal.ledger: parses and every transaction balances");
  AccountBalances expected;
  std::ifstream in{dir / "balances.csv", std::ios::binary};
  audit::CsvReader reader{in};
  (void)reader.next();  // header
  bool readable = true;
  while (const auto fields = reader.next()) {
    const auto closing = fields->size() == 5 ? integer_of((*fields)[4]) : std::nullopt;
    if (!closing)
      readable = false;
    else if (*closing != 0)
      expected[{(*fields)[0], (*fields)[1]}] = *closing;
  }
  checks.check(readable && !reader.problem(), "balances.csv: every row is an account's balances");
  std::erase_if(journal, [](const auto& item) { return item.second == 0; });
  checks.check(journal == expected, "journal.ledger: account balances equal the closing balances of balances.csv");
}

int verify_export(const std::string& directory, const Flags& flags) {
  Checks checks;
  const fs::path dir{directory};
  const auto manifest_bytes = read_file(dir / "manifest.json");
  const auto signature = read_file(dir / "manifest.sig");
  if (!manifest_bytes || !signature) {
    std::printf("FAIL  %s has no manifest.json and manifest.sig\n", directory.c_str());
    return 1;
  }
  const json manifest = json::parse(*manifest_bytes, nullptr, false);
  if (manifest.is_discarded() || !manifest.contains("files")) {
    std::printf("FAIL  manifest.json is not an export manifest\n");
    return 1;
  }
  // The key: given, derived from our private key, or (weakest) the one the manifest names.
  std::optional<std::string> public_key;
  std::string key_source = "--public-key";
  if (flags.on("public-key")) {
    public_key = read_file(flags.value("public-key"));
  } else if (const auto signing_key = read_signing_key(flags.value("signing-key"))) {
    if (*signing_key) public_key = signing_key->public_pem();
    key_source = "the signing key";
  } else {
    public_key = text_at(member_at(manifest, "signing_key"), "public_key_pem");
    key_source = "the key embedded in the manifest (pass --public-key to check who signed)";
  }
  const std::string key_id = text_at(member_at(manifest, "signing_key"), "key_id");
  checks.check(public_key && partners::signing_key_id_of_public_pem(*public_key) == key_id,
               "the manifest names the key " + key_id);
  std::string sig = *signature;
  while (!sig.empty() && (sig.back() == '\n' || sig.back() == '\r')) sig.pop_back();
  checks.check(public_key && partners::verify_ed25519(*public_key, *manifest_bytes, sig),
               "manifest.sig verifies with " + key_source);
  std::set<std::string> listed{"manifest.json", "manifest.sig"};
  for (const auto& file : member_at(manifest, "files")) {
    // A name is a file of this directory, nothing else: "../x" or "/dev/zero" in an edited
    // manifest must not make the verifier read outside it (or forever).
    const std::string name = text_at(file, "name");
    if (name.empty() || name == "." || name == ".." || name.find_first_of("/\\") != std::string::npos ||
        !is_clean_text(name)) {
      checks.fail("manifest.json lists a file name that is not a file of the export");
      continue;
    }
    listed.insert(name);
    const auto hashed = hash_file(dir / name);
    checks.check(hashed && text_at(file, "sha256") == hashed->first && integer_at(file, "bytes") == hashed->second,
                 name + ": size and sha256 match the manifest");
  }
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (!listed.count(entry.path().filename().string()))
      checks.fail(entry.path().filename().string() + ": not in the manifest");
  }
  const json& counts = member_at(manifest, "row_counts");
  if (listed.count("postings.csv")) {
    check_totals(checks, manifest, totals_of_postings_csv(dir / "postings.csv"), "postings.csv");
    check_csv_rows(checks, dir, "entries.csv", counts, "entries");
  }
  if (listed.count("entries.jsonl")) {
    std::int64_t entries = 0;
    check_totals(checks, manifest, totals_of_entries_jsonl(dir / "entries.jsonl", entries), "entries.jsonl");
    checks.check(integer_at(counts, "entries") == entries, "entries.jsonl: entry count matches the manifest");
  }
  if (listed.count("audit_events.csv")) check_csv_rows(checks, dir, "audit_events.csv", counts, "audit_events");
  if (listed.count("journal.ledger")) check_journal(checks, dir);
  std::printf("%s: %d check(s) failed\n", checks.failed ? "NOT VERIFIED" : "verified", checks.failed);
  return checks.failed ? 1 : 0;
}

int verify_database(pqxx::connection& connection, const Flags& flags) {
  pqxx::read_transaction txn{connection, "audit_verify"};
  const auto report = audit::verify_seals(txn, [](std::int64_t records) {
    if (isatty(2)) std::fprintf(stderr, "\rverified %lld record(s)", static_cast<long long>(records));
  });
  if (isatty(2)) std::fprintf(stderr, "\n");
  json out{{"ok", report.ok},
           {"checked_through", report.checked_through},
           {"head", report.head_hex},
           {"records_checked", report.records_checked}};
  if (report.first_mismatch) {
    out["first_mismatch"] = {{"seq", report.first_mismatch->seq},
                             {"record_kind", report.first_mismatch->record_kind},
                             {"record_id", report.first_mismatch->record_id},
                             {"problem", report.first_mismatch->problem}};
  }
  std::printf("%s\n", flags.on("json") ? out.dump().c_str() : out.dump(2).c_str());
  return report.ok ? 0 : 1;
}

}  // namespace

int audit_command(const std::vector<std::string>& args, const Flags& flags,
                  const std::function<std::unique_ptr<pqxx::connection>()>& connect) {
  if (args.size() == 3 && args[1] == "verify") return verify_export(args[2], flags);
  if (args.size() == 2 && args[1] == "verify") return verify_database(*connect(), flags);
  if (args.size() == 2 && args[1] == "seal") {
    auto connection = connect();
    const auto report = audit::seal_pending(*connection, "loyaltyctl");
    const json out{
        {"busy", report.busy}, {"sealed", report.records}, {"last_seq", report.last_seq}, {"head", report.head_hex}};
    std::printf("%s\n", out.dump().c_str());
    return report.busy ? 3 : 0;
  }
  std::fprintf(stderr, "loyaltyctl: audit seal | audit verify [DIR]\n");
  return 2;
}

}  // namespace loyalty::tools
