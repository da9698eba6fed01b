// API keys: one role each, secrets shown once and stored as SHA-256.
//
// A secret is "<key_id>.<43 characters of base64url>" (256 random bits). The key id in front
// lets the service find the row without scanning; the comparison of hashes is constant-time.
#pragma once

#include <pqxx/pqxx>

#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "api/context.hpp"

namespace loyalty::api {

struct CreatedKey {
  std::string key_id;
  std::string name;
  Role role = Role::mall;
  std::string secret;  // shown once
};

CreatedKey create_api_key(pqxx::transaction_base& txn, Role role, const std::string& name);

// The caller a secret belongs to, or nullopt (unknown key, wrong secret, revoked).
std::optional<Caller> verify_api_key(pqxx::transaction_base& txn, const std::string& secret);

// The key id a secret names, without checking it.
std::optional<std::string> key_id_of_secret(const std::string& secret);

// Remembers verified secrets for a few seconds so that most requests need no database
// round trip to authenticate. Only hashes are kept.
class KeyCache {
 public:
  std::optional<Caller> find(const std::string& secret);
  void remember(const std::string& secret, const Caller& caller);

 private:
  struct Entry {
    Caller caller;
    std::chrono::steady_clock::time_point expires;
  };
  std::mutex mutex_;
  std::map<std::string, Entry> by_hash_;
};

}  // namespace loyalty::api
