// `loyaltyctl import members FILE.csv` (external_id,display_name,phone): one member, with its
// accounts, per new external_id. A batch is one claim of its external ids
// (ledger::create_members: an external_id taken before is skipped) and one flush of the
// accounts, the run's progress and its audit record.
#include <map>
#include <tuple>

#include "importing/import_file.hpp"
#include "ledger/members.hpp"
#include "platform/ids.hpp"
#include "platform/text.hpp"

namespace loyalty::importing {
namespace {

constexpr std::size_t external_id_chars_max = 128;
constexpr std::size_t display_name_chars_max = 200;
constexpr std::size_t phone_chars_max = 32;

std::size_t characters(const std::string& text) {
  std::size_t count = 0;
  for (const unsigned char c : text) count += (c & 0xC0) != 0x80;
  return count;
}

// The member of a row, or why the row is refused; the same checks as POST /v1/members.
std::variant<ledger::Member, std::string> member_of(const Row& row, Timestamp now) {
  if (row.csv_problem) return "not readable as CSV (" + *row.csv_problem + ")";
  if (row.fields.size() != 3) return "expected 3 fields, found " + std::to_string(row.fields.size());
  for (const auto& field : row.fields) {
    if (!is_clean_text(field)) return std::string("a field is not UTF-8 text or holds NUL");
  }
  const auto& [external_id, display_name, phone] = std::tie(row.fields[0], row.fields[1], row.fields[2]);
  if (external_id.empty() || characters(external_id) > external_id_chars_max) {
    return std::string("external_id: is required, at most 128 characters");
  }
  if (characters(display_name) > display_name_chars_max) return std::string("display_name: at most 200 characters");
  if (characters(phone) > phone_chars_max || phone.find_first_not_of("+0123456789- ") != std::string::npos) {
    return std::string("phone: digits, spaces, '+' and '-' only, at most 32 characters");
  }
  ledger::Member member{new_id("mem_"), external_id, std::nullopt, std::nullopt, now};
  if (!display_name.empty()) member.display_name = display_name;
  if (!phone.empty()) member.phone = phone;
  return member;
}

class MembersImporter : public Importer {
 public:
  const std::vector<std::string>& header() const override { return header_; }

  std::vector<RowOutcome> apply(
      pqxx::transaction_base& txn, const std::vector<const Row*>& rows, const BatchContext& context,
      const std::function<void(db::WriteBuffer&, const std::vector<RowOutcome>&)>& finish) override {
    std::vector<RowOutcome> outcomes(rows.size(), skipped());
    std::vector<ledger::Member> members;
    std::map<std::string, std::size_t> row_of_member;  // member_id → row index
    std::map<std::string, std::size_t> first_row;      // external_id → first row of the batch with it
    for (std::size_t i = 0; i < rows.size(); ++i) {
      auto member = member_of(*rows[i], context.now);
      if (auto* reason = std::get_if<std::string>(&member)) {
        outcomes[i] = rejected(*reason);
        continue;
      }
      auto& found = std::get<ledger::Member>(member);
      if (!first_row.emplace(found.external_id, i).second) continue;  // a later row with the key: skipped
      row_of_member[found.member_id] = i;
      members.push_back(std::move(found));
    }
    db::WriteBuffer writes{txn};
    for (const auto& created : ledger::create_members(txn, writes, members)) {
      outcomes[row_of_member.at(created)] = applied();
    }
    finish(writes, outcomes);
    writes.flush();
    return outcomes;
  }

 private:
  std::vector<std::string> header_{"external_id", "display_name", "phone"};
};

}  // namespace

std::unique_ptr<Importer> members_importer() {
  return std::make_unique<MembersImporter>();
}

}  // namespace loyalty::importing
