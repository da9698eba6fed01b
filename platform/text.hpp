// Text helpers shared by the HTTP layers (api/ and partners/ both build on ledger/).
#pragma once

#include <string>
#include <string_view>

namespace loyalty {

// What a '+' in a query means: a space (HTML form encoding, application/x-www-form-urlencoded)
// or a literal '+' (RFC 3986, where only "%20" is a space).
enum class Plus { space, literal };

// Decodes one part of a URL query (a key or a value): "%XX" (hex digits in either case)
// becomes that byte, '+' becomes what `plus` says, and anything else, a '%' not followed by
// two hex digits included, is kept as it is. The API's own query parameters are decoded with
// Plus::space; the CANONICAL_QUERY of a partner's signing string (docs/api/partners.md)
// follows RFC 3986, Plus::literal, so that "a+b" signs as "a%2Bb".
std::string percent_decode(std::string_view text, Plus plus = Plus::space);

// True for well-formed UTF-8 (RFC 3629: no overlong forms, no surrogates, nothing beyond
// U+10FFFF) holding no NUL: what every text field a client, a file or a partner sends must be.
// A NUL would cut the text short wherever it meets C (libpq parameters are C strings), and
// PostgreSQL refuses both in text and jsonb.
bool is_clean_text(std::string_view text);

}  // namespace loyalty
