#include "partners/links.hpp"

#include "platform/assert.hpp"
#include "platform/database.hpp"
#include "platform/digest.hpp"
#include "platform/ids.hpp"

namespace loyalty::partners {
namespace {

// Crockford's base32: no I, L, O or U, so that what is read aloud or typed is what was shown.
constexpr std::string_view code_alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
static_assert(code_alphabet.size() == 32);

const db::Statement member_exists{"partner_links.member_exists", "SELECT 1 FROM members WHERE member_id = $1"};

// A pending link whose code is void (expired or locked) never moved anything: it gives way to
// a new link of its member or of its ref. The same link ($2, $3) is never removed here.
const db::Statement remove_void_pending{
    "partner_links.remove_void_pending",
    "DELETE FROM partner_links WHERE partner_id = $1 AND status = 'pending'"
    " AND (partner_member_ref = $2 OR member_id = $3) AND NOT (partner_member_ref = $2 AND member_id = $3)"
    " AND (link_code_expires_at <= $4 OR link_code_failed_attempts >= $5)"};

const db::Statement insert_link{
    "partner_links.insert",
    "INSERT INTO partner_links (partner_id, partner_member_ref, member_id, linked_at, status, link_code_sha256,"
    " link_code_expires_at) VALUES ($1, $2, $3, $4, 'pending', $5, $6)"
    " ON CONFLICT DO NOTHING RETURNING linked_at"};

const db::Statement lock_by_ref{
    "partner_links.lock_by_ref",
    "SELECT member_id, linked_at, status, confirmed_at, coalesce(link_code_sha256, ''), link_code_expires_at,"
    " link_code_failed_attempts FROM partner_links WHERE partner_id = $1 AND partner_member_ref = $2 FOR UPDATE"};

const db::Statement reissue_code{
    "partner_links.reissue_code",
    "UPDATE partner_links SET link_code_sha256 = $3, link_code_expires_at = $4, link_code_failed_attempts = 0"
    " WHERE partner_id = $1 AND partner_member_ref = $2 AND status = 'pending'"};

const db::Statement count_wrong_code{
    "partner_links.count_wrong_code",
    "UPDATE partner_links SET link_code_failed_attempts = link_code_failed_attempts + 1"
    " WHERE partner_id = $1 AND partner_member_ref = $2 AND status = 'pending' RETURNING link_code_failed_attempts"};

// The hash is kept (its code is spent) so that a retried confirmation with it answers the same.
const db::Statement confirm{
    "partner_links.confirm",
    "UPDATE partner_links SET status = 'confirmed', confirmed_at = $3, confirmed_by = $4, link_code_expires_at = NULL"
    " WHERE partner_id = $1 AND partner_member_ref = $2 AND status = 'pending'"};

const db::Statement select_by_ref{
    "partner_links.select_by_ref",
    "SELECT member_id, status FROM partner_links WHERE partner_id = $1 AND partner_member_ref = $2"};

const db::Statement select_by_member{
    "partner_links.select_by_member",
    "SELECT partner_member_ref, status FROM partner_links WHERE partner_id = $1 AND member_id = $2"};

// The columns of lock_by_ref (what link_of_row reads), then the link's partner and ref.
const db::Statement select_member_links{
    "partner_links.select_member_links",
    "SELECT member_id, linked_at, status, confirmed_at, coalesce(link_code_sha256, ''), link_code_expires_at,"
    " link_code_failed_attempts, partner_id, partner_member_ref FROM partner_links WHERE member_id = $1"
    "   AND ($2::timestamptz IS NULL OR (linked_at, partner_id) < ($2::timestamptz, $3::text))"
    " ORDER BY linked_at DESC, partner_id DESC LIMIT $4"};

LinkStatus status_of(const pqxx::field& field) {
  const std::string_view text = field.c_str();
  LOYALTY_ASSERT(text == "pending" || text == "confirmed", "a link status the schema does not allow");
  return text == "confirmed" ? LinkStatus::confirmed : LinkStatus::pending;
}

std::string new_link_code() {
  const std::string bytes = random_bytes(link_code_chars);
  std::string code;
  for (const char byte : bytes) code += code_alphabet[static_cast<unsigned char>(byte) % code_alphabet.size()];
  return code;  // 256 is a multiple of 32: every character is uniform
}

// Shown with a hyphen in the middle, for people; canonical_link_code drops it again.
std::string displayed(const std::string& code) {
  return code.substr(0, 5) + "-" + code.substr(5);
}

// Bound to the link, so a hash says nothing about any other link's code.
std::string code_hash(const std::string& partner_id, const std::string& ref, const std::string& canonical_code) {
  return to_hex(sha256("loyalty-link-code\n" + partner_id + "\n" + ref + "\n" + canonical_code));
}

MemberLink link_of_row(const pqxx::row& row, const std::string& partner_id, const std::string& ref) {
  MemberLink link{row[0].c_str(), partner_id, ref, db::time_of(row[1])};
  link.status = status_of(row[2]);
  if (!row[3].is_null()) link.confirmed_at = db::time_of(row[3]);
  if (!row[5].is_null()) link.link_code_expires_at = db::time_of(row[5]);
  return link;
}

}  // namespace

const char* to_string(LinkStatus status) {
  return status == LinkStatus::confirmed ? "confirmed" : "pending";
}

bool is_member_ref(std::string_view ref) {
  if (ref.empty() || ref.size() > member_ref_chars_max) return false;
  for (char c : ref) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
                    c == '.' || c == ':' || c == '-';
    if (!ok) return false;
  }
  return true;
}

std::optional<std::string> canonical_link_code(std::string_view typed) {
  if (typed.size() > link_code_input_chars_max) return std::nullopt;
  std::string code;
  for (char c : typed) {
    if (c == '-' || c == ' ') continue;
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    if (c == 'O') c = '0';
    if (c == 'I' || c == 'L') c = '1';
    if (code_alphabet.find(c) == std::string_view::npos) return std::nullopt;
    code += c;
  }
  if (code.size() != link_code_chars) return std::nullopt;
  return code;
}

Result<std::pair<MemberLink, LinkOutcome>> link_member(pqxx::transaction_base& txn, const std::string& member_id,
                                                       const std::string& partner_id, const std::string& ref,
                                                       Timestamp now) {
  if (db::exec(txn, member_exists, member_id).empty()) return Refusal::member_not_found;
  db::exec(txn, remove_void_pending, partner_id, ref, member_id, db::sql_time(now), link_code_attempts_max);
  const std::string code = new_link_code();
  const std::string hash = code_hash(partner_id, ref, code);
  const Timestamp expires_at = now + link_code_ttl;
  const auto inserted =
      db::exec(txn, insert_link, partner_id, ref, member_id, db::sql_time(now), hash, db::sql_time(expires_at));
  if (!inserted.empty()) {
    MemberLink link{member_id, partner_id, ref, db::time_of(inserted[0][0])};
    link.link_code_expires_at = expires_at;
    link.link_code = displayed(code);
    return std::pair{std::move(link), LinkOutcome::created};
  }
  const auto existing = db::exec(txn, lock_by_ref, partner_id, ref);
  if (existing.empty() || existing[0][0].c_str() != member_id) return Refusal::link_conflict;
  MemberLink link = link_of_row(existing[0], partner_id, ref);
  if (link.status == LinkStatus::confirmed) return std::pair{std::move(link), LinkOutcome::already_confirmed};
  db::exec(txn, reissue_code, partner_id, ref, hash, db::sql_time(expires_at));
  link.link_code_expires_at = expires_at;
  link.link_code = displayed(code);
  return std::pair{std::move(link), LinkOutcome::code_reissued};
}

Result<LinkConfirmation> confirm_link(pqxx::transaction_base& txn, const std::string& partner_id,
                                      const std::string& ref, const std::string& typed_code,
                                      const std::string& confirmed_by, Timestamp now) {
  const auto rows = db::exec(txn, lock_by_ref, partner_id, ref);
  if (rows.empty()) return Refusal::member_ref_unknown;
  LinkConfirmation confirmation{ConfirmOutcome::confirmed, link_of_row(rows[0], partner_id, ref)};
  const std::string stored_hash = rows[0][4].c_str();
  const auto canonical = canonical_link_code(typed_code);
  const bool matches =
      canonical && !stored_hash.empty() && constant_time_equal(code_hash(partner_id, ref, *canonical), stored_hash);
  if (confirmation.link.status == LinkStatus::confirmed) {
    if (!matches) return Refusal::link_already_confirmed;
    confirmation.outcome = ConfirmOutcome::already_confirmed;
    return confirmation;
  }
  const int failed = rows[0][6].as<int>();
  if (failed >= link_code_attempts_max) return Refusal::link_code_locked;
  LOYALTY_ASSERT(confirmation.link.link_code_expires_at.has_value(), "a pending link without a code");
  if (*confirmation.link.link_code_expires_at <= now) return Refusal::link_code_expired;
  if (!matches) {
    const auto counted = db::exec(txn, count_wrong_code, partner_id, ref);
    LOYALTY_ASSERT(counted.size() == 1, "a locked pending link that cannot be counted");
    confirmation.outcome = ConfirmOutcome::wrong_code;
    confirmation.attempts_left = link_code_attempts_max - counted[0][0].as<int>();
    return confirmation;
  }
  db::exec(txn, confirm, partner_id, ref, db::sql_time(now), confirmed_by);
  confirmation.link.status = LinkStatus::confirmed;
  confirmation.link.confirmed_at = now;
  confirmation.link.link_code_expires_at.reset();
  return confirmation;
}

Result<std::string> confirmed_member_of_ref(pqxx::transaction_base& txn, const std::string& partner_id,
                                            const std::string& ref) {
  const auto rows = db::exec(txn, select_by_ref, partner_id, ref);
  if (rows.empty()) return Refusal::member_ref_unknown;
  if (status_of(rows[0][1]) != LinkStatus::confirmed) return Refusal::link_not_confirmed;
  return std::string(rows[0][0].c_str());
}

std::optional<std::pair<std::string, LinkStatus>> ref_of_member(pqxx::transaction_base& txn,
                                                                const std::string& partner_id,
                                                                const std::string& member_id) {
  const auto rows = db::exec(txn, select_by_member, partner_id, member_id);
  if (rows.empty()) return std::nullopt;
  return std::pair{std::string(rows[0][0].c_str()), status_of(rows[0][1])};
}

Result<LinkPage> list_member_links(pqxx::transaction_base& txn, const std::string& member_id,
                                   const std::optional<LinkKey>& before, int limit) {
  if (db::exec(txn, member_exists, member_id).empty()) return Refusal::member_not_found;
  const std::optional<std::string> before_time = before ? std::optional(db::sql_time(before->linked_at)) : std::nullopt;
  const std::optional<std::string> before_partner = before ? std::optional(before->partner_id) : std::nullopt;
  // One row more than asked tells whether there is a next page.
  const auto rows =
      db::exec(txn, select_member_links, member_id, db::nullable(before_time), db::nullable(before_partner), limit + 1);
  LinkPage page;
  for (const auto& row : rows) {
    if (static_cast<int>(page.items.size()) == limit) {
      page.next_before = LinkKey{page.items.back().linked_at, page.items.back().partner_id};
      break;
    }
    page.items.push_back(link_of_row(row, row[7].c_str(), row[8].c_str()));
  }
  return page;
}

}  // namespace loyalty::partners
