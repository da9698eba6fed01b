#include "partners/links.hpp"

#include "ledger/database.hpp"

namespace loyalty::partners {
namespace {

const db::Statement member_exists{"partner_links.member_exists", "SELECT 1 FROM members WHERE member_id = $1"};

const db::Statement insert_link{
    "partner_links.insert",
    "INSERT INTO partner_links (partner_id, partner_member_ref, member_id, linked_at) VALUES ($1, $2, $3, $4)"
    " ON CONFLICT DO NOTHING RETURNING linked_at"};

const db::Statement select_by_ref{
    "partner_links.select_by_ref",
    "SELECT member_id, linked_at FROM partner_links WHERE partner_id = $1 AND partner_member_ref = $2"};

const db::Statement select_by_member{
    "partner_links.select_by_member",
    "SELECT partner_member_ref FROM partner_links WHERE partner_id = $1 AND member_id = $2"};

}  // namespace

bool is_member_ref(std::string_view ref) {
  if (ref.empty() || ref.size() > member_ref_chars_max) return false;
  for (char c : ref) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
                    c == '.' || c == ':' || c == '-';
    if (!ok) return false;
  }
  return true;
}

Result<std::pair<MemberLink, Replay>> link_member(pqxx::transaction_base& txn, const std::string& member_id,
                                                  const std::string& partner_id, const std::string& ref,
                                                  Timestamp now) {
  if (db::exec(txn, member_exists, member_id).empty()) return Refusal::member_not_found;
  const auto inserted = db::exec(txn, insert_link, partner_id, ref, member_id, db::sql_time(now));
  if (!inserted.empty()) {
    return std::pair{MemberLink{member_id, partner_id, ref, db::time_of(inserted[0][0])}, Replay::fresh};
  }
  const auto existing = db::exec(txn, select_by_ref, partner_id, ref);
  if (existing.empty() || existing[0][0].c_str() != member_id) return Refusal::link_conflict;
  return std::pair{MemberLink{member_id, partner_id, ref, db::time_of(existing[0][1])}, Replay::replayed};
}

std::optional<std::string> member_of_ref(pqxx::transaction_base& txn, const std::string& partner_id,
                                         const std::string& ref) {
  const auto rows = db::exec(txn, select_by_ref, partner_id, ref);
  if (rows.empty()) return std::nullopt;
  return std::string(rows[0][0].c_str());
}

std::optional<std::string> ref_of_member(pqxx::transaction_base& txn, const std::string& partner_id,
                                         const std::string& member_id) {
  const auto rows = db::exec(txn, select_by_member, partner_id, member_id);
  if (rows.empty()) return std::nullopt;
  return std::string(rows[0][0].c_str());
}

}  // namespace loyalty::partners
