#include "ledger/members.hpp"

#include "ledger/accounts.hpp"
#include "platform/database.hpp"
#include "platform/ids.hpp"

namespace loyalty::ledger {
namespace {

// In external_id order, so that two creators claiming overlapping ids wait in one order.
const db::Statement insert_members{
    "members.insert",
    "INSERT INTO members (member_id, external_id, display_name, phone, created_at)"
    " SELECT m, e, d, p, c FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[])"
    "  AS x(m, e, d, p, c)"
    " ORDER BY e ON CONFLICT (external_id) DO NOTHING RETURNING member_id"};

const db::Statement lock_personal_data{"members.lock_personal_data",
                                       "SELECT display_name, phone, personal_data_erased_at, created_at FROM members"
                                       " WHERE member_id = $1 FOR UPDATE"};
const db::Statement clear_personal_data{
    "members.clear_personal_data",
    "UPDATE members SET display_name = NULL, phone = NULL, personal_data_erased_at = $2 WHERE member_id = $1"};

const db::Statement select_member{"members.select",
                                  "SELECT member_id, external_id, display_name, phone, created_at FROM members"
                                  " WHERE member_id = $1"};

const db::Statement select_member_by_external_id{
    "members.select_by_external_id",
    "SELECT member_id, external_id, display_name, phone, created_at FROM members"
    " WHERE external_id = $1"};

const db::Statement select_balances{"members.select_balances",
                                    "SELECT asset, part, balance FROM accounts WHERE member_id = $1"};

// Open holds past their expiry still sit in the held part until they are released; they
// count as available, never as held.
const db::Statement select_lapsed_holds{"members.select_lapsed_holds",
                                        "SELECT coalesce(sum(amount), 0) FROM holds"
                                        " WHERE member_id = $1 AND status = 'open' AND expires_at <= $2"};

// The soonest expiry dates of the member's spendable points.
const db::Statement select_expiring{
    "members.select_expiring",
    "SELECT expires_at, sum(remaining) FROM lots WHERE member_id = $1 AND remaining > 0 AND pending_until IS NULL"
    " GROUP BY expires_at ORDER BY expires_at LIMIT $2"};

const db::Statement select_postings{
    "members.select_postings",
    "SELECT p.posting_id, p.entry_id, e.kind, p.asset, a.part, p.amount, p.balance_after,"
    "       e.created_at, e.reference, e.reverses_entry_id"
    " FROM accounts a"
    " JOIN postings p ON p.account_id = a.account_id"
    " JOIN entries e ON e.entry_id = p.entry_id"
    " WHERE a.member_id = $1 AND ($2::text IS NULL OR a.asset = $2)"
    "   AND ($3::bigint IS NULL OR p.posting_id < $3)"
    " ORDER BY p.posting_id DESC LIMIT $4"};

Member member_from_row(const pqxx::row& row) {
  return Member{row[0].c_str(), row[1].c_str(), db::optional_text(row[2]), db::optional_text(row[3]),
                db::time_of(row[4])};
}

}  // namespace

Result<Member> create_member(pqxx::transaction_base& txn, const NewMember& request, Timestamp now) {
  Member member{new_id("mem_"), request.external_id, request.display_name, request.phone, now};
  db::WriteBuffer writes{txn};
  if (create_members(txn, writes, {member}).empty()) return Refusal::external_id_taken;
  writes.flush();
  return member;
}

std::vector<std::string> create_members(pqxx::transaction_base& txn, db::WriteBuffer& writes,
                                        const std::vector<Member>& members) {
  std::vector<std::string> created;
  if (members.empty()) return created;
  const auto column = [&](auto format) { return db::array_literal(members, format); };
  for (const auto& row :
       db::exec(txn, insert_members, column([](const Member& m) { return m.member_id; }),
                column([](const Member& m) { return m.external_id; }),
                column([](const Member& m) { return m.display_name; }), column([](const Member& m) { return m.phone; }),
                column([](const Member& m) { return db::sql_time(m.created_at); }))) {
    created.push_back(row[0].c_str());
  }
  open_member_accounts(writes, created);
  return created;
}

Result<Member> find_member(pqxx::transaction_base& txn, const std::string& member_id) {
  const auto rows = db::exec(txn, select_member, member_id);
  if (rows.empty()) return Refusal::member_not_found;
  return member_from_row(rows[0]);
}

std::optional<Member> find_member_by_external_id(pqxx::transaction_base& txn, const std::string& external_id) {
  const auto rows = db::exec(txn, select_member_by_external_id, external_id);
  if (rows.empty()) return std::nullopt;
  return member_from_row(rows[0]);
}

Result<std::map<std::string, AssetBalance>> read_balances(pqxx::transaction_base& txn, const std::string& member_id,
                                                          Timestamp now) {
  const auto rows = db::exec(txn, select_balances, member_id);
  if (rows.empty()) return Refusal::member_not_found;
  std::map<std::string, AssetBalance> balances;
  for (const auto& row : rows) {
    AssetBalance& balance = balances[row[0].c_str()];
    const std::string part = row[1].c_str();
    const auto amount = row[2].as<std::int64_t>();
    if (part == "available")
      balance.available = amount;
    else if (part == "pending")
      balance.pending = amount;
    else
      balance.held = amount;
  }
  const auto lapsed = db::exec(txn, select_lapsed_holds, member_id, db::sql_time(now))[0][0].as<std::int64_t>();
  if (lapsed > 0) {
    AssetBalance& points = balances[std::string(points_asset)];
    points.held -= lapsed;
    points.available += lapsed;
  }
  AssetBalance& points = balances[std::string(points_asset)];
  for (const auto& row : db::exec(txn, select_expiring, member_id, expiring_dates_max)) {
    points.expiring.push_back({db::time_of(row[0]), row[1].as<std::int64_t>()});
  }
  for (auto& [asset, balance] : balances) {
    // Writes keep each member's total within int64 (ledger/adjustments.cpp), so this cannot
    // overflow.
    balance.total = balance.available + balance.pending + balance.held;
  }
  return balances;
}

Result<PostingPage> list_member_postings(pqxx::transaction_base& txn, const std::string& member_id,
                                         const std::optional<std::string>& asset,
                                         std::optional<std::int64_t> before_posting_id, int limit) {
  if (!find_member(txn, member_id)) return Refusal::member_not_found;
  // One row more than asked tells whether there is a next page.
  const auto rows = db::exec(txn, select_postings, member_id, db::nullable(asset),
                             db::nullable(db::nullable_number(before_posting_id)), limit + 1);
  PostingPage page;
  for (const auto& row : rows) {
    if (static_cast<int>(page.items.size()) == limit) {
      page.next_before_posting_id = page.items.back().posting_id;
      break;
    }
    page.items.push_back(MemberPosting{row[0].as<std::int64_t>(), row[1].as<std::int64_t>(), row[2].c_str(),
                                       row[3].c_str(), row[4].c_str(), row[5].as<std::int64_t>(),
                                       row[6].as<std::int64_t>(), db::time_of(row[7]), db::optional_text(row[8]),
                                       row[9].is_null() ? std::nullopt : std::optional(row[9].as<std::int64_t>())});
  }
  return page;
}

Erasure erase_member_personal_data(pqxx::transaction_base& txn, const std::string& member_id, Timestamp now) {
  const auto rows = db::exec(txn, lock_personal_data, member_id);
  if (rows.empty()) return {ErasureOutcome::member_not_found, {}, std::nullopt};
  Erasure erasure;
  if (!rows[0][0].is_null()) {
    erasure.fields.push_back("display_name");
    erasure.erased_values.push_back(rows[0][0].c_str());
  }
  if (!rows[0][1].is_null()) {
    erasure.fields.push_back("phone");
    erasure.erased_values.push_back(rows[0][1].c_str());
  }
  erasure.member_created_at = db::time_of(rows[0][3]);
  if (erasure.fields.empty() && !rows[0][2].is_null()) {
    return {ErasureOutcome::already_erased, {}, db::time_of(rows[0][2])};
  }
  db::exec(txn, clear_personal_data, member_id, db::sql_time(now));
  erasure.erased_at = now;
  return erasure;
}

}  // namespace loyalty::ledger
