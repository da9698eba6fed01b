// Log lines: typed values (numbers as JSON numbers, booleans as JSON booleans, text escaped),
// the request's id and key first on a request's lines, and a level below which nothing is
// written.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <limits>

#include "platform/log.hpp"

namespace loyalty {
namespace {

using nlohmann::json;

TEST(Log, NumbersAndBooleansAreJsonNumbersAndBooleansAndTextIsEscaped) {
  const std::string text = "a \"quoted\"\nline";
  const std::int64_t items = 1234567890123;
  const auto line = log::format_line(log::Level::info, nullptr, "scheduled job",
                                     {{"job", "expire-holds"},
                                      {"items", items},
                                      {"status", 201},
                                      {"duration_ms", 12.5},
                                      {"drained", true},
                                      {"text", text},
                                      {"nothing", std::numeric_limits<double>::infinity()}});
  const json parsed = json::parse(line);
  EXPECT_EQ(parsed["level"], "info");
  EXPECT_EQ(parsed["msg"], "scheduled job");
  EXPECT_EQ(parsed["job"], "expire-holds");
  EXPECT_TRUE(parsed["items"].is_number_integer());
  EXPECT_EQ(parsed["items"], items);
  EXPECT_EQ(parsed["status"], 201);
  EXPECT_TRUE(parsed["duration_ms"].is_number_float());
  EXPECT_EQ(parsed["duration_ms"], 12.5);
  EXPECT_EQ(parsed["drained"], true);
  EXPECT_EQ(parsed["text"], text);
  EXPECT_TRUE(parsed["nothing"].is_null());
}

TEST(Log, ARequestsLinesStartWithItsIdAndKey) {
  const log::RequestTags request{"req_1", "key_abc"};
  const auto line = log::format_line(log::Level::error, &request, "database error", {{"sqlstate", "23505"}});
  EXPECT_EQ(line,
            R"({"level":"error","msg":"database error","request_id":"req_1","key_id":"key_abc","sqlstate":"23505"})");
  const log::RequestTags anonymous{"req_2", ""};
  EXPECT_EQ(json::parse(log::format_line(log::Level::info, &anonymous, "request", {})).count("key_id"), 0u);
}

TEST(Log, LinesBelowTheLevelAreOff) {
  EXPECT_EQ(log::parse_level("warn"), log::Level::warn);
  EXPECT_EQ(log::parse_level("warning"), log::Level::warn);
  EXPECT_FALSE(log::parse_level("loud"));
  log::set_level(log::Level::warn);
  EXPECT_FALSE(log::enabled(log::Level::info));
  EXPECT_FALSE(log::enabled(log::Level::debug));
  EXPECT_TRUE(log::enabled(log::Level::warn));
  EXPECT_TRUE(log::enabled(log::Level::error));
  log::set_level(log::Level::info);
  EXPECT_TRUE(log::enabled(log::Level::info));
  EXPECT_FALSE(log::enabled(log::Level::debug));
}

}  // namespace
}  // namespace loyalty
