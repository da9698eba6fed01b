// Every limit of the HTTP service, in one place.
#pragma once

#include <chrono>
#include <cstddef>

namespace loyalty::api::limits {

inline constexpr std::size_t body_bytes_max = 1024 * 1024;  // larger bodies: 413
inline constexpr std::size_t header_bytes_max = 16 * 1024;  // larger headers: 413
inline constexpr int page_size_default = 50;
inline constexpr int page_size_max = 500;
inline constexpr std::size_t idempotency_key_chars_max = 128;
inline constexpr std::size_t connections_max = 4096;
inline constexpr std::chrono::seconds read_timeout{30};
inline constexpr std::chrono::seconds key_cache_ttl{5};
inline constexpr std::chrono::hours idempotency_retention{7 * 24};
inline constexpr std::size_t external_id_chars_max = 128;
inline constexpr std::size_t display_name_chars_max = 200;
inline constexpr std::size_t phone_chars_max = 32;
inline constexpr std::size_t reference_chars_max = 200;
inline constexpr std::size_t note_chars_max = 1000;

static_assert(page_size_default <= page_size_max);

}  // namespace loyalty::api::limits
