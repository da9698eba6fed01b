#include "partners/signing_keys.hpp"

#include <openssl/evp.h>
#include <openssl/pem.h>

#include <memory>

#include "platform/assert.hpp"
#include "platform/database.hpp"
#include "platform/digest.hpp"
#include "platform/ed25519.hpp"

namespace loyalty::partners {
namespace {

const db::Statement insert_signing_key{
    "signing_keys.insert",
    "INSERT INTO signing_keys (key_id, public_key_pem) VALUES ($1, $2) ON CONFLICT (key_id) DO NOTHING"};

const db::Statement select_active{
    "signing_keys.select_active",
    "SELECT key_id, public_key_pem FROM signing_keys WHERE retired_at IS NULL ORDER BY created_at, key_id"};

const db::Statement select_by_id{"signing_keys.select_by_id",
                                 "SELECT public_key_pem FROM signing_keys WHERE key_id = $1"};

const db::Statement retire{"signing_keys.retire",
                           "UPDATE signing_keys SET retired_at = $2 WHERE key_id = $1 AND retired_at IS NULL"};

using Bio = std::unique_ptr<BIO, decltype(&BIO_free)>;

std::string write_private_pem(EVP_PKEY* key) {
  Bio bio{BIO_new(BIO_s_mem()), &BIO_free};
  LOYALTY_ASSERT(bio != nullptr, "out of memory");
  const int written = PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr);
  LOYALTY_ASSERT(written == 1, "a key could not be written as PEM");
  char* data = nullptr;
  const long length = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(length));
}

}  // namespace

std::string generate_ed25519_private_pem() {
  EVP_PKEY* key = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
  LOYALTY_ASSERT(key != nullptr, "OpenSSL could not generate an Ed25519 key");
  Ed25519Key owned{key, &EVP_PKEY_free};
  return write_private_pem(owned.get());
}

std::optional<std::string> public_pem_of(std::string_view private_pem) {
  const SigningKey key = SigningKey::from_pem(private_pem);
  if (!key) return std::nullopt;
  return key.public_pem();
}

std::optional<std::string> our_key_id(std::string_view private_pem) {
  const SigningKey key = SigningKey::from_pem(private_pem);
  if (!key) return std::nullopt;
  return key.key_id();
}

std::optional<std::string> signing_key_id_of_public_pem(std::string_view public_pem) {
  const Ed25519Key key = read_ed25519_public_key(public_pem);
  if (!key) return std::nullopt;
  return signing_key_id_of_key(key.get());
}

bool is_ed25519_public_key(std::string_view public_pem) {
  return read_ed25519_public_key(public_pem) != nullptr;
}

std::optional<std::string> register_signing_key(pqxx::transaction_base& txn, const std::string& public_pem) {
  const auto key_id = signing_key_id_of_public_pem(public_pem);
  if (!key_id) return std::nullopt;
  db::exec(txn, insert_signing_key, *key_id, public_pem);
  return key_id;
}

std::vector<RegisteredSigningKey> active_signing_keys(pqxx::transaction_base& txn) {
  std::vector<RegisteredSigningKey> keys;
  for (const auto& row : db::exec(txn, select_active)) keys.push_back({row[0].c_str(), row[1].c_str()});
  return keys;
}

std::optional<std::string> registered_public_pem(pqxx::transaction_base& txn, const std::string& key_id) {
  const auto rows = db::exec(txn, select_by_id, key_id);
  if (rows.empty()) return std::nullopt;
  return std::string(rows[0][0].c_str());
}

RetireOutcome retire_signing_key(pqxx::transaction_base& txn, const std::string& key_id, Timestamp now) {
  if (db::exec(txn, retire, key_id, db::sql_time(now)).affected_rows() == 1) return RetireOutcome::retired;
  return registered_public_pem(txn, key_id) ? RetireOutcome::already_retired : RetireOutcome::unknown;
}

}  // namespace loyalty::partners
