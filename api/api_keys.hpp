// API keys: one role each, secrets shown once and stored as SHA-256; they may expire and be
// revoked.
//
// A secret is "<key_id>.<43 characters of base64url>" (256 random bits). The key id in front
// lets the service find the row without scanning; the comparison of hashes is constant-time.
// A revoked or expired key is refused on every process within `limits::key_cache_ttl`: the
// cache below never keeps an answer longer than that after the lookup that produced it began,
// nor past the key's own expiry.
#pragma once

#include <pqxx/pqxx>

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "api/context.hpp"
#include "platform/time.hpp"

namespace loyalty::api {

struct NewKey {
  Role role = Role::mall;
  std::string name;
  std::optional<Timestamp> expires_at;  // nullopt: never
  std::string created_by;               // "key:key_… (name)", "operator:alice"
};

struct CreatedKey {
  std::string key_id;
  std::string name;
  Role role = Role::mall;
  std::string secret;  // shown once
  std::optional<Timestamp> expires_at;
  Timestamp created_at;
};

CreatedKey create_api_key(pqxx::transaction_base& txn, const NewKey& key);
CreatedKey create_api_key(pqxx::transaction_base& txn, Role role, const std::string& name);

// A key as lists show it: never its secret or hash.
struct KeyInfo {
  std::string key_id;
  std::string name;
  Role role = Role::mall;
  Timestamp created_at;
  std::optional<Timestamp> expires_at;
  std::optional<Timestamp> revoked_at;
  std::optional<std::string> created_by;
  std::optional<std::string> revoked_by;
  std::int64_t key_number = 0;  // the list's order and cursor

  // "active", "revoked" or "expired" at `now`.
  const char* status(Timestamp now) const;
};

struct KeyPage {
  std::vector<KeyInfo> items;
  std::optional<std::int64_t> next_before;  // the cursor of the next page, if there is one
};

// Keys newest first, `limit` of them, those numbered below `before` when given.
KeyPage list_api_keys(pqxx::transaction_base& txn, int limit, std::optional<std::int64_t> before);

struct Revocation {
  KeyInfo key;       // as it is after
  bool revoked_now;  // false: it was revoked before (and keeps that first revocation)
};

// Revokes a key; nullopt when there is no such key.
std::optional<Revocation> revoke_api_key(pqxx::transaction_base& txn, const std::string& key_id,
                                         const std::string& revoked_by);

// What a secret is worth. Only `verified` carries a caller; `key_id` is set whenever the secret
// named a key that exists (so that refusals name real keys only, never made-up ids).
enum class KeyVerdict { verified, malformed, unknown_key, wrong_secret, revoked, expired };

struct KeyCheck {
  KeyVerdict verdict = KeyVerdict::malformed;
  std::optional<Caller> caller;
  std::optional<std::string> key_id;
  std::optional<Timestamp> expires_at;
};

KeyCheck check_api_key(pqxx::transaction_base& txn, const std::string& secret, Timestamp now);

// The caller a secret belongs to, or nullopt (unknown key, wrong secret, revoked, expired).
std::optional<Caller> verify_api_key(pqxx::transaction_base& txn, const std::string& secret);

// The key id a secret names, without checking it.
std::optional<std::string> key_id_of_secret(const std::string& secret);

// Remembers what secrets were worth for a few seconds so that most requests need no database
// round trip to authenticate, and a flood of one wrong secret needs one. Only hashes are kept.
class KeyCache {
 public:
  using Clock = std::chrono::steady_clock;

  std::optional<KeyCheck> find(const std::string& secret);
  // `lookup_started` is when the lookup that produced `check` was asked for: the answer is
  // kept `limits::key_cache_ttl` from then (a revocation that committed after it began is seen
  // within the TTL), and never past the key's expiry.
  void remember(const std::string& secret, const KeyCheck& check, Clock::time_point lookup_started);
  // Forgets every answer about a key (its revocation on this process applies at once).
  void forget_key(const std::string& key_id);

 private:
  struct Entry {
    KeyCheck check;
    Clock::time_point expires;
  };
  std::mutex mutex_;
  // Verified and refused secrets apart: a flood of wrong secrets cannot push out good ones.
  std::map<std::string, Entry> verified_by_hash_;
  std::map<std::string, Entry> refused_by_hash_;
};

}  // namespace loyalty::api
