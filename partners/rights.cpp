#include "partners/rights.hpp"

#include <algorithm>

#include "membership/tiers.hpp"
#include "partners/links.hpp"
#include "partners/registry.hpp"
#include "partners/settlement.hpp"
#include "platform/database.hpp"
#include "platform/digest.hpp"

namespace loyalty::partners {
namespace {

const db::Statement select_used{
    "partner_right_usage.select",
    "SELECT used FROM partner_right_usage WHERE partner_id = $1 AND right_code = $2 AND member_id = $3"
    " AND period_start = $4"};

const db::Statement use_one{
    "partner_right_usage.use_one",
    "INSERT INTO partner_right_usage (partner_id, right_code, member_id, period_start, used)"
    " VALUES ($1, $2, $3, $4, 1)"
    " ON CONFLICT (partner_id, right_code, member_id, period_start) DO UPDATE"
    " SET used = partner_right_usage.used + 1 WHERE partner_right_usage.used < $5 RETURNING used"};

const db::Statement claim_row{
    "partner_right_claims.claim",
    "INSERT INTO partner_right_claims (partner_id, claim_id, right_code, member_id, partner_member_ref, period_start,"
    " remaining_after, request_sha256, created_at, settlement_date) VALUES ($1, $2, $3, $4, $5, $6, 0, $7, $8, $9)"
    " ON CONFLICT (partner_id, claim_id) DO NOTHING RETURNING created_at"};

const db::Statement set_remaining{
    "partner_right_claims.set_remaining",
    "UPDATE partner_right_claims SET remaining_after = $3 WHERE partner_id = $1 AND claim_id = $2"};

const db::Statement select_claim{
    "partner_right_claims.select",
    "SELECT claim_id, right_code, partner_member_ref, remaining_after, period_start::text, settlement_date::text,"
    " created_at, request_sha256 FROM partner_right_claims WHERE partner_id = $1 AND claim_id = $2"};

int level_index(const program::Program& program, const char* track_name, const std::string& level) {
  const program::Track* track = program.track(track_name);
  if (!track) return -1;
  for (std::size_t i = 0; i < track->levels.size(); ++i) {
    if (track->levels[i].code == level) return static_cast<int>(i);
  }
  return -1;
}

bool track_meets(const program::Program& program, const char* track, const std::optional<std::string>& minimum,
                 const std::map<std::string, std::string>& levels) {
  if (!minimum) return false;
  const auto current = levels.find(track);
  if (current == levels.end()) return false;
  const int required = level_index(program, track, *minimum);
  return required >= 0 && level_index(program, track, current->second) >= required;
}

std::int64_t used_in_period(pqxx::transaction_base& txn, const std::string& partner_id, const std::string& code,
                            const std::string& member_id, const std::string& period) {
  const auto rows = db::exec(txn, select_used, partner_id, code, member_id, period);
  return rows.empty() ? 0 : rows[0][0].as<std::int64_t>();
}

RightClaim claim_of_row(const pqxx::row& row) {
  return RightClaim{row[0].c_str(), row[1].c_str(), row[2].c_str(),     row[3].as<std::int64_t>(),
                    row[4].c_str(), row[5].c_str(), db::time_of(row[6])};
}

}  // namespace

bool levels_meet(const program::Program& program, const program::PartnerRight& right,
                 const std::map<std::string, std::string>& levels) {
  return track_meets(program, "spend", right.min_spend_level, levels) ||
         track_meets(program, "engagement", right.min_engagement_level, levels);
}

std::string period_start(const std::string& period, Timestamp now) {
  std::string day = utc_date(now);
  if (period == "month") return day.substr(0, 8) + "01";
  if (period == "year") return day.substr(0, 5) + "01-01";
  return day;
}

Result<std::vector<AvailableRight>> rights_of_member(pqxx::transaction_base& txn, const program::Program* program,
                                                     const program::Partner& partner, const std::string& ref,
                                                     Timestamp now) {
  const auto member_id = confirmed_member_of_ref(txn, partner.partner_id, ref);
  if (!member_id) return member_id.refusal();
  std::vector<AvailableRight> available;
  if (!program) return available;
  const auto levels = membership::current_levels(txn, *program, member_id.value());
  for (const auto& right : partner.rights) {
    if (!levels_meet(*program, right, levels)) continue;
    const std::int64_t used =
        used_in_period(txn, partner.partner_id, right.code, member_id.value(), period_start(right.period, now));
    const std::int64_t remaining = std::max<std::int64_t>(0, right.quota_per_period - used);
    if (remaining > 0) available.push_back({right.code, right.title, remaining});
  }
  return available;
}

Result<std::pair<RightClaim, Replay>> claim_right(pqxx::transaction_base& txn, const program::Program* program,
                                                  const program::Partner& partner, const std::string& code,
                                                  const std::string& claim_id, const std::string& ref, Timestamp now) {
  const program::PartnerRight* right = find_right(partner, code);
  if (!right) return Refusal::right_not_found;
  const auto member_id = confirmed_member_of_ref(txn, partner.partner_id, ref);
  if (!member_id) return member_id.refusal();
  const std::string hash = to_hex(sha256(code + "\n" + ref));
  const std::string period = period_start(right->period, now);
  const std::string settles = settlement_date_for(txn, partner.partner_id, now);
  const auto claimed = db::exec(txn, claim_row, partner.partner_id, claim_id, code, member_id.value(), ref, period,
                                hash, db::sql_time(now), settles);
  if (claimed.empty()) {
    const auto existing = db::exec(txn, select_claim, partner.partner_id, claim_id);
    LOYALTY_ASSERT(!existing.empty(), "a claim id that conflicts but cannot be read");
    if (existing[0][7].c_str() != hash) return Refusal::id_reused;
    return std::pair{claim_of_row(existing[0]), Replay::replayed};
  }
  if (!program || !levels_meet(*program, *right, membership::current_levels(txn, *program, member_id.value()))) {
    return Refusal::not_eligible;
  }
  const auto used =
      db::exec(txn, use_one, partner.partner_id, code, member_id.value(), period, right->quota_per_period);
  if (used.empty()) return Refusal::limit_exceeded;
  const std::int64_t remaining = right->quota_per_period - used[0][0].as<std::int64_t>();
  db::exec(txn, set_remaining, partner.partner_id, claim_id, remaining);
  return std::pair{RightClaim{claim_id, code, ref, remaining, period, settles, db::time_of(claimed[0][0])},
                   Replay::fresh};
}

}  // namespace loyalty::partners
