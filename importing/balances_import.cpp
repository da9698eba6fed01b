// `loyaltyctl import balances FILE.csv` (import_id,external_id,asset,amount,expires_at,note):
// each row an opening balance — an entry of kind opening_balance crediting the member's
// available POINTS, funded from system:migration (so the migrated liability shows in the trial
// balance and the liability report), and a lot with the row's own expiry. The import_id is the
// entry's reference, once (migrations/0015).
//
// A batch follows the phases of the write path on a ledger::Batch: one read of its members and
// of the import ids recorded before, the lock of the members' accounts (account id order), the
// decisions in memory, one SELECT of ids and one flush (entries, postings, lots, progress,
// audit).
#include <map>
#include <set>

#include "importing/import_file.hpp"
#include "ledger/amounts.hpp"
#include "ledger/batch.hpp"
#include "platform/text.hpp"
#include "program/cache.hpp"
#include "program/store.hpp"

namespace loyalty::importing {
namespace {

// Members by external id ('m'), and the opening balances already recorded under the batch's
// import ids with their member and amount ('b'). Columns: kind, key, member id, amount.
const db::Statement prefetch_balances{
    "import.prefetch_balances",
    "SELECT 'm', external_id, member_id, 0::bigint FROM members WHERE external_id = ANY($1::text[])"
    " UNION ALL SELECT 'b', e.reference, e.member_id, p.amount FROM entries e"
    " JOIN postings p ON p.entry_id = e.entry_id AND p.amount > 0"
    " WHERE e.kind = 'opening_balance' AND e.reference = ANY($2::text[])"};

constexpr const char* migration_account = "system:migration";
constexpr std::size_t note_bytes_max = 1000;

struct OpeningBalance {
  std::string import_id;
  std::string external_id;
  std::int64_t amount = 0;
  std::optional<Timestamp> expires_at;  // absent: the program's expiry policy from the import
  std::optional<std::string> note;
};

// The opening balance of a row, or why it is refused. Only POINTS: GROWTH is contribution value
// whose tier windows need its days, which the events file brings (docs/operations/import.md).
std::variant<OpeningBalance, std::string> balance_of(const Row& row, Timestamp now) {
  if (row.csv_problem) return "not readable as CSV (" + *row.csv_problem + ")";
  if (row.fields.size() != 6) return "expected 6 fields, found " + std::to_string(row.fields.size());
  for (const auto& field : row.fields) {
    if (!is_clean_text(field)) return std::string("a field is not UTF-8 text or holds NUL");
  }
  OpeningBalance balance{row.fields[0], row.fields[1]};
  if (!is_key_text(balance.import_id)) return std::string("import_id: 1 to 128 characters of [A-Za-z0-9_.:-]");
  if (balance.external_id.empty() || balance.external_id.size() > 512) {
    return std::string("external_id: is required, at most 128 characters");
  }
  if (row.fields[2] != ledger::points_asset) {
    return std::string("asset: only POINTS opening balances are imported (GROWTH comes with the events)");
  }
  const auto amount = whole_number(row.fields[3]);
  if (!amount) return std::string("amount: a whole number of points is required");
  if (*amount <= 0) return std::string("amount: must be above zero (a debt or nothing is not an opening balance)");
  balance.amount = *amount;
  if (!row.fields[4].empty()) {
    balance.expires_at = parse_rfc3339(row.fields[4]);
    if (!balance.expires_at) return std::string("expires_at: an RFC 3339 time is required (or empty)");
    if (*balance.expires_at <= now) {
      return std::string("expires_at: already past; expired points are not a liability to bring over");
    }
  }
  if (row.fields[5].size() > note_bytes_max) return std::string("note: at most 1000 bytes");
  if (!row.fields[5].empty()) balance.note = row.fields[5];
  return balance;
}

class BalancesImporter : public Importer {
 public:
  const std::vector<std::string>& header() const override { return header_; }

  std::vector<RowOutcome> apply(
      pqxx::transaction_base& txn, const std::vector<const Row*>& rows, const BatchContext& context,
      const std::function<void(db::WriteBuffer&, const std::vector<RowOutcome>&)>& finish) override {
    std::vector<RowOutcome> outcomes(rows.size(), skipped());
    std::vector<std::optional<OpeningBalance>> balances(rows.size());
    std::set<std::string> external_ids, import_ids;
    for (std::size_t i = 0; i < rows.size(); ++i) {
      auto balance = balance_of(*rows[i], context.now);
      if (auto* reason = std::get_if<std::string>(&balance)) {
        outcomes[i] = rejected(*reason);
        continue;
      }
      balances[i] = std::get<OpeningBalance>(std::move(balance));
      external_ids.insert(balances[i]->external_id);
      import_ids.insert(balances[i]->import_id);
    }
    // Prefetch: members and import ids recorded before.
    std::map<std::string, std::string> member_of;                        // external id → member id
    std::map<std::string, std::pair<std::string, std::int64_t>> before;  // import id → (member, amount)
    if (!import_ids.empty()) {
      for (const auto& row :
           db::exec(txn, prefetch_balances, db::array_literal(std::vector(external_ids.begin(), external_ids.end())),
                    db::array_literal(std::vector(import_ids.begin(), import_ids.end())))) {
        if (row[0].c_str()[0] == 'm')
          member_of[row[1].c_str()] = row[2].c_str();
        else
          before[row[1].c_str()] = {row[2].c_str(), row[3].as<std::int64_t>()};
      }
    }
    // Lock: every account of the batch's members, in account id order.
    ledger::Batch batch{txn};
    std::vector<std::string> members;
    for (const auto& [external_id, member_id] : member_of) members.push_back(member_id);
    batch.lock_members(members);
    decide(batch, balances, member_of, before, context, outcomes);
    batch.stage();
    finish(batch.writes(), outcomes);
    batch.writes().flush();
    return outcomes;
  }

 private:
  void decide(ledger::Batch& batch, const std::vector<std::optional<OpeningBalance>>& balances,
              const std::map<std::string, std::string>& member_of,
              std::map<std::string, std::pair<std::string, std::int64_t>>& before, const BatchContext& context,
              std::vector<RowOutcome>& outcomes) {
    const auto program = program_cache_.current(batch.transaction());
    const ledger::ExpiryPolicy expiry = program::points_expiry(program ? &program->program : nullptr);
    for (std::size_t i = 0; i < balances.size(); ++i) {
      if (!balances[i]) continue;
      const OpeningBalance& balance = *balances[i];
      const auto member_id = member_of.find(balance.external_id);
      if (member_id == member_of.end()) {
        outcomes[i] = rejected("member_not_found: no member has this external_id (import members first)");
        continue;
      }
      if (const auto found = before.find(balance.import_id); found != before.end()) {
        // The same row again is a replay; the key with another member or amount is a mistake.
        if (found->second != std::pair(member_id->second, balance.amount)) {
          outcomes[i] = rejected("import_id_reused: this import_id was imported with another member or amount");
        }
        continue;
      }
      ledger::MemberAccounts& member = *batch.member(member_id->second);
      const auto total = member.points.total();
      if (!total || !ledger::checked_add(*total, balance.amount)) {
        outcomes[i] = rejected("amount_overflow: the member's points would exceed 2^63-1");
        continue;
      }
      ledger::EntryDraft entry{"opening_balance", context.now, member_id->second, balance.import_id};
      entry.note = balance.note;
      entry.program_version = program ? std::optional(program->version) : std::nullopt;
      entry.origin = context.origin;
      entry.postings.push_back({batch.system_account(migration_account, ledger::points_asset),
                                std::string(ledger::points_asset), -balance.amount});
      entry.postings.push_back({member.points.available.account_id, std::string(ledger::points_asset), balance.amount});
      const std::int64_t available_before = member.points.available.balance;
      const ledger::EntryIndex index = batch.post(std::move(entry));
      batch.add_lot({member_id->second, balance.amount, context.now,
                     balance.expires_at.value_or(expiry.expiry_for(context.now)), std::nullopt, 0, "migration"},
                    index, available_before);
      before[balance.import_id] = {member_id->second, balance.amount};
      outcomes[i] = applied();
    }
  }

  std::vector<std::string> header_{"import_id", "external_id", "asset", "amount", "expires_at", "note"};
  program::ProgramCache program_cache_;
};

}  // namespace

std::unique_ptr<Importer> balances_importer() {
  return std::make_unique<BalancesImporter>();
}

}  // namespace loyalty::importing
