#include "api/idempotency.hpp"

#include <set>
#include <stdexcept>
#include <vector>

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>

#include "api/json_codec.hpp"
#include "api/limits.hpp"
#include "platform/assert.hpp"
#include "platform/database.hpp"
#include "platform/digest.hpp"

namespace loyalty::api {
namespace {

const db::Statement insert_claim{"idempotency.claim",
                                 "INSERT INTO idempotency_keys (caller, idempotency_key, request_sha256, status_code,"
                                 " response_type, response) VALUES ($1, $2, $3, 0, '', ''::bytea)"
                                 " ON CONFLICT (caller, idempotency_key) DO NOTHING"};

const db::Statement select_claim{"idempotency.select",
                                 "SELECT request_sha256, status_code, response_type, response FROM idempotency_keys"
                                 " WHERE caller = $1 AND idempotency_key = $2"};

const db::Statement update_reply{"idempotency.record",
                                 "UPDATE idempotency_keys SET status_code = $3, response_type = $4, response = $5"
                                 " WHERE caller = $1 AND idempotency_key = $2"};

const db::Statement delete_old{"idempotency.purge", "DELETE FROM idempotency_keys WHERE created_at < $1"};

// Stored answers that may hold one of the texts (a byte search first; the fields are
// compared exactly after decoding), locked in key order.
const db::Statement select_replies_holding{
    "idempotency.select_replies_holding",
    "SELECT caller, idempotency_key, response_type, response FROM idempotency_keys"
    " WHERE created_at >= $2 AND EXISTS (SELECT 1 FROM unnest($1::text[]) AS v(value)"
    "   WHERE position(convert_to(v.value, 'UTF8') IN response) > 0)"
    " ORDER BY caller, idempotency_key FOR UPDATE"};

const db::Statement replace_reply{
    "idempotency.replace_reply",
    "UPDATE idempotency_keys SET response = decode($3, 'hex') WHERE caller = $1 AND idempotency_key = $2"};

// A stored reply is data: one written by another version of the service (a message type this
// binary does not know, during a rolling upgrade) fails its request, not the process.
std::shared_ptr<google::protobuf::Message> decode_stored(const std::string& type, const std::string& bytes) {
  const auto* descriptor = google::protobuf::DescriptorPool::generated_pool()->FindMessageTypeByName(type);
  if (descriptor == nullptr)
    throw std::runtime_error("a stored reply of an unknown message type: " + type.substr(0, 100));
  std::shared_ptr<google::protobuf::Message> message{
      google::protobuf::MessageFactory::generated_factory()->GetPrototype(descriptor)->New()};
  if (!message->ParseFromString(bytes)) throw std::runtime_error("a stored reply of type " + type + " does not parse");
  return message;
}

// Clears every text field of `message`, nested messages included, whose whole value is one of
// `values`; returns how many it cleared.
std::size_t clear_texts(google::protobuf::Message& message, const std::set<std::string>& values) {
  using google::protobuf::FieldDescriptor;
  const auto* reflection = message.GetReflection();
  std::vector<const FieldDescriptor*> fields;
  reflection->ListFields(message, &fields);
  std::size_t cleared = 0;
  for (const FieldDescriptor* field : fields) {
    if (field->cpp_type() == FieldDescriptor::CPPTYPE_STRING) {
      if (!field->is_repeated()) {
        if (values.count(reflection->GetString(message, field))) {
          reflection->ClearField(&message, field);
          ++cleared;
        }
        continue;
      }
      for (int i = 0; i < reflection->FieldSize(message, field); ++i) {
        if (!values.count(reflection->GetRepeatedString(message, field, i))) continue;
        reflection->SetRepeatedString(&message, field, i, "");
        ++cleared;
      }
    } else if (field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
      if (!field->is_repeated()) {
        cleared += clear_texts(*reflection->MutableMessage(&message, field), values);
        continue;
      }
      for (int i = 0; i < reflection->FieldSize(message, field); ++i) {
        cleared += clear_texts(*reflection->MutableRepeatedMessage(&message, field, i), values);
      }
    }
  }
  return cleared;
}

}  // namespace

std::size_t clear_from_stored_replies(pqxx::transaction_base& txn, const std::vector<std::string>& values,
                                      Timestamp since) {
  std::set<std::string> wanted;
  for (const auto& value : values) {
    if (!value.empty()) wanted.insert(value);
  }
  if (wanted.empty()) return 0;
  std::size_t changed = 0;
  const std::vector<std::string> list(wanted.begin(), wanted.end());
  for (const auto& row : db::exec(txn, select_replies_holding, db::array_literal(list), db::sql_time(since))) {
    const pqxx::binarystring stored{row[3]};
    const auto message = decode_stored(row[2].c_str(), stored.str());
    if (clear_texts(*message, wanted) == 0) continue;
    db::exec(txn, replace_reply, row[0].c_str(), row[1].c_str(), to_hex(message->SerializeAsString()));
    ++changed;
  }
  return changed;
}

Reply replayed_reply(int status, const std::string& type, const std::string& bytes) {
  std::shared_ptr<google::protobuf::Message> message = decode_stored(type, bytes);
  Reply reply;
  reply.status = status;
  reply.message = std::move(message);
  reply.is_problem = status >= 400;
  reply.headers.emplace_back("Idempotent-Replayed", "true");
  return reply;
}

bool is_valid_idempotency_key(std::string_view key) {
  if (key.empty() || key.size() > limits::idempotency_key_chars_max) return false;
  for (char c : key) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
                    c == '.' || c == ':' || c == '-';
    if (!ok) return false;
  }
  return true;
}

namespace {

// What a committed (or this transaction's) row of the key says about this request.
IdempotencyClaim judge_stored(const pqxx::row& row, const std::string& request_sha256) {
  const pqxx::binarystring stored_hash{row[0]};
  if (!constant_time_equal(stored_hash.str(), request_sha256)) {
    return {IdempotencyClaim::Kind::reused_with_other_request, {}};
  }
  const int status = row[1].as<int>();
  // Status 0 is a claim made earlier in this same transaction (a batch with the same key
  // twice) whose reply is not recorded yet; rows of committed requests always have one.
  LOYALTY_ASSERT(status != 0, "an idempotency claim without its reply");
  const pqxx::binarystring response{row[3]};
  return {IdempotencyClaim::Kind::replay, replayed_reply(status, row[2].c_str(), response.str())};
}

}  // namespace

std::optional<IdempotencyClaim> find_idempotency_key(pqxx::transaction_base& txn, const std::string& caller,
                                                     const std::string& key, const std::string& request_sha256) {
  const auto rows = db::exec(txn, select_claim, caller, key);
  if (rows.empty()) return std::nullopt;
  return judge_stored(rows[0], request_sha256);
}

IdempotencyClaim claim_idempotency_key(pqxx::transaction_base& txn, const std::string& caller, const std::string& key,
                                       const std::string& request_sha256) {
  const auto inserted = db::exec(txn, insert_claim, caller, key, pqxx::binarystring(request_sha256));
  if (inserted.affected_rows() == 1) return {};
  const auto rows = db::exec(txn, select_claim, caller, key);
  LOYALTY_ASSERT(rows.size() == 1, "an idempotency key that conflicts but cannot be read");
  return judge_stored(rows[0], request_sha256);
}

void record_idempotent_reply(pqxx::transaction_base& txn, const std::string& caller, const std::string& key,
                             const Reply& reply) {
  LOYALTY_ASSERT(reply.message != nullptr && reply.status < 500, "only answers, never failures, are recorded");
  db::exec(txn, update_reply, caller, key, reply.status, reply.message->GetDescriptor()->full_name(),
           pqxx::binarystring(to_binary(*reply.message)));
}

long long purge_idempotency_keys(pqxx::transaction_base& txn, Timestamp older_than) {
  return static_cast<long long>(db::exec(txn, delete_old, db::sql_time(older_than)).affected_rows());
}

}  // namespace loyalty::api
