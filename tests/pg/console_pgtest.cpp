// The console is served by the service itself from files embedded at build time: every file
// with its content type, an ETag that answers 304, no-cache revalidation, and a strict
// Content-Security-Policy; /console redirects to /console/; an unknown file is a 404 problem;
// and the routes need no key (the page signs in with one for its API calls).
#include <fstream>
#include <sstream>

#include "api/console_assets.hpp"
#include "tests/support/service_fixture.hpp"

namespace loyalty::testing {
namespace {

class Console : public ServiceTest {
 protected:
  HttpResult fetch(const std::string& target, const std::map<std::string, std::string>& headers = {}) {
    HttpClient client{service().port()};
    return client.request("GET", target, "", headers);
  }
};

std::string file_text(const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

TEST_F(Console, ThePageIsServedAtTheSlashWithAStrictPolicyAndRevalidation) {
  const auto page = fetch("/console/");
  ASSERT_EQ(page.status, 200) << page.body;
  EXPECT_EQ(page.header("content-type"), "text/html; charset=utf-8");
  EXPECT_EQ(page.body, file_text(std::string(LOYALTY_SOURCE_DIR) + "/console/index.html"));
  const std::string policy = page.header("content-security-policy");
  EXPECT_NE(policy.find("default-src 'self'"), std::string::npos) << policy;
  EXPECT_NE(policy.find("script-src 'self'"), std::string::npos) << policy;
  EXPECT_EQ(policy.find("unsafe-inline"), std::string::npos) << policy;
  EXPECT_EQ(policy.find("unsafe-eval"), std::string::npos) << policy;
  EXPECT_NE(policy.find("frame-ancestors 'none'"), std::string::npos) << policy;
  EXPECT_EQ(page.header("cache-control"), "no-cache");
  EXPECT_EQ(page.header("x-content-type-options"), "nosniff");
  // The page holds no inline script: every script is a file of its own (the policy forbids others).
  EXPECT_EQ(page.body.find("<script>"), std::string::npos);
  const std::string etag = page.header("etag");
  ASSERT_EQ(etag.size(), 66u) << etag;  // a quoted SHA-256 in hex

  const auto again = fetch("/console/", {{"If-None-Match", etag}});
  EXPECT_EQ(again.status, 304);
  EXPECT_TRUE(again.body.empty());
  EXPECT_EQ(again.header("etag"), etag);
  const auto weak = fetch("/console/index.html", {{"If-None-Match", "\"other\", W/" + etag}});
  EXPECT_EQ(weak.status, 304);
  const auto stale = fetch("/console/", {{"If-None-Match", "\"0000\""}});
  EXPECT_EQ(stale.status, 200);
}

TEST_F(Console, EveryEmbeddedFileIsServedWithItsTypeAndTag) {
  const auto assets = console::assets();
  ASSERT_GE(assets.size(), 5u);
  for (const auto& asset : assets) {
    const auto reply = fetch("/console/" + std::string(asset.path));
    ASSERT_EQ(reply.status, 200) << asset.path;
    EXPECT_EQ(reply.header("content-type"), asset.content_type) << asset.path;
    EXPECT_EQ(reply.header("etag"), asset.etag) << asset.path;
    EXPECT_EQ(reply.body, file_text(std::string(LOYALTY_SOURCE_DIR) + "/console/" + std::string(asset.path)))
        << asset.path;
    EXPECT_FALSE(reply.header("content-security-policy").empty()) << asset.path;
  }
  EXPECT_EQ(fetch("/console/js/main.js").header("content-type"), "text/javascript; charset=utf-8");
  EXPECT_EQ(fetch("/console/console.css").header("content-type"), "text/css; charset=utf-8");
  EXPECT_EQ(fetch("/console/favicon.svg").header("content-type"), "image/svg+xml");
}

TEST_F(Console, TheBarePathRedirectsToTheSlash) {
  const auto bare = fetch("/console");
  EXPECT_EQ(bare.status, 308);
  EXPECT_EQ(bare.header("location"), "/console/");
  const auto with_query = fetch("/console?x=1");
  EXPECT_EQ(with_query.status, 308);
}

TEST_F(Console, AnUnknownFileIsANotFoundProblem) {
  for (const std::string target :
       {"/console/nothing.js", "/console/js/../../etc/passwd", "/console/js", "/console/js/pages/none.js"}) {
    const auto reply = fetch(target);
    EXPECT_EQ(reply.status, 404) << target;
    EXPECT_EQ(reply.header("content-type"), "application/problem+json") << target;
    EXPECT_EQ(reply.json().value("code", ""), "not_found") << target;
  }
  HttpClient client{service().port()};
  EXPECT_EQ(client.request("POST", "/console/index.html", "{}", {{"Content-Type", "application/json"}}).status, 405);
}

}  // namespace
}  // namespace loyalty::testing
