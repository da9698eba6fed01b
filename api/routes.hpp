// The API's routes, one function per capability; each adds its routes to the router.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "api/router.hpp"
#include "audit/audit_log.hpp"

namespace loyalty::api {

class Service;

void add_operations_routes(Router& router, Service& service);  // health, readiness, metrics, jobs
void add_member_routes(Router& router, Service& service);      // members, balances, entries
void add_adjustment_routes(Router& router, Service& service);  // manual adjustments
void add_hold_routes(Router& router, Service& service);        // two-phase redemption
void add_audit_routes(Router& router, Service& service);       // audit trail and its verification
void add_finance_routes(Router& router, Service& service);     // trial balance, liability
void add_export_routes(Router& router, Service& service);      // finance exports
void add_privacy_routes(Router& router, Service& service);     // erasure of personal data
void add_partner_routes(Router& router, Service& service);     // partners: admin, signed API, signing keys
void add_event_routes(Router& router, Service& service);       // earning events and reversals
void add_program_routes(Router& router, Service& service);     // the program document
void add_order_routes(Router& router, Service& service);       // mall orders: checkout, pay, cancel, refunds
void add_tier_routes(Router& router, Service& service);        // tier tracks and overrides
void add_key_routes(Router& router, Service& service);         // API keys: list, create, revoke
void add_webhook_routes(Router& router, Service& service);     // webhook endpoints, deliveries, the event feed
void add_console_routes(Router& router);                       // the console's static files

// The audit record of an administrative change made by the request's API key.
audit::AuditRecord caller_audit_record(const RequestContext& context, std::string action, std::string subject,
                                       std::string details_json);

// Opaque list cursors: the position of the last item a page returned.
std::string encode_cursor(std::int64_t position);
std::optional<std::int64_t> decode_cursor(const std::string& cursor);

// The cursor of a list ordered by a key of a number and a text (a time in microseconds and an
// id: orders by (created_at, order_id)): the key of the last item a page returned. URL-safe
// base64, so that it can go into a query as it is.
struct KeyCursor {
  std::int64_t number = 0;
  std::string text;
};
std::string encode_cursor(const KeyCursor& key);
std::optional<KeyCursor> decode_key_cursor(const std::string& cursor);

}  // namespace loyalty::api
