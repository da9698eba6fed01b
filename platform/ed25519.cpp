#include "platform/ed25519.hpp"

#include <openssl/bio.h>
#include <openssl/pem.h>

#include "platform/assert.hpp"
#include "platform/digest.hpp"

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

Ed25519Key read_ed25519_private_key(std::string_view pem) {
  return only_ed25519(read_pem(pem, true));
}

Ed25519Key read_ed25519_public_key(std::string_view pem) {
  return only_ed25519(read_pem(pem, false));
}

std::string public_pem_of_key(EVP_PKEY* key) {
  Bio bio{BIO_new(BIO_s_mem()), &BIO_free};
  LOYALTY_ASSERT(bio != nullptr && PEM_write_bio_PUBKEY(bio.get(), key) == 1,
                 "a public key could not be written as PEM");
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

std::optional<std::string> sign_with_key(EVP_PKEY* key, std::string_view message) {
  const std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> context{EVP_MD_CTX_new(), &EVP_MD_CTX_free};
  if (!context || EVP_DigestSignInit(context.get(), nullptr, nullptr, nullptr, key) != 1) return std::nullopt;
  unsigned char signature[64];
  std::size_t length = sizeof signature;
  if (EVP_DigestSign(context.get(), signature, &length, reinterpret_cast<const unsigned char*>(message.data()),
                     message.size()) != 1) {
    return std::nullopt;
  }
  return base64_encode(std::string_view(reinterpret_cast<const char*>(signature), length));
}

SigningKey SigningKey::from_pem(std::string_view private_pem) {
  Ed25519Key read = read_ed25519_private_key(private_pem);
  if (!read) return {};
  auto key_id = signing_key_id_of_key(read.get());
  if (!key_id) return {};
  SigningKey key;
  key.key_id_ = std::move(*key_id);
  key.public_pem_ = public_pem_of_key(read.get());
  key.key_ = std::shared_ptr<EVP_PKEY>(read.release(), &EVP_PKEY_free);
  return key;
}

std::optional<std::string> SigningKey::sign(std::string_view bytes) const {
  if (!key_) return std::nullopt;
  return sign_with_key(key_.get(), bytes);
}

}  // namespace loyalty
