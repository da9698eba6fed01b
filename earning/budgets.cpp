#include "earning/budgets.hpp"

#include <algorithm>

#include "platform/assert.hpp"
#include "platform/database.hpp"

namespace loyalty::earning {
namespace {

const db::Statement select_shards{
    "budgets.select",
    "SELECT shard, budget, spent FROM campaign_budget_shards WHERE campaign_id = $1 ORDER BY shard FOR UPDATE"};
const db::Statement insert_shard{"budgets.insert",
                                 "INSERT INTO campaign_budget_shards (campaign_id, shard, budget) VALUES ($1, $2, $3)"};
const db::Statement set_budget{"budgets.set",
                               "UPDATE campaign_budget_shards SET budget = $3 WHERE campaign_id = $1 AND shard = $2"};

// A worker's own shard: only requests routed to that worker prefer it, so it is only ever
// waited on by them (and briefly by a stealer).
const db::Statement take_own{"budgets.take_own",
                             "UPDATE campaign_budget_shards SET spent = spent + $3"
                             " WHERE campaign_id = $1 AND shard = $2 AND spent + $3 <= budget RETURNING shard"};

// Other shards, never waited on: SKIP LOCKED means that no award ever waits for a shard a
// concurrent batch holds, so budgets cannot deadlock batches.
const db::Statement lock_free_shards{"budgets.lock_free_shards",
                                     "SELECT shard, budget, spent FROM campaign_budget_shards WHERE campaign_id = $1"
                                     " ORDER BY shard FOR UPDATE SKIP LOCKED"};

const db::Statement set_spent{"budgets.set_spent",
                              "UPDATE campaign_budget_shards SET spent = $3 WHERE campaign_id = $1 AND shard = $2"};

}  // namespace

bool sync_campaign_budgets(pqxx::transaction_base& txn, const program::Program& program) {
  for (const auto& campaign : program.campaigns) {
    const auto shards = db::exec(txn, select_shards, campaign.id);
    if (shards.empty()) {
      for (int shard = 0; shard < campaign_budget_shards; ++shard) {
        // The remainder of the division goes to shard 0, so the shards add up exactly.
        const std::int64_t share = campaign.budget_points / campaign_budget_shards +
                                   (shard == 0 ? campaign.budget_points % campaign_budget_shards : 0);
        db::exec(txn, insert_shard, campaign.id, shard, share);
      }
      continue;
    }
    std::int64_t budget = 0, spent = 0;
    for (const auto& row : shards) {
      budget += row[1].as<std::int64_t>();
      spent += row[2].as<std::int64_t>();
    }
    if (budget == campaign.budget_points) continue;
    if (campaign.budget_points < spent) return false;
    const std::int64_t unspent = campaign.budget_points - spent;
    const auto count = static_cast<std::int64_t>(shards.size());
    for (std::size_t i = 0; i < shards.size(); ++i) {
      const std::int64_t share = unspent / count + (i == 0 ? unspent % count : 0);
      db::exec(txn, set_budget, campaign.id, shards[i][0].as<int>(), shards[i][2].as<std::int64_t>() + share);
    }
  }
  return true;
}

bool reserve_budget(pqxx::transaction_base& txn, const std::string& campaign_id, std::int64_t points,
                    std::uint64_t routing_key) {
  LOYALTY_ASSERT(points > 0, "reserving no budget");
  const int own = static_cast<int>(routing_key % campaign_budget_shards);
  if (!db::exec(txn, take_own, campaign_id, own, points).empty()) return true;
  // Not enough in our shard: take it from the shards nobody holds right now, if together
  // they have room. Under contention at the very end of a budget this may refuse a bonus
  // while a locked shard still has a little room; it never spends beyond the budget.
  const auto shards = db::exec(txn, lock_free_shards, campaign_id);
  std::int64_t room = 0;
  for (const auto& row : shards) room += row[1].as<std::int64_t>() - row[2].as<std::int64_t>();
  if (room < points) return false;
  std::int64_t left = points;
  for (const auto& row : shards) {
    if (left == 0) break;
    const auto spent = row[2].as<std::int64_t>();
    const std::int64_t taken = std::min(left, row[1].as<std::int64_t>() - spent);
    if (taken > 0) db::exec(txn, set_spent, campaign_id, row[0].as<int>(), spent + taken);
    left -= taken;
  }
  return true;
}

void release_budget(pqxx::transaction_base& txn, const std::string& campaign_id, std::int64_t points) {
  if (points <= 0) return;
  // The campaign's total spend drops by exactly `points`, whichever shards the bonus was
  // reserved in: first from shards nobody holds, then (rarely) waiting for the others.
  std::int64_t left = points;
  for (const auto* statement : {&lock_free_shards, &select_shards}) {
    for (const auto& row : db::exec(txn, *statement, campaign_id)) {
      if (left == 0) break;
      const auto spent = row[2].as<std::int64_t>();
      const std::int64_t taken = std::min(left, spent);
      if (taken > 0) db::exec(txn, set_spent, campaign_id, row[0].as<int>(), spent - taken);
      left -= taken;
    }
    if (left == 0) break;
  }
  LOYALTY_ASSERT(left == 0, "releasing budget that was never spent");
}

}  // namespace loyalty::earning
