#include "app/idempotency.hpp"

#include "platform/digest.hpp"

namespace loyalty::app {
namespace {

#define LOYALTY_IDEMPOTENCY_LOCK_CLASS "1769169267"  // "idem" in ASCII, as an int4

// The keys' advisory locks live in a class of their own (the two-int4 form; the service's
// other advisory locks use the one-bigint form, so the two never meet). Distinct hashes in
// ascending order, taken row by row in that order (OFFSET 0 keeps the subquery's order):
// two transactions wait on each other's keys in one order only. Two keys with one hash share
// a lock, which only serialises them.
const db::Statement lock_key_hashes{
    "idempotency.lock",
    "SELECT pg_advisory_xact_lock(" LOYALTY_IDEMPOTENCY_LOCK_CLASS
    ", h) FROM (SELECT DISTINCT"
    " hashtext(c || chr(10) || k) AS h FROM unnest($1::text[], $2::text[]) AS x(c, k) ORDER BY h OFFSET 0) AS locks"};

const db::Statement select_keys{
    "idempotency.select",
    "SELECT k.caller, k.idempotency_key, k.request_sha256, k.status_code, k.response_type, k.response"
    " FROM idempotency_keys k JOIN unnest($1::text[], $2::text[]) AS x(c, k) ON k.caller = x.c"
    " AND k.idempotency_key = x.k"};

const db::Statement insert_answers{
    "idempotency.record",
    "INSERT INTO idempotency_keys (caller, idempotency_key, request_sha256, status_code, response_type, response)"
    " SELECT c, k, decode(h, 'hex'), s, t, decode(b, 'hex')"
    " FROM unnest($1::text[], $2::text[], $3::text[], $4::integer[], $5::text[], $6::text[]) AS x(c, k, h, s, t, b)"};

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

std::vector<StoredKey> lock_keys(pqxx::transaction_base& txn, const std::vector<KeyName>& keys) {
  std::vector<StoredKey> stored;
  db::ReadBatch reads{txn};
  lock_keys(reads, keys, stored);
  reads.run();
  return stored;
}

void lock_keys(db::ReadBatch& reads, const std::vector<KeyName>& keys, std::vector<StoredKey>& answered) {
  if (keys.empty()) return;
  const auto column = [&](auto format) { return db::array_literal(keys, format); };
  const auto callers = column([](const KeyName& k) { return k.caller; });
  const auto names = column([](const KeyName& k) { return k.key; });
  reads.add(
      lock_key_hashes, [](const pqxx::result&) {}, callers, names);
  // A statement after the lock's: its snapshot is taken once every lock is held.
  reads.add(
      select_keys,
      [&answered](const pqxx::result& rows) {
        for (const auto& row : rows) answered.push_back(stored_key_of(row));
      },
      callers, names);
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
  return stored.answer;
}

void add_answers(db::WriteBuffer& writes, const std::vector<KeyAnswer>& answers) {
  if (answers.empty()) return;
  const auto column = [&](auto format) { return db::array_literal(answers, format); };
  writes.add(insert_answers, column([](const KeyAnswer& a) { return a.name.caller; }),
             column([](const KeyAnswer& a) { return a.name.key; }),
             column([](const KeyAnswer& a) { return to_hex(a.request_sha256); }),
             column([](const KeyAnswer& a) { return std::to_string(a.answer.status); }),
             column([](const KeyAnswer& a) { return a.answer.type; }),
             column([](const KeyAnswer& a) { return to_hex(a.answer.bytes); }));
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
