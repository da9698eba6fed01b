// Partner-side requests for the tests: a request signed as the contract says
// (docs/api/partners.md, "Signed requests"), and the member-link flow a partner follows —
// our side links the member (pending, with a link code), the partner redeems the code.
// Any test that needs a usable link makes it with link_and_confirm.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "tests/support/http_client.hpp"

namespace loyalty::testing {

struct PartnerKey {
  std::string partner_id;
  std::string key_id;
  std::string algorithm;
  std::string secret;       // hmac: the 32 raw bytes
  std::string private_pem;  // ed25519
};

struct Signing {
  std::int64_t clock_skew_seconds = 0;
  std::optional<std::string> nonce;
  std::optional<std::string> body_sent;              // differs from the signed body: tampering
  std::map<std::string, std::string> extra_headers;  // e.g. Idempotency-Key (not signed)
};

// Sends `method target` with `body`, signed with `key` (timestamp now + skew, a fresh nonce).
HttpResult signed_partner_request(HttpClient& client, const PartnerKey& key, const std::string& method,
                                  const std::string& target, const std::string& body = "", const Signing& signing = {});

// POST /partner/v1/links/confirm {partner_member_ref, link_code}, signed with `key`.
HttpResult confirm_partner_link(HttpClient& client, const PartnerKey& key, const std::string& ref,
                                const std::string& link_code, const Signing& signing = {});

// Links `member_id` to `ref` at the key's partner with an API key (`bearer_secret`, role admin
// or mall) and confirms the link as the partner does with the code it was given. Adds a test
// failure unless both steps succeed; returns the confirmation's answer.
HttpResult link_and_confirm(HttpClient& client, const std::string& bearer_secret, const PartnerKey& key,
                            const std::string& member_id, const std::string& ref);

}  // namespace loyalty::testing
