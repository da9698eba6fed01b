// Routes: method + path pattern ("/v1/holds/{hold_id}/capture") → roles allowed → handler.
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

struct Route {
  http::verb method;
  std::string pattern;
  std::vector<std::string> segments;
  std::vector<Role> roles;  // empty: no key needed (health, metrics)
  Handler handler;

  bool allows(Role role) const;
};

class Router {
 public:
  void add(http::verb method, std::string pattern, std::initializer_list<Role> roles, Handler handler);

  struct Match {
    const Route* route = nullptr;
    std::map<std::string, std::string> params;
    bool path_exists = false;  // some route has this path with another method (405)
  };
  Match match(http::verb method, std::string_view path) const;

 private:
  std::vector<Route> routes_;
};

}  // namespace loyalty::api
