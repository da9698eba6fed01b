#include "program/store.hpp"

#include <climits>
#include <stdexcept>

#include "ledger/accounts.hpp"
#include "platform/database.hpp"
#include "platform/digest.hpp"

namespace loyalty::program {
namespace {

const db::Statement select_current{"program.select_current",
                                   "SELECT version, document::text, document_sha256, applied_at FROM program_versions"
                                   " ORDER BY version DESC LIMIT 1"};

const db::Statement select_versions{"program.select_versions",
                                    "SELECT version, document_sha256, applied_at, applied_by FROM program_versions"
                                    " WHERE version < $1 ORDER BY version DESC LIMIT $2"};

const db::Statement select_version{
    "program.select_version_by_number",
    "SELECT version, document_sha256, applied_at, applied_by, document::text FROM program_versions WHERE version = $1"};

// The version number comes from the table under a lock, so two concurrent applies queue.
const db::Statement lock_versions{"program.lock_versions", "LOCK TABLE program_versions IN EXCLUSIVE MODE"};

const db::Statement insert_version{
    "program.insert_version",
    "INSERT INTO program_versions (version, program, document, document_sha256, applied_by)"
    " VALUES ($1, $2, $3::jsonb, $4, $5)"};

const db::Statement insert_asset{
    "program.insert_asset",
    "INSERT INTO assets (code, spendable) VALUES ($1, $2) ON CONFLICT (code) DO NOTHING RETURNING code"};

void create_accounts(pqxx::transaction_base& txn, const Program& program) {
  for (const auto& asset : program.assets) add_asset(txn, asset.code, asset.spendable);
  for (const auto& partner : program.partners) add_asset(txn, partner.asset, false);
  for (const auto& rule : program.rules) {
    for (const auto& award : rule.awards) ledger::ensure_system_account(txn, rule.funding_account, award.asset);
  }
  for (const auto& campaign : program.campaigns) {
    ledger::ensure_system_account(txn, campaign.funding_account, ledger::points_asset);
  }
  for (const auto& partner : program.partners) {
    ledger::ensure_system_account(txn, partner_clearing_account(partner.partner_id), partner.asset);
    ledger::ensure_system_account(txn, partner_clearing_account(partner.partner_id), ledger::points_asset);
  }
}

}  // namespace

bool add_asset(pqxx::transaction_base& txn, const std::string& code, bool spendable) {
  return !db::exec(txn, insert_asset, code, spendable).empty();
}

std::string partner_clearing_account(const std::string& partner_id) {
  return "partner:" + partner_id;
}

std::variant<AppliedProgram, DocumentProblems> apply_program(pqxx::transaction_base& txn,
                                                             const nlohmann::json& document,
                                                             const std::string& applied_by) {
  auto parsed = parse_program(document);
  if (auto* problems = std::get_if<DocumentProblems>(&parsed)) return *problems;
  const Program& program = std::get<Program>(parsed);
  // nlohmann's dump sorts object keys: the same document always has the same hash.
  const std::string canonical = document.dump();
  const std::string hash = to_hex(sha256(canonical));
  db::exec(txn, lock_versions);
  const auto current = db::exec(txn, select_current);
  if (!current.empty() && current[0][2].c_str() == hash) {
    return AppliedProgram{current[0][0].as<int>(), false, hash};
  }
  const int version = current.empty() ? 1 : current[0][0].as<int>() + 1;
  create_accounts(txn, program);
  db::exec(txn, insert_version, version, program.name, canonical, hash, applied_by);
  return AppliedProgram{version, true, hash};
}

std::vector<StoredVersion> list_versions(pqxx::transaction_base& txn, std::optional<int> before_version, int limit) {
  std::vector<StoredVersion> versions;
  for (const auto& row : db::exec(txn, select_versions, before_version.value_or(INT_MAX), limit)) {
    versions.push_back({row[0].as<int>(), row[1].c_str(), db::time_of(row[2]), row[3].c_str(), nullptr});
  }
  return versions;
}

std::optional<StoredVersion> find_version(pqxx::transaction_base& txn, int version) {
  const auto rows = db::exec(txn, select_version, version);
  if (rows.empty()) return std::nullopt;
  const auto& row = rows[0];
  return StoredVersion{row[0].as<int>(), row[1].c_str(), db::time_of(row[2]), row[3].c_str(),
                       nlohmann::json::parse(row[4].c_str())};
}

std::optional<ProgramVersion> current_program(pqxx::transaction_base& txn) {
  const auto rows = db::exec(txn, select_current);
  if (rows.empty()) return std::nullopt;
  ProgramVersion version;
  version.version = rows[0][0].as<int>();
  version.document = nlohmann::json::parse(rows[0][1].c_str());
  version.sha256 = rows[0][2].c_str();
  version.applied_at = db::time_of(rows[0][3]);
  auto parsed = parse_program(version.document);
  // A stored program is data: one applied before a check was added (a funding account that is
  // now refused, say) fails the requests that need it, with the reason in the log, until a
  // corrected program is applied; it never stops the process.
  if (const auto* problems = std::get_if<DocumentProblems>(&parsed)) {
    throw std::runtime_error("the program in force (version " + std::to_string(version.version) +
                             ") no longer validates; apply a corrected one: " +
                             (problems->problems.empty() ? std::string("?") : problems->problems.front()));
  }
  version.program = std::get<Program>(std::move(parsed));
  return version;
}

}  // namespace loyalty::program
