// Our own Ed25519 signing keys: the key that signs every partner response, settlement
// statement and export manifest, and the public halves partners check them with.
//
// A key's id is derived from its public key ("sk_" + the first 16 hex digits of the SHA-256
// of the raw 32-byte public key), so any holder of the PEM can compute it and a rotation
// never reuses an id. Public keys are registered in `signing_keys` so that
// GET /partner/v1/signing-keys with Accept: application/json lists every key still in use, old
// ones included (without it, that route answers the current key's PEM), and
// GET /partner/v1/signing-keys/{key_id} serves each one's PEM.
#pragma once

#include <pqxx/pqxx>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "platform/time.hpp"

namespace loyalty::partners {

// The key the service signs with is a SigningKey (platform/ed25519.hpp), read once from the
// configuration; these derive the same from a private key's PEM at hand (one just made).
std::string generate_ed25519_private_pem();
std::optional<std::string> public_pem_of(std::string_view private_pem);  // nullopt: not an Ed25519 key
std::optional<std::string> our_key_id(std::string_view private_pem);     // nullopt: not an Ed25519 key
std::optional<std::string> signing_key_id_of_public_pem(std::string_view public_pem);
bool is_ed25519_public_key(std::string_view public_pem);

struct RegisteredSigningKey {
  std::string key_id;
  std::string public_key_pem;
};

// Registers a public key (again: nothing changes). Returns its id, or nullopt for a bad key.
std::optional<std::string> register_signing_key(pqxx::transaction_base& txn, const std::string& public_pem);
std::vector<RegisteredSigningKey> active_signing_keys(pqxx::transaction_base& txn);

// A registered key's public half, retired or not: what signed a statement years ago can
// still be checked by its id.
std::optional<std::string> registered_public_pem(pqxx::transaction_base& txn, const std::string& key_id);

// Retiring a key takes it off the list of GET /partner/v1/signing-keys (it no longer signs anything new:
// retire a key after loyaltyd has moved to its successor). Its PEM stays fetchable by id.
enum class RetireOutcome { retired, already_retired, unknown };
RetireOutcome retire_signing_key(pqxx::transaction_base& txn, const std::string& key_id, Timestamp now);

}  // namespace loyalty::partners
