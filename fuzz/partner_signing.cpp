// Partners' signed requests: the header checks that need no database, the canonical query
// (which must be a fixed point: canonicalising it again changes nothing), the signing string,
// and signature verification with attacker-chosen signatures.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz/fuzz_check.hpp"
#include "partners/keys.hpp"
#include "partners/request_signing.hpp"
#include "platform/digest.hpp"
#include "platform/text.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // The input is the request's parts, one a line: method, path, query, timestamp, nonce,
  // signature, partner id, key id; the rest is the body.
  std::string_view text(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> parts;
  while (parts.size() < 8) {
    const auto end = text.find('\n');
    parts.emplace_back(text.substr(0, end));
    text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
  }
  using namespace loyalty::partners;
  const std::string canonical = canonical_query(parts[2]);
  FUZZ_CHECK(canonical_query(canonical) == canonical);
  (void)loyalty::percent_decode(parts[2]);
  const std::string message = signing_string(RequestToSign{parts[0], parts[1], parts[2], parts[3], parts[4], text});
  (void)verify_hmac_sha256("0123456789abcdef0123456789abcdef", message, parts[5]);
  (void)loyalty::base64_decode(parts[5]);
  SignedRequest request{parts[6], parts[7], parts[3], parts[4], parts[5], parts[0], parts[1], parts[2], text};
  (void)precheck(request, loyalty::now_utc());
  return 0;
}
