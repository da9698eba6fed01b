#include "app/idempotency.hpp"

#include "platform/assert.hpp"
#include "platform/digest.hpp"

namespace loyalty::app {
namespace {

const db::Statement insert_claims{
    "idempotency.claim",
    "INSERT INTO idempotency_keys (caller, idempotency_key, request_sha256, status_code, response_type, response)"
    " SELECT c, k, decode(h, 'hex'), 0, '', ''::bytea FROM unnest($1::text[], $2::text[], $3::text[]) AS x(c, k, h)"
    " ORDER BY c, k ON CONFLICT (caller, idempotency_key) DO NOTHING RETURNING caller, idempotency_key"};

const db::Statement select_keys{
    "idempotency.select",
    "SELECT k.caller, k.idempotency_key, k.request_sha256, k.status_code, k.response_type, k.response"
    " FROM idempotency_keys k JOIN unnest($1::text[], $2::text[]) AS x(c, k) ON k.caller = x.c"
    " AND k.idempotency_key = x.k"};

const db::Statement update_answers{
    "idempotency.record",
    "UPDATE idempotency_keys k SET status_code = x.s, response_type = x.t, response = decode(x.b, 'hex')"
    " FROM unnest($1::text[], $2::text[], $3::integer[], $4::text[], $5::text[]) AS x(c, k, s, t, b)"
    " WHERE k.caller = x.c AND k.idempotency_key = x.k"};

const db::Statement delete_unanswered{"idempotency.release",
                                      "DELETE FROM idempotency_keys k USING unnest($1::text[], $2::text[]) AS x(c, k)"
                                      " WHERE k.caller = x.c AND k.idempotency_key = x.k AND k.status_code = 0"};

const db::Statement delete_old{"idempotency.purge", "DELETE FROM idempotency_keys WHERE created_at < $1"};

// A byte search first; the caller compares decoded fields exactly.
const db::Statement select_answers_holding{
    "idempotency.select_answers_holding",
    "SELECT caller, idempotency_key, request_sha256, status_code, response_type, response FROM idempotency_keys"
    " WHERE created_at >= $2 AND EXISTS (SELECT 1 FROM unnest($1::text[]) AS v(value)"
    "   WHERE position(convert_to(v.value, 'UTF8') IN response) > 0)"
    " ORDER BY caller, idempotency_key FOR UPDATE"};

const db::Statement update_answer_bytes{
    "idempotency.replace_answer_bytes",
    "UPDATE idempotency_keys SET response = decode($3, 'hex') WHERE caller = $1 AND idempotency_key = $2"};

StoredKey stored_key_of(const pqxx::row& row) {
  return StoredKey{row[0].c_str(), row[1].c_str(), pqxx::binarystring(row[2]).str(),
                   StoredAnswer{row[3].as<int>(), row[4].c_str(), pqxx::binarystring(row[5]).str()}};
}

}  // namespace

std::vector<KeyName> claim_keys(pqxx::transaction_base& txn, const std::vector<KeyClaim>& claims) {
  std::vector<KeyName> claimed;
  if (claims.empty()) return claimed;
  const auto column = [&](auto format) { return db::array_literal(claims, format); };
  for (const auto& row : db::exec(txn, insert_claims, column([](const KeyClaim& c) { return c.caller; }),
                                  column([](const KeyClaim& c) { return c.key; }),
                                  column([](const KeyClaim& c) { return to_hex(c.request_sha256); }))) {
    claimed.push_back({row[0].c_str(), row[1].c_str()});
  }
  return claimed;
}

std::vector<StoredKey> read_keys(pqxx::transaction_base& txn, const std::vector<KeyName>& keys) {
  std::vector<StoredKey> stored;
  if (keys.empty()) return stored;
  const auto column = [&](auto format) { return db::array_literal(keys, format); };
  for (const auto& row : db::exec(txn, select_keys, column([](const KeyName& k) { return k.caller; }),
                                  column([](const KeyName& k) { return k.key; }))) {
    stored.push_back(stored_key_of(row));
  }
  return stored;
}

std::optional<StoredAnswer> answer_for(const StoredKey& stored, const std::string& request_sha256) {
  if (!constant_time_equal(stored.request_sha256, request_sha256)) return std::nullopt;
  // Status 0 would be a claim of this transaction with no answer yet: a batch meets its own
  // keys twice only as duplicates (app/write_protocol.cpp), and a committed key always has one.
  LOYALTY_ASSERT(stored.answer.status != 0, "an idempotency claim without its answer");
  return stored.answer;
}

void add_answers(db::WriteBuffer& writes, const std::vector<KeyAnswer>& answers) {
  if (answers.empty()) return;
  const auto column = [&](auto format) { return db::array_literal(answers, format); };
  writes.add(update_answers, column([](const KeyAnswer& a) { return a.name.caller; }),
             column([](const KeyAnswer& a) { return a.name.key; }),
             column([](const KeyAnswer& a) { return std::to_string(a.answer.status); }),
             column([](const KeyAnswer& a) { return a.answer.type; }),
             column([](const KeyAnswer& a) { return to_hex(a.answer.bytes); }));
}

void add_releases(db::WriteBuffer& writes, const std::vector<KeyName>& keys) {
  if (keys.empty()) return;
  const auto column = [&](auto format) { return db::array_literal(keys, format); };
  writes.add(delete_unanswered, column([](const KeyName& k) { return k.caller; }),
             column([](const KeyName& k) { return k.key; }));
}

long long purge_keys(pqxx::transaction_base& txn, Timestamp older_than) {
  return static_cast<long long>(db::exec(txn, delete_old, db::sql_time(older_than)).affected_rows());
}

std::vector<StoredKey> lock_answers_holding(pqxx::transaction_base& txn, const std::vector<std::string>& texts,
                                            Timestamp since) {
  std::vector<StoredKey> stored;
  if (texts.empty()) return stored;
  for (const auto& row : db::exec(txn, select_answers_holding, db::array_literal(texts), db::sql_time(since))) {
    stored.push_back(stored_key_of(row));
  }
  return stored;
}

void replace_answer_bytes(pqxx::transaction_base& txn, const KeyName& name, const std::string& bytes) {
  db::exec(txn, update_answer_bytes, name.caller, name.key, to_hex(bytes));
}

}  // namespace loyalty::app
