#include "api/api_keys.hpp"

#include "api/limits.hpp"
#include "platform/database.hpp"
#include "platform/digest.hpp"
#include "platform/ids.hpp"

namespace loyalty::api {
namespace {

const db::Statement insert_key{"api_keys.insert",
                               "INSERT INTO api_keys (key_id, name, role, secret_sha256, expires_at, created_by)"
                               " VALUES ($1, $2, $3, $4, $5, $6) RETURNING created_at"};
const db::Statement select_key{
    "api_keys.select",
    "SELECT name, role, secret_sha256, revoked_at, expires_at, expires_at IS NOT NULL AND expires_at <= $2"
    " FROM api_keys WHERE key_id = $1"};
const db::Statement list_keys{
    "api_keys.list",
    "SELECT key_id, name, role, created_at, expires_at, revoked_at, created_by, revoked_by, key_number"
    " FROM api_keys WHERE key_number < coalesce($2::bigint, 9223372036854775807)"
    " ORDER BY key_number DESC LIMIT $1"};
const db::Statement revoke_key{
    "api_keys.revoke",
    "UPDATE api_keys SET revoked_at = clock_timestamp(), revoked_by = $2"
    " WHERE key_id = $1 AND revoked_at IS NULL"
    " RETURNING key_id, name, role, created_at, expires_at, revoked_at, created_by, revoked_by, key_number"};
const db::Statement select_key_info{
    "api_keys.select_info",
    "SELECT key_id, name, role, created_at, expires_at, revoked_at, created_by, revoked_by, key_number"
    " FROM api_keys WHERE key_id = $1"};

std::string base64url(std::string_view bytes) {
  std::string text = base64_encode(bytes);
  for (char& c : text) {
    if (c == '+') c = '-';
    if (c == '/') c = '_';
  }
  while (!text.empty() && text.back() == '=') text.pop_back();
  return text;
}

std::optional<Timestamp> optional_time(const pqxx::field& field) {
  if (field.is_null()) return std::nullopt;
  return parse_rfc3339(field.c_str());
}

std::optional<std::string> optional_text(const pqxx::field& field) {
  if (field.is_null()) return std::nullopt;
  return std::string(field.c_str());
}

// A row of the key columns list_keys and revoke_key return.
KeyInfo key_info(const pqxx::row& row) {
  KeyInfo key;
  key.key_id = row[0].c_str();
  key.name = row[1].c_str();
  key.role = parse_role(row[2].c_str()).value_or(Role::mall);
  key.created_at = parse_rfc3339(row[3].c_str()).value_or(Timestamp{});
  key.expires_at = optional_time(row[4]);
  key.revoked_at = optional_time(row[5]);
  key.created_by = optional_text(row[6]);
  key.revoked_by = optional_text(row[7]);
  key.key_number = row[8].as<std::int64_t>();
  return key;
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

const char* KeyInfo::status(Timestamp now) const {
  if (revoked_at) return "revoked";
  if (expires_at && *expires_at <= now) return "expired";
  return "active";
}

CreatedKey create_api_key(pqxx::transaction_base& txn, const NewKey& key) {
  CreatedKey created{new_id("key_"), key.name, key.role, "", key.expires_at, Timestamp{}};
  created.secret = created.key_id + "." + base64url(random_bytes(32));
  const auto expires = key.expires_at ? std::optional(db::sql_time(*key.expires_at)) : std::nullopt;
  const auto created_by = key.created_by.empty() ? std::nullopt : std::optional(key.created_by);
  const auto rows =
      db::exec(txn, insert_key, created.key_id, key.name, role_name(key.role),
               pqxx::binarystring(sha256(created.secret)), db::nullable(expires), db::nullable(created_by));
  created.created_at = parse_rfc3339(rows[0][0].c_str()).value_or(Timestamp{});
  return created;
}

CreatedKey create_api_key(pqxx::transaction_base& txn, Role role, const std::string& name) {
  return create_api_key(txn, NewKey{role, name, std::nullopt, ""});
}

KeyPage list_api_keys(pqxx::transaction_base& txn, int limit, std::optional<std::int64_t> before) {
  KeyPage page;
  const auto before_text = before ? std::optional(std::to_string(*before)) : std::nullopt;
  const auto rows = db::exec(txn, list_keys, limit + 1, db::nullable(before_text));
  for (const auto& row : rows) {
    if (static_cast<int>(page.items.size()) == limit) {
      page.next_before = page.items.back().key_number;
      break;
    }
    page.items.push_back(key_info(row));
  }
  return page;
}

std::optional<Revocation> revoke_api_key(pqxx::transaction_base& txn, const std::string& key_id,
                                         const std::string& revoked_by) {
  if (const auto rows = db::exec(txn, revoke_key, key_id, revoked_by); !rows.empty()) {
    return Revocation{key_info(rows[0]), true};
  }
  const auto rows = db::exec(txn, select_key_info, key_id);  // revoked before, or no such key
  if (rows.empty()) return std::nullopt;
  return Revocation{key_info(rows[0]), false};
}

std::optional<std::string> key_id_of_secret(const std::string& secret) {
  const auto dot = secret.find('.');
  if (dot == std::string::npos || dot == 0 || dot > 64) return std::nullopt;
  return secret.substr(0, dot);
}

KeyCheck check_api_key(pqxx::transaction_base& txn, const std::string& secret, Timestamp now) {
  KeyCheck check;
  const auto key_id = key_id_of_secret(secret);
  if (!key_id) return check;  // malformed
  const auto rows = db::exec(txn, select_key, *key_id, db::sql_time(now));
  if (rows.empty()) {
    check.verdict = KeyVerdict::unknown_key;
    return check;
  }
  const auto& row = rows[0];
  check.key_id = *key_id;
  check.expires_at = optional_time(row[4]);
  const pqxx::binarystring stored{row[2]};
  const auto role = parse_role(row[1].c_str());
  // The secret is checked first: only its holder learns that a key was revoked or expired.
  if (!constant_time_equal(stored.str(), sha256(secret)) || !role) {
    check.verdict = KeyVerdict::wrong_secret;
  } else if (!row[3].is_null()) {
    check.verdict = KeyVerdict::revoked;
  } else if (row[5].as<bool>()) {
    check.verdict = KeyVerdict::expired;
  } else {
    check.verdict = KeyVerdict::verified;
    check.caller = Caller{*key_id, row[0].c_str(), *role};
  }
  return check;
}

std::optional<Caller> verify_api_key(pqxx::transaction_base& txn, const std::string& secret) {
  return check_api_key(txn, secret, now_utc()).caller;
}

std::optional<KeyCheck> KeyCache::find(const std::string& secret) {
  const std::string hash = sha256(secret);
  const auto now = Clock::now();
  std::lock_guard lock{mutex_};
  for (auto* entries : {&verified_by_hash_, &refused_by_hash_}) {
    const auto found = entries->find(hash);
    if (found == entries->end()) continue;
    if (found->second.expires <= now) {
      entries->erase(found);
      return std::nullopt;
    }
    return found->second.check;
  }
  return std::nullopt;
}

void KeyCache::remember(const std::string& secret, const KeyCheck& check, Clock::time_point lookup_started) {
  auto expires = lookup_started + limits::key_cache_ttl;
  if (check.verdict == KeyVerdict::verified && check.expires_at) {
    // A verified key is remembered no longer than it is valid: its expiry, on the steady clock.
    const auto left = std::chrono::duration_cast<Clock::duration>(*check.expires_at - now_utc());
    expires = std::min(expires, Clock::now() + left);
  }
  if (expires <= Clock::now()) return;
  auto& entries = check.verdict == KeyVerdict::verified ? verified_by_hash_ : refused_by_hash_;
  std::lock_guard lock{mutex_};
  if (entries.size() >= limits::key_cache_entries_max) entries.clear();  // bounded: a flood cannot grow it
  entries[sha256(secret)] = Entry{check, expires};
}

void KeyCache::forget_key(const std::string& key_id) {
  std::lock_guard lock{mutex_};
  for (auto* entries : {&verified_by_hash_, &refused_by_hash_}) {
    std::erase_if(*entries, [&](const auto& item) { return item.second.check.key_id == key_id; });
  }
}

}  // namespace loyalty::api
