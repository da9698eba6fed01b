#include "audit/signing_key.hpp"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <memory>

#include "ledger/digest.hpp"

namespace loyalty::audit {
namespace {

using Bio = std::unique_ptr<BIO, decltype(&BIO_free)>;
using Key = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;

Bio memory_bio(std::string_view text) {
  return Bio(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())), &BIO_free);
}

}  // namespace

std::optional<std::string> public_key_pem_of(std::string_view private_key_pem) {
  Bio in = memory_bio(private_key_pem);
  Key key(PEM_read_bio_PrivateKey(in.get(), nullptr, nullptr, nullptr), &EVP_PKEY_free);
  if (!key || EVP_PKEY_id(key.get()) != EVP_PKEY_ED25519) return std::nullopt;
  Bio out(BIO_new(BIO_s_mem()), &BIO_free);
  if (PEM_write_bio_PUBKEY(out.get(), key.get()) != 1) return std::nullopt;
  char* data = nullptr;
  const long size = BIO_get_mem_data(out.get(), &data);
  return std::string(data, static_cast<std::size_t>(size));
}

std::optional<std::string> key_id_of(std::string_view public_key_pem) {
  Bio in = memory_bio(public_key_pem);
  Key key(PEM_read_bio_PUBKEY(in.get(), nullptr, nullptr, nullptr), &EVP_PKEY_free);
  if (!key) return std::nullopt;
  unsigned char raw[32];
  std::size_t size = sizeof raw;
  if (EVP_PKEY_get_raw_public_key(key.get(), raw, &size) != 1 || size != sizeof raw) return std::nullopt;
  const std::string digest = sha256(std::string_view(reinterpret_cast<const char*>(raw), size));
  return "sk_" + to_hex(digest).substr(0, 16);
}

}  // namespace loyalty::audit
