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

// A UTC day as PostgreSQL's date and the wire write it: "2026-11-22".
std::string format_date(std::chrono::sys_days day);

// Reads "YYYY-MM-DD" (a date the database wrote, or a day on the wire); nullopt for anything
// else, a day that does not exist ("2026-02-30") included.
std::optional<std::chrono::sys_days> parse_date(std::string_view text);

// The instants the service accepts from anyone: years 0001 to 9999 in UTC, after the offset is
// applied ("9999-12-31T23:59:59-12:00" is in year 10000 and refused). RFC 3339 cannot write
// other years, and PostgreSQL writes them in forms no client expects ("10000-01-01", "BC").
inline constexpr Timestamp time_min{std::chrono::sys_days{std::chrono::year{1} / 1 / 1}.time_since_epoch()};
inline constexpr Timestamp time_max{
    (std::chrono::sys_days{std::chrono::year{10000} / 1 / 1} - std::chrono::microseconds{1}).time_since_epoch()};

// Accepts RFC 3339 ("2026-11-22T08:00:00Z", "...T08:00:00.5+08:00") and PostgreSQL's text
// form of timestamptz in UTC ("2026-11-22 08:00:00.123+00"), within [time_min, time_max];
// nullopt for anything else (an offset beyond ±23:59 included).
std::optional<Timestamp> parse_rfc3339(std::string_view text);

// Reads PostgreSQL's text form of a timestamptz (session time zone UTC) over its whole range:
// years beyond 9999 ("10000-01-01 11:59:59+00"), before year 1 ("... BC"), and ±infinity
// (read as the earliest/latest representable instant). Rows written before times were bounded
// must still be readable; nullopt only for text that is not a timestamp at all.
std::optional<Timestamp> parse_database_time(std::string_view text);

}  // namespace loyalty
