// SHA-256 and the encodings used around it (hex, base64), over OpenSSL's EVP interface.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace loyalty {

std::string sha256(std::string_view bytes);  // 32 raw bytes
std::string to_hex(std::string_view bytes);  // lowercase
std::string base64_encode(std::string_view bytes);
std::optional<std::string> base64_decode(std::string_view text);  // nullopt if not base64

// Compares two byte strings in time that depends only on their lengths.
bool constant_time_equal(std::string_view a, std::string_view b);

}  // namespace loyalty
