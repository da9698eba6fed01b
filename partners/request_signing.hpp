// Signed partner requests: the canonical string a partner signs, and the two ways it may sign
// it (HMAC-SHA256 with a shared 32-byte secret, or Ed25519 with its own key pair).
//
//   METHOD \n PATH \n CANONICAL_QUERY \n X-Timestamp \n X-Nonce \n hex(sha256(body))
//
// CANONICAL_QUERY: the query's k=v pairs, decoded per RFC 3986 ("%XX" is that byte, a '+' is a
// literal plus, not a space), sorted by key then value, each part percent-encoded per RFC 3986
// (unreserved characters kept, everything else %XX in upper case), joined by '&'; empty when
// there is no query. docs/api/partners.md publishes test vectors.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace loyalty::partners {

struct RequestToSign {
  std::string_view method;     // "POST"
  std::string_view path;       // "/partner/v1/exchanges", as sent (not decoded)
  std::string_view raw_query;  // after '?', as sent; empty if none
  std::string_view timestamp;  // X-Timestamp, unix seconds as sent
  std::string_view nonce;      // X-Nonce
  std::string_view body;       // the exact body bytes
};

std::string canonical_query(std::string_view raw_query);
std::string signing_string(const RequestToSign& request);

std::string hmac_sha256(std::string_view key, std::string_view message);  // 32 raw bytes

// Each returns false for a signature that is not valid base64 or does not verify.
bool verify_hmac_sha256(std::string_view key, std::string_view message, std::string_view signature_base64);
bool verify_ed25519(std::string_view public_key_pem, std::string_view message, std::string_view signature_base64);

// Signs with an Ed25519 private key (PEM); base64 signature, or nullopt if the key is bad.
std::optional<std::string> sign_ed25519(std::string_view private_key_pem, std::string_view message);

}  // namespace loyalty::partners
