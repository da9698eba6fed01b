#include "earning/partial_reversal.hpp"

#include <algorithm>
#include <map>

#include "earning/budgets.hpp"
#include "ledger/accounts.hpp"
#include "ledger/holds.hpp"
#include "ledger/lots.hpp"
#include "platform/assert.hpp"
#include "platform/database.hpp"

namespace loyalty::earning {
namespace {

using ledger::LockedMemberAccounts;

const db::Statement lock_event{
    "partial_reversal.lock_event",
    "SELECT member_id, entry_id, reversed_at, coalesce(amount_cents, 0) FROM events WHERE event_id = $1 FOR UPDATE"};

// The event's cash taken back so far; like the awards' shares, it only ever grows.
const db::Statement raise_reversed_cents{
    "partial_reversal.raise_reversed_cents",
    "UPDATE events SET reversed_cents = greatest(reversed_cents, $2) WHERE event_id = $1"};

const db::Statement select_awards{
    "partial_reversal.select_awards",
    "SELECT position, campaign_id, asset, amount FROM event_awards WHERE event_id = $1 ORDER BY position"};

// The earn entry's funding postings (no member part), in the order the awards were posted.
const db::Statement select_funding_postings{
    "partial_reversal.select_funding_postings",
    "SELECT p.account_id, p.asset, p.amount FROM postings p JOIN accounts a ON a.account_id = p.account_id"
    " WHERE p.entry_id = $1 AND a.member_id IS NULL ORDER BY p.posting_id"};

const db::Statement select_settled{"partial_reversal.select_settled",
                                   "SELECT position, settled FROM event_award_clawbacks WHERE event_id = $1"};

const db::Statement add_settled{
    "partial_reversal.add_settled",
    "INSERT INTO event_award_clawbacks (event_id, position, settled) VALUES ($1, $2, $3)"
    " ON CONFLICT (event_id, position) DO UPDATE SET settled = event_award_clawbacks.settled + EXCLUDED.settled"};

const db::Statement insert_step{
    "partial_reversal.insert_step",
    "INSERT INTO event_partial_reversals (entry_id, event_id, numerator, denominator, reason, created_at)"
    " VALUES ($1, $2, $3, $4, $5, $6)"};

const db::Statement set_reversed{
    "partial_reversal.set_reversed",
    "UPDATE events SET reversed_at = $2, reversal_entry_id = $3, reversal_reason = $4 WHERE event_id = $1"};

// One award of the event and what this step owes of it.
struct AwardShare {
  int position = 0;
  std::optional<std::string> campaign_id;
  std::string asset;
  std::int64_t funding_account_id = 0;
  std::int64_t wanted = 0;    // brought up to the share by this step
  std::int64_t returned = 0;  // of `wanted`, what goes back to the funding account
};

std::vector<AwardShare> shares_due(pqxx::transaction_base& txn, const std::string& event_id, std::int64_t entry_id,
                                   ReversalShare share) {
  std::map<int, std::int64_t> settled;
  for (const auto& row : db::exec(txn, select_settled, event_id)) settled[row[0].as<int>()] = row[1].as<std::int64_t>();
  const auto funding = db::exec(txn, select_funding_postings, entry_id);
  const auto awards = db::exec(txn, select_awards, event_id);
  LOYALTY_ASSERT(funding.size() == awards.size(), "an earn entry without one funding posting per award");
  std::vector<AwardShare> shares;
  for (std::size_t i = 0; i < awards.size(); ++i) {
    const auto& award = awards[i];
    AwardShare item;
    item.position = award[0].as<int>();
    item.campaign_id = db::optional_text(award[1]);
    item.asset = award[2].c_str();
    item.funding_account_id = funding[i][0].as<std::int64_t>();
    LOYALTY_ASSERT(
        item.asset == funding[i][1].c_str() && -funding[i][2].as<std::int64_t>() == award[3].as<std::int64_t>(),
        "an award that does not match its funding posting");
    item.wanted = std::max<std::int64_t>(0, share_of(award[3].as<std::int64_t>(), share) - settled[item.position]);
    shares.push_back(std::move(item));
  }
  return shares;
}

std::int64_t wanted_of(const std::vector<AwardShare>& shares, const std::string& asset) {
  std::int64_t wanted = 0;
  for (const auto& item : shares) {
    if (item.asset == asset) wanted += item.wanted;
  }
  return wanted;
}

// What the clawback takes from the member's parts, per asset, posted on `entry`.
struct Taken {
  std::map<std::string, std::int64_t> by_asset;
};

// The event's pending points are cancelled first; the rest comes out of available, from the
// event's own lots, then the soonest-expiring others; beyond the balance, debt or write-off.
void claw_points(pqxx::transaction_base& txn, const std::string& member_id, std::int64_t entry_id,
                 const LockedMemberAccounts& points, std::int64_t wanted, bool allow_debt, ledger::EntryDraft& entry,
                 Taken& taken) {
  if (wanted <= 0) return;
  const std::int64_t from_pending = ledger::take_from_entry_lots(txn, entry_id, true, wanted);
  if (from_pending > 0) entry.postings.push_back({points.pending.account_id, "POINTS", -from_pending});
  const std::int64_t rest = wanted - from_pending;
  std::int64_t covered = 0;
  if (rest > 0) {
    covered = ledger::take_from_entry_lots(txn, entry_id, false,
                                           std::min(rest, std::max<std::int64_t>(0, points.available.balance)));
    const std::int64_t more = std::min(rest - covered, std::max<std::int64_t>(0, points.available.balance) - covered);
    if (more > 0) ledger::take_from_lots(txn, member_id, more);
    covered += more;
  }
  const std::int64_t from_available = allow_debt ? rest : covered;
  if (from_available > 0) {
    entry.postings.push_back({points.available.account_id, "POINTS", -from_available, from_available > covered});
  }
  taken.by_asset["POINTS"] = from_pending + from_available;
}

void claw_other(const std::string& asset, const LockedMemberAccounts& accounts, std::int64_t wanted, bool allow_debt,
                ledger::EntryDraft& entry, Taken& taken) {
  if (wanted <= 0) return;
  const std::int64_t covered = std::min(wanted, std::max<std::int64_t>(0, accounts.available.balance));
  const std::int64_t from_available = allow_debt ? wanted : covered;
  if (from_available > 0) {
    entry.postings.push_back({accounts.available.account_id, asset, -from_available, from_available > covered});
  }
  taken.by_asset[asset] = from_available;
}

// What was taken goes back to the funding accounts, award by award in the order they paid;
// what was not (cap_at_balance) is written off, and the campaign's budget is freed either way.
void return_to_funding(pqxx::transaction_base& txn, std::vector<AwardShare>& shares, Taken& taken,
                       ledger::EntryDraft& entry, PartialReversal& reversal) {
  std::map<std::string, std::int64_t> written_off;
  for (auto& item : shares) {
    if (item.wanted == 0) continue;
    std::int64_t& left = taken.by_asset[item.asset];
    item.returned = std::min(left, item.wanted);
    left -= item.returned;
    if (item.returned > 0) entry.postings.push_back({item.funding_account_id, item.asset, item.returned});
    if (item.wanted > item.returned) written_off[item.asset] += item.wanted - item.returned;
    if (item.campaign_id) release_budget(txn, *item.campaign_id, item.wanted);
  }
  for (const auto& [asset, amount] : written_off) reversal.written_off.emplace_back(asset, amount);
  std::map<std::string, std::int64_t> clawed;
  for (const auto& item : shares) {
    if (item.returned > 0) clawed[item.asset] += item.returned;
  }
  for (const auto& [asset, amount] : clawed) reversal.clawed_back.emplace_back(asset, amount);
}

}  // namespace

std::int64_t share_of(std::int64_t amount, ReversalShare share) {
  LOYALTY_ASSERT(amount >= 0 && share.denominator > 0 && share.numerator >= 0 && share.numerator <= share.denominator,
                 "a share outside [0, 1]");
  // amount × numerator < 2^126: exact in 128 bits; the quotient is at most `amount`.
  return static_cast<std::int64_t>(static_cast<__int128>(amount) * share.numerator / share.denominator);
}

EventResult<PartialReversal> reverse_event_share(pqxx::transaction_base& txn, const program::ProgramVersion& program,
                                                 const std::string& event_id, ReversalShare share,
                                                 const std::string& reason, Timestamp now,
                                                 const ledger::Origin& origin) {
  LOYALTY_ASSERT(share.denominator > 0 && share.numerator >= 0 && share.numerator <= share.denominator,
                 "a share outside [0, 1]");
  const auto rows = db::exec(txn, lock_event, event_id);
  if (rows.empty()) return EventRefusal::event_not_found;
  PartialReversal reversal;
  reversal.event_id = event_id;
  if (!rows[0][2].is_null()) {  // reversed in full already: nothing is left to claw back
    reversal.event_fully_reversed = true;
    return reversal;
  }
  const bool whole = share.numerator == share.denominator;
  const std::string member_id = rows[0][0].c_str();
  // Tier tracks count the event's cash less this (membership/tiers.cpp).
  db::exec(txn, raise_reversed_cents, event_id, share_of(rows[0][3].as<std::int64_t>(), share));
  if (rows[0][1].is_null()) {  // the event awarded nothing
    if (whole) db::exec(txn, set_reversed, event_id, db::sql_time(now), nullptr, reason);
    reversal.event_fully_reversed = whole;
    return reversal;
  }
  const auto earn_entry_id = rows[0][1].as<std::int64_t>();
  auto shares = shares_due(txn, event_id, earn_entry_id, share);

  // Points of lapsed holds are available again and can be clawed back.
  const auto accounts = ledger::lock_member_for_write(txn, member_id, now, origin);
  const LockedMemberAccounts* points = accounts ? &accounts->points : nullptr;
  const LockedMemberAccounts* growth = accounts ? &accounts->growth : nullptr;
  LOYALTY_ASSERT(points && growth, "an event of a member without accounts");
  const bool allow_debt = program.program.clawback == "allow_negative";

  ledger::EntryDraft entry{"earn_clawback", now, member_id, event_id};
  entry.note = reason;
  entry.program_version = program.version;
  entry.origin = origin;
  Taken taken;
  claw_points(txn, member_id, earn_entry_id, *points, wanted_of(shares, "POINTS"), allow_debt, entry, taken);
  claw_other("GROWTH", *growth, wanted_of(shares, "GROWTH"), allow_debt, entry, taken);
  return_to_funding(txn, shares, taken, entry, reversal);
  for (const auto& item : shares) {
    if (item.wanted > 0) db::exec(txn, add_settled, event_id, item.position, item.wanted);
  }
  if (!entry.postings.empty()) {
    reversal.entry_id = ledger::post_entry(txn, entry).entry_id;
    db::exec(txn, insert_step, *reversal.entry_id, event_id, share.numerator, share.denominator, reason,
             db::sql_time(now));
  }
  if (whole) {
    db::exec(txn, set_reversed, event_id, db::sql_time(now), db::nullable(db::nullable_number(reversal.entry_id)),
             reason);
    reversal.event_fully_reversed = true;
  }
  return reversal;
}

}  // namespace loyalty::earning
