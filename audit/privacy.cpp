#include "audit/privacy.hpp"

#include <nlohmann/json.hpp>

#include <cctype>

#include "platform/database.hpp"

namespace loyalty::audit {
namespace {

constexpr std::size_t phone_digits_min = 7;

const db::Statement lock_member{"privacy.lock_member",
                                "SELECT display_name, phone, personal_data_erased_at, created_at FROM members"
                                " WHERE member_id = $1 FOR UPDATE"};
const db::Statement clear_member{"privacy.clear_member",
                                 "UPDATE members SET display_name = NULL, phone = NULL, personal_data_erased_at = $2"
                                 " WHERE member_id = $1"};

void mask_digit_run(std::string& out, std::string_view digits) {
  if (digits.size() < phone_digits_min) {
    out.append(digits);
    return;
  }
  out.append(digits.substr(0, 3));
  out.append(digits.size() - 7, '*');
  out.append(digits.substr(digits.size() - 4));
}

}  // namespace

std::string mask_phone_numbers(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    if (!std::isdigit(static_cast<unsigned char>(text[i]))) {
      out += text[i++];
      continue;
    }
    std::size_t end = i;
    while (end < text.size() && std::isdigit(static_cast<unsigned char>(text[end]))) ++end;
    mask_digit_run(out, text.substr(i, end - i));
    i = end;
  }
  return out;
}

namespace {

void mask_strings(nlohmann::json& value) {
  if (value.is_string()) {
    value = mask_phone_numbers(value.get_ref<const std::string&>());
  } else if (value.is_structured()) {
    for (auto& item : value) mask_strings(item);
  }
}

}  // namespace

std::string mask_phone_numbers_in_json(std::string_view json_text) {
  nlohmann::json value = nlohmann::json::parse(json_text, nullptr, false);
  if (value.is_discarded()) return mask_phone_numbers(json_text);
  mask_strings(value);
  // Text that is not valid UTF-8 is written with replacement characters, never refused.
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string mask_phone(std::string_view phone) {
  std::string digits;
  for (char c : phone) {
    if (std::isdigit(static_cast<unsigned char>(c))) digits += c;
  }
  if (digits.size() < phone_digits_min) return std::string(digits.size(), '*');
  std::string out;
  mask_digit_run(out, digits);
  return out;
}

Erasure erase_personal_data(pqxx::transaction_base& txn, const std::string& member_id, Timestamp now) {
  const auto rows = db::exec(txn, lock_member, member_id);
  if (rows.empty()) return {ErasureOutcome::member_not_found, {}, std::nullopt};
  Erasure erasure;
  if (!rows[0][0].is_null()) {
    erasure.fields.push_back("display_name");
    erasure.erased_values.push_back(rows[0][0].c_str());
  }
  if (!rows[0][1].is_null()) {
    erasure.fields.push_back("phone");
    erasure.erased_values.push_back(rows[0][1].c_str());
  }
  erasure.member_created_at = db::time_of(rows[0][3]);
  if (erasure.fields.empty() && !rows[0][2].is_null()) {
    return {ErasureOutcome::already_erased, {}, db::time_of(rows[0][2])};
  }
  db::exec(txn, clear_member, member_id, db::sql_time(now));
  erasure.erased_at = now;
  return erasure;
}

}  // namespace loyalty::audit
