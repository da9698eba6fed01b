// Connections, the statement registry and failure classification.
#include "platform/database.hpp"

#include <utility>

#include <mutex>
#include <stdexcept>
#include <vector>

#include "platform/assert.hpp"

namespace loyalty::db {
namespace {

std::vector<const Statement*>& registry() {
  static std::vector<const Statement*> statements;
  return statements;
}

}  // namespace

Statement::Statement(const char* name, const char* sql) : name_(name), sql_(sql) {
  // Runs during static initialisation, before any thread starts.
  registry().push_back(this);
}

std::unique_ptr<pqxx::connection> connect(const std::string& url, SessionLimits limits) {
  auto connection = std::make_unique<pqxx::connection>(url);
  pqxx::nontransaction setup{*connection, "session_setup"};
  setup.exec("SET TIME ZONE 'UTC'");
  setup.exec("SET statement_timeout = " + std::to_string(limits.statement_timeout.count()));
  setup.exec("SET lock_timeout = " + std::to_string(limits.lock_timeout.count()));
  setup.exec("SET idle_in_transaction_session_timeout = " + std::to_string(limits.idle_in_transaction_timeout.count()));
  setup.commit();
  for (const Statement* statement : registry()) connection->prepare(statement->name(), statement->sql());
  return connection;
}

void WriteBuffer::begin(const Statement& statement) {
  // Statements are prepared on first use (libpqxx prepares lazily); EXECUTE needs it now. The
  // first time on each connection this is one round trip of its own, then never again.
  txn_.conn().prepare_now(statement.name());
  sql_ += "EXECUTE ";
  sql_ += txn_.quote_name(statement.name());
  sql_ += '(';
}

void WriteBuffer::argument(const std::string& text, bool first) {
  if (!first) sql_ += ", ";
  sql_ += txn_.quote(text);
}

void WriteBuffer::argument(const char* text, bool first) {
  if (text == nullptr) {
    if (!first) sql_ += ", ";
    sql_ += "NULL";
    return;
  }
  argument(std::string(text), first);
}

void WriteBuffer::argument(const std::optional<std::string>& text, bool first) {
  argument(text ? text->c_str() : nullptr, first);
}

void WriteBuffer::argument(std::int64_t number, bool first) {
  if (!first) sql_ += ", ";
  sql_ += std::to_string(number);
}

void WriteBuffer::flush() {
  if (pending_ == 0) return;
  std::string sql;
  sql.swap(sql_);
  pending_ = 0;
  count_statement();
  txn_.exec(sql);
}

std::string WriteBuffer::take() {
  std::string sql;
  sql.swap(sql_);
  pending_ = 0;
  return sql;
}

BatchTransaction::BatchTransaction(pqxx::connection_base& connection)
    : pqxx::internal::namedclass{"BatchTransaction", "batch"},
      pqxx::dbtransaction(connection, "READ COMMITTED", pqxx::read_write) {
  Begin();
}

BatchTransaction::~BatchTransaction() noexcept {
  End();
}

pqxx::result BatchTransaction::do_exec(const char query[]) {
  if (!take_begin()) return dbtransaction::do_exec(query);
  // One string, one round trip: libpq hands back the last statement's result, the query's.
  return dbtransaction::do_exec((std::string("BEGIN;\n") + query).c_str());
}

void BatchTransaction::do_abort() {
  if (begun_) dbtransaction::do_abort();
}

void BatchTransaction::begin_now() {
  if (take_begin()) direct_exec("BEGIN");
}

void begin_if_deferred(pqxx::transaction_base& txn) {
  if (auto* batch = dynamic_cast<BatchTransaction*>(&txn)) batch->begin_now();
}

void BatchTransaction::do_commit() {
  if (!begun_ && tail_.empty()) return;  // nothing was sent: there is nothing to commit
  std::string sql = take_begin() ? "BEGIN;\n" : "";
  sql += tail_;
  tail_.clear();
  sql += "COMMIT";
  try {
    direct_exec(sql.c_str());
  } catch (const pqxx::statement_completion_unknown&) {
    throw pqxx::in_doubt_error{"the connection went while the batch's commit ran"};
  } catch (const pqxx::in_doubt_error&) {
    throw;
  } catch (const std::exception&) {
    if (!conn().is_open()) throw pqxx::in_doubt_error{"the connection went while the batch's commit ran"};
    // A statement before the COMMIT failed and left the transaction aborted (after a failed
    // COMMIT there is none left, and this only warns).
    try {
      direct_exec("ROLLBACK");
    } catch (const std::exception&) {
    }
    throw;
  }
}

void send_with_commit(pqxx::transaction_base& txn, WriteBuffer& writes) {
  if (auto* batch = dynamic_cast<BatchTransaction*>(&txn)) {
    batch->send_with_commit(writes.take());
  } else {
    writes.flush();
  }
}

void ReadBatch::run() {
  if (reads_.empty()) return;
  std::vector<Read> reads;
  reads.swap(reads_);
  count_statement();
  std::vector<pqxx::result> results;
  auto* batch = dynamic_cast<BatchTransaction*>(&txn_);
  const bool begins = batch != nullptr && batch->take_begin();
  try {
    pqxx::pipeline pipeline{txn_, "read_batch"};
    pipeline.retain(static_cast<int>(reads.size()) + 1);  // all of them in one send
    std::optional<pqxx::pipeline::query_id> begin;
    if (begins) begin = pipeline.insert("BEGIN");
    std::vector<pqxx::pipeline::query_id> ids;
    for (Read& read : reads) {
      // WriteBuffer ends each statement with ";\n"; the pipeline separates them itself.
      while (!read.sql.empty() && (read.sql.back() == '\n' || read.sql.back() == ';')) read.sql.pop_back();
      ids.push_back(pipeline.insert(read.sql));
    }
    pipeline.complete();
    if (begin) pipeline.retrieve(*begin);
    for (const auto id : ids) results.push_back(pipeline.retrieve(id));
  } catch (const std::exception&) {
    // A connection found gone in the transaction's first round trip committed nothing: said as
    // a failed BEGIN says it (broken_connection), so that the executor tries once more on a
    // fresh connection.
    if (begins && !txn_.conn().is_open()) throw pqxx::broken_connection{"the connection went before the batch began"};
    throw;
  }
  // The pipeline is closed: a callback may use the transaction again.
  for (std::size_t i = 0; i < reads.size(); ++i) reads[i].use(results[i]);
}

void append_array_element(std::string& literal, std::string_view text) {
  literal += '"';
  for (const char c : text) {
    if (c == '"' || c == '\\') literal += '\\';
    literal += c;
  }
  literal += '"';
}

std::string array_literal(const std::vector<std::string>& items) {
  return array_literal(items, [](const std::string& item) -> const std::string& { return item; });
}

std::string array_literal(const std::vector<std::int64_t>& items) {
  return array_literal(items, [](std::int64_t item) { return std::to_string(item); });
}

std::optional<std::string> nullable_number(std::optional<std::int64_t> value) {
  if (!value) return std::nullopt;
  return std::to_string(*value);
}

Timestamp time_of(const pqxx::field& field) {
  // What the database holds is data, not a promise: a time out of the API's range (written
  // before times were bounded) is read as it is, and text that is no time at all is an
  // error of the environment for this request, never a reason to stop the process.
  const auto parsed = parse_database_time(std::string_view(field.c_str(), field.size()));
  if (!parsed) {
    throw std::runtime_error("column " + std::string(field.name() ? field.name() : "?") +
                             " holds a value that is not a timestamptz: " + std::string(field.c_str()).substr(0, 64));
  }
  return *parsed;
}

std::optional<std::string> optional_text(const pqxx::field& field) {
  if (field.is_null()) return std::nullopt;
  return std::string(field.c_str(), field.size());
}

bool is_retryable(const std::exception& error) {
  return dynamic_cast<const pqxx::serialization_failure*>(&error) != nullptr ||
         dynamic_cast<const pqxx::deadlock_detected*>(&error) != nullptr;
}

namespace {
thread_local std::int64_t tallied_on_this_thread = 0;
}  // namespace

void tally(std::int64_t count) {
  tallied_on_this_thread += count;
}

std::int64_t take_tally() {
  return std::exchange(tallied_on_this_thread, 0);
}

}  // namespace loyalty::db
