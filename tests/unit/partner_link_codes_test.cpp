// Link codes as partners receive them from their customers (docs/api/partners.md, "Member
// links"): what a person may type for a code, and what cannot be one. No I/O.
#include <gtest/gtest.h>

#include "partners/links.hpp"

namespace loyalty::partners {
namespace {

TEST(LinkCodes, CaseHyphensAndSpacesDoNotMatter) {
  EXPECT_EQ(canonical_link_code("7KQ2M-XW9D4"), "7KQ2MXW9D4");
  EXPECT_EQ(canonical_link_code("7kq2mxw9d4"), "7KQ2MXW9D4");
  EXPECT_EQ(canonical_link_code(" 7kq2m - xw9d4 "), "7KQ2MXW9D4");
}

TEST(LinkCodes, LettersThatLookLikeDigitsReadAsTheDigits) {
  // Crockford's base32 has no I, L or O: a person who types them means 1, 1 and 0.
  EXPECT_EQ(canonical_link_code("OIL00-11111"), "0110011111");
}

TEST(LinkCodes, WhatCannotBeACodeIsRefused) {
  EXPECT_FALSE(canonical_link_code(""));
  EXPECT_FALSE(canonical_link_code("7KQ2M-XW9D"));                         // too short
  EXPECT_FALSE(canonical_link_code("7KQ2M-XW9D44"));                       // too long
  EXPECT_FALSE(canonical_link_code("7KQ2M-XW9DU"));                        // U is not in the alphabet
  EXPECT_FALSE(canonical_link_code("7KQ2M_XW9D4"));                        // nor is _
  EXPECT_FALSE(canonical_link_code(std::string(40, ' ') + "7KQ2MXW9D4"));  // over 32 characters typed
}

}  // namespace
}  // namespace loyalty::partners
