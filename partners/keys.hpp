// Partners' request-signing keys and the verification of a signed request.
//
// A partner holds several keys at once (rotation). An hmac-sha256 key is a 32-byte secret we
// generate and show once; an ed25519 key is the partner's public key. Keys are read from the
// database on every request, so a revocation takes effect at once in every process.
// Nonces are remembered per partner in PostgreSQL for the timestamp window, so a replay is
// refused whichever process it reaches.
#pragma once

#include <pqxx/pqxx>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "partners/refusal.hpp"
#include "partners/request_signing.hpp"
#include "platform/time.hpp"

namespace loyalty::partners {

inline constexpr std::chrono::seconds timestamp_tolerance{300};
// Nonces older than this can no longer be replayed (their timestamp would be stale).
inline constexpr std::chrono::seconds nonce_retention = 2 * timestamp_tolerance;
inline constexpr std::size_t hmac_secret_bytes = 32;
inline constexpr std::size_t public_key_pem_chars_max = 4096;

inline constexpr const char* algorithm_hmac = "hmac-sha256";
inline constexpr const char* algorithm_ed25519 = "ed25519";

struct PartnerKey {
  std::string key_id;
  std::string partner_id;
  std::string algorithm;
  std::optional<std::string> secret_base64;  // at creation of an hmac key only
  std::optional<std::string> public_key_pem;
  Timestamp created_at;
  std::optional<Timestamp> revoked_at;
};

// `algorithm` is hmac-sha256 or ed25519 (the caller validated it). The partner must exist.
Result<PartnerKey> create_key(pqxx::transaction_base& txn, const std::string& partner_id, const std::string& algorithm,
                              const std::optional<std::string>& public_key_pem);

// A page of a partner's keys, newest first, revoked ones included; secrets are never read.
struct KeyPosition {
  Timestamp created_at;
  std::string key_id;
};
struct KeyPage {
  std::vector<PartnerKey> items;
  std::optional<KeyPosition> next_before;  // absent on the last page
};
KeyPage list_keys(pqxx::transaction_base& txn, const std::string& partner_id, const std::optional<KeyPosition>& before,
                  int limit);

// Revokes a key of this partner at once; revoking a revoked key answers it unchanged.
Result<PartnerKey> revoke_key(pqxx::transaction_base& txn, const std::string& partner_id, const std::string& key_id);

// What a partner sent: the five headers and the request they sign.
struct SignedRequest {
  std::string partner_id;
  std::string key_id;
  std::string timestamp;  // unix seconds, as sent
  std::string nonce;
  std::string signature_base64;
  std::string method;
  std::string path;
  std::string raw_query;
  std::string_view body;
};

enum class Verdict { verified, stale_timestamp, unknown_key, key_revoked, invalid_signature, replayed_request };
const char* verdict_code(Verdict verdict);

// The checks that need no database: header syntax and the timestamp window.
std::optional<Verdict> precheck(const SignedRequest& request, Timestamp now);

// Looks up the key, checks the signature, then remembers the nonce (refusing a replay).
// Writes only when the answer is `verified`.
Verdict verify_request(pqxx::transaction_base& txn, const SignedRequest& request, Timestamp now);

// Forgets nonces seen before `older_than`; returns how many.
std::int64_t purge_nonces(pqxx::transaction_base& txn, Timestamp older_than);

}  // namespace loyalty::partners
