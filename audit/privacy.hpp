// Personal data: members' names and phone numbers are kept only in `members` and never leave
// the service unmasked. Exports, reports and the audit listing show members by their
// pseudonymous member_id; free text that may carry a phone number (notes, references, audit
// details) goes through mask_phone_numbers(). Erasure clears name and phone and keeps the
// member and every entry under the pseudonymous id, so the ledger stays intact; the erasure
// itself is the ledger's (ledger::erase_member_personal_data), since ledger/ owns `members`.
#pragma once

#include <string>
#include <string_view>

namespace loyalty::audit {

// Every run of 7 or more digits keeps its first 3 and last 4 digits; the rest become '*'
// ("13812341234" → "138****1234"). Other text is unchanged.
std::string mask_phone_numbers(std::string_view text);
std::string mask_phone(std::string_view phone);  // one number, always masked

// The same for a JSON text (audit details): every string value is masked, while keys and
// numbers are kept as they are (an 8-digit amount is an amount, and masking it would leave
// text that is no longer JSON). Text that is not JSON is masked as text.
std::string mask_phone_numbers_in_json(std::string_view json_text);

}  // namespace loyalty::audit
