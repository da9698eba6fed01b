// Small shared pieces of the platform: assertions, time, ids, digests, encodings.
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <cstdio>
#include <cstdlib>
#include <ctime>

#include "platform/assert.hpp"
#include "platform/digest.hpp"
#include "platform/ids.hpp"
#include "platform/time.hpp"

namespace loyalty {

void assertion_failed(const char* condition, const char* message, const char* file, int line) {
  std::fprintf(stderr,
               "{\"level\":\"fatal\",\"msg\":\"assertion failed\",\"condition\":\"%s\","
               "\"detail\":\"%s\",\"at\":\"%s:%d\"}\n",
               condition, message, file, line);
  std::fflush(stderr);
  std::abort();
}

Timestamp now_utc() {
  return std::chrono::time_point_cast<std::chrono::microseconds>(std::chrono::system_clock::now());
}

std::string format_rfc3339(Timestamp instant) {
  using namespace std::chrono;
  const auto seconds = floor<std::chrono::seconds>(instant);
  const auto micros = (instant - seconds).count();
  const std::time_t t = seconds.time_since_epoch().count();
  std::tm parts{};
  gmtime_r(&t, &parts);
  // Years are written with at least four digits (strftime's %Y writes year 226 as "226",
  // which is no RFC 3339 time); found by fuzz/rfc3339.cpp.
  char text[64];
  std::size_t n = static_cast<std::size_t>(std::snprintf(text, sizeof text, "%04lld-%02d-%02dT%02d:%02d:%02d",
                                                         static_cast<long long>(parts.tm_year) + 1900, parts.tm_mon + 1,
                                                         parts.tm_mday, parts.tm_hour, parts.tm_min, parts.tm_sec));
  if (micros != 0) n += std::snprintf(text + n, sizeof text - n, ".%06lld", static_cast<long long>(micros));
  text[n++] = 'Z';
  return std::string(text, n);
}

std::string format_date(std::chrono::sys_days day) {
  return format_rfc3339(Timestamp{day}).substr(0, 10);
}

namespace {

bool read_digits(std::string_view text, std::size_t& at, int count, int& out) {
  out = 0;
  for (int i = 0; i < count; ++i, ++at) {
    if (at >= text.size() || text[at] < '0' || text[at] > '9') return false;
    out = out * 10 + (text[at] - '0');
  }
  return true;
}

bool expect(std::string_view text, std::size_t& at, std::string_view choices) {
  if (at >= text.size() || choices.find(text[at]) == std::string_view::npos) return false;
  ++at;
  return true;
}

}  // namespace

namespace {

// Fields of a date and time as written, before the offset is applied.
struct WrittenTime {
  std::int64_t year = 0;
  int month = 0, day = 0, hour = 0, minute = 0, second = 0;
  std::int64_t micros = 0;
  int offset_minutes = 0;
};

// Reads ".ffffff" (any number of digits, the first six kept) if it is there.
bool read_fraction(std::string_view text, std::size_t& at, std::int64_t& micros) {
  micros = 0;
  if (at >= text.size() || text[at] != '.') return true;
  ++at;
  int digits = 0;
  while (at < text.size() && text[at] >= '0' && text[at] <= '9') {
    if (digits < 6) micros = micros * 10 + (text[at] - '0');
    ++digits;
    ++at;
  }
  if (digits == 0) return false;
  for (; digits < 6; ++digits) micros *= 10;
  return true;
}

// Reads "Z", or "+HH", "+HH:MM", "+HHMM" (hours up to 23, minutes up to 59).
bool read_offset(std::string_view text, std::size_t& at, int& offset_minutes) {
  offset_minutes = 0;
  if (at < text.size() && (text[at] == 'Z' || text[at] == 'z')) {
    ++at;
    return true;
  }
  if (at >= text.size() || (text[at] != '+' && text[at] != '-')) return false;
  const int sign = text[at] == '-' ? -1 : 1;
  ++at;
  int hours = 0, minutes = 0;
  if (!read_digits(text, at, 2, hours)) return false;
  if (at < text.size() && text[at] == ':') ++at;
  if (at < text.size() && text[at] >= '0' && text[at] <= '9' && !read_digits(text, at, 2, minutes)) return false;
  if (hours > 23 || minutes > 59) return false;
  offset_minutes = sign * (hours * 60 + minutes);
  return true;
}

// "-MM-DDTHH:MM:SS" after the year, then the fraction.
bool read_date_time_after_year(std::string_view text, std::size_t& at, WrittenTime& t) {
  return expect(text, at, "-") && read_digits(text, at, 2, t.month) && expect(text, at, "-") &&
         read_digits(text, at, 2, t.day) && expect(text, at, "Tt ") && read_digits(text, at, 2, t.hour) &&
         expect(text, at, ":") && read_digits(text, at, 2, t.minute) && expect(text, at, ":") &&
         read_digits(text, at, 2, t.second) && read_fraction(text, at, t.micros);
}

// The instant, or nullopt for a date that does not exist or a time out of its ranges. Years
// are limited to what std::chrono::year holds (±32767); callers bound them further.
std::optional<Timestamp> instant_of(const WrittenTime& t) {
  using namespace std::chrono;
  if (t.year < -32767 || t.year > 32767) return std::nullopt;
  const year_month_day date{std::chrono::year{static_cast<int>(t.year)},
                            std::chrono::month{static_cast<unsigned>(t.month)},
                            std::chrono::day{static_cast<unsigned>(t.day)}};
  if (!date.ok() || t.hour > 23 || t.minute > 59 || t.second > 59) return std::nullopt;
  const auto instant = sys_days{date} + hours{t.hour} + minutes{t.minute} + seconds{t.second} + microseconds{t.micros} -
                       minutes{t.offset_minutes};
  return time_point_cast<microseconds>(instant);
}

}  // namespace

std::optional<std::chrono::sys_days> parse_date(std::string_view text) {
  std::size_t at = 0;
  int year = 0, month = 0, day = 0;
  if (text.size() != 10 || !read_digits(text, at, 4, year) || !expect(text, at, "-") ||
      !read_digits(text, at, 2, month) || !expect(text, at, "-") || !read_digits(text, at, 2, day)) {
    return std::nullopt;
  }
  const std::chrono::year_month_day date{std::chrono::year{year}, std::chrono::month{static_cast<unsigned>(month)},
                                         std::chrono::day{static_cast<unsigned>(day)}};
  if (!date.ok()) return std::nullopt;
  return std::chrono::sys_days{date};
}

std::optional<Timestamp> parse_rfc3339(std::string_view text) {
  std::size_t at = 0;
  WrittenTime t;
  int year = 0;
  if (!read_digits(text, at, 4, year)) return std::nullopt;
  t.year = year;
  if (!read_date_time_after_year(text, at, t) || !read_offset(text, at, t.offset_minutes) || at != text.size()) {
    return std::nullopt;
  }
  const auto instant = instant_of(t);
  if (!instant || *instant < time_min || *instant > time_max) return std::nullopt;
  return instant;
}

std::optional<Timestamp> parse_database_time(std::string_view text) {
  // The latest and earliest instants std::chrono::year can write (format_rfc3339 stays defined).
  constexpr Timestamp latest{std::chrono::sys_days{std::chrono::year{32767} / 12 / 31}.time_since_epoch()};
  constexpr Timestamp earliest{std::chrono::sys_days{std::chrono::year{-32767} / 1 / 1}.time_since_epoch()};
  if (text == "infinity") return latest;
  if (text == "-infinity") return earliest;
  std::size_t at = 0;
  WrittenTime t;
  while (at < text.size() && at < 7 && text[at] >= '0' && text[at] <= '9') t.year = t.year * 10 + (text[at++] - '0');
  if (at < 4) return std::nullopt;
  if (!read_date_time_after_year(text, at, t) || !read_offset(text, at, t.offset_minutes)) return std::nullopt;
  if (text.substr(at) == " BC") {
    t.year = 1 - t.year;  // 1 BC is year 0, 2 BC is year -1 (ISO 8601's astronomical years)
  } else if (at != text.size()) {
    return std::nullopt;
  }
  // PostgreSQL reaches year 294276; std::chrono::year stops at 32767: anything beyond is
  // read as the latest instant this type holds, like infinity.
  if (t.year >= 32767) return latest;
  if (t.year <= -32767) return earliest;
  return instant_of(t);
}

std::string random_bytes(std::size_t count) {
  std::string bytes(count, '\0');
  LOYALTY_ASSERT(RAND_bytes(reinterpret_cast<unsigned char*>(bytes.data()), static_cast<int>(count)) == 1,
                 "the CSPRNG failed");
  return bytes;
}

std::string new_id(std::string_view prefix) {
  static constexpr char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  constexpr std::size_t length = 20;
  const std::string bytes = random_bytes(length);
  std::string id(prefix);
  // 252 = 7 * 36: bytes at or above it are redrawn so every character is equally likely.
  for (std::size_t i = 0; id.size() < prefix.size() + length; ++i) {
    const auto byte = static_cast<unsigned char>(i < bytes.size() ? bytes[i] : random_bytes(1)[0]);
    if (byte < 252) id.push_back(alphabet[byte % 36]);
  }
  return id;
}

std::string sha256(std::string_view bytes) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  LOYALTY_ASSERT(EVP_Digest(bytes.data(), bytes.size(), digest, &length, EVP_sha256(), nullptr) == 1,
                 "EVP_Digest failed");
  return std::string(reinterpret_cast<char*>(digest), length);
}

std::string to_hex(std::string_view bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    hex.push_back(digits[c >> 4]);
    hex.push_back(digits[c & 0xF]);
  }
  return hex;
}

std::string base64_encode(std::string_view bytes) {
  std::string text(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(text.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
  text.resize(static_cast<std::size_t>(n));
  return text;
}

std::optional<std::string> base64_decode(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  std::string bytes(3 * text.size() / 4 + 1, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(bytes.data()),
                                reinterpret_cast<const unsigned char*>(text.data()), static_cast<int>(text.size()));
  if (n < 0) return std::nullopt;
  std::size_t length = static_cast<std::size_t>(n);
  // EVP_DecodeBlock counts padding as zero bytes; drop them.
  if (!text.empty() && text.back() == '=') --length;
  if (text.size() > 1 && text[text.size() - 2] == '=') --length;
  bytes.resize(length);
  return bytes;
}

bool constant_time_equal(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace loyalty
