// The catalogue of the OpenAPI document: one row per route (api/openapi_catalog.hpp says what
// a row holds and what comes from elsewhere). Keep a row beside its route's change: the
// service refuses to start when a route has no row, and tests/pg/openapi_pgtest.cpp checks the
// examples against the schemas.
#include "api/openapi_catalog.hpp"

namespace loyalty::api {
namespace {

using http::verb;
using enum IdempotencyKey;

// ---- Bodies that are not messages ------------------------------------------------------------

constexpr std::string_view program_document_schema =
    R"({"type": "object", "description": "The program document (the JSON form of examples/program.yaml), validated as a whole: every problem is listed in one 422 validation_failed whose errors[].field is the path (rules[2].award.asset). Nested at most 32 levels; strings UTF-8 without NUL, at most 1000 bytes; lists and objects at most 1000 items; integers within int64."})";

// GET /partner/v1/statements: the exact bytes that were hashed (and, once closed, stored and
// signed): RFC 8785 canonical JSON, written by partners/statements.cpp, not a message.
constexpr std::string_view statement_schema = R"({
  "type": "object",
  "description": "A settlement statement: one partner, one UTC day, as RFC 8785 canonical JSON (sorted keys, no whitespace). sha256 is the SHA-256 (hex) of the statement without its sha256 member, serialized the same way. A closed statement is served byte for byte as stored, so its X-Signature is the statement's signature.",
  "required": ["statement_id", "status", "partner_id", "date", "lines", "totals", "net_cents", "owed_by", "sha256"],
  "properties": {
    "statement_id": {"type": "string"},
    "status": {"type": "string", "enum": ["open", "closed"], "description": "open: the day is not closed yet and the statement is provisional"},
    "partner_id": {"type": "string"},
    "date": {"type": "string", "format": "date"},
    "lines": {"type": "array", "items": {
      "type": "object",
      "required": ["kind", "id", "partner_member_ref", "at"],
      "properties": {
        "kind": {"type": "string", "enum": ["exchange_in", "exchange_out", "claim"]},
        "id": {"type": "string", "description": "the exchange_id or claim_id"},
        "partner_member_ref": {"type": "string"},
        "points": {"type": "integer", "format": "int64"},
        "units": {"type": "integer", "format": "int64"},
        "cents": {"type": "integer", "format": "int64", "description": "points times the partner's cents_per_point at the time of the exchange"},
        "right_code": {"type": "string"},
        "at": {"type": "string", "format": "date-time"}}}},
    "totals": {"type": "object", "required": ["inbound", "outbound", "claims"], "properties": {
      "inbound": {"type": "object", "required": ["count", "points", "units", "cents"], "properties": {"count": {"type": "integer", "format": "int64"}, "points": {"type": "integer", "format": "int64"}, "units": {"type": "integer", "format": "int64"}, "cents": {"type": "integer", "format": "int64"}}},
      "outbound": {"type": "object", "required": ["count", "points", "units", "cents"], "properties": {"count": {"type": "integer", "format": "int64"}, "points": {"type": "integer", "format": "int64"}, "units": {"type": "integer", "format": "int64"}, "cents": {"type": "integer", "format": "int64"}}},
      "claims": {"type": "object", "required": ["count"], "properties": {"count": {"type": "integer", "format": "int64"}}}}},
    "net_cents": {"type": "integer", "format": "int64", "description": "|inbound.cents - outbound.cents|"},
    "owed_by": {"type": "string", "enum": ["partner", "program", "none"]},
    "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"}}})";

constexpr std::string_view pem_schema =
    R"({"type": "string", "contentMediaType": "application/x-pem-file", "description": "An Ed25519 public key, PEM (SubjectPublicKeyInfo), for stock OpenSSL: openssl pkeyutl -verify -pubin -inkey pub.pem -rawin -in body -sigfile sig."})";

// The console's files (docs/console.md): text or SVG, embedded in the binary at build time.
constexpr std::string_view console_file_schema =
    R"({"type": "string", "description": "A file of the console as it was built into the binary; its SHA-256 is its strong ETag."})";

constexpr std::string_view metrics_schema =
    R"({"type": "string", "description": "Prometheus text exposition format 0.0.4 (docs/API.md, Operations, lists the series)."})";

constexpr std::string_view export_file_schema =
    R"({"type": "string", "contentMediaType": "application/octet-stream", "description": "The file's bytes, streamed; its sha256 (as manifest.json lists it) is its strong ETag."})";

constexpr std::string_view openapi_schema = R"({"type": "object", "description": "This OpenAPI 3.1 document."})";

// ---- Examples ----------------------------------------------------------------------------------

constexpr std::string_view member_example = R"({
  "member_id": "mem_01JD2Q7T9XK4", "external_id": "owner-1042", "display_name": "Li Wei",
  "created_at": "2026-11-22T08:00:00Z",
  "balances": {
    "GROWTH": {"available": 0, "pending": 0, "held": 0, "total": 0, "expiring": []},
    "POINTS": {"available": 0, "pending": 0, "held": 0, "total": 0, "expiring": []}},
  "tiers": {"engagement": {"level": "member"}, "spend": {"level": "silver"}}})";

constexpr std::string_view balances_example = R"({
  "member_id": "mem_01JD2Q7T9XK4",
  "balances": {
    "GROWTH": {"available": 120, "pending": 0, "held": 0, "total": 120, "expiring": []},
    "POINTS": {"available": 4200, "pending": 300, "held": 500, "total": 5000,
               "expiring": [{"expires_at": "2028-12-01T00:00:00Z", "amount": 4700}]}}})";

constexpr std::string_view entries_example = R"({
  "items": [
    {"entry_id": 981, "posting_id": 1962, "kind": "hold", "asset": "POINTS", "part": "held", "amount": 500,
     "balance_after": 500, "created_at": "2026-11-22T09:10:00Z", "reference": "cart-77"},
    {"entry_id": 977, "posting_id": 1954, "kind": "earn", "asset": "POINTS", "part": "available", "amount": 4700,
     "balance_after": 4700, "created_at": "2026-11-22T08:01:00Z"}],
  "next_cursor": "c_MTk1NA"})";

constexpr std::string_view adjustment_request_example =
    R"({"member_id": "mem_01JD2Q7T9XK4", "asset": "POINTS", "amount": 500, "reason_code": "goodwill", "note": "late delivery"})";
constexpr std::string_view adjustment_example = R"({
  "entry_id": 975, "member_id": "mem_01JD2Q7T9XK4", "asset": "POINTS", "amount": 500, "reason_code": "goodwill",
  "note": "late delivery", "available_after": 500, "created_at": "2026-11-22T08:00:05Z"})";

constexpr std::string_view hold_request_example =
    R"({"member_id": "mem_01JD2Q7T9XK4", "amount": "500", "ttl_seconds": 900, "reference": "cart-77"})";
constexpr std::string_view hold_example = R"({
  "hold_id": "hold_01JD2R0B3M8Z", "member_id": "mem_01JD2Q7T9XK4", "status": "open", "amount": 500,
  "captured_amount": 0, "reference": "cart-77", "expires_at": "2026-11-22T09:25:00Z",
  "created_at": "2026-11-22T09:10:00Z"})";
constexpr std::string_view captured_hold_example = R"({
  "hold_id": "hold_01JD2R0B3M8Z", "member_id": "mem_01JD2Q7T9XK4", "status": "captured", "amount": 500,
  "captured_amount": 300, "reference": "cart-77", "expires_at": "2026-11-22T09:25:00Z",
  "created_at": "2026-11-22T09:10:00Z", "closed_at": "2026-11-22T09:12:00Z"})";

constexpr std::string_view event_request_example = R"({
  "event_id": "dms-88123", "member_id": "mem_01JD2Q7T9XK4", "type": "purchase",
  "occurred_at": "2026-11-22T08:00:00Z", "attributes": {"amount_cents": 4700000, "dealer": "SH-021"}})";
constexpr std::string_view event_example = R"({
  "event_id": "dms-88123", "member_id": "mem_01JD2Q7T9XK4",
  "awards": [
    {"rule_id": "purchase-points", "asset": "POINTS", "amount": 4700, "entry_id": 977},
    {"rule_id": "purchase-growth", "asset": "GROWTH", "amount": 120, "entry_id": 977}],
  "tier_changes": [{"track": "spend", "from_level": "member", "to_level": "silver"}]})";

constexpr std::string_view reversal_example = R"({
  "event_id": "dms-88123", "entry_id": 1204, "clawed_back": [{"asset": "POINTS", "amount": 4700}],
  "written_off": [], "reversed_at": "2026-11-23T10:00:00Z"})";

constexpr std::string_view order_request_example = R"({
  "order_id": "mall-5521", "member_id": "mem_01JD2Q7T9XK4", "currency": "CNY",
  "lines": [{"sku": "MUG-01", "title": "Logo mug", "quantity": 2, "unit_price_cents": 4900}],
  "points_to_use": 3000, "cash_cents": 6800})";
constexpr std::string_view order_example = R"({
  "order_id": "mall-5521", "member_id": "mem_01JD2Q7T9XK4", "status": "pending_payment", "currency": "CNY",
  "lines": [{"sku": "MUG-01", "title": "Logo mug", "quantity": 2, "unit_price_cents": 4900, "line_total_cents": 9800,
             "refunded_quantity": 0}],
  "total_cents": 9800, "points_to_use": 3000, "point_value_cents": 1, "cash_cents": 6800,
  "hold_id": "hold_01JD2S4K1C2P", "expires_at": "2026-11-22T09:40:00Z", "created_at": "2026-11-22T09:25:00Z",
  "refunded_points": 0, "refunded_cash_cents": 0, "refunded_value_cents": 0, "refunds": [],
  "entries": [{"entry_id": 990, "role": "hold", "kind": "hold", "effective_at": "2026-11-22T09:25:00Z",
               "postings": [{"account": "member:mem_01JD2Q7T9XK4:available", "asset": "POINTS", "amount": -3000},
                            {"account": "member:mem_01JD2Q7T9XK4:held", "asset": "POINTS", "amount": 3000}]}]})";

constexpr std::string_view outbound_request_example =
    R"({"exchange_id": "xo-3001", "member_id": "mem_01JD2Q7T9XK4", "partner_id": "skyair", "points": 1000})";
constexpr std::string_view outbound_example = R"({
  "exchange_id": "xo-3001", "member_id": "mem_01JD2Q7T9XK4", "partner_id": "skyair", "partner_member_ref": "SA-771",
  "points": 1000, "partner_units": 500, "entry_id": 1010, "settlement_date": "2026-11-22",
  "created_at": "2026-11-22T10:00:00Z"})";

constexpr std::string_view inbound_request_example =
    R"({"exchange_id": "in-1", "partner_member_ref": "SA-771", "partner_units": 100})";
constexpr std::string_view inbound_example = R"({
  "exchange_id": "in-1", "partner_member_ref": "SA-771", "partner_units": 100, "points": 300,
  "settlement_date": "2026-11-22", "created_at": "2026-11-22T08:00:00Z"})";

constexpr std::string_view statement_example = R"({
  "date": "2026-11-22",
  "lines": [
    {"at": "2026-11-22T08:00:00Z", "cents": 600, "id": "in-1", "kind": "exchange_in", "partner_member_ref": "SA-771", "points": 300, "units": 100},
    {"at": "2026-11-22T09:30:00Z", "id": "claim-1", "kind": "claim", "partner_member_ref": "SA-771", "right_code": "lounge"}],
  "net_cents": 600, "owed_by": "partner", "partner_id": "skyair",
  "sha256": "015a231a0b932f120f07bd3d340e3ce0f64d827c1a1b2eb764a0451b3ea4bce8",
  "statement_id": "stmt_skyair_20261122", "status": "closed",
  "totals": {"claims": {"count": 1}, "inbound": {"cents": 600, "count": 1, "points": 300, "units": 100},
             "outbound": {"cents": 0, "count": 0, "points": 0, "units": 0}}})";

constexpr std::string_view key_request_example = R"({"role": "mall", "name": "mall checkout"})";
constexpr std::string_view created_key_example = R"({
  "key_id": "key_01JD2T0Q", "role": "mall", "name": "mall checkout",
  "secret": "key_01JD2T0Q.9xJcX1b7mQ2cY8vR3kT6pW0sZ4nL5aH7dF2gE1uB9oI",
  "created_at": "2026-11-22T08:00:00Z"})";

constexpr std::string_view feed_example = R"({
  "items": [{"id": "evt_0000000000000412", "type": "points.expired", "timestamp": "2026-12-01T00:00:05Z",
             "data": {"member_id": "mem_01JD2Q7T9XK4", "asset": "POINTS", "amount": 200, "entry_id": 1500}}],
  "next_cursor": "c_NDEy"})";

constexpr std::string_view job_request_example = R"({"as_of": "2026-12-01T00:00:00Z"})";
constexpr std::string_view job_example = R"({
  "job": "expire-points", "as_of": "2026-12-01T00:00:00Z", "status": "done", "items": 1832,
  "started_at": "2026-12-01T00:00:01Z", "finished_at": "2026-12-01T00:00:03Z", "outcome": "done", "rows": 1832})";

// ---- The rows --------------------------------------------------------------------------------

std::vector<OperationDoc> make_catalog() {
  return {
      // Operations
      {.method = verb::get, .path = "/healthz", .summary = "The process runs", .status = 200, .response = "Health"},
      {.method = verb::get,
       .path = "/readyz",
       .summary = "The database answers and its schema is this binary's",
       .status = 200,
       .response = "Health",
       .problems = "503 database_unavailable, 503 overloaded, 503 busy",
       .other_responses = {{503, "Not ready: migrations pending, or stopping ({status: \"stopping\"})"}}},
      {.method = verb::get,
       .path = "/metrics",
       .summary = "Prometheus metrics",
       .raw_responses = {{"text/plain", metrics_schema}}},
      {.method = verb::get,
       .path = "/openapi.json",
       .summary = "This document",
       .raw_responses = {{"application/json", openapi_schema}}},
      // The console (docs/console.md): open, since its files hold no data; the page signs in
      // with an API key for its calls. 308 (/console to /console/) is not a problem, so it is
      // said in the description rather than listed as an answer.
      {.method = verb::get,
       .path = "/console",
       .summary = "The console's page",
       .description = "The operator and finance console. /console answers 308 with Location: /console/; /console/ "
                      "is the page, with ETag (its SHA-256), Cache-Control: no-cache and a strict "
                      "Content-Security-Policy. If-None-Match with that ETag answers 304.",
       .raw_responses = {{"text/html", console_file_schema}},
       .other_responses = {{304, "Not modified: If-None-Match names the page's ETag", false}}},
      {.method = verb::get,
       .path = "/console/{path...}",
       .summary = "A file of the console",
       .description = "path... is the rest of the path (js/main.js). Content-Type from the file's extension, ETag "
                      "(its SHA-256), Cache-Control: no-cache, a strict Content-Security-Policy; If-None-Match with "
                      "that ETag answers 304.",
       .raw_responses = {{"text/javascript", console_file_schema},
                         {"text/css", console_file_schema},
                         {"text/html", console_file_schema},
                         {"image/svg+xml", console_file_schema}},
       .problems = "404 not_found",
       .other_responses = {{304, "Not modified: If-None-Match names the file's ETag", false}}},
      {.method = verb::post,
       .path = "/v1/jobs/{name}",
       .summary = "Run a job for an as_of",
       .description = "Jobs: expire-holds, release-pending, expire-points, decay-growth, evaluate-tiers, "
                      "close-statements, purge-idempotency-keys, notify-expiring. Idempotent for one as_of "
                      "(status already_done); busy while another process runs it.",
       .request = "RunJobRequest",
       .status = 200,
       .response = "JobRun",
       .problems = "404 not_found, 422 validation_failed, 422 as_of_in_future, 503 stopping",
       .idempotency = accepted,
       .request_example = job_request_example,
       .response_example = job_example},

      // Members
      {.method = verb::post,
       .path = "/v1/members",
       .summary = "Create a member",
       .request = "CreateMemberRequest",
       .status = 201,
       .response = "Member",
       .problems = "409 conflict, 422 validation_failed",
       .idempotency = accepted,
       .location = true,
       .request_example = R"({"external_id": "owner-1042", "display_name": "Li Wei"})",
       .response_example = member_example},
      {.method = verb::get,
       .path = "/v1/members/{member_id}",
       .summary = "A member with balances and tier levels",
       .status = 200,
       .response = "Member",
       .problems = "404 member_not_found",
       .response_example = member_example},
      {.method = verb::get,
       .path = "/v1/members/{member_id}/balances",
       .summary = "A member's balances by asset",
       .description = "total = available + pending + held; available may be negative after an allowed clawback.",
       .status = 200,
       .response = "Balances",
       .problems = "404 member_not_found",
       .response_example = balances_example},
      {.method = verb::get,
       .path = "/v1/members/{member_id}/entries",
       .summary = "A member's postings, newest first",
       .status = 200,
       .response = "MemberEntryPage",
       .query = {{"asset", "Only this asset's postings (POINTS, GROWTH)."}},
       .paged = true,
       .problems = "404 member_not_found, 422 validation_failed",
       .response_example = entries_example},
      {.method = verb::delete_,
       .path = "/v1/members/{member_id}/personal-data",
       .summary = "Erase a member's personal data",
       .request = "ErasePersonalDataRequest",
       .status = 200,
       .response = "PersonalDataErasure",
       .problems = "404 member_not_found",
       .idempotency = accepted},

      // Adjustments and holds
      {.method = verb::post,
       .path = "/v1/adjustments",
       .summary = "Credit or debit a member by hand",
       .request = "CreateAdjustmentRequest",
       .status = 201,
       .response = "Adjustment",
       .problems = "404 member_not_found, 422 validation_failed, 422 insufficient_points, 422 insufficient_balance, "
                   "422 amount_overflow",
       .idempotency = required,
       .request_example = adjustment_request_example,
       .response_example = adjustment_example},
      {.method = verb::post,
       .path = "/v1/holds",
       .summary = "Hold points for a redemption",
       .request = "CreateHoldRequest",
       .status = 201,
       .response = "Hold",
       .problems = "404 member_not_found, 422 validation_failed, 422 insufficient_points",
       .idempotency = required,
       .location = true,
       .request_example = hold_request_example,
       .response_example = hold_example},
      {.method = verb::get,
       .path = "/v1/holds/{hold_id}",
       .summary = "A hold",
       .status = 200,
       .response = "Hold",
       .problems = "404 not_found",
       .response_example = hold_example},
      {.method = verb::post,
       .path = "/v1/holds/{hold_id}/capture",
       .summary = "Redeem all or part of a hold",
       .request = "CaptureHoldRequest",
       .status = 200,
       .response = "Hold",
       .problems =
           "404 not_found, 409 hold_not_open, 409 hold_expired, 409 hold_belongs_to_order, 422 validation_failed",
       .idempotency = accepted,
       .request_example = R"({"amount": 300})",
       .response_example = captured_hold_example},
      {.method = verb::post,
       .path = "/v1/holds/{hold_id}/void",
       .summary = "Release a hold",
       .request = "VoidHoldRequest",
       .status = 200,
       .response = "Hold",
       .problems = "404 not_found, 409 hold_not_open, 409 hold_expired, 409 hold_belongs_to_order",
       .idempotency = accepted},

      // Earning
      {.method = verb::post,
       .path = "/v1/events",
       .summary = "Record an earning event",
       .description = "Idempotent on event_id with or without Idempotency-Key: a replay answers the first outcome.",
       .request = "RecordEventRequest",
       .status = 201,
       .response = "EventResult",
       .problems = "404 member_not_found, 409 conflict, 409 program_not_applied, 422 validation_failed, "
                   "422 occurred_at_out_of_range, 422 amount_overflow",
       .idempotency = accepted,
       .location = true,
       .request_example = event_request_example,
       .response_example = event_example},
      {.method = verb::get,
       .path = "/v1/events/{event_id}",
       .summary = "An event's awards and tier changes",
       .status = 200,
       .response = "EventResult",
       .problems = "404 not_found",
       .response_example = event_example},
      {.method = verb::post,
       .path = "/v1/events/{event_id}/reverse",
       .summary = "Reverse an event: claw its awards back",
       .request = "ReverseEventRequest",
       .status = 200,
       .response = "EventReversal",
       .problems = "404 not_found, 409 partially_reversed, 409 program_not_applied, 422 validation_failed",
       .idempotency = accepted,
       .request_example = R"({"reason": "order returned"})",
       .response_example = reversal_example},

      // Tiers
      {.method = verb::get,
       .path = "/v1/members/{member_id}/tiers",
       .summary = "A member's tier tracks",
       .status = 200,
       .response = "MemberTiers",
       .problems = "404 member_not_found, 409 program_not_applied"},
      {.method = verb::post,
       .path = "/v1/members/{member_id}/tiers/{track}",
       .summary = "Override a member's level",
       .request = "OverrideTierRequest",
       .status = 200,
       .response = "MemberTiers",
       .problems = "404 member_not_found, 404 not_found, 409 program_not_applied, 422 validation_failed",
       .idempotency = accepted},

      // Program
      {.method = verb::get,
       .path = "/v1/program",
       .summary = "The program in force",
       .status = 200,
       .response = "ProgramVersion",
       .problems = "404 not_found"},
      {.method = verb::put,
       .path = "/v1/program",
       .summary = "Apply a program document",
       .description = "201 with a new version, 200 when the same document is in force already.",
       .raw_request = {"application/json", program_document_schema},
       .status = 201,
       .response = "ProgramVersion",
       .problems = "400 malformed_request, 422 validation_failed",
       .idempotency = accepted,
       .other_responses = {{200, "The same document is in force already (changed: false)"}}},

      // Audit, reports, exports
      {.method = verb::get,
       .path = "/v1/audit/events",
       .summary = "The audit trail, oldest first",
       .status = 200,
       .response = "AuditEventPage",
       .query = {{"from", "RFC 3339: events at or after."},
                 {"to", "RFC 3339: events before."},
                 {"actor", "An actor's id or name."},
                 {"action", "An action (\"POST /v1/adjustments\", \"program.apply\")."}},
       .paged = true,
       .problems = "422 validation_failed"},
      {.method = verb::get,
       .path = "/v1/audit/verify",
       .summary = "Verify the audit seal chain",
       .status = 200,
       .response = "AuditVerification"},
      {.method = verb::get,
       .path = "/v1/reports/trial-balance",
       .summary = "Every account's balance",
       .status = 200,
       .response = "TrialBalance",
       .query = {{"as_of", "RFC 3339; default now."}},
       .problems = "422 validation_failed, 422 amount_overflow"},
      {.method = verb::get,
       .path = "/v1/reports/liability",
       .summary = "Outstanding points, their value and cost",
       .status = 200,
       .response = "LiabilityReport",
       .query = {{"as_of", "RFC 3339; default now."},
                 {"from", "RFC 3339, with to: the roll-forward period."},
                 {"to", "RFC 3339, with from."}},
       .problems = "422 validation_failed, 422 amount_overflow"},
      {.method = verb::post,
       .path = "/v1/exports",
       .summary = "Start a signed finance export",
       .request = "CreateExportRequest",
       .status = 202,
       .response = "Export",
       .problems = "422 validation_failed, 503 signing_key_unavailable",
       .idempotency = accepted,
       .location = true,
       .request_example =
           R"({"from": "2026-11-01T00:00:00Z", "to": "2026-12-01T00:00:00Z", "formats": ["csv", "ledger"]})"},
      {.method = verb::get,
       .path = "/v1/exports/{export_id}",
       .summary = "An export and its files",
       .status = 200,
       .response = "Export",
       .problems = "404 not_found"},
      {.method = verb::get,
       .path = "/v1/exports/{export_id}/files/{name}",
       .summary = "Download an export file",
       .description = "Not JSON: the file itself (text/csv, application/x-ndjson or application/json by its name), "
                      "streamed, with Content-Disposition: attachment and ETag (the file's sha256). If-None-Match "
                      "with that ETag answers 304.",
       .raw_responses = {{"text/csv", export_file_schema},
                         {"application/x-ndjson", export_file_schema},
                         {"application/json", export_file_schema}},
       .problems = "404 not_found",
       .other_responses = {{304, "Not modified: If-None-Match names the file's ETag", false}}},

      // API keys
      {.method = verb::get,
       .path = "/v1/keys",
       .summary = "API keys, newest first (never a secret)",
       .status = 200,
       .response = "ApiKeyPage",
       .paged = true,
       .problems = "422 validation_failed"},
      {.method = verb::post,
       .path = "/v1/keys",
       .summary = "Create an API key (its secret is shown once)",
       .description = "Not replayed under an Idempotency-Key: a retried creation makes a second key.",
       .request = "CreateApiKeyRequest",
       .status = 201,
       .response = "CreatedApiKey",
       .problems = "422 validation_failed",
       .request_example = key_request_example,
       .response_example = created_key_example},
      {.method = verb::post,
       .path = "/v1/keys/{key_id}/revoke",
       .summary = "Revoke an API key",
       .request = "RevokeApiKeyRequest",
       .status = 200,
       .response = "ApiKey",
       .problems = "404 not_found, 422 validation_failed"},

      // Mall orders
      {.method = verb::post,
       .path = "/v1/orders",
       .summary = "Check out an order with points and cash",
       .description = "Idempotent on order_id: a replay answers the order with Idempotent-Replayed: true.",
       .request = "CreateOrderRequest",
       .status = 201,
       .response = "Order",
       .problems = "404 member_not_found, 409 conflict, 409 program_not_applied, 422 validation_failed, "
                   "422 insufficient_points",
       .idempotency = accepted,
       .location = true,
       .request_example = order_request_example,
       .response_example = order_example},
      {.method = verb::get,
       .path = "/v1/orders/{order_id}",
       .summary = "An order with its refunds and entries",
       .status = 200,
       .response = "Order",
       .problems = "404 not_found",
       .response_example = order_example},
      {.method = verb::post,
       .path = "/v1/orders/{order_id}/pay",
       .summary = "Record an order's payment",
       .request = "PayOrderRequest",
       .status = 200,
       .response = "Order",
       .problems = "404 not_found, 409 conflict, 409 hold_expired, 409 hold_not_open, 409 order_cancelled, "
                   "409 order_already_paid, 409 program_not_applied, 422 validation_failed",
       .idempotency = accepted,
       .request_example = R"({"payment_ref": "pay_7781"})"},
      {.method = verb::post,
       .path = "/v1/orders/{order_id}/cancel",
       .summary = "Cancel an unpaid order",
       .request = "CancelOrderRequest",
       .status = 200,
       .response = "Order",
       .problems = "404 not_found, 409 order_expired, 409 order_already_paid, 409 hold_not_open",
       .idempotency = accepted},
      {.method = verb::post,
       .path = "/v1/orders/{order_id}/refunds",
       .summary = "Refund lines of a paid order",
       .description = "Idempotent on refund_id.",
       .request = "CreateRefundRequest",
       .status = 201,
       .response = "OrderRefund",
       .problems = "404 not_found, 409 conflict, 409 order_not_paid, 409 partially_reversed, "
                   "409 program_not_applied, 422 validation_failed, 422 refund_exceeds_order",
       .idempotency = accepted,
       .request_example = R"({"refund_id": "rf-1", "lines": [{"sku": "MUG-01", "quantity": 1}]})"},

      // Partners (admin side)
      {.method = verb::post,
       .path = "/v1/partners",
       .summary = "Register a partner brand",
       .request = "CreatePartnerRequest",
       .status = 201,
       .response = "PartnerResource",
       .problems = "409 conflict, 422 validation_failed",
       .idempotency = accepted,
       .location = true,
       .other_responses = {{200, "The same partner is registered already"}}},
      {.method = verb::get,
       .path = "/v1/partners/{partner_id}",
       .summary = "A partner",
       .status = 200,
       .response = "PartnerResource",
       .problems = "404 not_found"},
      {.method = verb::post,
       .path = "/v1/partners/{partner_id}/keys",
       .summary = "Add a partner signing key",
       .description = "An hmac-sha256 key's secret is in this answer only; not replayed under an Idempotency-Key.",
       .request = "CreatePartnerKeyRequest",
       .status = 201,
       .response = "PartnerKey",
       .problems = "404 not_found, 422 validation_failed",
       .request_example = R"({"algorithm": "hmac-sha256"})"},
      {.method = verb::get,
       .path = "/v1/partners/{partner_id}/keys",
       .summary = "A partner's keys, newest first",
       .description = "Revoked keys included; secrets are never listed.",
       .status = 200,
       .response = "PartnerKeyList",
       .paged = true,
       .problems = "404 not_found, 422 validation_failed",
       .response_example =
           R"({"items": [{"key_id": "pk_01JD2Q7T9XK4", "partner_id": "skyair", "algorithm": "hmac-sha256",
         "created_at": "2026-11-22T08:00:00Z", "revoked_at": "2026-11-29T08:00:00Z"}]})"},
      {.method = verb::post,
       .path = "/v1/partners/{partner_id}/keys/{key_id}/revoke",
       .summary = "Revoke a partner key",
       .request = "RevokePartnerKeyRequest",
       .status = 200,
       .response = "PartnerKey",
       .problems = "404 not_found",
       .idempotency = accepted},
      {.method = verb::post,
       .path = "/v1/partners/{partner_id}/rights",
       .summary = "Define a partner right",
       .request = "PartnerRightDefinition",
       .status = 201,
       .response = "PartnerRightDefinition",
       .problems = "404 not_found, 409 conflict, 422 validation_failed",
       .idempotency = accepted,
       .other_responses = {{200, "The same right is defined already"}}},
      {.method = verb::post,
       .path = "/v1/members/{member_id}/partner-links",
       .summary = "Link a member to a partner",
       .description = "The link is pending until the partner confirms it with the one-time link_code of this answer "
                      "(POST /partner/v1/links/confirm).",
       .request = "CreatePartnerLinkRequest",
       .status = 201,
       .response = "PartnerLink",
       .problems = "404 member_not_found, 404 not_found, 409 conflict, 422 validation_failed",
       .idempotency = accepted,
       .other_responses = {{200, "The link exists already (a new code for a pending link)"}},
       .request_example = R"({"partner_id": "skyair", "partner_member_ref": "SA-771"})",
       .response_example = R"({"member_id": "mem_01JD2Q7T9XK4", "partner_id": "skyair", "partner_member_ref": "SA-771",
         "linked_at": "2026-11-22T08:00:00Z", "created_at": "2026-11-22T08:00:00Z", "status": "pending",
         "link_code": "ABCDE-FGHJK", "link_code_expires_at": "2026-11-23T08:00:00Z"})"},
      {.method = verb::post,
       .path = "/v1/exchanges",
       .summary = "Exchange a member's points out to a partner",
       .description = "Idempotent on exchange_id.",
       .request = "CreateOutboundExchangeRequest",
       .status = 201,
       .response = "OutboundExchange",
       .problems = "404 member_not_found, 404 not_found, 409 conflict, 422 validation_failed, 422 not_linked, "
                   "422 link_not_confirmed, 422 insufficient_points, 422 limit_exceeded, 422 amount_overflow",
       .idempotency = accepted,
       .request_example = outbound_request_example,
       .response_example = outbound_example},

      // Partner API (signed)
      {.method = verb::post,
       .path = "/partner/v1/links/confirm",
       .summary = "Confirm a member link with its code",
       .request = "ConfirmPartnerLinkRequest",
       .status = 200,
       .response = "ConfirmedPartnerLink",
       .problems = "404 member_not_found, 409 link_code_expired, 409 link_code_locked, 409 link_already_confirmed, "
                   "422 invalid_link_code, 422 validation_failed",
       .idempotency = accepted,
       .request_example = R"({"partner_member_ref": "SA-771", "link_code": "abcde fghjk"})",
       .response_example =
           R"({"partner_member_ref": "SA-771", "status": "confirmed", "linked_at": "2026-11-22T08:00:00Z",
         "confirmed_at": "2026-11-22T08:05:00Z"})"},
      {.method = verb::post,
       .path = "/partner/v1/exchanges",
       .summary = "Exchange partner units in for points",
       .description = "Idempotent on exchange_id per partner.",
       .request = "CreateInboundExchangeRequest",
       .status = 201,
       .response = "InboundExchange",
       .problems = "404 member_not_found, 409 conflict, 422 validation_failed, 422 link_not_confirmed, "
                   "422 limit_exceeded, 422 amount_overflow",
       .idempotency = accepted,
       .request_example = inbound_request_example,
       .response_example = inbound_example},
      {.method = verb::get,
       .path = "/partner/v1/members/{partner_member_ref}/rights",
       .summary = "A linked member's rights and what is left of them",
       .status = 200,
       .response = "MemberRights",
       .problems = "404 member_not_found, 404 not_found, 422 link_not_confirmed"},
      {.method = verb::post,
       .path = "/partner/v1/rights/{code}/claims",
       .summary = "Claim a right for a member",
       .description = "Idempotent on claim_id per partner.",
       .request = "CreateRightClaimRequest",
       .status = 201,
       .response = "RightClaim",
       .problems = "404 member_not_found, 404 not_found, 409 conflict, 422 validation_failed, 422 not_eligible, "
                   "422 limit_exceeded, 422 link_not_confirmed",
       .idempotency = accepted},
      {.method = verb::get,
       .path = "/partner/v1/statements",
       .summary = "The settlement statement of a UTC day",
       .description = "Not a message: the exact bytes that were hashed and, once the day is closed, stored and signed.",
       .raw_responses = {{"application/json", statement_schema}},
       .query = {{"date", "The UTC day, YYYY-MM-DD; a day not begun is 422.", true,
                  R"({"type": "string", "format": "date"})"}},
       .problems = "422 validation_failed, 422 amount_overflow",
       .response_example = statement_example},
      {.method = verb::post,
       .path = "/partner/v1/statements/{statement_id}/ack",
       .summary = "Acknowledge a statement",
       .description = "A statement_sha256 that does not match is recorded as a dispute (409 statement_disputed).",
       .request = "AcknowledgeStatementRequest",
       .status = 200,
       .response = "StatementAcknowledgement",
       .problems = "404 not_found, 409 statement_not_closed, 409 statement_disputed, 422 validation_failed",
       .idempotency = accepted},
      {.method = verb::get,
       .path = "/partner/v1/signing-keys",
       .summary = "Our public signing key",
       .description = "By default the current key's PEM; with Accept: application/json (or application/x-protobuf) "
                      "preferred, every key in use.",
       .status = 200,
       .response = "SigningKeys",
       .raw_responses = {{"application/x-pem-file", pem_schema}},
       .problems = "503 signing_key_unavailable"},
      {.method = verb::get,
       .path = "/partner/v1/signing-keys/{key_id}",
       .summary = "One of our public keys, PEM",
       .description = "Retired keys too: signatures they made stay checkable.",
       .raw_responses = {{"application/x-pem-file", pem_schema}},
       .problems = "404 not_found, 503 database_unavailable"},

      // Webhooks and the feed
      {.method = verb::post,
       .path = "/v1/webhooks",
       .summary = "Subscribe an endpoint to events",
       .request = "CreateWebhookRequest",
       .status = 201,
       .response = "Webhook",
       .problems = "422 validation_failed, 422 limit_exceeded",
       .request_example =
           R"({"url": "https://mall.example.com/hooks/loyalty", "event_types": ["order.paid", "points.expired"]})"},
      {.method = verb::get,
       .path = "/v1/webhooks",
       .summary = "Webhook endpoints, newest first",
       .status = 200,
       .response = "WebhookPage",
       .query = {{"partner_id", "Only this partner's endpoints."}},
       .paged = true,
       .problems = "422 validation_failed"},
      {.method = verb::get,
       .path = "/v1/webhooks/{webhook_id}",
       .summary = "A webhook endpoint",
       .status = 200,
       .response = "Webhook",
       .problems = "404 not_found"},
      {.method = verb::delete_,
       .path = "/v1/webhooks/{webhook_id}",
       .summary = "Delete a webhook endpoint",
       .status = 200,
       .response = "Webhook",
       .problems = "404 not_found"},
      {.method = verb::post,
       .path = "/v1/webhooks/{webhook_id}/disable",
       .summary = "Stop sending to an endpoint",
       .status = 200,
       .response = "Webhook",
       .problems = "404 not_found"},
      {.method = verb::post,
       .path = "/v1/webhooks/{webhook_id}/enable",
       .summary = "Send to an endpoint again",
       .status = 200,
       .response = "Webhook",
       .problems = "404 not_found"},
      {.method = verb::get,
       .path = "/v1/webhooks/{webhook_id}/deliveries",
       .summary = "An endpoint's delivery attempts",
       .status = 200,
       .response = "DeliveryAttemptPage",
       .query = {{"outcome", "delivered, retry or failed.", false,
                  R"({"type": "string", "enum": ["delivered", "retry", "failed"]})"}},
       .paged = true,
       .problems = "404 not_found, 422 validation_failed"},
      {.method = verb::post,
       .path = "/v1/webhooks/{webhook_id}/redeliver",
       .summary = "Send an endpoint's events again",
       .request = "RedeliverRequest",
       .status = 202,
       .response = "Redelivery",
       .problems = "404 not_found, 422 validation_failed"},
      {.method = verb::post,
       .path = "/v1/partners/{partner_id}/webhooks",
       .summary = "Subscribe a partner's endpoint",
       .request = "CreateWebhookRequest",
       .status = 201,
       .response = "Webhook",
       .problems = "404 not_found, 422 validation_failed, 422 limit_exceeded"},
      {.method = verb::get,
       .path = "/v1/feed",
       .summary = "The event feed, in commit order",
       .description = "In JSON each item's data is the event's data object (the body a webhook carries); in binary "
                      "Protobuf it is that object's JSON text.",
       .status = 200,
       .response = "FeedPage",
       .query = {{"after", "The next_cursor of the previous page; absent: from the start."},
                 {"types", "Comma-separated event types."},
                 {"limit", "Page size.", false, R"({"type": "integer", "minimum": 1, "maximum": 500, "default": 50})"}},
       .problems = "422 validation_failed",
       .response_example = feed_example},

      // The operations console's reads.
      {.method = verb::get,
       .path = "/v1/members",
       .summary = "Find a member by external_id",
       .status = 200,
       .response = "MemberList",
       .query = {{"external_id", "The member's id in the brand's systems (exact match).", true}},
       .paged = true,
       .problems = "400 validation_failed, 422 validation_failed"},
      {.method = verb::get,
       .path = "/v1/members/{member_id}/lots",
       .summary = "A member's lots, soonest expiry first",
       .status = 200,
       .response = "LotList",
       .query = {{"asset", "Only this asset's lots."},
                 {"status", "open (remaining > 0, the default) or all.", false,
                  R"({"type": "string", "enum": ["open", "all"]})"}},
       .paged = true,
       .problems = "404 member_not_found, 422 validation_failed"},
      {.method = verb::get,
       .path = "/v1/members/{member_id}/holds",
       .summary = "A member's holds, newest first",
       .status = 200,
       .response = "HoldList",
       .query = {{"status", "Only holds with this status."}},
       .paged = true,
       .problems = "404 member_not_found, 422 validation_failed"},
      {.method = verb::get,
       .path = "/v1/members/{member_id}/orders",
       .summary = "A member's orders, newest first",
       .status = 200,
       .response = "OrderList",
       .paged = true,
       .problems = "404 member_not_found, 422 validation_failed"},
      {.method = verb::get,
       .path = "/v1/members/{member_id}/partner-links",
       .summary = "A member's partner links",
       .status = 200,
       .response = "PartnerLinkList",
       .paged = true,
       .problems = "404 member_not_found, 422 validation_failed"},
      {.method = verb::get,
       .path = "/v1/program/versions",
       .summary = "Every program version, newest first",
       .status = 200,
       .response = "ProgramVersionList",
       .paged = true,
       .problems = "422 validation_failed"},
      {.method = verb::get,
       .path = "/v1/program/versions/{version}",
       .summary = "One program version's document",
       .status = 200,
       .response = "ProgramVersion",
       .problems = "404 not_found, 422 validation_failed"},
      {.method = verb::get,
       .path = "/v1/partners",
       .summary = "Partners",
       .status = 200,
       .response = "PartnerList",
       .paged = true,
       .problems = "422 validation_failed"},
      {.method = verb::get,
       .path = "/v1/partners/{partner_id}/exchanges",
       .summary = "A partner's exchanges, newest first",
       .status = 200,
       .response = "ExchangeList",
       .paged = true,
       .problems = "404 not_found, 422 validation_failed"},
      {.method = verb::get,
       .path = "/v1/partners/{partner_id}/statements",
       .summary = "A partner's statements, the open day first",
       .status = 200,
       .response = "StatementList",
       .paged = true,
       .problems = "404 not_found, 422 validation_failed, 422 amount_overflow"},
      {.method = verb::get,
       .path = "/v1/jobs",
       .summary = "Jobs, their schedules and last runs",
       .status = 200,
       .response = "JobList",
       .problems = "422 validation_failed"},
      {.method = verb::get,
       .path = "/v1/jobs/{name}/runs",
       .summary = "A job's runs, newest first",
       .status = 200,
       .response = "JobRunList",
       .paged = true,
       .problems = "404 not_found, 422 validation_failed"},
      {.method = verb::get,
       .path = "/v1/exports",
       .summary = "Exports, newest first",
       .status = 200,
       .response = "ExportList",
       .paged = true,
       .problems = "422 validation_failed"},
      {.method = verb::get,
       .path = "/v1/reports/daily",
       .summary = "Member points issued, redeemed, expired, adjusted per UTC day",
       .description = "Entries effective in [from, to), at most 366 days; days without movement are listed with zeros.",
       .status = 200,
       .response = "DailyActivity",
       .query = {{"from", "RFC 3339 or a UTC day: the first day.", true},
                 {"to", "RFC 3339 or a UTC day: the end (exclusive).", true}},
       .problems = "400 validation_failed, 422 validation_failed"},
  };
}

}  // namespace

const std::vector<OperationDoc>& openapi_catalog() {
  static const std::vector<OperationDoc> catalog = make_catalog();
  return catalog;
}

std::vector<std::pair<std::string_view, std::string_view>> openapi_field_overrides() {
  return {
      // api/webhook_routes.cpp writes a feed item's data as the stored JSON object itself.
      {"loyalty.v1.FeedEvent.data",
       R"({"type": "object", "description": "The event's data object, as a webhook body carries it (in binary Protobuf: that object's JSON text)."})"},
  };
}

}  // namespace loyalty::api
