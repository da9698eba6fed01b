// PostgreSQL access shared by every layer: named prepared statements, connections set up the
// same way everywhere, and one place that decides which failures are retried.
//
// SQL lives beside the code that owns its table, as a `Statement` constant registered at
// start-up; `connect()` prepares every registered statement on each new connection.
#pragma once

#include <pqxx/pqxx>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "platform/time.hpp"

namespace loyalty::db {

// A named SQL statement. Construct them as namespace-scope constants: construction
// registers the statement so that every connection prepares it.
class Statement {
 public:
  Statement(const char* name, const char* sql);
  const char* name() const { return name_; }
  const char* sql() const { return sql_; }

 private:
  const char* name_;
  const char* sql_;
};

// Statements this process has sent to PostgreSQL (/metrics: loyalty_db_statements_total), so
// that a benchmark can divide them by requests. db::exec counts its own; code that sends SQL
// another way calls count_statement() once per round trip.
inline std::atomic<std::uint64_t> statements_sent_total{0};
inline void count_statement() {
  statements_sent_total.fetch_add(1, std::memory_order_relaxed);
}

// Sends a BatchTransaction's deferred BEGIN now, alone, if nothing has sent it yet; nothing
// for any other transaction. For paths that bypass the transaction's own exec (libpqxx 6.4's
// exec_prepared goes straight to the connection).
void begin_if_deferred(pqxx::transaction_base& txn);

// Runs a registered statement with positional parameters.
template <typename... Args>
pqxx::result exec(pqxx::transaction_base& txn, const Statement& statement, Args&&... args) {
  begin_if_deferred(txn);
  count_statement();
  return txn.exec_prepared(statement.name(), std::forward<Args>(args)...);
}

// Writes whose results nobody reads, sent together: flush() sends every statement added since
// the last flush in ONE round trip, as `EXECUTE "name"(literal, …)` commands in one
// simple-query string (libpqxx 6.4 has no pipeline mode). They run in the order added, inside
// the transaction, exactly as if sent one by one; the first that fails throws from flush()
// with its SQLSTATE's exception, and the transaction is aborted. A batch collects its writes
// here so that its cost in round trips does not grow with the number of tables it touches.
class WriteBuffer {
 public:
  explicit WriteBuffer(pqxx::transaction_base& txn) : txn_(txn) {}
  WriteBuffer(const WriteBuffer&) = delete;
  WriteBuffer& operator=(const WriteBuffer&) = delete;

  template <typename... Args>
  void add(const Statement& statement, const Args&... args) {
    begin(statement);
    bool first = true;
    ((argument(args, first), first = false), ...);
    sql_ += ");\n";
    ++pending_;
  }
  void flush();
  std::size_t pending() const { return pending_; }
  // The text of what was added since the last flush, taken out of the buffer unsent.
  std::string take();
  pqxx::transaction_base& transaction() { return txn_; }

 private:
  void begin(const Statement& statement);
  void argument(const std::string& text, bool first);
  void argument(const char* text, bool first);  // nullptr: NULL
  void argument(const std::optional<std::string>& text, bool first);
  void argument(std::int64_t number, bool first);

  pqxx::transaction_base& txn_;
  std::string sql_;
  std::size_t pending_ = 0;
};

// A read-committed transaction whose BEGIN travels with its first statements and whose last
// statements travel with its COMMIT, so that a batch costs no round trip of its own for either.
//
// BEGIN: the constructor sends nothing. The first statement sent through the transaction
// carries it: a ReadBatch puts it first in its round trip, exec() (and so WriteBuffer::flush)
// prefixes it, and db::exec sends it alone first (libpqxx's exec_prepared cannot carry it).
// Those are the only ways this project sends SQL in a transaction; one that bypassed them
// would run outside it, so a new way must call begin_if_deferred() first. A transaction that
// sent nothing commits or aborts without a word to the server.
//
// COMMIT: a batch's final writes (the answers under their keys, the audit) are added with
// send_with_commit(). When they fail, or the COMMIT does (a deferred constraint), the
// transaction is rolled back and the error thrown from commit(), as a failed COMMIT's is;
// when the connection goes meanwhile, commit() throws pqxx::in_doubt_error.
class BatchTransaction : public pqxx::dbtransaction {
 public:
  explicit BatchTransaction(pqxx::connection_base& connection);
  ~BatchTransaction() noexcept override;
  // Adds statements (WriteBuffer::take's text) to what the COMMIT carries.
  void send_with_commit(const std::string& sql) { tail_ += sql; }
  // True once, for the first statement sent: its sender must send BEGIN before it.
  bool take_begin() { return !std::exchange(begun_, true); }
  // Sends the BEGIN alone, one round trip, unless it was sent already.
  void begin_now();

 private:
  void do_begin() override {}
  pqxx::result do_exec(const char query[]) override;
  void do_commit() override;
  void do_abort() override;
  std::string tail_;
  bool begun_ = false;
};

// The text of statements sent with the transaction's COMMIT when it is a BatchTransaction, at
// once otherwise.
void send_with_commit(pqxx::transaction_base& txn, WriteBuffer& writes);

// Reads that do not need each other's rows, sent together: run() sends every statement added
// in ONE round trip (libpqxx's pipeline: the same `EXECUTE` text as WriteBuffer, one result per
// statement), they run in the order added, and each one's rows go to its callback in that
// order. The first that fails throws from run() with its SQLSTATE's exception. A batch's
// layers prefetch through one of these, so that a layer's own read costs no round trip.
class ReadBatch {
 public:
  using Use = std::function<void(const pqxx::result&)>;

  explicit ReadBatch(pqxx::transaction_base& txn) : txn_(txn) {}
  ReadBatch(const ReadBatch&) = delete;
  ReadBatch& operator=(const ReadBatch&) = delete;

  template <typename... Args>
  void add(const Statement& statement, Use use, const Args&... args) {
    WriteBuffer text{txn_};
    text.add(statement, args...);
    reads_.push_back({text.take(), std::move(use)});
  }
  void run();

 private:
  struct Read {
    std::string sql;
    Use use;
  };
  pqxx::transaction_base& txn_;
  std::vector<Read> reads_;
};

// Timeouts every connection gets: no statement or lock wait holds a worker for long.
struct SessionLimits {
  std::chrono::milliseconds statement_timeout{15000};
  std::chrono::milliseconds lock_timeout{5000};
  std::chrono::milliseconds idle_in_transaction_timeout{60000};
};

// Opens a connection (UTC session, limits set, all statements prepared).
std::unique_ptr<pqxx::connection> connect(const std::string& url, SessionLimits limits = {});

// Appends `text` to an array literal as one quoted element.
void append_array_element(std::string& literal, std::string_view text);

// A PostgreSQL array literal of `items`, each written by `format` and quoted (a format that
// returns std::optional<std::string> writes NULL for nullopt), so that any
// text is safe in it: pass it as a parameter cast to the array type (`$1::text[]`) and
// `unnest` it to touch many rows in one round trip. libpqxx 6.4 has no array parameters.
template <typename Range, typename Format>
std::string array_literal(const Range& items, Format format) {
  std::string literal = "{";
  bool first = true;
  for (const auto& item : items) {
    if (!first) literal += ',';
    first = false;
    const auto written = format(item);
    if constexpr (std::is_same_v<std::decay_t<decltype(written)>, std::optional<std::string>>) {
      if (!written) {
        literal += "NULL";
        continue;
      }
      append_array_element(literal, *written);
    } else {
      append_array_element(literal, written);
    }
  }
  literal += '}';
  return literal;
}

// The same for items that are already text (or numbers, written with std::to_string).
std::string array_literal(const std::vector<std::string>& items);
std::string array_literal(const std::vector<std::int64_t>& items);

// Parameter helpers: libpqxx 6.4 sends nullptr as SQL NULL.
inline const char* nullable(const std::optional<std::string>& value) {
  return value ? value->c_str() : nullptr;
}
std::optional<std::string> nullable_number(std::optional<std::int64_t> value);
inline std::string sql_time(Timestamp instant) {
  return format_rfc3339(instant);
}
Timestamp time_of(const pqxx::field& field);  // a timestamptz column, read as UTC
std::optional<std::string> optional_text(const pqxx::field& field);

// True for failures that a fresh attempt of the same transaction may not hit again:
// serialization failures and deadlocks. Never true for an in-doubt commit.
bool is_retryable(const std::exception& error);

constexpr int transaction_attempts_max = 3;

// Runs `work(txn)` in a read-committed transaction named `name`, committing when it returns,
// retrying serialization failures and deadlocks up to transaction_attempts_max times.
template <typename Work>
auto run_transaction(pqxx::connection& connection, const std::string& name, Work&& work) {
  for (int attempt = 1;; ++attempt) {
    try {
      pqxx::work txn{connection, name};
      auto result = work(txn);
      txn.commit();
      return result;
    } catch (const pqxx::statement_completion_unknown&) {
      // SQLSTATE 40003: the statement may have run, so the work may be done already. libpqxx
      // files it under transaction_rollback but never retries it itself; as with an in-doubt
      // commit, the caller learns of it instead of the work running twice.
      throw;
    } catch (const pqxx::transaction_rollback&) {
      if (attempt >= transaction_attempts_max) throw;
    }
  }
}

// A count the work of a transaction reports as it goes (the journal: entries posted), taken
// by the executor when the transaction commits or rolls back (Executor::committed_tally, a
// metric). Per thread: a worker's transactions run on its thread.
void tally(std::int64_t count);
std::int64_t take_tally();

}  // namespace loyalty::db
