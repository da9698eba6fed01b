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
inline constexpr std::size_t connections_per_address_max = 256;  // more from one address: closed at once
inline constexpr std::chrono::seconds read_timeout{30};          // a whole request, once it has begun
inline constexpr std::chrono::seconds write_timeout{30};  // a whole response: a client that stops reading is dropped
inline constexpr std::chrono::seconds idle_timeout{60};   // a keep-alive connection with no request begun
// A refused request's answer (413, 431, 400) is sent while the client may still be sending:
// the server stops sending, then reads and discards up to this much for up to this long, so
// that the client reads the answer instead of a reset.
inline constexpr std::size_t linger_bytes_max = 4 * 1024 * 1024;
inline constexpr std::chrono::seconds linger_timeout{5};
inline constexpr std::chrono::seconds key_cache_ttl{5};
inline constexpr std::chrono::hours idempotency_retention{7 * 24};
inline constexpr std::size_t external_id_chars_max = 128;
inline constexpr std::size_t display_name_chars_max = 200;
inline constexpr std::size_t phone_chars_max = 32;
inline constexpr std::size_t reference_chars_max = 200;
inline constexpr std::size_t note_chars_max = 1000;

// Access (docs/API.md, "Authentication and roles").
inline constexpr std::size_t key_cache_entries_max = 10000;       // verified secrets; refused ones apart
inline constexpr std::size_t rate_limit_buckets_max = 100000;     // idle buckets are dropped beyond it
inline constexpr std::size_t refusal_counters_max = 10000;        // per flush; beyond it folded into "*"
inline constexpr std::chrono::seconds refusal_flush_interval{1};  // refused authentications reach auth_refusals
inline constexpr std::chrono::seconds refusal_window{60};         // auth_refusals rows count a minute each
inline constexpr std::chrono::minutes job_as_of_skew_max{5};      // a job's as_of beyond now + this: as_of_in_future
inline constexpr std::size_t key_name_chars_max = 100;
// Graceful stop (Server::drain): an idle keep-alive connection may send one more request for
// this long after the stop began; connections notice a stop within the poll interval.
inline constexpr std::chrono::milliseconds drain_idle_grace{1000};
inline constexpr std::chrono::milliseconds drain_poll_interval{500};

// Every body, in either encoding (and the program document, JSON or YAML), is held to these
// before any field is looked at. The nesting depth is checked on the text before a parser
// sees it (parsers recurse); JSON and binary protobuf count depth alike: each object, message
// or array is one level.
inline constexpr std::size_t json_depth_max = 32;
inline constexpr std::size_t string_bytes_max = 64 * 1024;  // any one text field, in UTF-8 bytes
inline constexpr std::size_t array_items_max = 1000;        // any one list, map or object's members

static_assert(page_size_default <= page_size_max);
static_assert(note_chars_max <= string_bytes_max && reference_chars_max <= string_bytes_max);
static_assert(string_bytes_max < body_bytes_max && linger_bytes_max >= body_bytes_max);

}  // namespace loyalty::api::limits
