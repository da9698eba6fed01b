// Finance exports: the entries, postings and audit events of a time range, streamed from
// server-side cursors in fixed-size chunks (memory does not grow with the range), written as
// CSV, JSON Lines and/or a plain-text accounting journal that hledger and ledger read, plus
// balances.csv (every account's opening, movement and closing balance), manifest.json
// (range, row counts, per-asset totals, the sha256 of every file, the audit chain head) and
// manifest.sig (base64 Ed25519 over the exact bytes of manifest.json).
//
// Entries belong to the range by effective_at, audit events by occurred_at, both half-open
// [from, to). The journal opens with the balances as of `from`, so its account balances are
// the trial balance just before `to`. Members appear only under their pseudonymous member_id;
// free text is masked (audit/privacy.hpp). CSV files are written by audit/csv.hpp, the writer
// whose reader `loyaltyctl audit verify` uses.
#pragma once

#include <pqxx/pqxx>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "platform/ed25519.hpp"
#include "platform/time.hpp"

namespace loyalty::audit {

inline constexpr int export_fetch_rows = 5000;                  // rows per cursor FETCH
inline constexpr std::size_t export_buffer_bytes = 256 * 1024;  // file buffer before a sink write
inline constexpr std::size_t export_chunk_bytes = 1024 * 1024;  // stored chunk (migrations/0006)

struct ExportFormats {
  bool csv = false;
  bool jsonl = false;
  bool ledger = false;
  std::vector<std::string> names() const;
};

// "csv", "jsonl", "ledger"; nullopt (and the unknown name in `unknown`) for anything else.
std::optional<ExportFormats> parse_formats(const std::vector<std::string>& names, std::string* unknown = nullptr);

struct ExportedFile {
  std::string name;
  std::int64_t bytes = 0;
  std::int64_t rows = 0;
  std::string sha256_hex;
};

// Where the files go: a directory (loyaltyctl) or the database (the API). Several files are
// open at once (the entries go to CSV, JSON Lines and the journal in one pass).
class ExportSink {
 public:
  virtual ~ExportSink() = default;
  virtual void begin_file(const std::string& name) = 0;
  virtual void write(const std::string& name, std::string_view bytes) = 0;
  virtual void end_file(const ExportedFile& file) = 0;
};

class DirectorySink : public ExportSink {
 public:
  explicit DirectorySink(std::string directory);  // created if missing
  ~DirectorySink() override;
  void begin_file(const std::string& name) override;
  void write(const std::string& name, std::string_view bytes) override;
  void end_file(const ExportedFile& file) override;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// Writes into export_files / export_file_chunks of `export_id`, in the caller's transaction.
class DatabaseSink : public ExportSink {
 public:
  DatabaseSink(pqxx::transaction_base& txn, std::string export_id);
  void begin_file(const std::string& name) override;
  void write(const std::string& name, std::string_view bytes) override;
  void end_file(const ExportedFile& file) override;

 private:
  struct Pending {
    std::string bytes;  // less than one chunk, waiting for more
    int chunk = 0;
  };
  void store_chunks(const std::string& name, Pending& pending, bool last);
  pqxx::transaction_base& txn_;
  std::string export_id_;
  std::map<std::string, Pending> files_;
};

struct ExportSummary {
  std::string manifest;   // the exact bytes of manifest.json
  std::string signature;  // the contents of manifest.sig
  std::int64_t entries = 0, postings = 0, audit_events = 0, accounts = 0;
  std::vector<ExportedFile> files;
};

// Writes the export through `sink`, manifest.json naming `signing_key` and manifest.sig its
// signature (base64 Ed25519). Run it in a repeatable-read transaction so that every file comes
// from one snapshot. `progress` is told the running row count. Throws std::runtime_error when
// the manifest cannot be signed (an empty key).
ExportSummary write_export(pqxx::transaction_base& txn, Timestamp from, Timestamp to, const ExportFormats& formats,
                           ExportSink& sink, const SigningKey& signing_key,
                           const std::function<void(std::int64_t)>& progress = {});

// One stored file of an API export: its size and sha256 (hex), as the manifest lists them.
struct StoredFile {
  std::int64_t bytes = 0;
  std::string sha256_hex;
};
std::optional<StoredFile> stored_file(pqxx::transaction_base& txn, const std::string& export_id,
                                      const std::string& name);

// Reads one stored file of an API export (nullopt if there is none by that name), one stored
// chunk (export_chunk_bytes) per query, so that no more than one chunk is held besides the
// text being assembled.
std::optional<std::string> read_stored_file(pqxx::transaction_base& txn, const std::string& export_id,
                                            const std::string& name);
// One stored chunk of a file (chunks are numbered from 0); nullopt past the last. What the API
// streams a file from, one chunk per query, holding no more than one chunk in memory.
std::optional<std::string> read_stored_chunk(pqxx::transaction_base& txn, const std::string& export_id,
                                             const std::string& name, int chunk);

// The journal's commodity for an asset: bare when it is letters only, else double-quoted.
std::string journal_commodity(std::string_view asset);

}  // namespace loyalty::audit
