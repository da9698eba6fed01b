// Bringing a program's history in (docs/operations/import.md): a CSV file of members, opening
// balances or past events, read row by row and applied in batches through the batch write path
// (docs/ARCHITECTURE.md, "The path of one batch"), so that memory stays flat whatever the
// file's size and a batch costs a constant number of statements whatever its rows.
//
// Every row is idempotent by its key (external_id, import_id, event_id): a row whose key was
// applied before is skipped, a row whose key came with other content is rejected, so running a
// file again changes nothing. A bad row is rejected with its line and reason (and written to
// FILE.rejected.csv) while the other rows are applied. Each batch commits with the run's
// progress (import_runs, by the file's checksum): a run stopped midway resumes after the last
// committed line.
#pragma once

#include <pqxx/pqxx>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "ledger/journal.hpp"
#include "platform/database.hpp"
#include "platform/time.hpp"

namespace loyalty::importing {

enum class Kind { members, balances, events };

// Limits of one batch: its rows travel in array parameters of a handful of statements.
inline constexpr int batch_rows_default = 1000;
inline constexpr int batch_rows_max = 10000;

// One record of the file: where it starts and its fields (or the CSV problem that made it
// unreadable).
struct Row {
  std::size_t line = 0;
  std::vector<std::string> fields;
  std::optional<std::string> csv_problem;
};

enum class RowResult { applied, skipped, rejected };

struct RowOutcome {
  RowResult result = RowResult::rejected;
  std::string reason;  // rejected: why, as a sentence the operator can act on
};

inline RowOutcome applied() {
  return {RowResult::applied, ""};
}
inline RowOutcome skipped() {
  return {RowResult::skipped, ""};
}
inline RowOutcome rejected(std::string reason) {
  return {RowResult::rejected, std::move(reason)};
}

// What every batch of a run has in common.
struct BatchContext {
  Timestamp now;              // the batch's time: entries' effective_at, events' received_at
  ledger::Origin origin;      // the operator, recorded on entries
  bool history_only = false;  // events: record for tier windows and caps, award nothing
};

// One kind of file. apply() decides every row of a batch (each row checked field by field
// first), adds its writes to `writes`, calls `finish(writes, outcomes)` so that the run's own
// rows (progress, audit) travel in the same flush, and flushes once.
class Importer {
 public:
  virtual ~Importer() = default;
  virtual const std::vector<std::string>& header() const = 0;
  virtual std::vector<RowOutcome> apply(
      pqxx::transaction_base& txn, const std::vector<const Row*>& rows, const BatchContext& context,
      const std::function<void(db::WriteBuffer&, const std::vector<RowOutcome>&)>& finish) = 0;
};

std::unique_ptr<Importer> members_importer();
std::unique_ptr<Importer> balances_importer();
std::unique_ptr<Importer> events_importer();

struct ImportOptions {
  Kind kind = Kind::members;
  std::string file;
  bool history_only = false;
  int batch_rows = batch_rows_default;
  std::string actor;  // "operator:alice"
};

struct ImportReport {
  std::string kind;  // members, balances, events
  std::string file;
  std::string file_sha256;
  std::int64_t rows = 0;  // records read (the header aside)
  std::int64_t applied = 0;
  std::int64_t skipped = 0;  // applied before (by key, or by an earlier run of this file)
  std::int64_t rejected = 0;
  std::int64_t resumed_after_line = 0;  // 0: the run started at the top
  std::int64_t batches = 0;
  std::optional<std::string> rejected_file;
  double seconds = 0;
};

// Told after every batch: what the report says so far and how far the file is read.
struct ImportProgress {
  const ImportReport& report;
  std::uint64_t bytes_read = 0;
  std::uint64_t bytes_total = 0;
};

// A file that cannot be imported at all (unreadable, not the kind's header, no program in
// force for events): nothing was applied.
struct FileProblem {
  std::string message;
};

// Who is told what while a file is imported (the command line: a progress line on a terminal,
// rejected rows on stderr).
struct ImportObserver {
  std::function<void(const ImportProgress&)> progress;                 // after every batch
  std::function<void(std::size_t line, const std::string&)> rejected;  // every rejected row
};

std::variant<ImportReport, FileProblem> import_file(pqxx::connection& connection, const ImportOptions& options,
                                                    const ImportObserver& observer = {});

const char* kind_name(Kind kind);

// Helpers the importers share: a row's field checks.
std::optional<std::int64_t> whole_number(const std::string& text);
bool is_key_text(const std::string& text);  // 1 to 128 characters of [A-Za-z0-9_.:-]

}  // namespace loyalty::importing
