// Identifiers the service mints: a prefix and 20 random characters of [a-z0-9] (about 103
// bits), from OpenSSL's CSPRNG. They carry no personal data and no ordering.
#pragma once

#include <string>
#include <string_view>

namespace loyalty {

std::string new_id(std::string_view prefix);  // new_id("mem_") -> "mem_k3v9..."

// Random bytes from OpenSSL's CSPRNG; aborts if the generator fails.
std::string random_bytes(std::size_t count);

}  // namespace loyalty
