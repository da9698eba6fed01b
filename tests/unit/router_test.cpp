// The router matches literal segments and {parameters}; a last segment {name...} takes the
// rest of the path (the console's files), and only when at least one segment is left for it.
#include "api/router.hpp"

#include <gtest/gtest.h>

namespace loyalty::api {
namespace {

Handler nothing() {
  return [](RequestContext&) -> boost::asio::awaitable<Reply> { co_return Reply::text(200, "", "text/plain"); };
}

Router console_router() {
  Router router;
  router.add(http::verb::get, "/console", {}, nothing());
  router.add(http::verb::get, "/console/{path...}", {}, nothing());
  router.add(http::verb::get, "/v1/members/{member_id}", {Role::admin}, nothing());
  return router;
}

TEST(Router, ARestSegmentTakesEverySegmentLeftJoinedBySlashes) {
  const Router router = console_router();
  const auto deep = router.match(http::verb::get, "/console/js/pages/member.js");
  ASSERT_NE(deep.route, nullptr);
  EXPECT_EQ(deep.route->pattern, "/console/{path...}");
  EXPECT_EQ(deep.params.at("path"), "js/pages/member.js");
  const auto one = router.match(http::verb::get, "/console/index.html");
  ASSERT_NE(one.route, nullptr);
  EXPECT_EQ(one.params.at("path"), "index.html");
}

TEST(Router, ARestSegmentNeedsAtLeastOneSegment) {
  const Router router = console_router();
  for (const char* path : {"/console", "/console/"}) {
    const auto match = router.match(http::verb::get, path);
    ASSERT_NE(match.route, nullptr) << path;
    EXPECT_EQ(match.route->pattern, "/console") << path;
    EXPECT_TRUE(match.params.empty()) << path;
  }
}

TEST(Router, OrdinaryParametersStillTakeOneSegmentAndOtherMethodsAre405) {
  const Router router = console_router();
  const auto member = router.match(http::verb::get, "/v1/members/mem_1");
  ASSERT_NE(member.route, nullptr);
  EXPECT_EQ(member.params.at("member_id"), "mem_1");
  EXPECT_EQ(router.match(http::verb::get, "/v1/members/mem_1/extra").route, nullptr);
  const auto posted = router.match(http::verb::post, "/console/app.js");
  EXPECT_EQ(posted.route, nullptr);
  EXPECT_TRUE(posted.path_exists);
  EXPECT_EQ(router.match(http::verb::get, "/consoles/app.js").route, nullptr);
}

}  // namespace
}  // namespace loyalty::api
