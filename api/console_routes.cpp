// GET /console, GET /console/ and GET /console/{path...}: the operator and finance console, a
// static page whose files are embedded in the binary (api/console_assets.hpp). The routes are
// open: the files hold no data; the page signs in with an API key and calls the API as any
// client does, so the key's role decides what it may read or change.
#include <boost/asio/awaitable.hpp>

#include "api/console_assets.hpp"
#include "api/routes.hpp"

namespace loyalty::api {
namespace asio = boost::asio;
namespace {

// The page runs only its own files: no inline script or style, nothing from elsewhere, no
// framing. Its calls go to this origin's API only (connect-src 'self').
constexpr std::string_view content_security_policy =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'";

// Asset names are not content-hashed (ES modules import each other by fixed names), so every
// use revalidates; an unchanged file answers 304 from its ETag.
constexpr std::string_view cache_control = "no-cache";

// True when an If-None-Match header names `etag` (weak or strong) or is "*".
bool etag_matches(std::string_view header, std::string_view etag) {
  while (!header.empty()) {
    const auto comma = header.find(',');
    std::string_view tag = header.substr(0, comma);
    while (!tag.empty() && (tag.front() == ' ' || tag.front() == '\t')) tag.remove_prefix(1);
    while (!tag.empty() && (tag.back() == ' ' || tag.back() == '\t')) tag.remove_suffix(1);
    if (tag.starts_with("W/")) tag.remove_prefix(2);
    if (tag == "*" || tag == etag) return true;
    if (comma == std::string_view::npos) break;
    header.remove_prefix(comma + 1);
  }
  return false;
}

void add_page_headers(Reply& reply) {
  reply.headers.emplace_back("Content-Security-Policy", std::string(content_security_policy));
  reply.headers.emplace_back("X-Content-Type-Options", "nosniff");
  reply.headers.emplace_back("Referrer-Policy", "no-referrer");
  reply.headers.emplace_back("X-Frame-Options", "DENY");
}

Reply serve_asset(const RequestContext& context, std::string_view path) {
  const console::Asset* asset = console::find_asset(path);
  if (!asset) return problem(404, "not_found", "the console has no file at this path");
  Reply reply;
  const auto if_none_match = context.header("If-None-Match");
  if (if_none_match && etag_matches(*if_none_match, asset->etag)) {
    reply = Reply::text(304, "", std::string(asset->content_type));
  } else {
    reply = Reply::text(200, std::string(asset->body), std::string(asset->content_type));
  }
  reply.headers.emplace_back("ETag", std::string(asset->etag));
  reply.headers.emplace_back("Cache-Control", std::string(cache_control));
  add_page_headers(reply);
  return reply;
}

}  // namespace

void add_console_routes(Router& router) {
  using http::verb;
  // The router ignores a trailing slash, so /console and /console/ both arrive here: the page
  // is served only at /console/ so that its relative asset paths resolve under it.
  router.add(verb::get, "/console", {}, [](RequestContext& context) -> asio::awaitable<Reply> {
    const std::string_view target(context.http.target().data(), context.http.target().size());
    const std::string_view path = target.substr(0, target.find('?'));
    if (!path.ends_with('/')) {
      Reply reply = Reply::text(308, "", "text/plain; charset=utf-8");
      reply.headers.emplace_back("Location", "/console/");
      co_return reply;
    }
    co_return serve_asset(context, "index.html");
  });
  router.add(verb::get, "/console/{path...}", {}, [](RequestContext& context) -> asio::awaitable<Reply> {
    co_return serve_asset(context, context.param("path"));
  });
}

}  // namespace loyalty::api
