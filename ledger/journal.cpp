#include "ledger/journal.hpp"

#include <map>
#include <utility>

#include "ledger/amounts.hpp"
#include "ledger/assert.hpp"
#include "ledger/database.hpp"

namespace loyalty::ledger {
namespace {

const db::Statement insert_entry{
    "journal.insert_entry",
    "INSERT INTO entries (kind, effective_at, member_id, reference, reason_code, note,"
    " reverses_entry_id, program_version, request_id, actor)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING entry_id, created_at"};

// One round trip for all postings of an entry: the arrays are unnested in order.
const db::Statement insert_postings{
    "journal.insert_postings",
    "INSERT INTO postings (entry_id, account_id, asset, amount, debt_allowed)"
    " SELECT $1, p.account_id, p.asset, p.amount, p.debt_allowed"
    " FROM unnest($2::bigint[], $3::text[], $4::bigint[], $5::boolean[]) WITH ORDINALITY"
    "  AS p(account_id, asset, amount, debt_allowed, position)"
    " ORDER BY p.position"
    " RETURNING balance_after"};

template <typename Format>
std::string array_literal(const std::vector<PostingDraft>& postings, Format format) {
  std::string literal = "{";
  for (std::size_t i = 0; i < postings.size(); ++i) {
    if (i) literal += ',';
    literal += format(postings[i]);
  }
  literal += '}';
  return literal;
}

thread_local std::int64_t entries_posted_on_this_thread = 0;

}  // namespace

std::int64_t take_entries_posted_on_this_thread() {
  return std::exchange(entries_posted_on_this_thread, 0);
}

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
  const auto entry = db::exec(txn, insert_entry, draft.kind, db::sql_time(draft.effective_at),
                              db::nullable(draft.member_id), db::nullable(draft.reference),
                              db::nullable(draft.reason_code), db::nullable(draft.note),
                              db::nullable(db::nullable_number(draft.reverses_entry_id)),
                              db::nullable(db::nullable_number(draft.program_version)),
                              db::nullable(draft.origin.request_id), db::nullable(draft.origin.actor));
  PostedEntry posted;
  posted.entry_id = entry[0][0].as<std::int64_t>();
  posted.created_at = db::time_of(entry[0][1]);

  // Asset codes and ids are plain tokens ([A-Z0-9_], digits): safe inside array literals.
  const auto accounts = array_literal(
      draft.postings, [](const PostingDraft& p) { return std::to_string(p.account_id); });
  const auto assets =
      array_literal(draft.postings, [](const PostingDraft& p) { return p.asset; });
  const auto amounts = array_literal(
      draft.postings, [](const PostingDraft& p) { return std::to_string(p.amount); });
  const auto debts = array_literal(
      draft.postings, [](const PostingDraft& p) { return std::string(p.debt_allowed ? "t" : "f"); });
  const auto rows = db::exec(txn, insert_postings, posted.entry_id, accounts, assets, amounts, debts);
  LOYALTY_ASSERT(rows.size() == draft.postings.size(), "postings were not all written");
  ++entries_posted_on_this_thread;
  for (const auto& row : rows) {
    posted.balances_after.push_back(row[0].is_null() ? std::nullopt
                                                      : std::optional(row[0].as<std::int64_t>()));
  }
  return posted;
}

}  // namespace loyalty::ledger
