#include "partners/registry.hpp"

#include <algorithm>

#include "ledger/accounts.hpp"
#include "platform/assert.hpp"
#include "platform/database.hpp"
#include "program/store.hpp"

namespace loyalty::partners {
namespace {

const db::Statement select_partner{
    "partners.select_partner",
    "SELECT partner_id, name, asset, inbound_points_per_unit, outbound_units_per_point_milli, cents_per_point,"
    " per_member_daily_points, per_day_points FROM partners WHERE partner_id = $1"};

const db::Statement select_all_partners{
    "partners.select_all_partners",
    "SELECT partner_id, name, asset, inbound_points_per_unit, outbound_units_per_point_milli, cents_per_point,"
    " per_member_daily_points, per_day_points FROM partners ORDER BY partner_id"};

const db::Statement select_partners_after{
    "partners.select_partners_after",
    "SELECT partner_id, name, asset, inbound_points_per_unit, outbound_units_per_point_milli, cents_per_point,"
    " per_member_daily_points, per_day_points FROM partners WHERE partner_id > $1 ORDER BY partner_id LIMIT $2"};

const db::Statement insert_partner{
    "partners.insert_partner",
    "INSERT INTO partners (partner_id, name, asset, inbound_points_per_unit, outbound_units_per_point_milli,"
    " cents_per_point, per_member_daily_points, per_day_points) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
    " ON CONFLICT (partner_id) DO NOTHING RETURNING partner_id"};

const db::Statement select_rights{
    "partners.select_rights",
    "SELECT code, title, min_spend_level, min_engagement_level, quota_per_period, period FROM partner_rights"
    " WHERE partner_id = $1 ORDER BY code"};

const db::Statement insert_right{
    "partners.insert_right",
    "INSERT INTO partner_rights (partner_id, code, title, min_spend_level, min_engagement_level, quota_per_period,"
    " period) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (partner_id, code) DO NOTHING RETURNING code"};

const db::Statement select_accounts{
    "partners.select_accounts",
    "SELECT name, asset, account_id FROM accounts WHERE (name = $1 AND asset IN ($2, 'POINTS'))"
    " OR (name = $3 AND asset = $2)"};

program::Partner partner_of_row(const pqxx::row& row) {
  program::Partner partner;
  partner.partner_id = row[0].c_str();
  partner.name = row[1].c_str();
  partner.asset = row[2].c_str();
  partner.inbound_points_per_unit = row[3].as<std::int64_t>();
  partner.outbound_units_per_point_milli = row[4].as<std::int64_t>();
  partner.cents_per_point = row[5].as<std::int64_t>();
  partner.per_member_daily_points = row[6].as<std::int64_t>();
  partner.per_day_points = row[7].as<std::int64_t>();
  return partner;
}

// Adds the API's rights to a partner's catalog (the program's come first and win).
void add_stored_rights(pqxx::transaction_base& txn, program::Partner& partner) {
  for (const auto& row : db::exec(txn, select_rights, partner.partner_id)) {
    program::PartnerRight right;
    right.code = row[0].c_str();
    right.title = row[1].c_str();
    right.min_spend_level = db::optional_text(row[2]);
    right.min_engagement_level = db::optional_text(row[3]);
    right.quota_per_period = row[4].as<std::int64_t>();
    right.period = row[5].c_str();
    if (!find_right(partner, right.code)) partner.rights.push_back(std::move(right));
  }
}

const program::Partner* program_partner(const program::Program* program, const std::string& partner_id) {
  if (!program) return nullptr;
  for (const auto& partner : program->partners) {
    if (partner.partner_id == partner_id) return &partner;
  }
  return nullptr;
}

bool level_exists(const program::Program* program, const char* track_name, const std::optional<std::string>& level) {
  if (!level) return true;
  const program::Track* track = program ? program->track(track_name) : nullptr;
  return track && std::any_of(track->levels.begin(), track->levels.end(),
                              [&](const program::Level& l) { return l.code == *level; });
}

void open_accounts(pqxx::transaction_base& txn, const program::Partner& partner) {
  const std::string clearing = program::partner_clearing_account(partner.partner_id);
  ledger::ensure_system_account(txn, clearing, ledger::points_asset);
  ledger::ensure_system_account(txn, clearing, partner.asset);
  ledger::ensure_system_account(txn, members_side_account(partner.partner_id), partner.asset);
}

// Registered before: a replay when the definition (rights included) is the same.
Result<Replay> judge_replay(pqxx::transaction_base& txn, const program::Program* program,
                            const program::Partner& partner) {
  const auto existing = find_partner(txn, program, partner.partner_id);
  LOYALTY_ASSERT(existing.has_value(), "a partner row that cannot be read back");
  if (!same_terms(existing->terms, partner)) return Refusal::partner_exists_differently;
  for (const auto& right : partner.rights) {
    const auto* stored = find_right(existing->terms, right.code);
    if (!stored || !same_right(*stored, right)) return Refusal::partner_exists_differently;
  }
  return Replay::replayed;
}

}  // namespace

std::string members_side_account(const std::string& partner_id) {
  return program::partner_clearing_account(partner_id) + ":members";
}

const program::PartnerRight* find_right(const program::Partner& partner, const std::string& code) {
  for (const auto& right : partner.rights) {
    if (right.code == code) return &right;
  }
  return nullptr;
}

bool same_terms(const program::Partner& a, const program::Partner& b) {
  return a.partner_id == b.partner_id && a.name == b.name && a.asset == b.asset &&
         a.inbound_points_per_unit == b.inbound_points_per_unit &&
         a.outbound_units_per_point_milli == b.outbound_units_per_point_milli &&
         a.cents_per_point == b.cents_per_point && a.per_member_daily_points == b.per_member_daily_points &&
         a.per_day_points == b.per_day_points;
}

bool same_right(const program::PartnerRight& a, const program::PartnerRight& b) {
  return a.code == b.code && a.title == b.title && a.min_spend_level == b.min_spend_level &&
         a.min_engagement_level == b.min_engagement_level && a.quota_per_period == b.quota_per_period &&
         a.period == b.period;
}

std::optional<RegisteredPartner> find_partner(pqxx::transaction_base& txn, const program::Program* program,
                                              const std::string& partner_id) {
  RegisteredPartner found;
  if (const program::Partner* defined = program_partner(program, partner_id)) {
    found.terms = *defined;
    found.from_program = true;
  } else {
    const auto rows = db::exec(txn, select_partner, partner_id);
    if (rows.empty()) return std::nullopt;
    found.terms = partner_of_row(rows[0]);
  }
  add_stored_rights(txn, found.terms);
  return found;
}

std::vector<RegisteredPartner> all_partners(pqxx::transaction_base& txn, const program::Program* program) {
  std::vector<RegisteredPartner> partners;
  if (program) {
    for (const auto& partner : program->partners) partners.push_back({partner, true});
  }
  for (const auto& row : db::exec(txn, select_all_partners)) {
    auto partner = partner_of_row(row);
    if (!program_partner(program, partner.partner_id)) partners.push_back({std::move(partner), false});
  }
  for (auto& partner : partners) add_stored_rights(txn, partner.terms);
  return partners;
}

PartnerPage list_partners(pqxx::transaction_base& txn, const program::Program* program,
                          const std::optional<std::string>& after_id, int limit) {
  const std::string after = after_id.value_or("");
  std::vector<RegisteredPartner> candidates;
  std::size_t defined = 0;
  if (program) {
    for (const auto& partner : program->partners) {
      if (partner.partner_id > after) candidates.push_back({partner, true});
    }
    defined = program->partners.size();
  }
  // The table may hold an id the program now defines (the program wins): read as many more.
  for (const auto& row : db::exec(txn, select_partners_after, after, static_cast<std::int64_t>(limit + 1 + defined))) {
    auto partner = partner_of_row(row);
    if (!program_partner(program, partner.partner_id)) candidates.push_back({std::move(partner), false});
  }
  std::sort(candidates.begin(), candidates.end(),
            [](const auto& a, const auto& b) { return a.terms.partner_id < b.terms.partner_id; });
  PartnerPage page;
  for (auto& partner : candidates) {
    if (static_cast<int>(page.items.size()) == limit) {
      page.next_after = page.items.back().terms.partner_id;
      break;
    }
    add_stored_rights(txn, partner.terms);
    page.items.push_back(std::move(partner));
  }
  return page;
}

Result<Replay> register_partner(pqxx::transaction_base& txn, const program::Program* program,
                                const program::Partner& partner) {
  if (program_partner(program, partner.partner_id)) return Refusal::partner_defined_by_program;
  for (const auto& right : partner.rights) {
    if (!level_exists(program, "spend", right.min_spend_level) ||
        !level_exists(program, "engagement", right.min_engagement_level)) {
      return Refusal::level_unknown;
    }
  }
  if (!db::exec(txn, select_partner, partner.partner_id).empty()) return judge_replay(txn, program, partner);
  if (!program::add_asset(txn, partner.asset, false)) {
    // Taken by another asset, or by a concurrent registration of this very partner.
    if (!db::exec(txn, select_partner, partner.partner_id).empty()) return judge_replay(txn, program, partner);
    return Refusal::asset_taken;
  }
  const auto inserted = db::exec(txn, insert_partner, partner.partner_id, partner.name, partner.asset,
                                 partner.inbound_points_per_unit, partner.outbound_units_per_point_milli,
                                 partner.cents_per_point, partner.per_member_daily_points, partner.per_day_points);
  // A concurrent registration of the same id won.
  if (inserted.empty()) return judge_replay(txn, program, partner);
  open_accounts(txn, partner);
  for (const auto& right : partner.rights) {
    auto added = add_right(txn, program, partner.partner_id, right);
    if (!added) return added.refusal();
  }
  return Replay::fresh;
}

Result<Replay> add_right(pqxx::transaction_base& txn, const program::Program* program, const std::string& partner_id,
                         const program::PartnerRight& right) {
  const auto partner = find_partner(txn, program, partner_id);
  if (!partner) return Refusal::partner_not_found;
  if (!level_exists(program, "spend", right.min_spend_level) ||
      !level_exists(program, "engagement", right.min_engagement_level)) {
    return Refusal::level_unknown;
  }
  if (const auto* existing = find_right(partner->terms, right.code)) {
    return same_right(*existing, right) ? Result<Replay>(Replay::replayed) : Refusal::right_exists_differently;
  }
  const auto inserted =
      db::exec(txn, insert_right, partner_id, right.code, right.title, db::nullable(right.min_spend_level),
               db::nullable(right.min_engagement_level), right.quota_per_period, right.period);
  // A concurrent insert of the same code won: judge against what it stored.
  if (inserted.empty()) return add_right(txn, program, partner_id, right);
  return Replay::fresh;
}

PartnerAccounts partner_accounts(pqxx::transaction_base& txn, const program::Partner& partner) {
  const std::string clearing = program::partner_clearing_account(partner.partner_id);
  const std::string members = members_side_account(partner.partner_id);
  PartnerAccounts accounts;
  for (const auto& row : db::exec(txn, select_accounts, clearing, partner.asset, members)) {
    const std::string name = row[0].c_str();
    const std::string asset = row[1].c_str();
    const auto id = row[2].as<std::int64_t>();
    if (name == members)
      accounts.members_units = id;
    else if (asset == ledger::points_asset)
      accounts.clearing_points = id;
    else
      accounts.clearing_units = id;
  }
  // Set-up that a program applied before this capability existed did not do; idempotent.
  if (!accounts.clearing_points || !accounts.clearing_units || !accounts.members_units) {
    open_accounts(txn, partner);
    return partner_accounts(txn, partner);
  }
  return accounts;
}

}  // namespace loyalty::partners
