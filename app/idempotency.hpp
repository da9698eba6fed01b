// Idempotency keys' storage: the table `idempotency_keys`, written only through these
// functions. A key is locked before the work it guards runs (a transaction-scoped advisory
// lock: memory only, no row), and its answer is inserted once, in the same transaction, when
// the work has answered; a failure writes nothing and the lock ends with the transaction. What
// an answer means (a typed message, a replay) is the caller's: here it is a status, a type
// name and bytes.
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

struct StoredKey {
  std::string caller;
  std::string key;
  std::string request_sha256;  // the raw digest of the request the key was answered for
  StoredAnswer answer;
};

struct KeyName {
  std::string caller;
  std::string key;
  auto operator<=>(const KeyName&) const = default;
};

// Locks every key, one advisory lock per key taken in one statement in one global order (by
// the key's hash), and then reads the keys already answered: both in one round trip. A key
// that a transaction in flight holds makes this wait until that transaction ends, and the
// read, a statement of its own, then sees what it committed. Lock the keys before any row
// lock of the transaction (docs/ARCHITECTURE.md, "Several processes, one lock order").
// Returns the answered keys.
std::vector<StoredKey> lock_keys(pqxx::transaction_base& txn, const std::vector<KeyName>& keys);
// The same two statements added to `reads`, so that they travel with the statements that
// follow them (a batch's row locks): the answered keys are in `answered` once `reads` ran.
void lock_keys(db::ReadBatch& reads, const std::vector<KeyName>& keys, std::vector<StoredKey>& answered);

// The stored rows of these keys (any that exist), without locking them.
std::vector<StoredKey> read_keys(pqxx::transaction_base& txn, const std::vector<KeyName>& keys);

// A stored key judged against a request: the answer to give back when the request is the one
// the key was claimed with, nullopt when it is another request (the key reused).
std::optional<StoredAnswer> answer_for(const StoredKey& stored, const std::string& request_sha256);

// Records each key's answer, as one insert added to `writes`. The keys must be locked by this
// transaction and unanswered (lock_keys): a second answer under one key breaks the primary key
// and fails the transaction rather than replace the first.
struct KeyAnswer {
  KeyName name;
  std::string request_sha256;
  StoredAnswer answer;
};
void add_answers(db::WriteBuffer& writes, const std::vector<KeyAnswer>& answers);

// Deletes keys created before `older_than` (the retention job); returns how many.
long long purge_keys(pqxx::transaction_base& txn, Timestamp older_than);

// Stored answers recorded since `since` whose bytes hold one of `texts` (erasure of personal
// data looks for a member's name or phone), locked, in key order.
std::vector<StoredKey> lock_answers_holding(pqxx::transaction_base& txn, const std::vector<std::string>& texts,
                                            Timestamp since);
// Replaces a stored answer's bytes (the same message with fields cleared).
void replace_answer_bytes(pqxx::transaction_base& txn, const KeyName& name, const std::string& bytes);

}  // namespace loyalty::app
