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

// Access (docs/API.md, "Authentication and roles").
inline constexpr std::size_t key_cache_entries_max = 10000;      // verified secrets; refused ones apart
inline constexpr std::size_t rate_limit_buckets_max = 100000;    // idle buckets are dropped beyond it
inline constexpr std::size_t refusal_counters_max = 10000;       // per flush; beyond it folded into "*"
inline constexpr std::chrono::seconds refusal_flush_interval{1};  // refused authentications reach auth_refusals
inline constexpr std::chrono::seconds refusal_window{60};         // auth_refusals rows count a minute each
inline constexpr std::chrono::minutes job_as_of_skew_max{5};      // a job's as_of beyond now + this: as_of_in_future
inline constexpr std::size_t key_name_chars_max = 100;
// Graceful stop (Server::drain): an idle keep-alive connection may send one more request for
// this long after the stop began; connections notice a stop within the poll interval.
inline constexpr std::chrono::milliseconds drain_idle_grace{1000};
inline constexpr std::chrono::milliseconds drain_poll_interval{500};

static_assert(page_size_default <= page_size_max);

}  // namespace loyalty::api::limits
