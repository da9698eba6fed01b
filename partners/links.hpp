// Member links: a member's account at a partner, given with the member's consent. The
// partner's ref is the only name a partner ever sees for a member — never the member id,
// the name or the phone.
//
// A link is made `pending` by our side (POST /v1/members/{id}/partner-links) with a one-time
// link code that our app shows the member; the partner makes it `confirmed` by redeeming that
// code for the ref it owns (POST /partner/v1/links/confirm, signed). Only a confirmed link
// lets value or rights move between the member and the partner (exchanges both ways, rights),
// so nobody holding one of our API keys can point a member at a partner account of their
// choosing: the holder of that partner account must enter the code. Codes are stored as a
// hash only, expire, and are void after a few wrong attempts.
#pragma once

#include <pqxx/pqxx>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "partners/refusal.hpp"
#include "platform/time.hpp"

namespace loyalty::partners {

inline constexpr std::size_t member_ref_chars_max = 128;

// A link code: 10 characters of Crockford's base32 (50 bits), shown as "ABCDE-FGHJK".
// Guessing one within its attempts succeeds with odds of 5 in 2^50 (about 4e-15).
inline constexpr std::size_t link_code_chars = 10;
inline constexpr std::size_t link_code_input_chars_max = 32;  // what a partner may send, separators included
inline constexpr std::chrono::seconds link_code_ttl{15 * 60};
inline constexpr int link_code_attempts_max = 5;  // wrong codes per issued code; then it is void
static_assert(link_code_input_chars_max >= link_code_chars + 2);

enum class LinkStatus { pending, confirmed };
const char* to_string(LinkStatus status);

struct MemberLink {
  std::string member_id;
  std::string partner_id;
  std::string partner_member_ref;
  Timestamp linked_at;
  LinkStatus status = LinkStatus::pending;
  std::optional<Timestamp> confirmed_at;
  std::optional<Timestamp> link_code_expires_at;  // a pending link's current code
  // Only in the answer that issued it (never stored, never read back).
  std::optional<std::string> link_code;
};

bool is_member_ref(std::string_view ref);  // 1-128 of [A-Za-z0-9_.:-]

// The code as the partner sent it, in canonical form (upper case, separators dropped,
// O→0, I/L→1, as Crockford's base32 reads them); nullopt when it cannot be a code.
std::optional<std::string> canonical_link_code(std::string_view typed);

// What link_member did: made a pending link with a code, issued a fresh code for the same
// pending link (the earlier code is void; written, yet not a new link), or found the same
// link confirmed already (nothing written, no code).
enum class LinkOutcome { created, code_reissued, already_confirmed };

// Links (the partner exists; the caller checked), pending, with a fresh code. A ref linked to another member, or a
// member linked under another ref, is link_conflict — unless that other link is pending with a void code (expired or
// locked): it never moved anything and is replaced.
Result<std::pair<MemberLink, LinkOutcome>> link_member(pqxx::transaction_base& txn, const std::string& member_id,
                                                       const std::string& partner_id, const std::string& ref,
                                                       Timestamp now);

// The partner's confirmation of the link under `ref` with a code. A wrong code is counted
// (and must be committed: the outcome is wrong_code, not a refusal); the last allowed wrong
// code voids the code. Refusals write nothing: member_ref_unknown (no link under this ref for
// this partner), link_code_expired, link_code_locked, link_already_confirmed (confirmed, and
// not with this code).
enum class ConfirmOutcome { confirmed, already_confirmed, wrong_code };
struct LinkConfirmation {
  ConfirmOutcome outcome = ConfirmOutcome::confirmed;
  MemberLink link;
  int attempts_left = 0;  // after a wrong code
};
Result<LinkConfirmation> confirm_link(pqxx::transaction_base& txn, const std::string& partner_id,
                                      const std::string& ref, const std::string& typed_code,
                                      const std::string& confirmed_by, Timestamp now);

// The member behind a partner's ref, for what moves value or rights: member_ref_unknown when
// no link has this ref, link_not_confirmed while it is pending.
Result<std::string> confirmed_member_of_ref(pqxx::transaction_base& txn, const std::string& partner_id,
                                            const std::string& ref);
// The ref of a member at a partner: nullopt when not linked (pending links included, with
// their status).
std::optional<std::pair<std::string, LinkStatus>> ref_of_member(pqxx::transaction_base& txn,
                                                                const std::string& partner_id,
                                                                const std::string& member_id);

// Where a member's link list continues: the (linked_at, partner_id) of a page's last link.
struct LinkKey {
  Timestamp linked_at;
  std::string partner_id;
};

struct LinkPage {
  std::vector<MemberLink> items;
  std::optional<LinkKey> next_before;  // absent on the last page
};

// A member's links at every partner, pending ones included, newest first.
Result<LinkPage> list_member_links(pqxx::transaction_base& txn, const std::string& member_id,
                                   const std::optional<LinkKey>& before, int limit);

}  // namespace loyalty::partners
