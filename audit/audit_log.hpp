// The audit trail: who did what, when, from where, with what result. Each record is written
// in the transaction of the change it describes, so the trail and the change commit or roll
// back together.
#pragma once

#include <pqxx/pqxx>

#include <optional>
#include <string>
#include <vector>

#include "platform/database.hpp"

namespace loyalty::audit {

struct AuditRecord {
  std::string actor_kind;  // api_key, partner, job, operator, anonymous
  std::optional<std::string> actor_id;
  std::optional<std::string> actor_name;
  std::string action;  // "api_key.create", "program.apply", ...
  std::optional<std::string> subject;
  std::optional<std::string> request_id;
  std::optional<std::string> source_address;
  std::string result = "ok";
  std::string details_json = "{}";  // a JSON object
};

void record(pqxx::transaction_base& txn, const AuditRecord& record);
// Many records in one statement, in order, added to a batch's writes (sent by its next flush).
void record_many(db::WriteBuffer& writes, const std::vector<AuditRecord>& records);

}  // namespace loyalty::audit
