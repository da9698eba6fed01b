#include "ledger/journal.hpp"

#include <algorithm>
#include <map>
#include <utility>

#include "ledger/amounts.hpp"
#include "platform/assert.hpp"
#include "platform/database.hpp"

namespace loyalty::ledger {
namespace {

// One round trip per entry: the entry row, then its postings in order from unnested arrays.
// The posting trigger (migrations/0001) sees the entry inserted by the same statement.
const db::Statement insert_entry{
    "journal.insert_entry",
    "WITH entry AS (INSERT INTO entries (kind, effective_at, member_id, reference, reason_code, note,"
    "   reverses_entry_id, program_version, request_id, actor)"
    "   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING entry_id, created_at)"
    " INSERT INTO postings (entry_id, account_id, asset, amount, debt_allowed)"
    " SELECT entry.entry_id, p.account_id, p.asset, p.amount, p.debt_allowed"
    " FROM entry, unnest($11::bigint[], $12::text[], $13::bigint[], $14::boolean[]) WITH ORDINALITY"
    "  AS p(account_id, asset, amount, debt_allowed, position)"
    " ORDER BY p.position"
    " RETURNING entry_id, (SELECT created_at FROM entry), balance_after, posting_id"};

// Many entries at once (jobs): their ids are taken from the identity sequence first, so that
// the postings can name them without relying on the order RETURNING gives rows back in.
const db::Statement next_entry_ids{
    "journal.next_entry_ids",
    "SELECT nextval((SELECT pg_get_serial_sequence('entries', 'entry_id'))) FROM generate_series(1, $1)"};

const db::Statement insert_entries{
    "journal.insert_entries",
    "INSERT INTO entries (entry_id, kind, effective_at, member_id, reference, reason_code, note,"
    " reverses_entry_id, program_version, request_id, actor) OVERRIDING SYSTEM VALUE"
    " SELECT * FROM unnest($1::bigint[], $2::text[], $3::timestamptz[], $4::text[], $5::text[], $6::text[],"
    " $7::text[], $8::bigint[], $9::integer[], $10::text[], $11::text[])"};

const db::Statement insert_postings_of_entries{
    "journal.insert_postings_of_entries",
    "INSERT INTO postings (entry_id, account_id, asset, amount, debt_allowed)"
    " SELECT p.entry_id, p.account_id, p.asset, p.amount, p.debt_allowed"
    " FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::bigint[], $5::boolean[]) WITH ORDINALITY"
    "  AS p(entry_id, account_id, asset, amount, debt_allowed, position)"
    " ORDER BY p.position"};

// The postings' columns as array literals, in order.
struct PostingArrays {
  std::string accounts, assets, amounts, debts;
};

PostingArrays posting_arrays(const std::vector<const PostingDraft*>& postings) {
  return {db::array_literal(postings, [](const PostingDraft* p) { return std::to_string(p->account_id); }),
          db::array_literal(postings, [](const PostingDraft* p) { return p->asset; }),
          db::array_literal(postings, [](const PostingDraft* p) { return std::to_string(p->amount); }),
          db::array_literal(postings, [](const PostingDraft* p) { return std::string(p->debt_allowed ? "t" : "f"); })};
}

}  // namespace

void assert_balanced(const EntryDraft& draft) {
  LOYALTY_ASSERT(draft.postings.size() >= 2, "an entry needs two or more postings");
  std::map<std::string, std::int64_t> sum_by_asset;
  for (const PostingDraft& posting : draft.postings) {
    LOYALTY_ASSERT(posting.amount != 0, "a posting of zero");
    LOYALTY_ASSERT(posting.account_id > 0, "a posting without an account");
    auto& sum = sum_by_asset[posting.asset];
    const auto next = checked_add(sum, posting.amount);
    LOYALTY_ASSERT(next.has_value(), "an entry whose postings overflow int64");
    sum = *next;
  }
  for (const auto& [asset, sum] : sum_by_asset) {
    LOYALTY_ASSERT(sum == 0, "an entry that does not sum to zero per asset");
  }
}

PostedEntry post_entry(pqxx::transaction_base& txn, const EntryDraft& draft) {
  assert_balanced(draft);
  std::vector<const PostingDraft*> postings;
  for (const PostingDraft& posting : draft.postings) postings.push_back(&posting);
  const auto arrays = posting_arrays(postings);
  const auto rows =
      db::exec(txn, insert_entry, draft.kind, db::sql_time(draft.effective_at), db::nullable(draft.member_id),
               db::nullable(draft.reference), db::nullable(draft.reason_code), db::nullable(draft.note),
               db::nullable(db::nullable_number(draft.reverses_entry_id)),
               db::nullable(db::nullable_number(draft.program_version)), db::nullable(draft.origin.request_id),
               db::nullable(draft.origin.actor), arrays.accounts, arrays.assets, arrays.amounts, arrays.debts);
  LOYALTY_ASSERT(rows.size() == draft.postings.size(), "postings were not all written");
  PostedEntry posted;
  posted.entry_id = rows[0][0].as<std::int64_t>();
  posted.created_at = db::time_of(rows[0][1]);
  // RETURNING gives no order: posting ids follow the insert's order, which is the draft's.
  std::vector<std::pair<std::int64_t, std::optional<std::int64_t>>> by_posting;
  for (const auto& row : rows) {
    by_posting.emplace_back(row[3].as<std::int64_t>(),
                            row[2].is_null() ? std::nullopt : std::optional(row[2].as<std::int64_t>()));
  }
  std::sort(by_posting.begin(), by_posting.end());
  for (const auto& [posting_id, balance_after] : by_posting) posted.balances_after.push_back(balance_after);
  db::tally(1);  // the executor counts the entries it commits
  return posted;
}

std::vector<std::int64_t> allocate_entry_ids(pqxx::transaction_base& txn, std::int64_t count) {
  std::vector<std::int64_t> ids;
  if (count == 0) return ids;
  ids.reserve(static_cast<std::size_t>(count));
  for (const auto& row : db::exec(txn, next_entry_ids, count)) ids.push_back(row[0].as<std::int64_t>());
  LOYALTY_ASSERT(static_cast<std::int64_t>(ids.size()) == count, "the sequence gave fewer entry ids than asked");
  return ids;
}

void write_entries(db::WriteBuffer& writes, const std::vector<EntryDraft>& drafts,
                   const std::vector<std::int64_t>& ids) {
  LOYALTY_ASSERT(drafts.size() == ids.size(), "an entry id for every draft");
  if (drafts.empty()) return;
  for (const EntryDraft& draft : drafts) assert_balanced(draft);
  const auto column = [&](auto format) { return db::array_literal(drafts, format); };
  writes.add(
      insert_entries, db::array_literal(ids), column([](const EntryDraft& d) { return d.kind; }),
      column([](const EntryDraft& d) { return db::sql_time(d.effective_at); }),
      column([](const EntryDraft& d) { return d.member_id; }), column([](const EntryDraft& d) { return d.reference; }),
      column([](const EntryDraft& d) { return d.reason_code; }), column([](const EntryDraft& d) { return d.note; }),
      column([](const EntryDraft& d) { return db::nullable_number(d.reverses_entry_id); }),
      column([](const EntryDraft& d) { return db::nullable_number(d.program_version); }),
      column([](const EntryDraft& d) { return d.origin.request_id; }),
      column([](const EntryDraft& d) { return d.origin.actor; }));
  std::vector<std::int64_t> posting_entry_ids;
  std::vector<const PostingDraft*> postings;
  for (std::size_t i = 0; i < drafts.size(); ++i) {
    for (const PostingDraft& posting : drafts[i].postings) {
      posting_entry_ids.push_back(ids[i]);
      postings.push_back(&posting);
    }
  }
  const auto arrays = posting_arrays(postings);
  writes.add(insert_postings_of_entries, db::array_literal(posting_entry_ids), arrays.accounts, arrays.assets,
             arrays.amounts, arrays.debts);
  db::tally(static_cast<std::int64_t>(drafts.size()));
}

std::vector<std::int64_t> post_entries(pqxx::transaction_base& txn, const std::vector<EntryDraft>& drafts) {
  if (drafts.empty()) return {};
  for (const EntryDraft& draft : drafts) assert_balanced(draft);
  auto ids = allocate_entry_ids(txn, static_cast<std::int64_t>(drafts.size()));
  db::WriteBuffer writes{txn};
  write_entries(writes, drafts, ids);
  writes.flush();
  return ids;
}

}  // namespace loyalty::ledger
