#include "audit/privacy.hpp"

#include <nlohmann/json.hpp>

#include <cctype>

namespace loyalty::audit {
namespace {

constexpr std::size_t phone_digits_min = 7;

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

}  // namespace loyalty::audit
