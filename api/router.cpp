#include "api/router.hpp"

#include <algorithm>

namespace loyalty::api {
namespace {

std::vector<std::string> split_path(std::string_view path) {
  std::vector<std::string> segments;
  std::size_t at = 0;
  while (at < path.size()) {
    if (path[at] == '/') {
      ++at;
      continue;
    }
    const auto end = path.find('/', at);
    segments.emplace_back(path.substr(at, end == std::string_view::npos ? std::string_view::npos : end - at));
    if (end == std::string_view::npos) break;
    at = end;
  }
  return segments;
}

// A last segment "{name...}" takes the rest of the path (one or more segments, joined by "/"):
// the console's static files live at any depth under /console/.
bool is_rest_segment(const std::string& pattern) {
  return pattern.size() > 5 && pattern.front() == '{' && pattern.ends_with("...}");
}

bool matches(const Route& route, const std::vector<std::string>& segments, std::map<std::string, std::string>& params) {
  const bool takes_rest = !route.segments.empty() && is_rest_segment(route.segments.back());
  if (takes_rest ? segments.size() < route.segments.size() : route.segments.size() != segments.size()) return false;
  std::map<std::string, std::string> found;
  for (std::size_t i = 0; i < route.segments.size(); ++i) {
    const std::string& pattern = route.segments[i];
    if (takes_rest && i + 1 == route.segments.size()) {
      std::string rest = segments[i];
      for (std::size_t j = i + 1; j < segments.size(); ++j) rest += "/" + segments[j];
      found[pattern.substr(1, pattern.size() - 5)] = std::move(rest);
      break;
    }
    if (pattern.size() > 2 && pattern.front() == '{' && pattern.back() == '}') {
      if (segments[i].empty()) return false;
      found[pattern.substr(1, pattern.size() - 2)] = segments[i];
    } else if (pattern != segments[i]) {
      return false;
    }
  }
  params = std::move(found);
  return true;
}

}  // namespace

bool Route::allows(Role role) const {
  return std::find(roles.begin(), roles.end(), role) != roles.end();
}

void Router::add(http::verb method, std::string pattern, std::initializer_list<Role> roles, Handler handler) {
  Route route{method, pattern, split_path(pattern), roles, std::move(handler)};
  route.access = route.roles.empty() ? Access::open : Access::api_key;
  routes_.push_back(std::move(route));
}

void Router::add_partner(http::verb method, std::string pattern, Handler handler) {
  Route route{method, pattern, split_path(pattern), {}, std::move(handler)};
  route.access = Access::partner;
  routes_.push_back(std::move(route));
}

Router::Match Router::match(http::verb method, std::string_view path) const {
  const auto segments = split_path(path);
  Match match;
  for (const Route& route : routes_) {
    std::map<std::string, std::string> params;
    if (!matches(route, segments, params)) continue;
    if (route.method == method) {
      match.route = &route;
      match.params = std::move(params);
      return match;
    }
    match.path_exists = true;
  }
  return match;
}

}  // namespace loyalty::api
