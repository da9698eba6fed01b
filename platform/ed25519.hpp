// Reading Ed25519 keys from PEM text, over OpenSSL's EVP interface: one reader for our own
// signing key and for partners' public keys; and SigningKey, our own key once read.
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

// A base64 Ed25519 signature of `message` by a private key; nullopt if OpenSSL refuses.
std::optional<std::string> sign_with_key(EVP_PKEY* key, std::string_view message);

// Our Ed25519 signing key (the PEM named by LOYALTY_SIGNING_KEY / --signing-key): read once
// where the configuration is read (loyaltyd, loyaltyctl) and handed to whatever signs for
// us — partner responses, the signing-key routes, settlement statements, export manifests,
// webhook deliveries. An empty key (none configured, or a PEM that is not an Ed25519 private
// key) signs nothing: those answers go unsigned or are refused, as each user says.
// Immutable once made; copies share the key, and any thread may sign with it.
class SigningKey {
 public:
  SigningKey() = default;  // empty: no key
  static SigningKey from_pem(std::string_view private_pem);

  bool empty() const { return key_ == nullptr; }
  explicit operator bool() const { return !empty(); }
  // "sk_" + 16 hex digits (signing_key_id_of_key), and the public half as PEM; "" when empty.
  const std::string& key_id() const { return key_id_; }
  const std::string& public_pem() const { return public_pem_; }
  // A base64 Ed25519 signature of `bytes`; nullopt when empty.
  std::optional<std::string> sign(std::string_view bytes) const;

 private:
  std::shared_ptr<EVP_PKEY> key_;
  std::string key_id_, public_pem_;
};

}  // namespace loyalty
