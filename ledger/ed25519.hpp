// Reading Ed25519 keys from PEM text, over OpenSSL's EVP interface: one reader for our own
// signing key (audit/, partners/) and for partners' public keys.
#pragma once

#include <openssl/evp.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace loyalty {

using EvpKey = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;
using Ed25519Key = EvpKey;  // null, or known to hold an Ed25519 key

// A private key ("BEGIN PRIVATE KEY") or public key ("BEGIN PUBLIC KEY"); null unless the PEM
// parses AND holds an Ed25519 key.
Ed25519Key read_ed25519_private_key(std::string_view pem);
Ed25519Key read_ed25519_public_key(std::string_view pem);

// The public half of a key, as PEM ("BEGIN PUBLIC KEY").
std::string public_pem_of_key(EVP_PKEY* key);

// The id our Ed25519 signing keys go by: "sk_" + the first 16 hex digits of the SHA-256 of
// the raw 32-byte public key; nullopt for a key without one.
std::optional<std::string> signing_key_id_of_key(EVP_PKEY* key);

}  // namespace loyalty
