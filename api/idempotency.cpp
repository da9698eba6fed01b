#include "api/idempotency.hpp"

#include <set>
#include <stdexcept>
#include <vector>

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>

#include "api/json_codec.hpp"
#include "api/limits.hpp"
#include "app/idempotency.hpp"
#include "platform/assert.hpp"
#include "platform/database.hpp"

namespace loyalty::api {
namespace {

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
  for (const app::StoredKey& stored :
       app::lock_answers_holding(txn, std::vector<std::string>(wanted.begin(), wanted.end()), since)) {
    const auto message = decode_stored(stored.answer.type, stored.answer.bytes);
    if (clear_texts(*message, wanted) == 0) continue;
    app::replace_answer_bytes(txn, {stored.caller, stored.key}, message->SerializeAsString());
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
IdempotencyClaim judge_stored(const app::StoredKey& stored, const std::string& request_sha256) {
  const auto answer = app::answer_for(stored, request_sha256);
  if (!answer) return {IdempotencyClaim::Kind::reused_with_other_request, {}};
  return {IdempotencyClaim::Kind::replay, replayed_reply(answer->status, answer->type, answer->bytes)};
}

}  // namespace

std::optional<IdempotencyClaim> find_idempotency_key(pqxx::transaction_base& txn, const std::string& caller,
                                                     const std::string& key, const std::string& request_sha256) {
  const auto stored = app::read_keys(txn, {{caller, key}});
  if (stored.empty()) return std::nullopt;
  return judge_stored(stored[0], request_sha256);
}

IdempotencyClaim claim_idempotency_key(pqxx::transaction_base& txn, const std::string& caller, const std::string& key,
                                       const std::string& request_sha256) {
  const auto stored = app::lock_keys(txn, {{caller, key}});
  if (stored.empty()) return {};
  return judge_stored(stored[0], request_sha256);
}

void record_idempotent_reply(pqxx::transaction_base& txn, const std::string& caller, const std::string& key,
                             const std::string& request_sha256, const Reply& reply) {
  LOYALTY_ASSERT(reply.message != nullptr && reply.status < 500, "only answers, never failures, are recorded");
  db::WriteBuffer writes{txn};
  app::add_answers(writes, {{{caller, key},
                             request_sha256,
                             {reply.status, reply.message->GetDescriptor()->full_name(), to_binary(*reply.message)}}});
  writes.flush();
}

}  // namespace loyalty::api
