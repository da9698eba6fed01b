#include "earning/events.hpp"

#include <limits>
#include <map>

#include "earning/budgets.hpp"
#include "earning/rules.hpp"
#include "ledger/accounts.hpp"
#include "ledger/amounts.hpp"
#include "ledger/holds.hpp"
#include "ledger/lots.hpp"
#include "platform/assert.hpp"
#include "platform/database.hpp"
#include "platform/executor.hpp"
#include "program/cache.hpp"

namespace loyalty::earning {
namespace {

using ledger::LockedMemberAccounts;

const db::Statement select_event{
    "events.select",
    "SELECT member_id, request_sha256, entry_id, reversed_at, reversal_entry_id FROM events WHERE event_id = $1"};

const db::Statement lock_event{"events.lock",
                               "SELECT member_id, request_sha256, entry_id, reversed_at, reversal_entry_id FROM events"
                               " WHERE event_id = $1 FOR UPDATE"};

const db::Statement set_reversed{
    "events.set_reversed",
    "UPDATE events SET reversed_at = $2, reversal_entry_id = $3, reversal_reason = $4 WHERE event_id = $1"};

const db::Statement select_awards{"events.select_awards",
                                  "SELECT rule_id, campaign_id, asset, amount, pending_until FROM event_awards WHERE "
                                  "event_id = $1 ORDER BY position"};

// Refunds of an order claw back shares of its earn event (earning/partial_reversal.hpp); a
// whole reversal on top of them would take the same points twice.
const db::Statement has_partial_clawbacks{
    "events.has_partial_clawbacks", "SELECT 1 FROM event_award_clawbacks WHERE event_id = $1 AND settled > 0 LIMIT 1"};

const db::Statement select_entry_postings{
    "events.select_entry_postings",
    "SELECT p.account_id, p.asset, p.amount, a.part FROM postings p JOIN accounts a ON a.account_id = p.account_id"
    " WHERE p.entry_id = $1 ORDER BY p.posting_id"};

// entry_id: the event's earn entry (0 when it awarded nothing).
std::vector<Award> awards_of(pqxx::transaction_base& txn, const std::string& event_id, std::int64_t entry_id) {
  std::vector<Award> awards;
  for (const auto& row : db::exec(txn, select_awards, event_id)) {
    Award award{row[0].c_str(), db::optional_text(row[1]), row[2].c_str(), row[3].as<std::int64_t>(), entry_id,
                std::nullopt};
    if (!row[4].is_null()) award.pending_until = db::time_of(row[4]);
    awards.push_back(std::move(award));
  }
  return awards;
}

}  // namespace

EventResult<EventOutcome> find_event(pqxx::transaction_base& txn, const std::string& event_id) {
  const auto rows = db::exec(txn, select_event, event_id);
  if (rows.empty()) return EventRefusal::event_not_found;
  EventOutcome outcome;
  outcome.event_id = event_id;
  outcome.member_id = rows[0][0].c_str();
  outcome.awards = awards_of(txn, event_id, rows[0][2].is_null() ? 0 : rows[0][2].as<std::int64_t>());
  if (!rows[0][3].is_null()) outcome.reversed_at = db::time_of(rows[0][3]);
  return outcome;
}

EventBounds live_bounds(const program::Program& program) {
  return {std::chrono::hours{24} * program.event_window.past_days,
          std::chrono::seconds{program.event_window.future_seconds}};
}

EventBounds history_bounds(const program::Program& program) {
  return {std::nullopt, std::chrono::seconds{program.event_window.future_seconds}};
}

namespace {

// What an earn entry gave the member and took from funding accounts.
struct OriginalEntry {
  std::map<std::string, std::int64_t> member_available;  // by asset
  std::int64_t points_pending = 0;
  std::vector<ledger::PostingDraft> funding;  // negative amounts, in posting order
};

OriginalEntry read_original(pqxx::transaction_base& txn, std::int64_t entry_id) {
  OriginalEntry original;
  for (const auto& row : db::exec(txn, select_entry_postings, entry_id)) {
    const auto account_id = row[0].as<std::int64_t>();
    const std::string asset = row[1].c_str();
    const auto amount = row[2].as<std::int64_t>();
    if (row[3].is_null()) {
      original.funding.push_back({account_id, asset, amount});
    } else if (std::string(row[3].c_str()) == "pending") {
      original.points_pending += amount;
    } else {
      original.member_available[asset] += amount;
    }
  }
  return original;
}

// Takes up to `wanted` of the member's available POINTS for a clawback: from the event's own
// lots first, then the soonest-expiring others. Returns what the lots gave.
std::int64_t take_points_for_clawback(pqxx::transaction_base& txn, const std::string& member_id, std::int64_t entry_id,
                                      std::int64_t wanted, std::int64_t available) {
  const std::int64_t taken = ledger::take_from_entry_lots(txn, entry_id, false, wanted);
  const std::int64_t coverable = std::max<std::int64_t>(0, available) - taken;
  const std::int64_t more = std::min(wanted - taken, coverable);
  if (more > 0) ledger::take_from_lots(txn, member_id, more);
  return taken + more;
}

// Empties the event's lots that are still pending; returns their points.
std::int64_t cancel_pending_lots(pqxx::transaction_base& txn, std::int64_t entry_id) {
  return ledger::take_from_entry_lots(txn, entry_id, true, std::numeric_limits<std::int64_t>::max());
}

}  // namespace

EventResult<Reversal> reverse_event(pqxx::transaction_base& txn, const program::ProgramVersion& program,
                                    const std::string& event_id, const std::string& reason, Timestamp now,
                                    const ledger::Origin& origin) {
  const auto rows = db::exec(txn, lock_event, event_id);
  if (rows.empty()) return EventRefusal::event_not_found;
  const std::string member_id = rows[0][0].c_str();
  Reversal reversal;
  reversal.event_id = event_id;
  if (!rows[0][3].is_null()) {
    reversal.replayed = true;
    reversal.reversed_at = db::time_of(rows[0][3]);
    if (!rows[0][4].is_null()) {
      reversal.entry_id = rows[0][4].as<std::int64_t>();
      for (const auto& posting : db::exec(txn, select_entry_postings, *reversal.entry_id)) {
        if (!posting[3].is_null())
          reversal.clawed_back.emplace_back(posting[1].c_str(), -posting[2].as<std::int64_t>());
      }
    }
    return reversal;
  }
  if (!db::exec(txn, has_partial_clawbacks, event_id).empty()) return EventRefusal::partially_clawed_back;
  reversal.reversed_at = now;
  if (rows[0][2].is_null()) {  // nothing was awarded: nothing to claw back
    db::exec(txn, set_reversed, event_id, db::sql_time(now), nullptr, reason);
    return reversal;
  }
  const auto entry_id = rows[0][2].as<std::int64_t>();
  // Points of lapsed holds are available again and can be clawed back.
  const auto accounts = ledger::lock_member_for_write(txn, member_id, now, origin);
  const LockedMemberAccounts* points = accounts ? &accounts->points : nullptr;
  const LockedMemberAccounts* growth = accounts ? &accounts->growth : nullptr;
  LOYALTY_ASSERT(points && growth, "an event of a member without accounts");
  const OriginalEntry original = read_original(txn, entry_id);
  const bool allow_debt = program.program.clawback == "allow_negative";

  ledger::EntryDraft entry{"reversal", now, member_id, event_id};
  entry.reverses_entry_id = entry_id;
  entry.note = reason;
  entry.program_version = program.version;
  entry.origin = origin;
  std::map<std::string, std::int64_t> clawed;  // by asset

  // Points still pending are simply cancelled; released ones come out of available.
  const std::int64_t still_pending = cancel_pending_lots(txn, entry_id);
  if (still_pending > 0) {
    entry.postings.push_back({points->pending.account_id, "POINTS", -still_pending});
    clawed["POINTS"] += still_pending;
  }
  const auto claw_available = [&](const std::string& asset, const LockedMemberAccounts& accounts, std::int64_t wanted) {
    if (wanted <= 0) return;
    const std::int64_t covered =
        asset == ledger::points_asset
            ? take_points_for_clawback(txn, member_id, entry_id, wanted, accounts.available.balance)
            : std::min(wanted, std::max<std::int64_t>(0, accounts.available.balance));
    const std::int64_t taken = allow_debt ? wanted : covered;
    if (taken < wanted) reversal.written_off.emplace_back(asset, wanted - taken);
    if (taken > 0) {
      entry.postings.push_back({accounts.available.account_id, asset, -taken, allow_debt && taken > covered});
      clawed[asset] += taken;
    }
  };
  const auto available_points = original.member_available.count("POINTS") ? original.member_available.at("POINTS") : 0;
  claw_available("POINTS", *points, available_points + original.points_pending - still_pending);
  claw_available("GROWTH", *growth,
                 original.member_available.count("GROWTH") ? original.member_available.at("GROWTH") : 0);

  // What was clawed back returns to the funding accounts, in the order they paid.
  for (const auto& funding : original.funding) {
    std::int64_t& left = clawed[funding.asset];
    const std::int64_t back = std::min(left, -funding.amount);
    if (back > 0) entry.postings.push_back({funding.account_id, funding.asset, back});
    left -= back;
  }
  for (const auto& award : awards_of(txn, event_id, entry_id)) {
    if (award.campaign_id) release_budget(txn, *award.campaign_id, award.amount);
  }
  for (const auto& posting : entry.postings) {
    if (posting.amount < 0) reversal.clawed_back.emplace_back(posting.asset, -posting.amount);
  }
  std::optional<std::int64_t> reversal_entry;
  if (!entry.postings.empty()) reversal_entry = ledger::post_entry(txn, entry).entry_id;
  reversal.entry_id = reversal_entry;
  db::exec(txn, set_reversed, event_id, db::sql_time(now), db::nullable(db::nullable_number(reversal_entry)), reason);
  return reversal;
}

}  // namespace loyalty::earning
