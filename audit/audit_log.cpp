#include "audit/audit_log.hpp"

#include "platform/database.hpp"

namespace loyalty::audit {
namespace {

const db::Statement insert_event{
    "audit.insert",
    "INSERT INTO audit_events (actor_kind, actor_id, actor_name, action, subject, request_id,"
    " source_address, result, details) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb)"};

const db::Statement insert_events{
    "audit.insert_many",
    "INSERT INTO audit_events (actor_kind, actor_id, actor_name, action, subject, request_id,"
    " source_address, result, details)"
    " SELECT a, b, c, d, e, f, g, h, i::jsonb FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],"
    " $6::text[], $7::text[], $8::text[], $9::text[]) WITH ORDINALITY AS x(a, b, c, d, e, f, g, h, i, position)"
    " ORDER BY position"};

}  // namespace

void record_many(db::WriteBuffer& writes, const std::vector<AuditRecord>& records) {
  if (records.empty()) return;
  const auto column = [&](auto format) { return db::array_literal(records, format); };
  writes.add(
      insert_events, column([](const AuditRecord& r) { return r.actor_kind; }),
      column([](const AuditRecord& r) { return r.actor_id; }),
      column([](const AuditRecord& r) { return r.actor_name; }), column([](const AuditRecord& r) { return r.action; }),
      column([](const AuditRecord& r) { return r.subject; }), column([](const AuditRecord& r) { return r.request_id; }),
      column([](const AuditRecord& r) { return r.source_address; }),
      column([](const AuditRecord& r) { return r.result; }),
      column([](const AuditRecord& r) { return r.details_json; }));
}

void record(pqxx::transaction_base& txn, const AuditRecord& record) {
  db::exec(txn, insert_event, record.actor_kind, db::nullable(record.actor_id), db::nullable(record.actor_name),
           record.action, db::nullable(record.subject), db::nullable(record.request_id),
           db::nullable(record.source_address), record.result, record.details_json);
}

}  // namespace loyalty::audit
