// Settlement statements: one per partner per UTC day, listing every exchange and claim
// settled on that day, totals per direction, and the net cash owed and by whom (every
// exchanged point valued at the partner's cents_per_point: the partner owes us for inbound
// points, we owe the partner for outbound ones).
//
// A statement is JSON with sorted keys and no whitespace. Its `sha256` is the SHA-256 (hex)
// of the statement without the `sha256` member, serialized the same way (what
// `jq -cSj 'del(.sha256)'` prints); its signature is Ed25519 over the statement's exact bytes.
// The current day's statement is provisional ("open") and computed on each request; the
// close-statements job closes finished days for good ("closed"): the bytes are stored and
// never change. Only a closed statement can be acknowledged; an acknowledgement whose hash
// does not match is recorded as a dispute and blocks the statement.
#pragma once

#include <pqxx/pqxx>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "ledger/journal.hpp"
#include "partners/refusal.hpp"
#include "platform/ed25519.hpp"

namespace loyalty::partners {

// A day whose totals are beyond program::statement_figure_max (2^53), the largest integer every
// JCS implementation writes exactly. A partner's daily limits keep a day within half of it
// (program::partner_daily_points_max); only lines stored under looser limits could pass it.
// Such a statement is refused, naming the figure: never written wrong, never a stopped process.
struct StatementOverflow : std::overflow_error {
  using std::overflow_error::overflow_error;
};

struct Statement {
  std::string statement_id;  // "stmt_<partner>_<YYYYMMDD>"
  std::string partner_id;
  std::string date;      // YYYY-MM-DD
  std::string status;    // open, closed
  std::string document;  // the exact JSON bytes
  std::string sha256;
  std::int64_t net_cents = 0;
  std::string owed_by;  // partner, program, none
};

std::string statement_id_for(const std::string& partner_id, const std::string& date);
bool is_date(std::string_view text);  // a real YYYY-MM-DD

// The closed statement of that day, or the provisional one computed from its lines now.
Statement statement_for(pqxx::transaction_base& txn, const std::string& partner_id, const std::string& date);

// A statement as the admin's list shows it: with what became of it.
struct StatementRecord {
  Statement statement;
  bool signature_ok = false;  // a closed statement whose stored signature verifies with our registered key
  std::optional<Timestamp> acknowledged_at;  // the partner's first matching acknowledgement
  std::string dispute;                       // the partner's first mismatching acknowledgement, described; "" if none
};

struct StatementPage {
  std::vector<StatementRecord> items;
  std::optional<std::string> next_before_date;  // the last statement's date; absent on the last page
};

// A partner's statements, newest day first. Without `before_date` the page begins with the
// current day's open statement (`today`, computed now) unless that day is closed, then every
// closed one. Finished days that the close-statements job has not closed yet are not listed.
StatementPage list_statements(pqxx::transaction_base& txn, const std::string& partner_id, const std::string& today,
                              const std::optional<std::string>& before_date, int limit);

// The `lines` of a statement as JSON (for reconciliation).
nlohmann::json statement_lines(const Statement& statement);

// One step of the close-statements job: closes up to `chunk` finished (partner, day) pairs,
// oldest first, each day ending at or before `as_of`, each signed with `signing_key`. Returns
// how many it closed. Statements closed without a key are stored unsigned (their responses are
// still signed when served).
std::int64_t close_statements_step(pqxx::transaction_base& txn, Timestamp as_of, int chunk,
                                   const SigningKey& signing_key);

enum class AckOutcome { acknowledged, dispute_recorded };

struct Acknowledgement {
  AckOutcome outcome = AckOutcome::acknowledged;
  std::string statement_id;
  std::string statement_sha256;  // ours
  Timestamp at;
};

Result<Acknowledgement> acknowledge_statement(pqxx::transaction_base& txn, const std::string& partner_id,
                                              const std::string& statement_id, const std::string& given_sha256,
                                              const std::string& key_id, const std::string& request_id, Timestamp now);

}  // namespace loyalty::partners
