// Idempotency keys as the API sees them (their storage is app/idempotency.hpp): a retry with the same key and body gets
// the first answer and moves nothing again; the same key with another body is 409 idempotency_key_reused.
//
// claim() runs first in the request's transaction. It locks the key (app::lock_keys); a
// concurrent request with the same key waits on the lock until the first commits (then it
// finds the answer) or rolls back (then it proceeds itself). The answer is recorded in the
// same transaction (record_idempotent_reply). A refusal (a 4xx the work answered) is the
// key's answer too. Failures (5xx) are never recorded.
#pragma once

#include <pqxx/pqxx>

#include <optional>
#include <string>
#include <vector>

#include "api/reply.hpp"
#include "platform/time.hpp"

namespace loyalty::api {

struct IdempotencyClaim {
  enum class Kind { fresh, replay, reused_with_other_request } kind = Kind::fresh;
  Reply replay;  // for Kind::replay: the first answer
};

IdempotencyClaim claim_idempotency_key(pqxx::transaction_base& txn, const std::string& caller, const std::string& key,
                                       const std::string& request_sha256);

// The key's recorded answer judged against this request (replay or reused), without claiming
// it; nullopt when the key is new.
std::optional<IdempotencyClaim> find_idempotency_key(pqxx::transaction_base& txn, const std::string& caller,
                                                     const std::string& key, const std::string& request_sha256);

// Records the answer of a key that claim() locked in this transaction and found unanswered.
void record_idempotent_reply(pqxx::transaction_base& txn, const std::string& caller, const std::string& key,
                             const std::string& request_sha256, const Reply& reply);

bool is_valid_idempotency_key(std::string_view key);

// Erasure of personal data (DELETE /v1/members/{id}/personal-data): every stored answer
// recorded since `since` that holds one of `values` as a whole text field (a member's name or
// phone, in a reply to POST /v1/members, say) is stored again with those fields cleared, so a
// replay no longer shows them. Returns how many answers changed.
std::size_t clear_from_stored_replies(pqxx::transaction_base& txn, const std::vector<std::string>& values,
                                      Timestamp since);

// A recorded answer, given back to a replay (Idempotent-Replayed: true).
Reply replayed_reply(int status, const std::string& type, const std::string& bytes);

}  // namespace loyalty::api
