// Campaign budgets, split into shards so that concurrent awards do not all queue on one row.
// The shards' budgets always add up to the campaign's budget; a bonus is granted whole or not
// at all, so what a campaign spends never exceeds its budget.
//
// Why this shape: group commit keeps a batch's row locks until the batch commits, so a
// single budget row would serialise every purchase of a campaign, and shards taken in any
// order would deadlock batches. A request prefers the shard of its member's routing key —
// the executor routes by the same key, so each shard is preferred by one worker only (for
// 1, 2, 4 or 8 workers) — and takes from other shards only with SKIP LOCKED, never waiting.
#pragma once

#include <pqxx/pqxx>

#include <cstdint>
#include <string>

#include "program/program.hpp"

namespace loyalty::earning {

inline constexpr int campaign_budget_shards = 8;

// Creates the shards of new campaigns and re-spreads the budget of changed ones (never
// below what each shard has spent). Returns false when a new budget is below what the
// campaign has already spent.
bool sync_campaign_budgets(pqxx::transaction_base& txn, const program::Program& program);

// Reserves `points` of a campaign's budget, preferring the shard of `routing_key` and
// spreading over several shards when no single one has room.
bool reserve_budget(pqxx::transaction_base& txn, const std::string& campaign_id, std::int64_t points,
                    std::uint64_t routing_key);

// Gives `points` back to the campaign (a reversed bonus).
void release_budget(pqxx::transaction_base& txn, const std::string& campaign_id, std::int64_t points);

}  // namespace loyalty::earning
