// Time in the ledger: UTC instants with microsecond precision (PostgreSQL's precision),
// written as RFC 3339 on the wire and in SQL parameters.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace loyalty {

using Timestamp = std::chrono::sys_time<std::chrono::microseconds>;

Timestamp now_utc();

// "2026-11-22T08:00:00Z", with ".ffffff" only when the instant has a fraction of a second.
std::string format_rfc3339(Timestamp instant);

// Accepts RFC 3339 ("2026-11-22T08:00:00Z", "...T08:00:00.5+08:00") and PostgreSQL's text
// form of timestamptz in UTC ("2026-11-22 08:00:00.123+00").
std::optional<Timestamp> parse_rfc3339(std::string_view text);

}  // namespace loyalty
