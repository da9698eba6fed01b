// `loyaltyctl import members FILE.csv` (external_id,display_name,phone): one member, with its
// accounts, per new external_id. A batch is one claim of its external ids (the members' insert,
// ON CONFLICT DO NOTHING: an external_id taken before is skipped) and one flush of the
// accounts, the run's progress and its audit record.
#include <map>
#include <tuple>

#include "importing/import_file.hpp"
#include "platform/ids.hpp"
#include "platform/text.hpp"

namespace loyalty::importing {
namespace {

// In external_id order, so that two imports claiming overlapping ids wait in one order.
const db::Statement claim_members{
    "import.claim_members",
    "INSERT INTO members (member_id, external_id, display_name, phone, created_at)"
    " SELECT m, e, d, p, $5 FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS x(m, e, d, p)"
    " ORDER BY e ON CONFLICT (external_id) DO NOTHING RETURNING member_id"};

// The accounts every member has (ledger/accounts.cpp), for every member claimed.
const db::Statement insert_accounts{
    "import.insert_member_accounts",
    "INSERT INTO accounts (name, asset, member_id, part, balance_maintained)"
    " SELECT 'member:' || m.id || ':' || p.part, p.asset, m.id, p.part, true"
    " FROM unnest($1::text[]) WITH ORDINALITY AS m(id, position)"
    " CROSS JOIN (VALUES (1, 'POINTS', 'available'), (2, 'POINTS', 'pending'), (3, 'POINTS', 'held'),"
    "                    (4, 'GROWTH', 'available'), (5, 'GROWTH', 'pending')) AS p(n, asset, part)"
    " ORDER BY m.position, p.n"};

constexpr std::size_t external_id_chars_max = 128;
constexpr std::size_t display_name_chars_max = 200;
constexpr std::size_t phone_chars_max = 32;

std::size_t characters(const std::string& text) {
  std::size_t count = 0;
  for (const unsigned char c : text) count += (c & 0xC0) != 0x80;
  return count;
}

struct NewMember {
  std::string member_id;
  std::string external_id;
  std::optional<std::string> display_name;
  std::optional<std::string> phone;
};

// The member of a row, or why the row is refused; the same checks as POST /v1/members.
std::variant<NewMember, std::string> member_of(const Row& row) {
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
  NewMember member{new_id("mem_"), external_id, std::nullopt, std::nullopt};
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
    std::vector<NewMember> members;
    std::map<std::string, std::size_t> row_of_member;  // member_id → row index
    std::map<std::string, std::size_t> first_row;      // external_id → first row of the batch with it
    for (std::size_t i = 0; i < rows.size(); ++i) {
      auto member = member_of(*rows[i]);
      if (auto* reason = std::get_if<std::string>(&member)) {
        outcomes[i] = rejected(*reason);
        continue;
      }
      auto& found = std::get<NewMember>(member);
      if (!first_row.emplace(found.external_id, i).second) continue;  // a later row with the key: skipped
      row_of_member[found.member_id] = i;
      members.push_back(std::move(found));
    }
    std::vector<std::string> claimed;
    if (!members.empty()) {
      const auto column = [&](auto format) { return db::array_literal(members, format); };
      for (const auto& row : db::exec(txn, claim_members, column([](const NewMember& m) { return m.member_id; }),
                                      column([](const NewMember& m) { return m.external_id; }),
                                      column([](const NewMember& m) { return m.display_name; }),
                                      column([](const NewMember& m) { return m.phone; }), db::sql_time(context.now))) {
        claimed.push_back(row[0].c_str());
        outcomes[row_of_member.at(claimed.back())] = applied();
      }
    }
    db::WriteBuffer writes{txn};
    if (!claimed.empty()) writes.add(insert_accounts, db::array_literal(claimed));
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
