#include "partners/signing_keys.hpp"

#include <openssl/evp.h>
#include <openssl/pem.h>

#include <map>
#include <memory>
#include <mutex>

#include "ledger/assert.hpp"
#include "ledger/database.hpp"
#include "ledger/digest.hpp"
#include "partners/request_signing.hpp"

namespace loyalty::partners {
namespace {

const db::Statement insert_signing_key{
    "signing_keys.insert",
    "INSERT INTO signing_keys (key_id, public_key_pem) VALUES ($1, $2) ON CONFLICT (key_id) DO NOTHING"};

const db::Statement select_active{
    "signing_keys.select_active",
    "SELECT key_id, public_key_pem FROM signing_keys WHERE retired_at IS NULL ORDER BY created_at, key_id"};

using KeyPtr = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;
using Bio = std::unique_ptr<BIO, decltype(&BIO_free)>;

KeyPtr read_pem(std::string_view pem, bool is_private) {
  Bio bio{BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), &BIO_free};
  if (!bio) return {nullptr, &EVP_PKEY_free};
  EVP_PKEY* key = is_private ? PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr)
                             : PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr);
  if (key && EVP_PKEY_id(key) != EVP_PKEY_ED25519) {
    EVP_PKEY_free(key);
    key = nullptr;
  }
  return {key, &EVP_PKEY_free};
}

std::string write_pem(EVP_PKEY* key, bool is_private) {
  Bio bio{BIO_new(BIO_s_mem()), &BIO_free};
  LOYALTY_ASSERT(bio != nullptr, "out of memory");
  const int written = is_private ? PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr)
                                 : PEM_write_bio_PUBKEY(bio.get(), key);
  LOYALTY_ASSERT(written == 1, "a key could not be written as PEM");
  char* data = nullptr;
  const long length = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(length));
}

std::optional<std::string> key_id_of(EVP_PKEY* key) {
  unsigned char raw[32];
  std::size_t length = sizeof raw;
  if (EVP_PKEY_get_raw_public_key(key, raw, &length) != 1 || length != sizeof raw) return std::nullopt;
  return "sk_" + to_hex(sha256(std::string_view(reinterpret_cast<char*>(raw), length))).substr(0, 16);
}

std::mutex key_id_mutex;
std::map<std::string, std::optional<std::string>, std::less<>> key_id_by_private_pem;

}  // namespace

std::string generate_ed25519_private_pem() {
  EVP_PKEY* key = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
  LOYALTY_ASSERT(key != nullptr, "OpenSSL could not generate an Ed25519 key");
  KeyPtr owned{key, &EVP_PKEY_free};
  return write_pem(owned.get(), true);
}

std::optional<std::string> public_pem_of(std::string_view private_pem) {
  const KeyPtr key = read_pem(private_pem, true);
  if (!key) return std::nullopt;
  return write_pem(key.get(), false);
}

std::optional<std::string> signing_key_id_of_public_pem(std::string_view public_pem) {
  const KeyPtr key = read_pem(public_pem, false);
  if (!key) return std::nullopt;
  return key_id_of(key.get());
}

bool is_ed25519_public_key(std::string_view public_pem) { return read_pem(public_pem, false) != nullptr; }

std::optional<std::string> our_key_id(std::string_view private_pem) {
  if (private_pem.empty()) return std::nullopt;
  std::lock_guard lock{key_id_mutex};
  if (const auto found = key_id_by_private_pem.find(private_pem); found != key_id_by_private_pem.end()) {
    return found->second;
  }
  const KeyPtr key = read_pem(private_pem, true);
  std::optional<std::string> id = key ? key_id_of(key.get()) : std::nullopt;
  key_id_by_private_pem.emplace(std::string(private_pem), id);
  return id;
}

std::optional<OurSignature> sign_as_us(std::string_view private_pem, std::string_view bytes) {
  const auto key_id = our_key_id(private_pem);
  if (!key_id) return std::nullopt;
  auto signature = sign_ed25519(private_pem, bytes);
  if (!signature) return std::nullopt;
  return OurSignature{*key_id, std::move(*signature)};
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

}  // namespace loyalty::partners
