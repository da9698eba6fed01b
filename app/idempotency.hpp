// Idempotency keys' storage: the table `idempotency_keys`, written only through these
// functions. A key is claimed with the hash of its request before the work runs and given the
// work's answer in the same transaction; a failure releases it. What an answer means (a typed
// message, a replay) is the caller's: here it is a status, a type name and bytes.
#pragma once

#include <pqxx/pqxx>

#include <optional>
#include <string>
#include <vector>

#include "platform/database.hpp"
#include "platform/time.hpp"

namespace loyalty::app {

// What is recorded under an idempotency key and given back to a replay: a status and a typed
// message, opaque to this layer (api/ writes and reads it).
struct StoredAnswer {
  int status = 0;
  std::string type;
  std::string bytes;
};

struct KeyClaim {
  std::string caller;
  std::string key;
  std::string request_sha256;  // the raw digest of the request
};

struct StoredKey {
  std::string caller;
  std::string key;
  std::string request_sha256;
  // Status 0: claimed in this same transaction and not answered yet (a committed key always
  // has its answer).
  StoredAnswer answer;
};

struct KeyName {
  std::string caller;
  std::string key;
  auto operator<=>(const KeyName&) const = default;
};

// Claims every key not claimed before, in one statement, in (caller, key) order so that two
// transactions claiming overlapping keys wait in one order; a key claimed by a transaction in
// flight makes this wait until it commits or rolls back. Returns the keys claimed now.
std::vector<KeyName> claim_keys(pqxx::transaction_base& txn, const std::vector<KeyClaim>& claims);

// The stored rows of these keys (any that exist).
std::vector<StoredKey> read_keys(pqxx::transaction_base& txn, const std::vector<KeyName>& keys);

// A stored key judged against a request: the answer to give back when the request is the one
// the key was claimed with, nullopt when it is another request (the key reused).
std::optional<StoredAnswer> answer_for(const StoredKey& stored, const std::string& request_sha256);

// Records each key's answer, as one write added to `writes`.
struct KeyAnswer {
  KeyName name;
  StoredAnswer answer;
};
void add_answers(db::WriteBuffer& writes, const std::vector<KeyAnswer>& answers);

// Frees keys claimed in this transaction whose work failed, so that a retry runs again.
void add_releases(db::WriteBuffer& writes, const std::vector<KeyName>& keys);

// Deletes keys created before `older_than` (the retention job); returns how many.
long long purge_keys(pqxx::transaction_base& txn, Timestamp older_than);

// Stored answers recorded since `since` whose bytes hold one of `texts` (erasure of personal
// data looks for a member's name or phone), locked, in key order.
std::vector<StoredKey> lock_answers_holding(pqxx::transaction_base& txn, const std::vector<std::string>& texts,
                                            Timestamp since);
// Replaces a stored answer's bytes (the same message with fields cleared).
void replace_answer_bytes(pqxx::transaction_base& txn, const KeyName& name, const std::string& bytes);

}  // namespace loyalty::app
