#include "partners/statements.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "ledger/amounts.hpp"
#include "partners/keys.hpp"
#include "partners/request_signing.hpp"
#include "partners/settlement.hpp"
#include "partners/signing_keys.hpp"
#include "platform/database.hpp"
#include "platform/digest.hpp"
#include "program/program.hpp"

namespace loyalty::partners {
namespace {

using nlohmann::json;

const db::Statement select_exchange_lines{
    "partner_statements.exchange_lines",
    "SELECT direction, exchange_id, partner_member_ref, points, units, cents, created_at FROM partner_exchanges"
    " WHERE partner_id = $1 AND settlement_date = $2 ORDER BY created_at, exchange_row"};

const db::Statement select_claim_lines{
    "partner_statements.claim_lines",
    "SELECT claim_id, right_code, partner_member_ref, created_at FROM partner_right_claims"
    " WHERE partner_id = $1 AND settlement_date = $2 ORDER BY created_at, claim_row"};

const db::Statement select_closed{"partner_statements.select_closed",
                                  "SELECT statement_id, document, sha256, net_cents, owed_by FROM partner_statements"
                                  " WHERE partner_id = $1 AND date = $2"};

const db::Statement select_closed_page{
    "partner_statements.select_page",
    "SELECT statement_id, document, sha256, net_cents, owed_by, date::text, signature, signing_key_id"
    " FROM partner_statements WHERE partner_id = $1 AND date < $2::date ORDER BY date DESC LIMIT $3"};

const db::Statement insert_statement{
    "partner_statements.insert",
    "INSERT INTO partner_statements (statement_id, partner_id, date, document, sha256, signature, signing_key_id,"
    " net_cents, owed_by, closed_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, clock_timestamp())"};

const db::Statement lock_due{
    "partner_settlement.lock_due",
    "SELECT partner_id, closed_through::text FROM partner_settlement WHERE closed_through < $1::date - 1"
    " ORDER BY partner_id LIMIT $2 FOR UPDATE"};

const db::Statement set_closed_through{"partner_settlement.set_closed_through",
                                       "UPDATE partner_settlement SET closed_through = $2 WHERE partner_id = $1"};

const db::Statement lock_statement{
    "partner_statements.lock",
    "SELECT sha256 FROM partner_statements WHERE statement_id = $1 AND partner_id = $2 FOR UPDATE"};

const db::Statement select_acks{
    "partner_statement_acks.select",
    "SELECT matched, created_at FROM partner_statement_acks WHERE statement_id = $1 ORDER BY ack_id"};

const db::Statement select_ack_history{
    "partner_statement_acks.select_history",
    "SELECT matched, created_at, statement_sha256, key_id FROM partner_statement_acks WHERE statement_id = $1"
    " ORDER BY ack_id"};

const db::Statement insert_ack{
    "partner_statement_acks.insert",
    "INSERT INTO partner_statement_acks (statement_id, partner_id, key_id, statement_sha256, matched, request_id,"
    " created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING created_at"};

std::optional<std::chrono::sys_days> parse_date(std::string_view text) {
  if (text.size() != 10 || text[4] != '-' || text[7] != '-') return std::nullopt;
  int y = 0;
  unsigned m = 0, d = 0;
  if (std::sscanf(std::string(text).c_str(), "%4d-%2u-%2u", &y, &m, &d) != 3) return std::nullopt;
  const std::chrono::year_month_day day{std::chrono::year{y}, std::chrono::month{m}, std::chrono::day{d}};
  if (!day.ok()) return std::nullopt;
  return std::chrono::sys_days{day};
}

std::string date_text(std::chrono::sys_days day) {
  return utc_date(std::chrono::time_point_cast<std::chrono::microseconds>(day));
}

struct DirectionTotals {
  std::int64_t count = 0, points = 0, units = 0, cents = 0;
  void add(const char* direction, std::int64_t p, std::int64_t u, std::int64_t c) {
    const auto np = ledger::checked_add(points, p), nu = ledger::checked_add(units, u),
               nc = ledger::checked_add(cents, c);
    const auto stated = [](std::optional<std::int64_t> figure) {
      return figure && *figure <= program::statement_figure_max;
    };
    if (!stated(np) || !stated(nu) || !stated(nc)) {
      throw StatementOverflow(std::string("the day's ") + direction +
                              " totals exceed 2^53, the largest figure a statement states exactly");
    }
    ++count, points = *np, units = *nu, cents = *nc;
  }
  json as_json() const { return {{"count", count}, {"points", points}, {"units", units}, {"cents", cents}}; }
};

// Exchanges and claims of the day, in the order they were written.
json collect_lines(pqxx::transaction_base& txn, const std::string& partner_id, const std::string& date,
                   DirectionTotals& inbound, DirectionTotals& outbound, std::int64_t& claims) {
  std::vector<std::pair<std::string, json>> lines;  // (at, line)
  for (const auto& row : db::exec(txn, select_exchange_lines, partner_id, date)) {
    const bool in = std::string_view(row[0].c_str()) == "inbound";
    const auto points = row[3].as<std::int64_t>(), units = row[4].as<std::int64_t>(), cents = row[5].as<std::int64_t>();
    (in ? inbound : outbound).add(in ? "inbound" : "outbound", points, units, cents);
    const std::string at = format_rfc3339(db::time_of(row[6]));
    lines.emplace_back(at, json{{"kind", in ? "exchange_in" : "exchange_out"},
                                {"id", row[1].c_str()},
                                {"partner_member_ref", row[2].c_str()},
                                {"points", points},
                                {"units", units},
                                {"cents", cents},
                                {"at", at}});
  }
  for (const auto& row : db::exec(txn, select_claim_lines, partner_id, date)) {
    ++claims;
    const std::string at = format_rfc3339(db::time_of(row[3]));
    lines.emplace_back(at, json{{"kind", "claim"},
                                {"id", row[0].c_str()},
                                {"right_code", row[1].c_str()},
                                {"partner_member_ref", row[2].c_str()},
                                {"at", at}});
  }
  std::stable_sort(lines.begin(), lines.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  json out = json::array();
  for (auto& [at, line] : lines) out.push_back(std::move(line));
  return out;
}

Statement build_statement(pqxx::transaction_base& txn, const std::string& partner_id, const std::string& date,
                          const std::string& status) {
  DirectionTotals inbound, outbound;
  std::int64_t claims = 0;
  json body = json::object();
  body["lines"] = collect_lines(txn, partner_id, date, inbound, outbound, claims);
  // Both totals are within 2^53 (DirectionTotals::add): their difference is too.
  const std::int64_t difference = inbound.cents - outbound.cents;
  Statement statement{statement_id_for(partner_id, date), partner_id, date, status};
  statement.net_cents = difference < 0 ? -difference : difference;
  statement.owed_by = difference > 0 ? "partner" : difference < 0 ? "program" : "none";
  body["statement_id"] = statement.statement_id;
  body["partner_id"] = partner_id;
  body["date"] = date;
  body["status"] = status;
  body["totals"] = {{"inbound", inbound.as_json()}, {"outbound", outbound.as_json()}, {"claims", {{"count", claims}}}};
  body["net_cents"] = statement.net_cents;
  body["owed_by"] = statement.owed_by;
  // nlohmann's objects keep their keys sorted: dump() is the canonical form.
  statement.sha256 = to_hex(sha256(body.dump()));
  body["sha256"] = statement.sha256;
  statement.document = body.dump();
  return statement;
}

void close_day(pqxx::transaction_base& txn, const std::string& partner_id, const std::string& date,
               const SigningKey& signing_key) {
  const Statement statement = build_statement(txn, partner_id, date, "closed");
  const std::optional<std::string> signature_text = signing_key.sign(statement.document);
  std::optional<std::string> key_id;
  if (signature_text) key_id = signing_key.key_id();
  db::exec(txn, insert_statement, statement.statement_id, partner_id, date, statement.document, statement.sha256,
           db::nullable(signature_text), db::nullable(key_id), statement.net_cents, statement.owed_by);
}

// What became of a closed statement: its signature checked, its acknowledgements read.
StatementRecord closed_record(pqxx::transaction_base& txn, Statement statement, const pqxx::field& signature,
                              const pqxx::field& signing_key_id) {
  StatementRecord record;
  if (!signature.is_null() && !signing_key_id.is_null()) {
    const auto pem = registered_public_pem(txn, signing_key_id.c_str());
    record.signature_ok = pem && verify_ed25519(*pem, statement.document, signature.c_str());
  }
  for (const auto& ack : db::exec(txn, select_ack_history, statement.statement_id)) {
    if (ack[0].as<bool>()) {
      if (!record.acknowledged_at) record.acknowledged_at = db::time_of(ack[1]);
    } else if (record.dispute.empty()) {
      record.dispute = "acknowledged with sha256 " + std::string(ack[2].c_str()) + " (ours is " + statement.sha256 +
                       ") by key " + ack[3].c_str() + " at " + format_rfc3339(db::time_of(ack[1]));
    }
  }
  record.statement = std::move(statement);
  return record;
}

}  // namespace

std::string statement_id_for(const std::string& partner_id, const std::string& date) {
  std::string compact = date;
  compact.erase(std::remove(compact.begin(), compact.end(), '-'), compact.end());
  return "stmt_" + partner_id + "_" + compact;
}

bool is_date(std::string_view text) {
  return parse_date(text).has_value();
}

Statement statement_for(pqxx::transaction_base& txn, const std::string& partner_id, const std::string& date) {
  const auto rows = db::exec(txn, select_closed, partner_id, date);
  if (rows.empty()) return build_statement(txn, partner_id, date, "open");
  return Statement{rows[0][0].c_str(),
                   partner_id,
                   date,
                   "closed",
                   rows[0][1].c_str(),
                   rows[0][2].c_str(),
                   rows[0][3].as<std::int64_t>(),
                   rows[0][4].c_str()};
}

StatementPage list_statements(pqxx::transaction_base& txn, const std::string& partner_id, const std::string& today,
                              const std::optional<std::string>& before_date, int limit) {
  StatementPage page;
  std::string before = before_date.value_or("");
  if (!before_date) {
    // The current day is closed only once it has ended; until then its statement is open.
    if (db::exec(txn, select_closed, partner_id, today).empty()) {
      page.items.push_back({build_statement(txn, partner_id, today, "open")});
    }
    // Every closed day (a process that runs jobs ahead of the clock may have closed later ones).
    before = "infinity";
  }
  // One row more than asked tells whether there is a next page.
  const int wanted = limit - static_cast<int>(page.items.size());
  const auto rows = db::exec(txn, select_closed_page, partner_id, before, wanted + 1);
  for (int i = 0; i < wanted && i < static_cast<int>(rows.size()); ++i) {
    const auto& row = rows[i];
    Statement statement{
        row[0].c_str(), partner_id, row[5].c_str(), "closed", row[1].c_str(), row[2].c_str(), row[3].as<std::int64_t>(),
        row[4].c_str()};
    page.items.push_back(closed_record(txn, std::move(statement), row[6], row[7]));
  }
  if (static_cast<int>(rows.size()) > wanted) page.next_before_date = page.items.back().statement.date;
  return page;
}

json statement_lines(const Statement& statement) {
  return json::parse(statement.document).at("lines");
}

std::int64_t close_statements_step(pqxx::transaction_base& txn, Timestamp as_of, int chunk,
                                   const SigningKey& signing_key) {
  // Nonces past the timestamp window can never be replayed: forget them here, daily.
  purge_nonces(txn, now_utc() - nonce_retention);
  const auto first_open = std::chrono::floor<std::chrono::days>(as_of);  // the day as_of falls in
  const std::string first_open_text = date_text(first_open);
  std::int64_t closed = 0;
  for (const auto& row : db::exec(txn, lock_due, first_open_text, chunk)) {
    const std::string partner_id = row[0].c_str();
    auto day = *parse_date(row[1].c_str()) + std::chrono::days{1};
    for (; day < first_open && closed < chunk; day += std::chrono::days{1}, ++closed) {
      close_day(txn, partner_id, date_text(day), signing_key);
    }
    db::exec(txn, set_closed_through, partner_id, date_text(day - std::chrono::days{1}));
    if (closed >= chunk) break;
  }
  return closed;
}

Result<Acknowledgement> acknowledge_statement(pqxx::transaction_base& txn, const std::string& partner_id,
                                              const std::string& statement_id, const std::string& given_sha256,
                                              const std::string& key_id, const std::string& request_id, Timestamp now) {
  const auto rows = db::exec(txn, lock_statement, statement_id, partner_id);
  if (rows.empty()) {
    // The partner's own statement of a day not closed yet, or nothing of theirs.
    const std::string prefix = "stmt_" + partner_id + "_";
    const bool own_day = statement_id.size() == prefix.size() + 8 &&
                         statement_id.compare(0, prefix.size(), prefix) == 0 &&
                         statement_id.find_first_not_of("0123456789", prefix.size()) == std::string::npos;
    return own_day ? Refusal::statement_not_closed : Refusal::statement_not_found;
  }
  const std::string ours = rows[0][0].c_str();
  std::optional<Timestamp> acknowledged_at;
  for (const auto& ack : db::exec(txn, select_acks, statement_id)) {
    if (!ack[0].as<bool>()) return Refusal::statement_disputed;
    if (!acknowledged_at) acknowledged_at = db::time_of(ack[1]);
  }
  const bool matched = constant_time_equal(ours, given_sha256);
  if (matched && acknowledged_at)
    return Acknowledgement{AckOutcome::acknowledged, statement_id, ours, *acknowledged_at};
  const auto inserted =
      db::exec(txn, insert_ack, statement_id, partner_id, key_id, given_sha256, matched, request_id, db::sql_time(now));
  return Acknowledgement{matched ? AckOutcome::acknowledged : AckOutcome::dispute_recorded, statement_id, ours,
                         db::time_of(inserted[0][0])};
}

}  // namespace loyalty::partners
