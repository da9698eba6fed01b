// Members: who earns and spends. A member is created with an account per asset and part;
// their balances are read from those accounts in O(1), adjusted for holds that have
// expired but not yet been released (an expired hold never counts as held).
#pragma once

#include <pqxx/pqxx>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "ledger/result.hpp"
#include "platform/database.hpp"
#include "platform/time.hpp"

namespace loyalty::ledger {

struct NewMember {
  std::string external_id;
  std::optional<std::string> display_name;
  std::optional<std::string> phone;
};

struct Member {
  std::string member_id;
  std::string external_id;
  std::optional<std::string> display_name;
  std::optional<std::string> phone;
  Timestamp created_at;
};

// How many of the soonest expiry dates a balance lists.
inline constexpr int expiring_dates_max = 3;

struct ExpiringAmount {
  Timestamp expires_at;
  std::int64_t amount = 0;
};

struct AssetBalance {
  std::int64_t available = 0;
  std::int64_t pending = 0;
  std::int64_t held = 0;
  std::int64_t total = 0;  // available + pending + held
  std::vector<ExpiringAmount> expiring;
};

// One of the member's postings, as the member's statement shows it.
struct MemberPosting {
  std::int64_t posting_id = 0;
  std::int64_t entry_id = 0;
  std::string kind;
  std::string asset;
  std::string part;
  std::int64_t amount = 0;
  std::int64_t balance_after = 0;
  Timestamp created_at;
  std::optional<std::string> reference;
  std::optional<std::int64_t> reverses_entry_id;
};

Result<Member> create_member(pqxx::transaction_base& txn, const NewMember& request, Timestamp now);

// Creates each of `members` whose external id is not taken yet (bulk import), claiming them in
// external id order so that two creators with overlapping ids wait in one order; returns the
// ids of the members created. Their accounts are added to `writes`.
std::vector<std::string> create_members(pqxx::transaction_base& txn, db::WriteBuffer& writes,
                                        const std::vector<Member>& members);
Result<Member> find_member(pqxx::transaction_base& txn, const std::string& member_id);
// The member with exactly this external id, if there is one.
std::optional<Member> find_member_by_external_id(pqxx::transaction_base& txn, const std::string& external_id);

// Balances per member asset ("POINTS", "GROWTH").
Result<std::map<std::string, AssetBalance>> read_balances(pqxx::transaction_base& txn, const std::string& member_id,
                                                          Timestamp now);

struct PostingPage {
  std::vector<MemberPosting> items;
  std::optional<std::int64_t> next_before_posting_id;  // absent on the last page
};

// Newest first; `before_posting_id` continues a previous page.
Result<PostingPage> list_member_postings(pqxx::transaction_base& txn, const std::string& member_id,
                                         const std::optional<std::string>& asset,
                                         std::optional<std::int64_t> before_posting_id, int limit);

enum class ErasureOutcome { erased, already_erased, member_not_found };

struct Erasure {
  ErasureOutcome outcome = ErasureOutcome::erased;
  std::vector<std::string> fields;  // what was cleared now: display_name, phone
  std::optional<Timestamp> erased_at;
  // The texts cleared now (the name and phone as they were) and when the member was created:
  // what else held them (stored idempotency replies) can be found and cleared too.
  std::vector<std::string> erased_values;
  std::optional<Timestamp> member_created_at;
};

// Clears the member's name and phone (personal data, audit/privacy.hpp); the member and every
// entry stay under the pseudonymous member id.
Erasure erase_member_personal_data(pqxx::transaction_base& txn, const std::string& member_id, Timestamp now);

}  // namespace loyalty::ledger
