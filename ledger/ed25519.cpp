#include "ledger/ed25519.hpp"

#include <openssl/bio.h>
#include <openssl/pem.h>

#include "ledger/assert.hpp"
#include "ledger/digest.hpp"

namespace loyalty {
namespace {

using Bio = std::unique_ptr<BIO, decltype(&BIO_free)>;

EvpKey read_pem(std::string_view pem, bool is_private) {
  Bio bio{BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), &BIO_free};
  if (!bio) return {nullptr, &EVP_PKEY_free};
  return {is_private ? PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr)
                     : PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr),
          &EVP_PKEY_free};
}

Ed25519Key only_ed25519(EvpKey key) {
  if (key && EVP_PKEY_id(key.get()) != EVP_PKEY_ED25519) key.reset();
  return key;
}

}  // namespace

Ed25519Key read_ed25519_private_key(std::string_view pem) { return only_ed25519(read_pem(pem, true)); }

Ed25519Key read_ed25519_public_key(std::string_view pem) { return only_ed25519(read_pem(pem, false)); }

std::string public_pem_of_key(EVP_PKEY* key) {
  Bio bio{BIO_new(BIO_s_mem()), &BIO_free};
  LOYALTY_ASSERT(bio != nullptr && PEM_write_bio_PUBKEY(bio.get(), key) == 1, "a public key could not be written as PEM");
  char* data = nullptr;
  const long length = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(length));
}

std::optional<std::string> signing_key_id_of_key(EVP_PKEY* key) {
  unsigned char raw[32];
  std::size_t length = sizeof raw;
  if (EVP_PKEY_get_raw_public_key(key, raw, &length) != 1 || length != sizeof raw) return std::nullopt;
  return "sk_" + to_hex(sha256(std::string_view(reinterpret_cast<const char*>(raw), length))).substr(0, 16);
}

}  // namespace loyalty
