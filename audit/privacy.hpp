// Personal data: members' names and phone numbers are kept only in `members` and never leave
// the service unmasked. Exports, reports and the audit listing show members by their
// pseudonymous member_id; free text that may carry a phone number (notes, references, audit
// details) goes through mask_phone_numbers(). Erasure clears name and phone and keeps the
// member and every entry under the pseudonymous id, so the ledger stays intact.
#pragma once

#include <pqxx/pqxx>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "platform/time.hpp"

namespace loyalty::audit {

// Every run of 7 or more digits keeps its first 3 and last 4 digits; the rest become '*'
// ("13812341234" → "138****1234"). Other text is unchanged.
std::string mask_phone_numbers(std::string_view text);
std::string mask_phone(std::string_view phone);  // one number, always masked

// The same for a JSON text (audit details): every string value is masked, while keys and
// numbers are kept as they are (an 8-digit amount is an amount, and masking it would leave
// text that is no longer JSON). Text that is not JSON is masked as text.
std::string mask_phone_numbers_in_json(std::string_view json_text);

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

Erasure erase_personal_data(pqxx::transaction_base& txn, const std::string& member_id, Timestamp now);

}  // namespace loyalty::audit
