// Times: what parse_rfc3339 accepts lies in years 0001-9999 and survives format and parse
// unchanged; what the database may hold is read (or refused) without failing.
#include <cstdint>
#include <string_view>

#include "fuzz/fuzz_check.hpp"
#include "platform/time.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (const auto instant = loyalty::parse_rfc3339(text)) {
    FUZZ_CHECK(*instant >= loyalty::time_min && *instant <= loyalty::time_max);
    const auto again = loyalty::parse_rfc3339(loyalty::format_rfc3339(*instant));
    FUZZ_CHECK(again && *again == *instant);
  }
  if (const auto stored = loyalty::parse_database_time(text)) (void)loyalty::format_rfc3339(*stored);
  return 0;
}
