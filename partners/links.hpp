// Member links: a member's account at a partner, given with the member's consent. The
// partner's ref is the only name a partner ever sees for a member — never the member id,
// the name or the phone.
#pragma once

#include <pqxx/pqxx>

#include <optional>
#include <string>

#include "ledger/time.hpp"
#include "partners/refusal.hpp"

namespace loyalty::partners {

inline constexpr std::size_t member_ref_chars_max = 128;

struct MemberLink {
  std::string member_id;
  std::string partner_id;
  std::string partner_member_ref;
  Timestamp linked_at;
};

bool is_member_ref(std::string_view ref);  // 1-128 of [A-Za-z0-9_.:-]

// Links (the partner exists; the caller checked). The same link again is a replay; a ref
// linked to another member, or a member linked under another ref, is link_conflict.
Result<std::pair<MemberLink, Replay>> link_member(pqxx::transaction_base& txn, const std::string& member_id,
                                                  const std::string& partner_id, const std::string& ref,
                                                  Timestamp now);

std::optional<std::string> member_of_ref(pqxx::transaction_base& txn, const std::string& partner_id,
                                         const std::string& ref);
std::optional<std::string> ref_of_member(pqxx::transaction_base& txn, const std::string& partner_id,
                                         const std::string& member_id);

}  // namespace loyalty::partners
