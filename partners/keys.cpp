#include "partners/keys.hpp"

#include <charconv>

#include "partners/signing_keys.hpp"
#include "platform/database.hpp"
#include "platform/digest.hpp"
#include "platform/ids.hpp"

namespace loyalty::partners {
namespace {

const db::Statement insert_key{"partner_keys.insert",
                               "INSERT INTO partner_keys (key_id, partner_id, algorithm, public_key_pem, created_at)"
                               " VALUES ($1, $2, $3, $4, clock_timestamp()) RETURNING created_at"};

const db::Statement insert_secret{"partner_keys.insert_secret",
                                  "INSERT INTO partner_key_secrets (key_id, secret) VALUES ($1, decode($2, 'hex'))"};

const db::Statement revoke{"partner_keys.revoke",
                           "UPDATE partner_keys SET revoked_at = coalesce(revoked_at, clock_timestamp())"
                           " WHERE key_id = $1 AND partner_id = $2"
                           " RETURNING key_id, partner_id, algorithm, public_key_pem, created_at, revoked_at"};

// A partner's keys, newest first, from a (created_at, key_id) position; never their secrets.
const db::Statement select_keys_page{
    "partner_keys.select_page",
    "SELECT key_id, partner_id, algorithm, public_key_pem, created_at, revoked_at FROM partner_keys"
    " WHERE partner_id = $1 AND ($2::timestamptz IS NULL OR (created_at, key_id) < ($2::timestamptz, $3::text))"
    " ORDER BY created_at DESC, key_id DESC LIMIT $4"};

// One round trip per request: the key, its secret (hmac) and whether it is revoked.
const db::Statement select_for_verification{
    "partner_keys.select_for_verification",
    "SELECT k.partner_id, k.algorithm, k.public_key_pem, encode(s.secret, 'hex'), k.revoked_at IS NOT NULL"
    " FROM partner_keys k LEFT JOIN partner_key_secrets s ON s.key_id = k.key_id WHERE k.key_id = $1"};

const db::Statement insert_nonce{"partner_nonces.insert",
                                 "INSERT INTO partner_nonces (partner_id, nonce, seen_at) VALUES ($1, $2, $3)"
                                 " ON CONFLICT (partner_id, nonce) DO NOTHING"};

const db::Statement delete_nonces{"partner_nonces.purge", "DELETE FROM partner_nonces WHERE seen_at < $1"};

bool is_nonce(std::string_view nonce) {
  if (nonce.size() < 16 || nonce.size() > 64) return false;
  for (char c : nonce) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

std::optional<std::int64_t> unix_seconds(std::string_view text) {
  if (text.empty() || text.size() > 12) return std::nullopt;
  std::int64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc{} || end != text.data() + text.size() || value < 0) return std::nullopt;
  return value;
}

// Raw bytes of a lowercase hex string from the database.
std::string from_hex(std::string_view hex) {
  std::string out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
    const auto nibble = [](char c) { return c <= '9' ? c - '0' : c - 'a' + 10; };
    out += static_cast<char>(nibble(hex[i]) * 16 + nibble(hex[i + 1]));
  }
  return out;
}

PartnerKey key_of_row(const pqxx::row& row) {
  PartnerKey key;
  key.key_id = row[0].c_str();
  key.partner_id = row[1].c_str();
  key.algorithm = row[2].c_str();
  key.public_key_pem = db::optional_text(row[3]);
  key.created_at = db::time_of(row[4]);
  if (!row[5].is_null()) key.revoked_at = db::time_of(row[5]);
  return key;
}

}  // namespace

const char* verdict_code(Verdict verdict) {
  switch (verdict) {
    case Verdict::verified: return "verified";
    case Verdict::stale_timestamp: return "stale_timestamp";
    case Verdict::unknown_key: return "unknown_key";
    case Verdict::key_revoked: return "key_revoked";
    case Verdict::invalid_signature: return "invalid_signature";
    case Verdict::replayed_request: return "replayed_request";
  }
  return "invalid_signature";
}

Result<PartnerKey> create_key(pqxx::transaction_base& txn, const std::string& partner_id, const std::string& algorithm,
                              const std::optional<std::string>& public_key_pem) {
  PartnerKey key;
  key.key_id = new_id("pkey_");
  key.partner_id = partner_id;
  key.algorithm = algorithm;
  std::string secret;
  if (algorithm == algorithm_ed25519) {
    if (!public_key_pem || public_key_pem->size() > public_key_pem_chars_max ||
        !is_ed25519_public_key(*public_key_pem)) {
      return Refusal::public_key_invalid;
    }
    key.public_key_pem = public_key_pem;
  } else {
    if (public_key_pem) return Refusal::public_key_invalid;
    secret = random_bytes(hmac_secret_bytes);
    key.secret_base64 = base64_encode(secret);
  }
  const auto rows = db::exec(txn, insert_key, key.key_id, partner_id, algorithm, db::nullable(key.public_key_pem));
  key.created_at = db::time_of(rows[0][0]);
  if (!secret.empty()) db::exec(txn, insert_secret, key.key_id, to_hex(secret));
  return key;
}

Result<PartnerKey> revoke_key(pqxx::transaction_base& txn, const std::string& partner_id, const std::string& key_id) {
  const auto rows = db::exec(txn, revoke, key_id, partner_id);
  if (rows.empty()) return Refusal::key_not_found;
  return key_of_row(rows[0]);
}

std::optional<Verdict> precheck(const SignedRequest& request, Timestamp now) {
  if (request.partner_id.empty() || request.key_id.empty() || request.signature_base64.empty() ||
      !is_nonce(request.nonce)) {
    return Verdict::invalid_signature;
  }
  const auto seconds = unix_seconds(request.timestamp);
  if (!seconds) return Verdict::invalid_signature;
  const auto sent = std::chrono::sys_seconds{std::chrono::seconds{*seconds}};
  const auto skew = now > sent ? now - sent : sent - now;
  if (skew > timestamp_tolerance) return Verdict::stale_timestamp;
  return std::nullopt;
}

Verdict verify_request(pqxx::transaction_base& txn, const SignedRequest& request, Timestamp now) {
  if (const auto early = precheck(request, now)) return *early;
  const auto rows = db::exec(txn, select_for_verification, request.key_id);
  if (rows.empty() || request.partner_id != rows[0][0].c_str()) return Verdict::unknown_key;
  const auto& row = rows[0];
  if (row[4].as<bool>()) return Verdict::key_revoked;
  const std::string message = signing_string(
      RequestToSign{request.method, request.path, request.raw_query, request.timestamp, request.nonce, request.body});
  const bool valid =
      std::string_view(row[1].c_str()) == algorithm_ed25519
          ? verify_ed25519(row[2].c_str(), message, request.signature_base64)
          : !row[3].is_null() && verify_hmac_sha256(from_hex(row[3].c_str()), message, request.signature_base64);
  if (!valid) return Verdict::invalid_signature;
  if (db::exec(txn, insert_nonce, request.partner_id, request.nonce, db::sql_time(now)).affected_rows() == 0) {
    return Verdict::replayed_request;
  }
  return Verdict::verified;
}

std::int64_t purge_nonces(pqxx::transaction_base& txn, Timestamp older_than) {
  return static_cast<std::int64_t>(db::exec(txn, delete_nonces, db::sql_time(older_than)).affected_rows());
}

KeyPage list_keys(pqxx::transaction_base& txn, const std::string& partner_id, const std::optional<KeyPosition>& before,
                  int limit) {
  const std::optional<std::string> before_time =
      before ? std::optional(db::sql_time(before->created_at)) : std::nullopt;
  const std::optional<std::string> before_key = before ? std::optional(before->key_id) : std::nullopt;
  // One row more than asked tells whether there is a next page.
  const auto rows =
      db::exec(txn, select_keys_page, partner_id, db::nullable(before_time), db::nullable(before_key), limit + 1);
  KeyPage page;
  for (const auto& row : rows) {
    if (static_cast<int>(page.items.size()) == limit) {
      page.next_before = KeyPosition{page.items.back().created_at, page.items.back().key_id};
      break;
    }
    page.items.push_back(key_of_row(row));
  }
  return page;
}

}  // namespace loyalty::partners
