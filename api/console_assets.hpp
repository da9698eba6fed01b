// The console's static files (console/), embedded in the binary at build time by
// cmake/embed_console_assets.cmake into the library loyalty_console: the service needs no
// files beside it, and what it serves is exactly what was built.
#pragma once

#include <algorithm>
#include <span>
#include <string_view>

namespace loyalty::console {

struct Asset {
  std::string_view path;          // relative to console/, e.g. "js/main.js"
  std::string_view content_type;  // from the file's extension
  std::string_view body;
  std::string_view etag;  // "\"<sha256 of body, hex>\"", quotes included
};

// Every asset, sorted by path.
std::span<const Asset> assets();

inline const Asset* find_asset(std::string_view path) {
  const auto all = assets();
  const auto found = std::lower_bound(all.begin(), all.end(), path,
                                      [](const Asset& asset, std::string_view p) { return asset.path < p; });
  return found != all.end() && found->path == path ? &*found : nullptr;
}

}  // namespace loyalty::console
