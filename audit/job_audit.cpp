#include "audit/job_audit.hpp"

#include "audit/audit_log.hpp"
#include "platform/database.hpp"

namespace loyalty::audit {
namespace {

const db::Statement select_items_so_far{"audit.job_items_so_far",
                                        "SELECT coalesce(max(items), 0) FROM job_runs WHERE job = $1 AND as_of = $2"};

}  // namespace

ledger::JobDefinition audited_job(ledger::JobDefinition job) {
  auto step = std::move(job.step);
  const std::string name = job.name;
  job.step = [step = std::move(step), name](pqxx::transaction_base& txn,
                                            ledger::JobChunk& chunk) -> ledger::StepResult {
    const ledger::StepResult result = step(txn, chunk);
    if (!result.done) return result;  // not the last chunk
    // run_job_chunk records this chunk's items after the step: add them to the earlier ones.
    const std::int64_t total =
        db::exec(txn, select_items_so_far, name, db::sql_time(chunk.as_of))[0][0].as<std::int64_t>() + result.items;
    AuditRecord record;
    record.actor_kind = "job";
    record.actor_id = "job:" + name;
    record.action = "job.run";
    record.subject = name;
    record.details_json = "{\"as_of\":\"" + format_rfc3339(chunk.as_of) + "\",\"items\":" + std::to_string(total) + "}";
    audit::record(txn, record);
    return result;
  };
  return job;
}

}  // namespace loyalty::audit
