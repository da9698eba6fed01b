// Members, balances and the member's statement over HTTP, against the real database.
#include "tests/support/service_fixture.hpp"

namespace loyalty::testing {
namespace {

using Members = ServiceTest;

TEST_F(Members, ACreatedMemberHasEmptyBalancesInBothAssets) {
  const auto created =
      post("/v1/members", {{"external_id", unique("m-")}, {"display_name", "Li Lei"}, {"phone", "13800001234"}});
  ASSERT_EQ(created.status, 201) << created.body;
  const auto member = created.json();
  EXPECT_EQ(member["member_id"].get<std::string>().rfind("mem_", 0), 0u);
  EXPECT_EQ(member["balances"]["POINTS"]["available"], 0);
  EXPECT_EQ(member["balances"]["GROWTH"]["total"], 0);

  const auto fetched = get("/v1/members/" + member["member_id"].get<std::string>());
  ASSERT_EQ(fetched.status, 200);
  EXPECT_EQ(fetched.json()["display_name"], "Li Lei");
}

TEST_F(Members, ASecondMemberWithTheSameExternalIdIsAConflict) {
  const std::string external_id = unique("dup-");
  ASSERT_EQ(post("/v1/members", {{"external_id", external_id}}).status, 201);
  const auto again = post("/v1/members", {{"external_id", external_id}});
  EXPECT_EQ(again.status, 409);
  EXPECT_EQ(again.json()["code"], "conflict");
  EXPECT_EQ(again.header("content-type"), "application/problem+json");
}

TEST_F(Members, AnUnknownMemberIsNotFound) {
  const auto missing = get("/v1/members/mem_doesnotexist00000000/balances");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(missing.json()["code"], "member_not_found");
}

TEST_F(Members, InvalidMemberFieldsAreAllReportedAndNothingIsWritten) {
  const auto before = count_rows("members");
  const auto refused = post("/v1/members", {{"external_id", ""}, {"phone", "call me"}});
  ASSERT_EQ(refused.status, 422);
  EXPECT_EQ(refused.json()["code"], "validation_failed");
  EXPECT_EQ(refused.json()["errors"].size(), 2u);
  EXPECT_EQ(count_rows("members"), before);
}

TEST_F(Members, TheStatementPagesThroughPostingsNewestFirst) {
  const std::string member_id = create_member();
  for (int i = 1; i <= 5; ++i) {
    ASSERT_EQ(post("/v1/adjustments",
                   {{"member_id", member_id}, {"asset", "POINTS"}, {"amount", i * 10}, {"reason_code", "goodwill"}},
                   unique("a-"))
                  .status,
              201);
  }
  std::vector<std::int64_t> amounts;
  std::string cursor;
  int pages = 0;
  do {
    const auto page =
        get("/v1/members/" + member_id + "/entries?limit=2&asset=POINTS" + (cursor.empty() ? "" : "&cursor=" + cursor));
    ASSERT_EQ(page.status, 200) << page.body;
    const auto body = page.json();
    for (const auto& item : body["items"]) amounts.push_back(item["amount"].get<std::int64_t>());
    cursor = body.value("next_cursor", "");
    ++pages;
  } while (!cursor.empty() && pages < 10);
  EXPECT_EQ(pages, 3);
  EXPECT_EQ(amounts, (std::vector<std::int64_t>{50, 40, 30, 20, 10}));
  const auto last = get("/v1/members/" + member_id + "/entries?limit=1");
  EXPECT_EQ(last.json()["items"][0]["balance_after"], 150);
}

TEST_F(Members, APageSizeOutOfRangeOrAForeignCursorIsRefused) {
  const std::string member_id = create_member();
  EXPECT_EQ(get("/v1/members/" + member_id + "/entries?limit=501").status, 422);
  EXPECT_EQ(get("/v1/members/" + member_id + "/entries?limit=0").status, 422);
  EXPECT_EQ(get("/v1/members/" + member_id + "/entries?cursor=bm90LWEtY3Vyc29y").status, 422);
}

}  // namespace
}  // namespace loyalty::testing
