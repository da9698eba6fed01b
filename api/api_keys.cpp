#include "api/api_keys.hpp"

#include "api/limits.hpp"
#include "ledger/database.hpp"
#include "ledger/digest.hpp"
#include "ledger/ids.hpp"

namespace loyalty::api {
namespace {

const db::Statement insert_key{
    "api_keys.insert", "INSERT INTO api_keys (key_id, name, role, secret_sha256) VALUES ($1, $2, $3, $4)"};
const db::Statement select_key{
    "api_keys.select",
    "SELECT name, role, secret_sha256 FROM api_keys WHERE key_id = $1 AND revoked_at IS NULL"};

std::string base64url(std::string_view bytes) {
  std::string text = base64_encode(bytes);
  for (char& c : text) {
    if (c == '+') c = '-';
    if (c == '/') c = '_';
  }
  while (!text.empty() && text.back() == '=') text.pop_back();
  return text;
}

}  // namespace

const char* role_name(Role role) {
  switch (role) {
    case Role::mall: return "mall";
    case Role::ingest: return "ingest";
    case Role::admin: return "admin";
    case Role::finance: return "finance";
  }
  return "mall";
}

std::optional<Role> parse_role(std::string_view name) {
  for (Role role : {Role::mall, Role::ingest, Role::admin, Role::finance}) {
    if (name == role_name(role)) return role;
  }
  return std::nullopt;
}

CreatedKey create_api_key(pqxx::transaction_base& txn, Role role, const std::string& name) {
  CreatedKey key{new_id("key_"), name, role, ""};
  key.secret = key.key_id + "." + base64url(random_bytes(32));
  db::exec(txn, insert_key, key.key_id, name, role_name(role),
           pqxx::binarystring(sha256(key.secret)));
  return key;
}

std::optional<std::string> key_id_of_secret(const std::string& secret) {
  const auto dot = secret.find('.');
  if (dot == std::string::npos || dot == 0 || dot > 64) return std::nullopt;
  return secret.substr(0, dot);
}

std::optional<Caller> verify_api_key(pqxx::transaction_base& txn, const std::string& secret) {
  const auto key_id = key_id_of_secret(secret);
  if (!key_id) return std::nullopt;
  const auto rows = db::exec(txn, select_key, *key_id);
  if (rows.empty()) return std::nullopt;
  const pqxx::binarystring stored{rows[0][2]};
  if (!constant_time_equal(stored.str(), sha256(secret))) return std::nullopt;
  const auto role = parse_role(rows[0][1].c_str());
  if (!role) return std::nullopt;
  return Caller{*key_id, rows[0][0].c_str(), *role};
}

std::optional<Caller> KeyCache::find(const std::string& secret) {
  const std::string hash = sha256(secret);
  std::lock_guard lock{mutex_};
  const auto found = by_hash_.find(hash);
  if (found == by_hash_.end()) return std::nullopt;
  if (found->second.expires < std::chrono::steady_clock::now()) {
    by_hash_.erase(found);
    return std::nullopt;
  }
  return found->second.caller;
}

void KeyCache::remember(const std::string& secret, const Caller& caller) {
  std::lock_guard lock{mutex_};
  if (by_hash_.size() > 10000) by_hash_.clear();  // bounded: a flood of keys cannot grow it
  by_hash_[sha256(secret)] = Entry{caller, std::chrono::steady_clock::now() + limits::key_cache_ttl};
}

}  // namespace loyalty::api
