// The canonical form of a settlement statement (partners/statements.cpp: nlohmann's dump() of
// an object, whose keys are kept sorted) is RFC 8785, the JSON Canonicalization Scheme, for
// the documents we sign: ASCII keys, integers below 2^53, UTF-8 strings. This vector is the
// one in docs/api/partners.md; the expected bytes were produced by the stock JCS library
// `canonicalize` (npm, by the RFC's co-author) and agree with `jq -cSj`.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "platform/digest.hpp"

namespace loyalty {
namespace {

constexpr const char* statement_input = R"json({
  "statement_id": "stmt_fuelco_20261122", "status": "closed", "partner_id": "fuelco", "date": "2026-11-22",
  "lines": [
    {"kind": "exchange_in", "id": "in-1", "partner_member_ref": "Zo\u00eb \"R1\"\ttab", "points": 300, "units": 100, "cents": 600, "at": "2026-11-22T08:00:00Z"},
    {"kind": "claim", "id": "claim-1", "partner_member_ref": "\u20ac/\u0001", "right_code": "lounge", "at": "2026-11-22T09:30:00.5Z"}
  ],
  "totals": {"inbound": {"count": 1, "points": 300, "units": 100, "cents": 600}, "outbound": {"count": 0, "points": 0, "units": 0, "cents": 0}, "claims": {"count": 1}},
  "net_cents": 600, "owed_by": "partner"
})json";

// canonicalize(JSON.parse(statement_input)), byte for byte.
constexpr const char* statement_jcs =
    R"json({"date":"2026-11-22","lines":[{"at":"2026-11-22T08:00:00Z","cents":600,"id":"in-1","kind":"exchange_in","partner_member_ref":"Zoë \"R1\"\ttab","points":300,"units":100},{"at":"2026-11-22T09:30:00.5Z","id":"claim-1","kind":"claim","partner_member_ref":"€/\u0001","right_code":"lounge"}],"net_cents":600,"owed_by":"partner","partner_id":"fuelco","statement_id":"stmt_fuelco_20261122","status":"closed","totals":{"claims":{"count":1},"inbound":{"cents":600,"count":1,"points":300,"units":100},"outbound":{"cents":0,"count":0,"points":0,"units":0}}})json";

TEST(CanonicalJson, AStatementSerializesToItsRfc8785FormAndHash) {
  const auto statement = nlohmann::json::parse(statement_input);
  EXPECT_EQ(statement.dump(), statement_jcs);
  EXPECT_EQ(to_hex(sha256(statement.dump())), "015a231a0b932f120f07bd3d340e3ce0f64d827c1a1b2eb764a0451b3ea4bce8");
}

TEST(CanonicalJson, ParsingTheCanonicalFormAndWritingItAgainChangesNoByte) {
  EXPECT_EQ(nlohmann::json::parse(statement_jcs).dump(), statement_jcs);
}

}  // namespace
}  // namespace loyalty
