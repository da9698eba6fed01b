// Routes: method + path pattern ("/v1/holds/{hold_id}/capture") → roles allowed → handler.
// A pattern's last segment may be "{name...}", which takes the rest of the path
// ("/console/{path...}" matches /console/js/app.js with path = "js/app.js").
#pragma once

#include <boost/asio/awaitable.hpp>

#include <functional>
#include <initializer_list>
#include <map>
#include <string>
#include <vector>

#include "api/context.hpp"
#include "api/reply.hpp"

namespace loyalty::api {

using Handler = std::function<boost::asio::awaitable<Reply>(RequestContext&)>;

// How a route's caller proves who it is.
enum class Access {
  open,     // nobody: health, readiness, metrics
  api_key,  // Authorization: Bearer <secret> of a key with one of the route's roles
  partner,  // a partner's signed request (X-Partner-Id, X-Key-Id, X-Timestamp, X-Nonce, X-Signature)
};

struct Route {
  http::verb method;
  std::string pattern;
  std::vector<std::string> segments;
  std::vector<Role> roles;  // for Access::api_key
  Handler handler;
  Access access = Access::api_key;

  bool allows(Role role) const;
};

class Router {
 public:
  // An API-key route, or an open one when `roles` is empty.
  void add(http::verb method, std::string pattern, std::initializer_list<Role> roles, Handler handler);
  // A route for partners' signed requests.
  void add_partner(http::verb method, std::string pattern, Handler handler);

  struct Match {
    const Route* route = nullptr;
    std::map<std::string, std::string> params;
    bool path_exists = false;  // some route has this path with another method (405)
  };
  Match match(http::verb method, std::string_view path) const;

  // Every route, in the order they were added: what the OpenAPI document is generated from.
  const std::vector<Route>& routes() const { return routes_; }

 private:
  std::vector<Route> routes_;
};

}  // namespace loyalty::api
