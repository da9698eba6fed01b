// Text helpers shared by the HTTP layers (api/ and partners/ both build on ledger/).
#pragma once

#include <string>
#include <string_view>

namespace loyalty {

// Decodes one part of a URL query (a key or a value): "%XX" (hex digits in either case)
// becomes that byte, '+' becomes a space, and anything else, a '%' not followed by two hex
// digits included, is kept as it is. The API's query parameters and the CANONICAL_QUERY of a
// partner's signing string (docs/api/partners.md) are both decoded this way.
std::string percent_decode(std::string_view text);

}  // namespace loyalty
