// List cursors: what a page gives back decodes to the key it was made from, goes into a query
// as it is, and anything else a client sends is refused before its text can reach SQL.
#include <gtest/gtest.h>

#include <string>

#include "api/routes.hpp"
#include "platform/digest.hpp"

namespace loyalty::api {
namespace {

TEST(KeyCursor, AKeyRoundTripsNegativeNumbersAndTextWithColonsIncluded) {
  for (const KeyCursor& key : {KeyCursor{1764680000123456, "order:2026/11-a"}, KeyCursor{-62135596800000000, ""},
                               KeyCursor{0, "stmt_fuelco_20261122"}, KeyCursor{42, "Zo\u00eb \u20ac"}}) {
    const std::string cursor = encode_cursor(key);
    // URL-safe as it is: no '+' (a space in a query), '/' or padding.
    EXPECT_EQ(cursor.find_first_of("+/=%&?# "), std::string::npos) << cursor;
    const auto decoded = decode_key_cursor(cursor);
    ASSERT_TRUE(decoded.has_value()) << cursor;
    EXPECT_EQ(decoded->number, key.number);
    EXPECT_EQ(decoded->text, key.text);
  }
}

TEST(KeyCursor, WhatNoKeyedListGaveIsRefused) {
  const auto encoded = [](const std::string& bytes) {
    std::string text = base64_encode(bytes);
    while (!text.empty() && text.back() == '=') text.pop_back();
    return text;
  };
  EXPECT_FALSE(decode_key_cursor(encode_cursor(std::int64_t{7})));  // a position cursor of another list
  EXPECT_FALSE(decode_key_cursor(""));
  EXPECT_FALSE(decode_key_cursor("not a cursor"));
  EXPECT_FALSE(decode_key_cursor("+++"));
  EXPECT_FALSE(decode_key_cursor(encoded("k:12")));                          // no separator before the text
  EXPECT_FALSE(decode_key_cursor(encoded("k:1x:id")));                       // not a number
  EXPECT_FALSE(decode_key_cursor(encoded("k:99999999999999999999:id")));     // beyond int64
  EXPECT_FALSE(decode_key_cursor(encoded(std::string("k:1:a\0b", 7))));      // NUL would cut SQL text short
  EXPECT_FALSE(decode_key_cursor(encoded("k:1:\xff\xfe")));                  // not UTF-8: PostgreSQL would refuse it
  EXPECT_FALSE(decode_key_cursor(encoded("k:1:" + std::string(257, 'a'))));  // longer than any id
  EXPECT_TRUE(decode_key_cursor(encoded("k:1:" + std::string(256, 'a'))));
}

}  // namespace
}  // namespace loyalty::api
