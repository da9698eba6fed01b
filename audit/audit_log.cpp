#include "audit/audit_log.hpp"

#include "ledger/database.hpp"

namespace loyalty::audit {
namespace {

const db::Statement insert_event{
    "audit.insert",
    "INSERT INTO audit_events (actor_kind, actor_id, actor_name, action, subject, request_id,"
    " source_address, result, details) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb)"};

}  // namespace

void record(pqxx::transaction_base& txn, const AuditRecord& record) {
  db::exec(txn, insert_event, record.actor_kind, db::nullable(record.actor_id), db::nullable(record.actor_name),
           record.action, db::nullable(record.subject), db::nullable(record.request_id),
           db::nullable(record.source_address), record.result, record.details_json);
}

}  // namespace loyalty::audit
