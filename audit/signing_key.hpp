// Our Ed25519 signing key as finance sees it: the public half (PEM) that checks manifest.sig
// with stock OpenSSL, and a short key id naming it ("sk_" + the first 16 hex digits of the
// SHA-256 of the raw 32-byte public key — the same id partners/signing_keys.hpp gives the key
// in X-Key-Id and GET /partner/v1/signing-keys). Signing itself is partners/'s.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace loyalty::audit {

// The public key (PEM) of an Ed25519 private key (PEM); nullopt if it is not one.
std::optional<std::string> public_key_pem_of(std::string_view private_key_pem);

// The key id of an Ed25519 public key (PEM); nullopt if it is not one.
std::optional<std::string> key_id_of(std::string_view public_key_pem);

}  // namespace loyalty::audit
